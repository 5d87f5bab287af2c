package dev.rlhf.trainer.prefs;

import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;
import io.micrometer.core.instrument.MeterRegistry;

/** Topics of one test on the shared real broker, and what the normaliser's Kafka tests do with them. */
final class NormaliserKafka implements AutoCloseable {

    final String bootstrap = KafkaTestBroker.shared().bootstrapServers();
    final String feedback;
    final String interactions;
    final String preferences;
    final String deadLetters;
    final String group;
    private final Admin admin;
    private final KafkaProducer<String, byte[]> producer;

    /** Fresh topics (feedback: 3 partitions, interactions: 2, preferences: 3, dead letters: 1) and group. */
    NormaliserKafka(String name, boolean createPreferences) throws Exception {
        String suffix = name + "-" + UUID.randomUUID().toString().substring(0, 8);
        feedback = "test.feedback." + suffix;
        interactions = "test.interactions." + suffix;
        preferences = "test.preferences." + suffix;
        deadLetters = "test.feedback.dlq." + suffix;
        group = "test-normaliser-" + suffix;
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        admin = Admin.create(p);
        admin.createTopics(List.of(new NewTopic(feedback, 3, (short) 1), new NewTopic(interactions, 2, (short) 1),
                new NewTopic(deadLetters, 1, (short) 1))).all().get();
        if (createPreferences) {
            createPreferences();
        }
        producer = ReliableProducers.create(bootstrap, "normaliser-test", Duration.ofSeconds(10));
    }

    void createPreferences() throws Exception {
        admin.createTopics(List.of(new NewTopic(preferences, 3, (short) 1))).all().get();
    }

    PreferenceNormaliser normaliser(MeterRegistry meters) {
        return new PreferenceNormaliser(new PreferenceNormaliser.Wiring(bootstrap, group, feedback, interactions,
                preferences, deadLetters, Duration.ofSeconds(5), Duration.ofSeconds(30), Duration.ofMillis(200)),
                PreferenceRules.Settings.defaults(), meters, Clock.systemUTC());
    }

    RecordMetadata send(String topic, String key, byte[] value) throws Exception {
        return send(topic, key, value, null);
    }

    RecordMetadata send(String topic, String key, byte[] value, Long timestamp) throws Exception {
        return producer.send(new ProducerRecord<>(topic, null, timestamp, key, value)).get();
    }

    /** The group's committed offsets. */
    Map<TopicPartition, OffsetAndMetadata> committed() throws Exception {
        return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
    }

    /** Whether the group committed the end of every non-empty partition of the feedback and interactions topics. */
    boolean caughtUp() throws Exception {
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        for (var d : admin.describeTopics(List.of(feedback, interactions)).allTopicNames().get().values()) {
            d.partitions().forEach(i -> request.put(new TopicPartition(d.name(), i.partition()), OffsetSpec.latest()));
        }
        var ends = admin.listOffsets(request).all().get();
        Map<TopicPartition, OffsetAndMetadata> committed = committed();
        for (var e : ends.entrySet()) {
            long end = e.getValue().offset();
            OffsetAndMetadata c = committed.get(e.getKey());
            if (end > 0 && (c == null || c.offset() < end)) {
                return false;
            }
        }
        return true;
    }

    List<Preference> preferences() {
        return TopicReader.readAll(bootstrap, preferences).stream().map(r -> {
            try {
                return Preference.parseFrom(r.value());
            } catch (InvalidProtocolBufferException e) {
                throw new AssertionError("unreadable preference", e);
            }
        }).toList();
    }

    static Map<String, Long> countById(List<Preference> ps) {
        return ps.stream().collect(Collectors.groupingBy(Preference::getPreferenceId, Collectors.counting()));
    }

    /** Waits for {@code condition}, failing with {@code what} after {@code timeout}. */
    static void await(String what, Duration timeout, Check condition) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for: " + what);
            }
            Thread.sleep(100);
        }
    }

    @FunctionalInterface
    interface Check {
        boolean holds() throws Exception;
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
        admin.close(Duration.ofSeconds(5));
    }
}
