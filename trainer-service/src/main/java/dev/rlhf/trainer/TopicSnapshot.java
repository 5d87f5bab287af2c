package dev.rlhf.trainer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import com.google.protobuf.InvalidProtocolBufferException;

/**
 * A job's data read from a topic as a snapshot: every retained record up to the end offsets
 * at the start of the read, so a job is reproducible. Records that do not parse (or that the
 * parser rejects with IllegalArgumentException) are skipped and counted in the log.
 */
public final class TopicSnapshot {

    private static final Logger LOG = Logger.getLogger(TopicSnapshot.class);

    /** Parses one record's value. */
    public interface Parser<T> {
        T parse(byte[] value) throws InvalidProtocolBufferException;
    }

    private TopicSnapshot() {
    }

    /**
     * @throws IllegalStateException when the end offsets are not reached within 120 s
     */
    public static <T> List<T> read(String bootstrap, String topic, Parser<T> parser) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "trainer-snapshot-" + UUID.randomUUID());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        List<T> out = new ArrayList<>();
        int unreadable = 0;
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p)) {
            var infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
            if (infos == null || infos.isEmpty()) {
                throw new IllegalStateException("topic " + topic + " does not exist at " + bootstrap);
            }
            List<TopicPartition> partitions = infos.stream().map(i -> new TopicPartition(i.topic(), i.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            long deadline = System.currentTimeMillis() + 120_000;
            while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("reading " + topic + " did not reach its end offsets in 120 s");
                }
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.offset() >= end.get(new TopicPartition(r.topic(), r.partition()))) {
                        continue;
                    }
                    try {
                        out.add(parser.parse(r.value() == null ? new byte[0] : r.value()));
                    } catch (InvalidProtocolBufferException | IllegalArgumentException e) {
                        unreadable++;
                    }
                }
            }
        }
        if (unreadable > 0) {
            LOG.warnf("skipped %d unreadable or invalid records of %s", unreadable, topic);
        }
        return out;
    }
}
