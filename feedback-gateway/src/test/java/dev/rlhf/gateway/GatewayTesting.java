package dev.rlhf.gateway;

import java.util.List;

import org.apache.kafka.clients.consumer.ConsumerRecord;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;

/** Helpers shared by the gateway's Quarkus tests. */
final class GatewayTesting {

    static final String WRITER = "Bearer test-writer-key";
    static final String READER = "Bearer test-reader-key";
    static final String TOPIC = "rlhf.feedback.v1";

    private GatewayTesting() {
    }

    /** Every FeedbackEvent on the feedback topic with this event id, read by an independent consumer. */
    static List<FeedbackEvent> stored(String eventId) {
        return TopicReader.readAll(KafkaTestBroker.shared().bootstrapServers(), TOPIC).stream()
                .map(GatewayTesting::decode)
                .filter(e -> e.getEventId().equals(eventId))
                .toList();
    }

    static List<ConsumerRecord<String, byte[]>> records() {
        return TopicReader.readAll(KafkaTestBroker.shared().bootstrapServers(), TOPIC);
    }

    static FeedbackEvent decode(ConsumerRecord<String, byte[]> r) {
        try {
            return FeedbackEvent.parseFrom(r.value());
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError("not a FeedbackEvent at offset " + r.offset(), e);
        }
    }

    static String rating(String interactionId, int value) {
        return "{\"type\":\"rating\",\"interaction_id\":\"" + interactionId + "\",\"user_id\":\"u-1\",\"rating\":{\"value\":"
                + value + "}}";
    }

    static String pairwise(String chosen) {
        return """
                {"type":"pairwise","user_id":"annotator-7","source":"labeling-ui",
                 "pairwise":{"prompt":"How do I boil an egg?",
                   "responses":[{"response_id":"a","text":"Put it in boiling water for 8 minutes."},
                                {"response_id":"b","text":"Eggs are overrated."}],
                   "chosen_response_id":"%s","strength":2}}
                """.formatted(chosen);
    }
}
