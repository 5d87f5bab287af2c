package dev.rlhf.reward;

import java.util.List;
import java.util.UUID;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.kafka.support.TopicFollower;
import dev.rlhf.proto.v1.ModelVersion;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * Follows {@code rlhf.models.v1} and hot-swaps announced versions of the reward models the
 * learned components use (a {@link TopicFollower}: every replica sees every announcement,
 * from the end of the topic).
 * It also runs the registry's start-up load, ordered against the follower's start position
 * (see {@link #onStart}). Unreadable announcements are logged and counted, never fatal.
 */
@ApplicationScoped
public class ModelAnnouncements implements TopicFollower.Handler<ModelVersion> {

    private static final Logger LOG = Logger.getLogger(ModelAnnouncements.class);

    private final ModelRegistry registry;
    private final RewardConfig config;
    private final MeterRegistry meters;
    private final String bootstrap;
    private final TopicFollower<ModelVersion> follower;

    ModelAnnouncements(ModelRegistry registry, RewardConfig config, MeterRegistry meters,
            @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        this.registry = registry;
        this.config = config;
        this.meters = meters;
        this.bootstrap = bootstrap;
        this.follower = new TopicFollower<>(bootstrap, config.modelsTopic(), "reward-service-models-" + UUID.randomUUID(),
                "model-announcements", ModelVersion.parser(), this);
    }

    /**
     * Start-up, in this order, so that no announcement falls between the registry's load and
     * the follower's start position:
     * <ol>
     * <li>the follower resolves the end of the topic, on this thread;
     * <li>the registry loads the latest stored version of each name;
     * <li>the follower delivers every announcement from the positions of step 1.
     * </ol>
     * A version is stored before it is announced, so one announced before step 1 is in the
     * store for step 2, and one announced later is delivered in step 3 (a swap to the version
     * already served does nothing). Positioned after the load instead, as the follower once
     * was on its own thread, it missed what was announced in between until the next one.
     * Delivering from step 3 only also keeps a swap from racing the load, where the load's
     * older version could replace the announced one. When the broker cannot be reached at
     * step 1, the follower positions itself when it connects, as before.
     */
    void onStart(@Observes StartupEvent ignored) {
        follower.position();
        registry.loadLatest();
        follower.start();
    }

    void onStop(@Observes ShutdownEvent ignored) {
        follower.close();
    }

    @Override
    public void positioned(List<TopicPartition> partitions) {
        LOG.infof("following %s for %s", config.modelsTopic(), registry.names());
    }

    @Override
    public void message(ModelVersion v) {
        if (!registry.names().contains(v.getName()) || v.getRetired()) {
            return;
        }
        LOG.infof("announced %s v%d", v.getName(), v.getVersion());
        registry.swap(v.getName(), v.getVersion());
    }

    @Override
    public void unreadable(ConsumerRecord<String, byte[]> r, InvalidProtocolBufferException e) {
        meters.counter("rlhf.reward.announcements", "outcome", "unreadable").increment();
        LOG.errorf("unreadable announcement at %s-%d@%d: %s", r.topic(), r.partition(), r.offset(), e.getMessage());
    }

    @Override
    public void failed(RuntimeException e) {
        LOG.warnf("following %s at %s failed (%s); retrying in 2 s", config.modelsTopic(), bootstrap, e.toString());
    }
}
