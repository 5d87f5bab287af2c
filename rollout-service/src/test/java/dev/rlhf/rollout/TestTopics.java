package dev.rlhf.rollout;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;

/** The tests' side of Kafka: writing prompts, reading rollouts and dead letters, the group's commits. */
final class TestTopics {

    static final String PROMPTS = "rlhf.prompts.v1";
    static final String ROLLOUTS = "rlhf.rollouts.v1";
    static final String DLQ = "rlhf.prompts.dlq.v1";
    static final String GROUP = "rlhf-rollouts";

    private static KafkaProducer<String, byte[]> producer;
    private static Admin admin;

    private TestTopics() {
    }

    static String bootstrap() {
        return KafkaTestBroker.shared().bootstrapServers();
    }

    /**
     * Creates the prompts dead-letter topic: the local broker does not create it (yet; see the
     * module's notes), and it does not create topics on demand.
     */
    static synchronized void ensureDeadLetterTopic() throws Exception {
        try {
            admin().createTopics(List.of(new NewTopic(DLQ, 1, (short) 1))).all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
    }

    static synchronized Admin admin() {
        if (admin == null) {
            Properties p = new Properties();
            p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
            admin = Admin.create(p);
        }
        return admin;
    }

    private static synchronized KafkaProducer<String, byte[]> producer() {
        if (producer == null) {
            producer = ReliableProducers.create(bootstrap(), "rollout-test", Duration.ofSeconds(10));
        }
        return producer;
    }

    /** Writes {@code p} (key: its id) to a partition of its key, or to {@code partition} when >= 0; returns where. */
    static RecordMetadata publish(Prompt p, int partition) throws Exception {
        return publishRaw(p.getPromptId(), p.toByteArray(), partition);
    }

    static RecordMetadata publishRaw(String key, byte[] value, int partition) throws Exception {
        ProducerRecord<String, byte[]> r = partition >= 0 ? new ProducerRecord<>(PROMPTS, partition, key, value)
                : new ProducerRecord<>(PROMPTS, key, value);
        return producer().send(r).get();
    }

    static Prompt prompt(String id, String text) {
        return Prompt.newBuilder().setPromptId(id).setText(text).putLabels("test", "yes").build();
    }

    /** Every Rollout on the topic whose prompt id starts with {@code prefix}. */
    static List<Rollout> rollouts(String prefix) {
        return TopicReader.readAll(bootstrap(), ROLLOUTS).stream().map(TestTopics::rollout)
                .filter(r -> r.getPromptId().startsWith(prefix)).toList();
    }

    static Rollout rollout(ConsumerRecord<String, byte[]> r) {
        try {
            return Rollout.parseFrom(r.value());
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError("not a Rollout at " + r.topic() + "-" + r.partition() + "@" + r.offset(), e);
        }
    }

    /** Every dead letter with key {@code key}. */
    static List<ConsumerRecord<String, byte[]>> deadLetters(String key) {
        return TopicReader.readAll(bootstrap(), DLQ).stream().filter(r -> key.equals(r.key())).toList();
    }

    /** The group's committed offset of {@code tp}, or -1 when none. */
    static long committed(TopicPartition tp) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = admin().listConsumerGroupOffsets(GROUP)
                .partitionsToOffsetAndMetadata().get();
        OffsetAndMetadata o = m.get(tp);
        return o == null ? -1 : o.offset();
    }

    /** Waits until {@code condition} holds; fails with {@code what} after {@code timeout}. */
    static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        Instant deadline = Instant.now().plus(timeout);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            Thread.sleep(100);
        }
    }
}
