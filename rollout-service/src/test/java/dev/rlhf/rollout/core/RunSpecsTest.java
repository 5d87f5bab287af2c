package dev.rlhf.rollout.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.PromptsTopicSource;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.RolloutRunSpec;
import dev.rlhf.proto.v1.SamplingOverrides;
import dev.rlhf.proto.v1.SamplingParams;

/** rollout.proto's rules for a run spec, its defaults, and a prompt's sampling plan. */
class RunSpecsTest {

    static final RunSpecs.Defaults DEFAULTS = new RunSpecs.Defaults(8, 64, Duration.ofSeconds(120), 3);

    static RolloutRunSpec.Builder ppo(int k) {
        return RolloutRunSpec.newBuilder().setPromptSet("helpful-base").setSamplesPerPrompt(k)
                .setSampling(SamplingParams.newBuilder().setTemperature(1f)).setMode(RolloutMode.ROLLOUT_MODE_PPO);
    }

    @Test
    void defaultsAreFilledIn() {
        RunSpecs.Effective e = RunSpecs.effective(RolloutRunSpec.newBuilder().setPromptSet("s")
                .setMode(RolloutMode.ROLLOUT_MODE_PPO).build(), DEFAULTS);
        assertEquals(1, e.samplesPerPrompt());
        assertEquals(new RunSpecs.PromptSet("s", 1), e.source());
        assertEquals(ModelRef.newBuilder().setName("policy").build(), e.policy());
        assertEquals(8, e.maxConcurrency());
        assertEquals(Duration.ofSeconds(120), e.callTimeout());
        assertEquals(3, e.maxAttempts());
        assertEquals(1, e.bestOfNKeep());
        assertEquals(Optional.empty(), e.maxDuration());
        RunSpecs.Effective t = RunSpecs.effective(ppo(4).setPromptsTopic(PromptsTopicSource.newBuilder()
                .setPromptSet("x").setFromEarliest(true)).setMaxConcurrency(2).setMaxAttempts(5)
                .setCallTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(7)).build(), DEFAULTS);
        assertEquals(new RunSpecs.Topic(Optional.of("x"), true), t.source());
        assertEquals(2, t.maxConcurrency());
        assertEquals(5, t.maxAttempts());
        assertEquals(Duration.ofSeconds(7), t.callTimeout());
    }

    @Test
    void violationsNameTheFieldAndTheRule() {
        assertEquals(List.of("spec.samples_per_prompt must be >= 2 in BEST_OF_N mode, was 1"),
                RunSpecs.problems(ppo(1).setMode(RolloutMode.ROLLOUT_MODE_BEST_OF_N).build(), DEFAULTS));
        assertTrue(RunSpecs.problems(ppo(4).clearSampling().build(), DEFAULTS).get(0)
                .startsWith("spec.sampling.temperature 0 (greedy) with spec.samples_per_prompt 4"));
        assertEquals(List.of("spec.sampling.n must be 0 or equal spec.samples_per_prompt (4), was 3"),
                RunSpecs.problems(ppo(4).setSampling(SamplingParams.newBuilder().setTemperature(1).setN(3)).build(),
                        DEFAULTS));
        assertEquals(List.of("spec.prompt_source is required: set prompt_set or prompts_topic"),
                RunSpecs.problems(ppo(2).clearPromptSet().build(), DEFAULTS));
        assertEquals(List.of("spec.mode is required: ROLLOUT_MODE_PPO or ROLLOUT_MODE_BEST_OF_N"),
                RunSpecs.problems(ppo(2).clearMode().build(), DEFAULTS));
        assertEquals(List.of("spec.samples_per_prompt must be in 1..64 (0 = 1), was 65"),
                RunSpecs.problems(ppo(65).build(), DEFAULTS));
        assertEquals(List.of("spec.max_concurrency must be in 1..64 (0 = the service default 8), was 65"),
                RunSpecs.problems(ppo(2).setMaxConcurrency(65).build(), DEFAULTS));
        assertEquals(List.of("spec.prompt_set must be 1..128 characters of [A-Za-z0-9._-] not starting with '.', was '../x'"),
                RunSpecs.problems(ppo(2).setPromptSet("../x").build(), DEFAULTS));
        assertEquals(List.of("spec.best_of_n_keep must be in 1..samples_per_prompt (4) (0 = 1), was 5"),
                RunSpecs.problems(ppo(4).setMode(RolloutMode.ROLLOUT_MODE_BEST_OF_N).setBestOfNKeep(5).build(), DEFAULTS));
        assertThrows(IllegalArgumentException.class, () -> RunSpecs.effective(ppo(65).build(), DEFAULTS));
        assertTrue(RunSpecs.problems(ppo(1).clearSampling().build(), DEFAULTS).isEmpty(), "greedy with K = 1 is fine");
        // on-policy pacing: an allowance of at least one prompt's samples, a set run, the current version
        assertEquals(List.of("spec.samples_per_policy_version must be 0 (no pacing) or >= samples_per_prompt (4), was 3"),
                RunSpecs.problems(ppo(4).setSamplesPerPolicyVersion(3).build(), DEFAULTS));
        assertEquals(List.of("spec.samples_per_policy_version paces prompt-set runs only; this run follows the prompts topic"),
                RunSpecs.problems(ppo(4).setSamplesPerPolicyVersion(64).setPromptsTopic(PromptsTopicSource
                        .getDefaultInstance()).build(), DEFAULTS));
        assertEquals(List.of("spec.samples_per_policy_version waits for newer versions, so spec.policy.version must be 0"
                + " (the current version), was 3"), RunSpecs.problems(ppo(4).setSamplesPerPolicyVersion(64)
                        .setPolicy(dev.rlhf.proto.v1.ModelRef.newBuilder().setName("policy").setVersion(3)).build(),
                        DEFAULTS));
        assertTrue(RunSpecs.problems(ppo(4).setSamplesPerPolicyVersion(64).build(), DEFAULTS).isEmpty());
        // running ahead: counted in allowances, so only with pacing, and at most 4
        assertEquals(List.of("spec.versions_ahead needs spec.samples_per_policy_version (the allowance it counts in)"),
                RunSpecs.problems(ppo(4).setVersionsAhead(1).build(), DEFAULTS));
        assertEquals(List.of("spec.versions_ahead must be in 0..4, was 5"),
                RunSpecs.problems(ppo(4).setSamplesPerPolicyVersion(64).setVersionsAhead(5).build(), DEFAULTS));
        assertTrue(RunSpecs.problems(ppo(4).setSamplesPerPolicyVersion(64).setVersionsAhead(1).build(), DEFAULTS)
                .isEmpty());
    }

    @Test
    void aPromptsPlanAppliesItsOverridesSetsNAndDerivesTheSeed() {
        RunSpecs.Effective e = RunSpecs.effective(ppo(4).setSampling(SamplingParams.newBuilder().setTemperature(1f)
                .setTopP(0.9f).addStop("\n\n")).build(), DEFAULTS);
        Prompt plain = Prompt.newBuilder().setPromptId("p").setText("t").build();
        RolloutRequests.Plan a = RolloutRequests.plan(plain, e, "run", 0);
        assertEquals(4, a.k());
        assertEquals(4, a.sampling().getN());
        assertEquals(0.9f, a.sampling().getTopP());
        assertEquals(RolloutIds.seed("run", "p", 0), a.sampling().getSeed());
        assertEquals(a, RolloutRequests.plan(plain, e, "run", 0), "the same plan on a replay");

        Prompt overridden = plain.toBuilder().setSamplingOverrides(SamplingOverrides.newBuilder().setTemperature(0.7f)
                .setSeed(5).setSamplesPerPrompt(2).addStop("END").setMaxNewTokens(32)).build();
        RolloutRequests.Plan b = RolloutRequests.plan(overridden, e, "run", 0);
        assertEquals(2, b.k());
        assertEquals(SamplingParams.newBuilder().setTemperature(0.7f).setTopP(0.9f).addStop("END").setMaxNewTokens(32)
                .setSeed(5).setN(2).build(), b.sampling());

        Prompt greedy = plain.toBuilder().setSamplingOverrides(SamplingOverrides.newBuilder().setTemperature(0f)).build();
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> RolloutRequests.plan(greedy, e, "run", 0));
        assertTrue(x.getMessage().startsWith("prompt p: temperature 0 (greedy) with 4 samples"), x.getMessage());
    }

    @Test
    void promptsAreCheckedAndAddressed() {
        assertEquals(Optional.of("prompt_id is required"), RolloutRequests.problem(Prompt.newBuilder().setText("t").build()));
        assertTrue(RolloutRequests.problem(Prompt.newBuilder().setPromptId("p").build()).isPresent());
        assertTrue(RolloutRequests.problem(Prompt.newBuilder().setPromptId("p").addPromptTokenIds(1).build()).isEmpty());
        Prompt forB = Prompt.newBuilder().setPromptId("p").setText("t").setRunId("b").setPromptSet("s1").build();
        assertTrue(RolloutRequests.addressedTo(forB, "b", Optional.empty()));
        assertTrue(RolloutRequests.addressedTo(forB, "b", Optional.of("s1")));
        assertTrue(!RolloutRequests.addressedTo(forB, "a", Optional.empty()));
        assertTrue(!RolloutRequests.addressedTo(forB, "b", Optional.of("s2")));
        assertTrue(RolloutRequests.addressedTo(forB.toBuilder().clearRunId().build(), "a", Optional.empty()));
    }
}
