package dev.rlhf.rollout;

import static dev.rlhf.rollout.TestTopics.await;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.GetRunRequest;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.PromptsTopicSource;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.RolloutRun;
import dev.rlhf.proto.v1.RolloutRunSpec;
import dev.rlhf.proto.v1.RolloutRunState;
import dev.rlhf.proto.v1.RolloutServiceGrpc;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.StartRunRequest;
import dev.rlhf.proto.v1.StopRunRequest;
import dev.rlhf.rollout.core.RolloutIds;
import dev.rlhf.testkit.KafkaBrokerResource;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;

/**
 * RolloutService over a real gRPC channel: runs over a named prompt set
 * (src/test/resources/prompt-sets/tiny.jsonl: 3 prompts) and over the prompts topic, their
 * life cycle and errors; plus health and the operator's metrics.
 */
@QuarkusTest
@QuarkusTestResource(value = KafkaBrokerResource.class, restrictToAnnotatedClass = false)
class RolloutGrpcServiceTest {

    static final Duration WAIT = Duration.ofSeconds(20);

    @GrpcClient("rollout")
    RolloutServiceGrpc.RolloutServiceBlockingStub stub;

    @BeforeAll
    static void setUp() throws Exception {
        FakeUpstreams.shared();
        TestTopics.ensureDeadLetterTopic();
    }

    static RolloutRunSpec.Builder tiny(RolloutMode mode, int k) {
        return RolloutRunSpec.newBuilder().setPromptSet("tiny").setSamplesPerPrompt(k).setMode(mode)
                .setSampling(SamplingParams.newBuilder().setTemperature(1f));
    }

    private RolloutRun start(String runId, RolloutRunSpec.Builder spec) {
        return stub.startRun(StartRunRequest.newBuilder().setRunId(runId).setSpec(spec).build());
    }

    private RolloutRun get(String runId) {
        return stub.getRun(GetRunRequest.newBuilder().setRunId(runId).build());
    }

    private RolloutRun awaitState(String runId, RolloutRunState state) throws InterruptedException {
        await(runId + " " + state, WAIT, () -> get(runId).getState() == state);
        return get(runId);
    }

    private static List<Rollout> ofRun(String runId) {
        return TestTopics.rollouts("").stream().filter(r -> r.getRunId().equals(runId)).toList();
    }

    private static String runId(String what) {
        return what + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    @Test
    void bestOfNRunOverAPromptSetRanksAndSelectsEveryGroup() throws Exception {
        String id = runId("bon");
        RolloutRun started = start(id, tiny(RolloutMode.ROLLOUT_MODE_BEST_OF_N, 4).setBestOfNKeep(2));
        assertEquals(id, started.getRunId());
        RolloutRun done = awaitState(id, RolloutRunState.ROLLOUT_RUN_STATE_COMPLETED);
        assertEquals(3, done.getPromptsCompleted());
        assertEquals(12, done.getRolloutsPublished());
        assertEquals(0, done.getPromptsInFlight());
        assertEquals(0, done.getFailures());
        assertEquals(FakeUpstreams.POLICY_V3, done.getCurrentPolicy());
        assertTrue(done.hasStartedAt() && done.hasFinishedAt());
        assertTrue(done.getMetricsMap().containsKey("reward/mean"));
        Map<String, List<Rollout>> groups = ofRun(id).stream().collect(Collectors.groupingBy(Rollout::getPromptId));
        assertEquals(Set.of("tiny-1", "tiny-2", "tiny-3"), groups.keySet());
        for (List<Rollout> g : groups.values()) {
            assertEquals(4, g.size());
            List<Rollout> byRank = g.stream().sorted(Comparator.comparingInt(Rollout::getBestOfNRank)).toList();
            assertEquals(List.of(1, 2, 3, 4), byRank.stream().map(Rollout::getBestOfNRank).toList());
            for (int i = 1; i < byRank.size(); i++) {
                assertTrue(byRank.get(i - 1).getReward() >= byRank.get(i).getReward(), "rank 1 = highest reward");
            }
            assertEquals(List.of(true, true, false, false), byRank.stream().map(Rollout::getBestOfNSelected).toList());
            for (Rollout r : g) {
                assertEquals(RolloutIds.rolloutId(id, r.getPromptId(), 0, FakeUpstreams.POLICY_V3, r.getSampleIndex()),
                        r.getRolloutId());
            }
        }
        Rollout ids = groups.get("tiny-3").get(0);
        assertEquals(List.of(1, 72, 105), ids.getPromptTokenIdsList(), "token ids sent verbatim");
        assertEquals("decoded [1, 72, 105]", ids.getPromptText(), "the policy's decoding when the prompt has no text");
        assertEquals(16, ids.getSampling().getMaxNewTokens(), "the prompt's override");
        assertEquals("math", groups.get("tiny-1").get(0).getLabelsMap().get("task"));
    }

    @Test
    void startRunIsIdempotentAndAnswersTheDocumentedErrors() {
        String id = runId("idem");
        RolloutRunSpec.Builder spec = tiny(RolloutMode.ROLLOUT_MODE_PPO, 2);
        RolloutRun a = start(id, spec);
        RolloutRun b = start(id, spec);
        assertEquals(a.getCreatedAt(), b.getCreatedAt(), "a retry returns the existing run");
        assertEquals(spec.build(), b.getSpec(), "the spec as sent");

        assertCode(Status.Code.ALREADY_EXISTS, () -> start(id, tiny(RolloutMode.ROLLOUT_MODE_PPO, 3)));
        assertCode(Status.Code.ALREADY_EXISTS, () -> start("online", spec));
        StatusRuntimeException e = assertCode(Status.Code.INVALID_ARGUMENT,
                () -> start(runId("x"), tiny(RolloutMode.ROLLOUT_MODE_BEST_OF_N, 1)));
        assertEquals("spec.samples_per_prompt must be >= 2 in BEST_OF_N mode, was 1", e.getStatus().getDescription());
        assertCode(Status.Code.INVALID_ARGUMENT, () -> start("bad id!", spec));
        assertCode(Status.Code.INVALID_ARGUMENT, () -> stub.startRun(StartRunRequest.newBuilder().setRunId(runId("y")).build()));
        e = assertCode(Status.Code.NOT_FOUND, () -> start(runId("z"), spec.clone().setPromptSet("no-such-set")));
        assertTrue(e.getStatus().getDescription().contains("no-such-set"), e.getStatus().getDescription());
        assertCode(Status.Code.NOT_FOUND, () -> get("never-started"));
        assertCode(Status.Code.NOT_FOUND, () -> stub.stopRun(StopRunRequest.newBuilder().setRunId("never-started").build()));
    }

    @Test
    void aTopicRunTakesOnlyItsOwnPromptsAndCompletesAtMaxPrompts() throws Exception {
        String id = runId("topic");
        RolloutRunSpec.Builder spec = RolloutRunSpec.newBuilder()
                .setPromptsTopic(PromptsTopicSource.newBuilder().setPromptSet("set-x"))
                .setSamplesPerPrompt(2).setMode(RolloutMode.ROLLOUT_MODE_PPO)
                .setSampling(SamplingParams.newBuilder().setTemperature(0.8f)).setMaxPrompts(2);
        start(id, spec);
        awaitState(id, RolloutRunState.ROLLOUT_RUN_STATE_RUNNING); // its consumer holds the partitions
        String tag = id + "-p";
        TestTopics.publish(Prompt.newBuilder().setPromptId(tag + "1").setText("for the run").setRunId(id)
                .setPromptSet("set-x").build(), -1);
        TestTopics.publish(Prompt.newBuilder().setPromptId(tag + "2").setText("another other set").setRunId(id)
                .setPromptSet("other").build(), -1);
        TestTopics.publish(Prompt.newBuilder().setPromptId(tag + "3").setText("for the run too").setRunId(id)
                .setPromptSet("set-x").build(), -1);
        RolloutRun done = awaitState(id, RolloutRunState.ROLLOUT_RUN_STATE_COMPLETED);
        assertEquals(2, done.getPromptsCompleted());
        List<Rollout> mine = TestTopics.rollouts(tag);
        assertEquals(4, mine.size(), "two prompts of set-x, K = 2; none for the other set, none by the standing run");
        assertTrue(mine.stream().allMatch(r -> r.getRunId().equals(id)));
        assertEquals(Set.of(tag + "1", tag + "3"), mine.stream().map(Rollout::getPromptId).collect(Collectors.toSet()));
        assertEquals(0.8f, mine.get(0).getSampling().getTemperature());
    }

    @Test
    void stopRunFinishesThePromptsInFlightAndStops() throws Exception {
        String id = runId("stop");
        start(id, tiny(RolloutMode.ROLLOUT_MODE_PPO, 2).setEpochs(1000).setMaxConcurrency(1));
        await("a first completed prompt", WAIT, () -> get(id).getPromptsCompleted() >= 1);
        RolloutRun stopping = stub.stopRun(StopRunRequest.newBuilder().setRunId(id).build());
        assertTrue(stopping.getState() == RolloutRunState.ROLLOUT_RUN_STATE_STOPPING
                || stopping.getState() == RolloutRunState.ROLLOUT_RUN_STATE_STOPPED, stopping.getState().name());
        RolloutRun stopped = awaitState(id, RolloutRunState.ROLLOUT_RUN_STATE_STOPPED);
        assertEquals(0, stopped.getPromptsInFlight());
        assertTrue(stopped.getPromptsCompleted() < 3000);
        assertEquals(stopped.getPromptsCompleted() * 2, stopped.getRolloutsPublished(), "the last prompt was finished");
        assertEquals(stopped, stub.stopRun(StopRunRequest.newBuilder().setRunId(id).setAbortInFlight(true).build()),
                "stopping a finished run changes nothing");
    }

    @Test
    void healthAndTheOperatorsMetricsAreServed() throws Exception {
        String id = runId("metrics");
        start(id, tiny(RolloutMode.ROLLOUT_MODE_PPO, 2));
        awaitState(id, RolloutRunState.ROLLOUT_RUN_STATE_COMPLETED);
        given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        given().get("/q/metrics").then().statusCode(200)
                .body(containsString("rlhf_rollout_rollouts_total"))
                .body(containsString("rlhf_rollout_response_tokens_total"))
                .body(containsString("rlhf_rollout_prompts_total{outcome=\"published\"}"))
                .body(containsString("rlhf_rollout_reward_count"))
                .body(containsString("rlhf_rollout_prompts_in_flight"))
                .body(containsString("rlhf_rollout_consumer_lag"));
        assertEquals(RolloutRunState.ROLLOUT_RUN_STATE_RUNNING, get("online").getState(), "the standing run");
    }

    private static StatusRuntimeException assertCode(Status.Code code, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        return e;
    }
}
