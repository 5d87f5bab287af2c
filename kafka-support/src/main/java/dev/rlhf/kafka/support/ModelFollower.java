package dev.rlhf.kafka.support;

import java.util.List;
import java.util.UUID;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.proto.v1.ModelVersion;

/**
 * What a serving service does with {@code rlhf.models.v1}: follows it (a {@link TopicFollower}:
 * every replica sees every announcement, from the end of the topic) and swaps in the announced
 * versions of the names it serves; unreadable announcements are logged and counted, never fatal.
 *
 * <p>{@link #start} runs the service's start-up load ordered against the follower's start
 * position, so that no announcement falls between them:
 * <ol>
 * <li>the follower resolves the end of the topic, on the calling thread;
 * <li>the service loads the latest stored version of each name;
 * <li>the follower delivers every announcement from the positions of step 1.
 * </ol>
 * A version is stored before it is announced, so one announced before step 1 is in the store
 * for step 2, and one announced later is delivered in step 3 (a swap to the version already
 * served does nothing). Positioned after the load instead, it would miss what was announced in
 * between until the next one; delivering from step 3 only also keeps a swap from racing the
 * load, where the load's older version could replace the announced one. When the broker cannot
 * be reached at step 1, the follower positions itself when it connects.
 */
public final class ModelFollower implements TopicFollower.Handler<ModelVersion>, AutoCloseable {

    private final Logger log;
    private final String bootstrap;
    private final String topic;
    private final Predicate<String> serves;
    private final Runnable loadLatest;
    private final BiConsumer<String, Long> swap;
    private final Runnable unreadable;
    private final TopicFollower<ModelVersion> follower;

    /**
     * @param owner      the service's class: the log lines are its
     * @param service    the consumer's client id prefix, e.g. "policy-service"
     * @param serves     whether a model name is one the service serves
     * @param loadLatest the start-up load of the latest stored versions
     * @param swap       swaps in (name, version)
     * @param unreadable counts an unreadable announcement
     */
    public ModelFollower(Class<?> owner, String bootstrap, String topic, String service, Predicate<String> serves,
            Runnable loadLatest, BiConsumer<String, Long> swap, Runnable unreadable) {
        this.log = LoggerFactory.getLogger(owner);
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.serves = serves;
        this.loadLatest = loadLatest;
        this.swap = swap;
        this.unreadable = unreadable;
        this.follower = new TopicFollower<>(bootstrap, topic, service + "-models-" + UUID.randomUUID(),
                "model-announcements", ModelVersion.parser(), this);
    }

    /** Positions the follower, runs the start-up load, then delivers (see the class comment). */
    public void start() {
        follower.position();
        loadLatest.run();
        follower.start();
    }

    @Override
    public void positioned(List<TopicPartition> partitions) {
        log.info("following {}", topic);
    }

    @Override
    public void message(ModelVersion v) {
        if (!serves.test(v.getName()) || v.getRetired()) {
            return;
        }
        log.info("announced {} v{}", v.getName(), v.getVersion());
        swap.accept(v.getName(), v.getVersion());
    }

    @Override
    public void unreadable(ConsumerRecord<String, byte[]> r, InvalidProtocolBufferException e) {
        unreadable.run();
        log.error("unreadable announcement at {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.getMessage());
    }

    @Override
    public void failed(RuntimeException e) {
        log.warn("following {} at {} failed ({}); retrying in 2 s", topic, bootstrap, e.toString());
    }

    @Override
    public void close() {
        follower.close();
    }
}
