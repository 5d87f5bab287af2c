package dev.rlhf.trainer.ppo.job;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import org.jboss.logging.Logger;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.proto.v1.Rollout;

/**
 * Follows the rollouts topic for a PPO job from explicit positions (a checkpoint's, or those
 * of a start time): {@link #next} reads records in offset order per partition until a batch of
 * accepted rollouts is full, and the positions then point just past the last record it
 * looked at, so the records a poll fetched beyond the batch are read again by the next
 * batch — none is skipped. The positions are what a checkpoint stores; they are also
 * committed to the consumer group {@code trainer-ppo-<job name>} with each checkpoint, for
 * lag monitoring only.
 */
public final class RolloutFeed implements AutoCloseable {

    /** What a record is to the job. */
    public enum Verdict {
        /** Trained on. */
        ACCEPT,
        /** Another run's rollout (PpoConfig.rollout_run_id). */
        OTHER_RUN,
        /** Sampled by a policy version older than the staleness rule allows. */
        STALE,
        /** Longer than max_seq_length. */
        TOO_LONG,
        /** A rollout id this job already trained on (a repeated publish). */
        REPEAT,
        /** Not a Rollout, or one without tokens. */
        UNREADABLE
    }

    private static final Logger LOG = Logger.getLogger(RolloutFeed.class);
    private static final long WAIT_REPORT_NANOS = 30_000_000_000L;

    private final KafkaConsumer<String, byte[]> consumer;
    private final String topic;
    private final Map<Integer, Long> positions = new TreeMap<>();
    private final Map<Verdict, Long> counts = new TreeMap<>();

    /**
     * @param positions next offset to read per partition; partitions missing from it start at
     *                  the first record published at or after {@code since} (the end when there
     *                  is none yet), or at their beginning when {@code since} is null
     */
    public RolloutFeed(String bootstrap, String topic, String group, Map<Integer, Long> positions, Instant since) {
        this.topic = topic;
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, group + "-" + UUID.randomUUID());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "500");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        this.consumer = new KafkaConsumer<>(p);
        var infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) {
            consumer.close();
            throw new IllegalStateException("topic " + topic + " does not exist at " + bootstrap);
        }
        List<TopicPartition> partitions = infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
        consumer.assign(partitions);
        Map<TopicPartition, Long> beginning = consumer.beginningOffsets(partitions);
        Map<TopicPartition, Long> start = new HashMap<>(beginning);
        if (since != null) {
            Map<TopicPartition, Long> at = new HashMap<>();
            partitions.forEach(tp -> at.put(tp, since.toEpochMilli()));
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            consumer.offsetsForTimes(at).forEach((tp, found) -> start.put(tp, found == null ? end.get(tp)
                    : found.offset()));
        }
        for (TopicPartition tp : partitions) {
            long at = positions.getOrDefault(tp.partition(), start.get(tp));
            if (at < beginning.get(tp)) {
                throw new IllegalStateException("the checkpoint's position " + at + " in " + tp + " is before the"
                        + " topic's first retained offset " + beginning.get(tp) + ": rollouts were deleted by retention"
                        + " before the job trained on them");
            }
            consumer.seek(tp, at);
            this.positions.put(tp.partition(), at);
        }
    }

    /**
     * The next {@code size} accepted rollouts, in offset order per partition.
     *
     * @param judge     the verdict on each readable rollout
     * @param cancelled polled between fetches; when true, returns what it has (maybe less)
     */
    public List<Rollout> next(int size, Function<Rollout, Verdict> judge, BooleanSupplier cancelled) {
        List<Rollout> out = new ArrayList<>();
        long report = System.nanoTime() + WAIT_REPORT_NANOS;
        while (out.size() < size && !cancelled.getAsBoolean()) {
            if (System.nanoTime() > report) {
                LOG.infof("waiting for rollouts on %s: %d of %d in the batch; judged so far %s; positions %s", topic,
                        out.size(), size, counts, positions);
                report = System.nanoTime() + WAIT_REPORT_NANOS;
            }
            for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                if (r.offset() < positions.get(r.partition())) {
                    continue; // fetched before a seek back
                }
                positions.put(r.partition(), r.offset() + 1);
                Verdict v;
                Rollout rollout = null;
                try {
                    rollout = Rollout.parseFrom(r.value() == null ? new byte[0] : r.value());
                    v = rollout.getResponseTokenIdsCount() == 0 || rollout.getPromptTokenIdsCount() == 0
                            || rollout.getRolloutId().isEmpty() ? Verdict.UNREADABLE : judge.apply(rollout);
                } catch (InvalidProtocolBufferException e) {
                    v = Verdict.UNREADABLE;
                }
                counts.merge(v, 1L, Long::sum);
                if (v == Verdict.ACCEPT) {
                    out.add(rollout);
                    if (out.size() == size) {
                        break;
                    }
                }
            }
        }
        // whatever the last poll fetched beyond the batch is read again next time
        positions.forEach((partition, at) -> consumer.seek(new TopicPartition(topic, partition), at));
        return out;
    }

    /** Next offset to read per partition: everything before it has been judged. */
    public Map<Integer, Long> positions() {
        return Map.copyOf(positions);
    }

    /** Records judged so far, by verdict. */
    public Map<Verdict, Long> counts() {
        return Map.copyOf(counts);
    }

    /**
     * Commits {@code snapshot} (of {@link #positions()}, taken with a checkpoint) as the job's
     * consumer group's offsets (monitoring only; checkpoints are authoritative).
     */
    public void commit(Map<Integer, Long> snapshot) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new TreeMap<>((a, b) -> Integer.compare(a.partition(),
                b.partition()));
        snapshot.forEach((partition, at) -> offsets.put(new TopicPartition(topic, partition), new OffsetAndMetadata(at)));
        consumer.commitSync(offsets, Duration.ofSeconds(10));
    }

    @Override
    public void close() {
        consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
    }
}
