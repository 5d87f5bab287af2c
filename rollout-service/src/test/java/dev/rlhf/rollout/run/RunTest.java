package dev.rlhf.rollout.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.RolloutRunSpec;
import dev.rlhf.proto.v1.RolloutRunState;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.rollout.core.RunSpecs;

/** A run's life cycle and admission rules (rollout.proto). */
class RunTest {

    static Run run(long maxPrompts, long perIteration, int maxConsecutiveFailures) {
        RunSpecs.Effective e = new RunSpecs.Effective(new RunSpecs.PromptSet("s", 1), 2,
                SamplingParams.newBuilder().setTemperature(1f).build(), RolloutMode.ROLLOUT_MODE_PPO, 1,
                ModelRef.newBuilder().setName("policy").build(), List.of(), 4, Duration.ofSeconds(5), 3,
                Optional.empty(), maxPrompts, perIteration);
        return new Run("r", RolloutRunSpec.getDefaultInstance(), e, Clock.systemUTC(), maxConsecutiveFailures);
    }

    static List<Rollout> group() {
        return List.of(Rollout.newBuilder().setReward(1).setPolicy(ModelRef.newBuilder().setName("policy").setVersion(4))
                .addResponseTokenIds(1).build());
    }

    @Test
    void maxPromptsCountsThoseInFlightAndCompletesTheRun() {
        Run r = run(2, 1, 0);
        r.running();
        assertEquals(0, r.admit());
        assertEquals(0, r.admit());
        assertEquals(-1, r.admit(), "two in flight reach max_prompts");
        r.gaveUp("boom");
        assertEquals(0, r.admit(), "a failed prompt frees its place");
        r.published(group());
        assertEquals(-1, r.admit());
        r.published(group());
        assertTrue(r.limitReached());
        assertFalse(r.accepting());
        r.end();
        assertEquals(RolloutRunState.ROLLOUT_RUN_STATE_COMPLETED, r.state());
        assertEquals(2, r.snapshot().getPromptsCompleted());
        assertEquals(1, r.snapshot().getFailures());
        assertEquals(2, r.snapshot().getIteration(), "one iteration per completed prompt");
        assertEquals(4, r.snapshot().getCurrentPolicy().getVersion());
        assertEquals(1.0, r.snapshot().getMetricsMap().get("reward/mean"));
    }

    @Test
    void stopGoesThroughStoppingToStoppedAndLeavesFinalRunsAlone() {
        Run r = run(0, 0, 0);
        r.running();
        r.admit();
        r.stop(false);
        assertEquals(RolloutRunState.ROLLOUT_RUN_STATE_STOPPING, r.state());
        assertEquals(-1, r.admit());
        assertFalse(r.cancellation().cancelled(), "graceful: in-flight prompts finish");
        r.published(group());
        r.end();
        assertEquals(RolloutRunState.ROLLOUT_RUN_STATE_STOPPED, r.state());
        r.stop(true);
        assertEquals(RolloutRunState.ROLLOUT_RUN_STATE_STOPPED, r.state(), "stopping a finished run changes nothing");
    }

    @Test
    void tooManyFailuresInARowFailTheRun() {
        Run r = run(0, 0, 2);
        r.running();
        r.admit();
        r.admit();
        r.admit();
        r.gaveUp("a");
        r.published(group());
        r.gaveUp("b");
        assertTrue(r.accepting(), "not two in a row");
        r.admit();
        r.gaveUp("c");
        assertFalse(r.accepting());
        assertTrue(r.cancellation().cancelled(), "the prompts in flight are cancelled");
        r.end();
        assertEquals(RolloutRunState.ROLLOUT_RUN_STATE_FAILED, r.state());
        assertTrue(r.snapshot().getError().contains("2 prompts in a row"), r.snapshot().getError());
    }
}
