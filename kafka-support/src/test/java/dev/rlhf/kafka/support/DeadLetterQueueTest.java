package dev.rlhf.kafka.support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.Rating;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;

/**
 * A consumer reading rlhf.feedback.v1 on a real broker: readable events come through,
 * unreadable ones land on the dead-letter topic with the reason and their source
 * coordinates, and the consumer commits past them only after that.
 */
class DeadLetterQueueTest {

    private static final String FEEDBACK = "rlhf.feedback.v1";
    private static final String DLQ = "rlhf.feedback.dlq.v1";

    @Test
    void unreadableRecordsGoToTheDeadLetterTopicWithTheirReason() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        String key = "dlq-test-" + UUID.randomUUID();
        FeedbackEvent good = FeedbackEvent.newBuilder().setEventId(UUID.randomUUID().toString())
                .setInteractionId(key).setRating(Rating.newBuilder().setValue(4)).build();
        FeedbackEvent noKind = FeedbackEvent.newBuilder().setEventId(UUID.randomUUID().toString())
                .setInteractionId(key).build();
        byte[] garbage = {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01};
        try (KafkaProducer<String, byte[]> producer = ReliableProducers.create(bootstrap, "dlq-test", Duration.ofSeconds(10))) {
            // one key: all three land in one partition, in this order
            producer.send(new ProducerRecord<>(FEEDBACK, key, good.toByteArray())).get();
            producer.send(new ProducerRecord<>(FEEDBACK, key, garbage)).get();
            producer.send(new ProducerRecord<>(FEEDBACK, key, noKind.toByteArray())).get();

            DeadLetterQueue dlq = new DeadLetterQueue(producer, DLQ, "dlq-test-group", 10_000);
            List<FeedbackEvent> read = new ArrayList<>();
            String group = "dlq-test-" + UUID.randomUUID();
            try (KafkaConsumer<String, byte[]> consumer = consumer(bootstrap, group)) {
                consumer.subscribe(List.of(FEEDBACK));
                long deadline = System.currentTimeMillis() + 30_000;
                int mine = 0;
                while (mine < 3 && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                        if (!key.equals(r.key())) {
                            continue;
                        }
                        mine++;
                        dlq.decodeOrDeadLetter(r, FeedbackEvent.parser(),
                                e -> e.getKindCase() == FeedbackEvent.KindCase.KIND_NOT_SET
                                        ? Optional.of("feedback event without a kind")
                                        : Optional.empty())
                                .ifPresent(read::add);
                    }
                    consumer.commitSync();
                }
                assertEquals(3, mine, "all three records were consumed");
            }
            assertEquals(List.of(good), read);
        }

        List<ConsumerRecord<String, byte[]>> dead = TopicReader.readAll(bootstrap, DLQ).stream()
                .filter(r -> key.equals(r.key())).toList();
        assertEquals(2, dead.size());
        ConsumerRecord<String, byte[]> first = dead.get(0);
        assertEquals(List.of(garbage[0], garbage[1], garbage[2], garbage[3]), List.of(first.value()[0],
                first.value()[1], first.value()[2], first.value()[3]), "the value is kept unchanged");
        assertTrue(header(first, DeadLetterQueue.REASON).startsWith("value is not a valid protobuf message"),
                header(first, DeadLetterQueue.REASON));
        assertEquals(FEEDBACK, header(first, DeadLetterQueue.TOPIC));
        assertTrue(header(first, DeadLetterQueue.EXCEPTION).startsWith("com.google.protobuf.InvalidProtocolBufferException"));
        assertEquals("dlq-test-group", header(first, DeadLetterQueue.CONSUMER));
        long garbageOffset = Long.parseLong(header(first, DeadLetterQueue.OFFSET));
        assertEquals(garbageOffset + 1, Long.parseLong(header(dead.get(1), DeadLetterQueue.OFFSET)));
        assertEquals("feedback event without a kind", header(dead.get(1), DeadLetterQueue.REASON));
        assertEquals(noKind, FeedbackEvent.parseFrom(dead.get(1).value()));
    }

    private static String header(ConsumerRecord<String, byte[]> r, String name) {
        return new String(r.headers().lastHeader(name).value(), StandardCharsets.UTF_8);
    }

    private static KafkaConsumer<String, byte[]> consumer(String bootstrap, String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }
}
