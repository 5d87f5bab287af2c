package dev.rlhf.trainer.prefs;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.proto.v1.PreferenceRule;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;

/**
 * The normaliser inside trainer-service (rlhf.normaliser.enabled=true) on the real broker:
 * feedback in, a preference out, and the operator's figures on /q/metrics.
 */
@QuarkusTest
@TestProfile(PreferenceNormaliserAppTest.Enabled.class)
class PreferenceNormaliserAppTest {

    private static final String SUFFIX = UUID.randomUUID().toString().substring(0, 8);
    static final String FEEDBACK = "app.feedback." + SUFFIX;
    static final String INTERACTIONS = "app.interactions." + SUFFIX;
    static final String PREFERENCES = "app.preferences." + SUFFIX;
    static final String DEAD_LETTERS = "app.feedback.dlq." + SUFFIX;

    /** Turns the normaliser on, on this test's own topics. */
    public static class Enabled implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("rlhf.normaliser.enabled", "true",
                    "rlhf.normaliser.group-id", "app-normaliser-" + SUFFIX,
                    "rlhf.normaliser.topics.feedback", FEEDBACK,
                    "rlhf.normaliser.topics.interactions", INTERACTIONS,
                    "rlhf.normaliser.topics.preferences", PREFERENCES,
                    "rlhf.normaliser.topics.dead-letters", DEAD_LETTERS);
        }

        @Override
        public List<TestResourceEntry> testResources() {
            return List.of(new TestResourceEntry(Topics.class));
        }
    }

    /** The shared real broker, with this test's topics created before the application starts. */
    public static class Topics implements QuarkusTestResourceLifecycleManager {
        @Override
        public Map<String, String> start() {
            String bootstrap = KafkaTestBroker.shared().bootstrapServers();
            Properties p = new Properties();
            p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            try (Admin admin = Admin.create(p)) {
                admin.createTopics(List.of(new NewTopic(FEEDBACK, 2, (short) 1), new NewTopic(INTERACTIONS, 2, (short) 1),
                        new NewTopic(PREFERENCES, 2, (short) 1), new NewTopic(DEAD_LETTERS, 1, (short) 1))).all().get();
            } catch (Exception e) {
                throw new IllegalStateException("could not create the test topics", e);
            }
            return Map.of("kafka.bootstrap.servers", bootstrap);
        }

        @Override
        public void stop() {
            // the shared broker stops with the test JVM
        }
    }

    @Test
    void feedbackBecomesAPreferenceAndTheFiguresShowOnMetrics() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        FeedbackEvent choice = Feedback.pairwise(Feedback.id(), "Which is kinder?", "Thank you.", "Whatever.", 3);
        try (KafkaProducer<String, byte[]> producer = ReliableProducers.create(bootstrap, "app-test", Duration.ofSeconds(10))) {
            producer.send(new ProducerRecord<>(FEEDBACK, "prompt", choice.toByteArray())).get();
            producer.send(new ProducerRecord<>(FEEDBACK, "prompt", new byte[] {(byte) 0xff, 0x01})).get();
        }
        NormaliserKafka.await("a preference on " + PREFERENCES, Duration.ofSeconds(60),
                () -> !TopicReader.readAll(bootstrap, PREFERENCES).isEmpty());
        Preference p = Preference.parseFrom(TopicReader.readAll(bootstrap, PREFERENCES).get(0).value());
        assertEquals(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_PAIRWISE, List.of(choice.getEventId())),
                p.getPreferenceId());
        assertEquals(3.0, p.getMargin());
        assertEquals(PreferenceIds.promptHash("Which is kinder?"), p.getPromptHash());
        assertEquals(true, p.hasCreatedAt());
        NormaliserKafka.await("the figures on /q/metrics", Duration.ofSeconds(30), () -> {
            String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
            return value(metrics, "rlhf_normaliser_preferences_total", "rule=\"pairwise\"") == 1.0
                    && value(metrics, "rlhf_normaliser_dead_letters_total", "reason=\"unreadable\"") == 1.0
                    && value(metrics, "rlhf_normaliser_pending_joins", "") == 0.0;
        });
    }

    /** The value of the first sample of {@code name} whose labels contain {@code label}; NaN when absent. */
    private static double value(String metrics, String name, String label) {
        for (String line : metrics.split("\n")) {
            if ((line.startsWith(name + "{") || line.startsWith(name + " ")) && line.contains(label)) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return Double.NaN;
    }
}
