package dev.rlhf.kafka.support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.proto.v1.ModelVersion;
import dev.rlhf.testkit.KafkaTestBroker;

/**
 * A follower of a two-partition topic on a real broker: it delivers exactly what was written
 * after {@link TopicFollower#position}, including what came before {@link TopicFollower#start},
 * reports unreadable values and goes on, and stops on close.
 */
class TopicFollowerTest {

    /** Records what the follower hands over. */
    private static final class Recorder implements TopicFollower.Handler<ModelVersion> {
        final List<ModelVersion> messages = new CopyOnWriteArrayList<>();
        final List<Long> unreadable = new CopyOnWriteArrayList<>();
        final List<List<TopicPartition>> positioned = new CopyOnWriteArrayList<>();
        final List<RuntimeException> failures = new CopyOnWriteArrayList<>();

        @Override
        public void message(ModelVersion message) {
            messages.add(message);
        }

        @Override
        public void unreadable(ConsumerRecord<String, byte[]> record, InvalidProtocolBufferException e) {
            unreadable.add(record.offset());
        }

        @Override
        public void failed(RuntimeException e) {
            failures.add(e);
        }

        @Override
        public void positioned(List<TopicPartition> partitions) {
            positioned.add(partitions);
        }
    }

    private static ModelVersion version(String name, long v) {
        return ModelVersion.newBuilder().setName(name).setVersion(v).build();
    }

    @Test
    void deliversWhatWasWrittenAfterPositionEvenBeforeStart() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        String topic = "follower-test-" + UUID.randomUUID();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
        }
        Recorder recorder = new Recorder();
        try (KafkaProducer<String, byte[]> producer = ReliableProducers.create(bootstrap, "follower-test",
                Duration.ofSeconds(10));
                TopicFollower<ModelVersion> follower = new TopicFollower<>(bootstrap, topic,
                        "follower-test-" + UUID.randomUUID(), "follower-test", ModelVersion.parser(), recorder)) {
            // 1. written before the follower is positioned: not delivered
            producer.send(new ProducerRecord<>(topic, 0, "a", version("a", 1).toByteArray())).get();
            // 2. positioned synchronously, at the end of both partitions
            assertTrue(follower.position(), "positioned on a running broker");
            assertEquals(1, recorder.positioned.size());
            assertEquals(Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1)),
                    Set.copyOf(recorder.positioned.get(0)));
            // 3. written after position() but before start(): delivered, unreadable values reported
            producer.send(new ProducerRecord<>(topic, 0, "a", version("a", 2).toByteArray())).get();
            long garbage = producer.send(new ProducerRecord<>(topic, 1, "b", new byte[] {(byte) 0xff, (byte) 0xff}))
                    .get().offset();
            producer.send(new ProducerRecord<>(topic, 1, "b", version("b", 7).toByteArray())).get();
            assertTrue(recorder.messages.isEmpty(), "nothing is delivered before start()");
            follower.start();
            assertThrows(IllegalStateException.class, follower::start, "a follower starts once");
            long deadline = System.currentTimeMillis() + 30_000;
            while (recorder.messages.size() < 2 && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(Set.of(version("a", 2), version("b", 7)), Set.copyOf(recorder.messages));
            assertEquals(List.of(garbage), recorder.unreadable);
            assertEquals(1, recorder.positioned.size(), "the positioned consumer is the one that polls");
            assertEquals(List.of(), recorder.failures);
            // 4. closed: nothing more is delivered, and it cannot be restarted
            follower.close();
            producer.send(new ProducerRecord<>(topic, 0, "a", version("a", 3).toByteArray())).get();
            Thread.sleep(500);
            assertEquals(2, recorder.messages.size(), "nothing is delivered after close()");
            assertFalse(follower.position(), "a closed follower does not position");
            assertThrows(IllegalStateException.class, follower::start);
        }
    }

    @Test
    void rejectsAMissingTopicOrBootstrap() {
        Recorder recorder = new Recorder();
        assertThrows(IllegalArgumentException.class,
                () -> new TopicFollower<>("127.0.0.1:9092", " ", "id", "t", ModelVersion.parser(), recorder));
        assertThrows(IllegalArgumentException.class,
                () -> new TopicFollower<>("", "topic", "id", "t", ModelVersion.parser(), recorder));
    }
}
