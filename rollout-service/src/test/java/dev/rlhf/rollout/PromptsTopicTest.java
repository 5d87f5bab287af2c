package dev.rlhf.rollout;

import static dev.rlhf.rollout.TestTopics.await;
import static dev.rlhf.rollout.TestTopics.prompt;
import static dev.rlhf.rollout.TestTopics.publish;
import static dev.rlhf.rollout.TestTopics.rollouts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import dev.rlhf.kafka.support.DeadLetterQueue;
import dev.rlhf.proto.v1.FinishReason;
import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.rollout.core.RolloutIds;
import dev.rlhf.rollout.run.PromptConsumer;
import dev.rlhf.testkit.KafkaBrokerResource;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;

/**
 * The standing run end to end on a real broker: prompts written to rlhf.prompts.v1 become K
 * Rollouts each on rlhf.rollouts.v1, sampled and scored over real gRPC channels by
 * {@link FakeUpstreams}. K = 4 (application.properties), max-attempts 4, retry backoff 50 ms.
 */
@QuarkusTest
@QuarkusTestResource(value = KafkaBrokerResource.class, restrictToAnnotatedClass = false)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PromptsTopicTest {

    static final int K = 4;
    static final Duration WAIT = Duration.ofSeconds(20);

    @Inject
    RolloutService service;

    static FakeUpstreams fakes;

    @BeforeAll
    static void setUp() throws Exception {
        fakes = FakeUpstreams.shared();
        TestTopics.ensureDeadLetterTopic();
    }

    private static String tag() {
        return "t-" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    /** {prompt id → its rollouts}, once every listed prompt has {@code k} rollouts. */
    private static Map<String, List<Rollout>> awaitGroups(String prefix, int prompts, int k) throws Exception {
        List<List<Rollout>> seen = new ArrayList<>();
        await(prompts * k + " rollouts of " + prefix, WAIT, () -> {
            seen.clear();
            seen.add(rollouts(prefix));
            return seen.get(0).size() >= prompts * k;
        });
        return seen.get(0).stream().collect(Collectors.groupingBy(Rollout::getPromptId));
    }

    @Test
    @Order(1)
    void promptsBecomeKRolloutsEachWithIdsVersionAndRewardComponents() throws Exception {
        String tag = tag();
        for (int i = 0; i < 5; i++) {
            publish(prompt(tag + i, "Say something nice #" + i), -1);
        }
        Map<String, List<Rollout>> groups = awaitGroups(tag, 5, K);
        assertEquals(5, groups.size());
        for (Map.Entry<String, List<Rollout>> e : groups.entrySet()) {
            List<Rollout> g = e.getValue();
            assertEquals(K, g.size(), e.getKey());
            assertEquals(Set.of(0, 1, 2, 3), g.stream().map(Rollout::getSampleIndex).collect(Collectors.toSet()));
            for (Rollout r : g) {
                int i = r.getSampleIndex();
                assertEquals(RolloutIds.rolloutId("online", e.getKey(), 0, FakeUpstreams.POLICY_V3, i), r.getRolloutId());
                assertEquals("online", r.getRunId());
                assertEquals(K, r.getGroupSize());
                assertEquals(FakeUpstreams.POLICY_V3, r.getPolicy());
                assertEquals(List.of(100 + i, 101 + i, 2), r.getResponseTokenIdsList());
                assertEquals(List.of(-0.1f * (i + 1), -0.2f, -0.3f), r.getBehaviourLogprobsList());
                assertEquals(FakeUpstreams.reward(i) + 0.1, r.getReward(), 1e-12);
                assertEquals(List.of("helpfulness", "rule.length"),
                        r.getRewardComponentsList().stream().map(c -> c.getName()).toList());
                assertEquals(FakeUpstreams.REWARD_V2, r.getRewardComponents(0).getModel());
                assertEquals("cfg-test", r.getRewardConfigVersion());
                assertEquals(FinishReason.FINISH_REASON_STOP, r.getFinishReason());
                assertTrue(r.getEndedWithEos());
                assertEquals(K, r.getSampling().getN());
                assertEquals(RolloutIds.seed("online", e.getKey(), 0), r.getSampling().getSeed(), "the derived seed");
                assertEquals(1.0f, r.getSampling().getTemperature());
                assertEquals("yes", r.getLabelsMap().get("test"));
                assertTrue(r.getPromptText().startsWith("Say something nice"));
                assertEquals("answer " + i, r.getResponseText());
                assertEquals(0, r.getBestOfNRank(), "PPO mode");
            }
        }
        // the records are keyed by prompt id, so a group shares one partition
        List<ConsumerRecord<String, byte[]>> records = dev.rlhf.testkit.TopicReader.readAll(TestTopics.bootstrap(),
                TestTopics.ROLLOUTS).stream().filter(r -> r.key().startsWith(tag)).toList();
        for (ConsumerRecord<String, byte[]> r : records) {
            assertEquals(r.key(), TestTopics.rollout(r).getPromptId());
        }
        assertEquals(5, records.stream().map(r -> r.key() + "@" + r.partition()).distinct().count());
        // what policy-service was asked
        GenerateRequest asked = fakes.generateCalls.stream().filter(c -> c.text().equals("Say something nice #0"))
                .findFirst().orElseThrow().request();
        assertTrue(asked.getSkipInteractionLog(), "rollouts travel on rlhf.rollouts.v1, not as interactions");
        assertEquals(K, asked.getSampling().getN());
        assertEquals("rollout-service", asked.getAppId());
        assertEquals("policy", asked.getModel().getName());
    }

    @Test
    @Order(2)
    void unavailableTwiceThenRecoveringYieldsEveryRolloutExactlyOnce() throws Exception {
        String tag = tag();
        String text = "flaky: " + tag;
        publish(prompt(tag + "flaky", text), -1);
        Map<String, List<Rollout>> groups = awaitGroups(tag, 1, K);
        Thread.sleep(500); // anything extra would have arrived by now
        List<Rollout> all = rollouts(tag);
        assertEquals(K, all.size(), "exactly K records");
        assertEquals(K, all.stream().map(Rollout::getRolloutId).distinct().count());
        assertEquals(3, fakes.calls(text), "two UNAVAILABLE answers, then the one that worked");
        assertEquals(1, groups.size());
    }

    @Test
    @Order(3)
    void resourceExhaustedIsRetriedAfterTheRetryAfterTrailer() throws Exception {
        String tag = tag();
        String text = "busy: " + tag;
        publish(prompt(tag + "busy", text), -1);
        awaitGroups(tag, 1, K);
        List<Long> at = fakes.generateCalls.stream().filter(c -> c.text().equals(text)).map(FakeUpstreams.Call::atNanos)
                .toList();
        assertEquals(2, at.size());
        long gapMs = (at.get(1) - at.get(0)) / 1_000_000;
        assertTrue(gapMs >= 300, "retried after " + gapMs + " ms; the server asked for 300 (backoff alone is 50 ms)");
    }

    @Test
    @Order(4)
    void invalidArgumentAndUnreadablePromptsLandInTheDeadLetterTopicWithTheReason() throws Exception {
        String tag = tag();
        String text = "invalid: " + tag;
        publish(prompt(tag + "invalid", text), -1);
        TestTopics.publishRaw(tag + "garbage", "not a protobuf".getBytes(StandardCharsets.UTF_8), -1);
        publish(Prompt.newBuilder().setPromptId(tag + "empty").build(), -1);
        List<List<ConsumerRecord<String, byte[]>>> dead = new ArrayList<>();
        await("three dead letters", WAIT, () -> {
            dead.clear();
            dead.add(TestTopics.deadLetters(tag + "invalid"));
            dead.add(TestTopics.deadLetters(tag + "garbage"));
            dead.add(TestTopics.deadLetters(tag + "empty"));
            return dead.stream().allMatch(d -> !d.isEmpty());
        });
        String invalid = header(dead.get(0).get(0), DeadLetterQueue.REASON);
        assertTrue(invalid.contains("INVALID_ARGUMENT") && invalid.contains("sampling.top_p must be in (0, 1]"), invalid);
        assertEquals(TestTopics.PROMPTS, header(dead.get(0).get(0), DeadLetterQueue.TOPIC));
        assertEquals(1, fakes.calls(text), "INVALID_ARGUMENT is not retried");
        assertTrue(header(dead.get(1).get(0), DeadLetterQueue.REASON).startsWith("not a rlhf.v1.Prompt"));
        assertEquals("not a protobuf", new String(dead.get(1).get(0).value(), StandardCharsets.UTF_8), "kept unchanged");
        assertTrue(header(dead.get(2).get(0), DeadLetterQueue.REASON).contains("text or prompt_token_ids is required"));
        assertTrue(rollouts(tag).isEmpty());
    }

    @Test
    @Order(5)
    void theCommittedOffsetNeverPassesAPromptWhoseRolloutsAreNotAcknowledged() throws Exception {
        String tag = tag();
        int partition = 2;
        TopicPartition tp = new TopicPartition(TestTopics.PROMPTS, partition);
        fakes.gate = new CountDownLatch(1);
        String gatedText = "gated: " + tag;
        RecordMetadata gated = publish(prompt(tag + "gated", gatedText), partition);
        await("the gated prompt in flight", WAIT, () -> fakes.calls(gatedText) == 1);
        RecordMetadata fast = publish(prompt(tag + "fast", "quick " + tag), partition);
        awaitGroups(tag + "fast", 1, K);
        // the later prompt is published and acknowledged, the earlier one is still in flight
        Thread.sleep(300); // a commit would have followed the acknowledgement by now
        assertTrue(rollouts(tag + "gated").isEmpty());
        long committed = TestTopics.committed(tp);
        assertTrue(committed <= gated.offset(), "committed " + committed + " passes the unfinished prompt at "
                + gated.offset() + " (finished behind it: " + fast.offset() + ")");
        fakes.gate.countDown();
        await("the commit past both prompts", WAIT, () -> {
            try {
                return TestTopics.committed(tp) >= fast.offset() + 1;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        assertEquals(K, rollouts(tag + "gated").size(), "committed only once the gated group was acknowledged");
    }

    @Test
    @Order(6)
    void twoInstancesShareThePartitionsWithoutDuplicates() throws Exception {
        PromptConsumer first = service.standing();
        PromptConsumer second = service.startStanding();
        try {
            await("both instances holding partitions", Duration.ofSeconds(30), () -> {
                Set<TopicPartition> a = first.assignment();
                Set<TopicPartition> b = second.assignment();
                Set<TopicPartition> all = new HashSet<>(a);
                all.addAll(b);
                return !a.isEmpty() && !b.isEmpty() && all.size() == 6 && a.size() + b.size() == 6;
            });
            int before1 = first.processed();
            int before2 = second.processed();
            String tag = tag();
            for (int i = 0; i < 12; i++) {
                publish(prompt(tag + i, "shared work " + i), i % 6);
            }
            Map<String, List<Rollout>> groups = awaitGroups(tag, 12, K);
            Thread.sleep(500);
            List<Rollout> all = rollouts(tag);
            assertEquals(12 * K, all.size(), "no prompt sampled twice");
            assertEquals(12 * K, all.stream().map(Rollout::getRolloutId).distinct().count());
            assertEquals(12, groups.size());
            assertTrue(first.processed() > before1, "the first instance worked");
            assertTrue(second.processed() > before2, "the second instance worked");
            assertEquals(12, first.processed() - before1 + second.processed() - before2, "each prompt once");
        } finally {
            second.close(Duration.ofSeconds(5));
        }
        await("the first instance holding every partition again", Duration.ofSeconds(30),
                () -> first.assignment().size() == 6);
    }

    private static String header(ConsumerRecord<String, byte[]> r, String name) {
        return new String(r.headers().lastHeader(name).value(), StandardCharsets.UTF_8);
    }
}
