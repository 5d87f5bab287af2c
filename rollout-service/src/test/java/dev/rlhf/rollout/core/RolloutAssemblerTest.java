package dev.rlhf.rollout.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.FinishReason;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GeneratedSample;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PairScore;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.RewardComponent;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.ScoreResponse;

/** A group's records carry exactly what the policy and reward responses said, with deterministic ids. */
class RolloutAssemblerTest {

    static final ModelRef POLICY_V7 = ModelRef.newBuilder().setName("policy").setVersion(7).build();
    static final ModelRef REWARD_V2 = ModelRef.newBuilder().setName("reward").setVersion(2).build();
    static final Timestamp NOW = Timestamp.newBuilder().setSeconds(1_700_000_000).build();

    static RunSpecs.Effective spec(RolloutMode mode, int k, int keep) {
        return new RunSpecs.Effective(new RunSpecs.Topic(Optional.empty(), false), k,
                SamplingParams.newBuilder().setTemperature(1f).build(), mode, keep, POLICY_V7, List.of(), 4,
                Duration.ofSeconds(5), 3, Optional.empty(), 0, 0);
    }

    static Prompt prompt() {
        return Prompt.newBuilder().setPromptId("gsm8k-00017").setText("Q: 2+2?").putLabels("task", "math").build();
    }

    static GeneratedSample sample(int i, FinishReason reason, int... tokens) {
        GeneratedSample.Builder s = GeneratedSample.newBuilder().setSampleIndex(i).setText("answer " + i)
                .setFinishReason(reason);
        for (int t : tokens) {
            s.addTokenIds(t).addLogprobs(-0.5f * (t % 3 + 1));
        }
        return s.build();
    }

    static GenerateResponse generated(List<GeneratedSample> samples, int k) {
        return GenerateResponse.newBuilder().addAllSamples(samples).setModel(POLICY_V7)
                .addAllPromptTokenIds(List.of(1, 40, 41)).setPromptTokenCount(3).setPromptText("Q: 2+2?")
                .setSampling(SamplingParams.newBuilder().setTemperature(1f).setTopP(1f).setMaxNewTokens(256)
                        .setN(k).setSeed(99))
                .build();
    }

    static PairScore score(double helpfulness) {
        RewardComponent h = RewardComponent.newBuilder().setName("helpfulness").setValue(helpfulness).setWeight(1.0)
                .setUncertainty(0.1).setModel(REWARD_V2).build();
        RewardComponent rule = RewardComponent.newBuilder().setName("rule.length").setValue(1).setWeight(0.1).build();
        return PairScore.newBuilder().setTotal(helpfulness + 0.1).addComponents(h).addComponents(rule)
                .setUncertainty(0.1).build();
    }

    static List<Rollout> assemble(RolloutMode mode, int keep, List<GeneratedSample> samples, double... rewards) {
        RunSpecs.Effective spec = spec(mode, samples.size(), keep);
        RolloutRequests.Plan plan = RolloutRequests.plan(prompt(), spec, "run-1", 0);
        GenerateResponse g = generated(samples, samples.size());
        List<GeneratedSample> publishable = RolloutAssembler.publishable(g);
        ScoreResponse.Builder s = ScoreResponse.newBuilder().setConfigVersion("cfg-abc").addModels(REWARD_V2);
        for (int i = 0; i < publishable.size(); i++) {
            s.addScores(score(rewards[i]));
        }
        return RolloutAssembler.assemble(new RolloutAssembler.Group("run-1", 0, 3, prompt(), plan,
                mode == RolloutMode.ROLLOUT_MODE_BEST_OF_N, g, publishable, s.build(), Set.of(2), NOW));
    }

    @Test
    void fieldsComeFromThePromptThePolicyAndTheReward() {
        List<Rollout> group = assemble(RolloutMode.ROLLOUT_MODE_PPO, 1,
                List.of(sample(0, FinishReason.FINISH_REASON_STOP, 10, 11, 2), sample(1, FinishReason.FINISH_REASON_LENGTH, 12, 13)),
                0.7, -0.3);
        assertEquals(2, group.size());
        Rollout r = group.get(0);
        assertEquals(RolloutIds.rolloutId("run-1", "gsm8k-00017", 0, POLICY_V7, 0), r.getRolloutId());
        assertEquals("run-1", r.getRunId());
        assertEquals("gsm8k-00017", r.getPromptId());
        assertEquals(0, r.getSampleIndex());
        assertEquals(2, r.getGroupSize());
        assertEquals(List.of(1, 40, 41), r.getPromptTokenIdsList());
        assertEquals(List.of(10, 11, 2), r.getResponseTokenIdsList());
        assertEquals(List.of(-1.0f, -1.5f, -1.5f), r.getBehaviourLogprobsList());
        assertEquals(POLICY_V7, r.getPolicy());
        assertEquals(0.8, r.getReward(), 1e-12);
        assertEquals(2, r.getRewardComponentsCount());
        assertEquals(REWARD_V2, r.getRewardComponents(0).getModel());
        assertEquals(0.1, r.getRewardUncertainty(), 1e-12);
        assertEquals(FinishReason.FINISH_REASON_STOP, r.getFinishReason());
        assertTrue(r.getEndedWithEos(), "last token 2 is the configured EOS");
        assertEquals(99, r.getSampling().getSeed(), "the seed as the policy used it");
        assertEquals(2, r.getSampling().getN());
        assertEquals(NOW, r.getCreatedAt());
        assertEquals(3, r.getIteration());
        assertEquals("Q: 2+2?", r.getPromptText());
        assertEquals("answer 0", r.getResponseText());
        assertEquals("math", r.getLabelsMap().get("task"));
        assertEquals("cfg-abc", r.getRewardConfigVersion());
        assertEquals(0, r.getBestOfNRank());
        assertFalse(r.getBestOfNSelected());
        Rollout second = group.get(1);
        assertEquals(FinishReason.FINISH_REASON_LENGTH, second.getFinishReason());
        assertFalse(second.getEndedWithEos());
        assertEquals(-0.2, second.getReward(), 1e-12);
    }

    @Test
    void idsAreDeterministicAndDifferInEveryPart() {
        List<GeneratedSample> samples = List.of(sample(0, FinishReason.FINISH_REASON_STOP, 5, 2),
                sample(1, FinishReason.FINISH_REASON_STOP, 6, 2));
        List<Rollout> a = assemble(RolloutMode.ROLLOUT_MODE_PPO, 1, samples, 0, 0);
        List<Rollout> b = assemble(RolloutMode.ROLLOUT_MODE_PPO, 1, samples, 1, 1);
        assertEquals(a.get(0).getRolloutId(), b.get(0).getRolloutId(), "a replay gets the same ids");
        assertNotEquals(a.get(0).getRolloutId(), a.get(1).getRolloutId());
        Set<String> ids = new HashSet<>();
        ids.add(RolloutIds.rolloutId("run-1", "p", 0, POLICY_V7, 0));
        ids.add(RolloutIds.rolloutId("run-2", "p", 0, POLICY_V7, 0));
        ids.add(RolloutIds.rolloutId("run-1", "q", 0, POLICY_V7, 0));
        ids.add(RolloutIds.rolloutId("run-1", "p", 1, POLICY_V7, 0));
        ids.add(RolloutIds.rolloutId("run-1", "p", 0, POLICY_V7.toBuilder().setVersion(8).build(), 0));
        ids.add(RolloutIds.rolloutId("run-1", "p", 0, POLICY_V7, 1));
        assertEquals(6, ids.size());
        assertThrows(IllegalArgumentException.class,
                () -> RolloutIds.rolloutId("run-1", "p", 0, ModelRef.newBuilder().setName("policy").build(), 0));
    }

    @Test
    void failedSamplesAreNotPublishedAndTheGroupSizeStaysK() {
        List<Rollout> group = assemble(RolloutMode.ROLLOUT_MODE_PPO, 1,
                List.of(sample(0, FinishReason.FINISH_REASON_CANCELLED, 5), sample(1, FinishReason.FINISH_REASON_STOP, 6, 2),
                        sample(2, FinishReason.FINISH_REASON_ERROR, 7), sample(3, FinishReason.FINISH_REASON_STOP)),
                0.5);
        assertEquals(1, group.size());
        assertEquals(1, group.get(0).getSampleIndex());
        assertEquals(4, group.get(0).getGroupSize());
    }

    @Test
    void bestOfNRanksByRewardTiesByIndexAndSelectsTheTopKeep() {
        List<GeneratedSample> samples = List.of(sample(0, FinishReason.FINISH_REASON_STOP, 5, 2),
                sample(1, FinishReason.FINISH_REASON_STOP, 6, 2), sample(2, FinishReason.FINISH_REASON_STOP, 7, 2),
                sample(3, FinishReason.FINISH_REASON_STOP, 8, 2));
        List<Rollout> group = assemble(RolloutMode.ROLLOUT_MODE_BEST_OF_N, 2, samples, 0.2, 0.9, 0.2, -1.0);
        assertArrayEquals(new int[] {2, 1, 3, 4}, group.stream().mapToInt(Rollout::getBestOfNRank).toArray());
        assertEquals(List.of(true, true, false, false), group.stream().map(Rollout::getBestOfNSelected).toList());
        // the plain oracle: count the samples that beat each one
        double[] rewards = {3, 1, 3, 2, 3};
        int[] idx = {4, 0, 1, 2, 3};
        int[] ranks = RolloutAssembler.ranks(rewards, idx);
        for (int i = 0; i < rewards.length; i++) {
            int better = 0;
            for (int j = 0; j < rewards.length; j++) {
                if (rewards[j] > rewards[i] || (rewards[j] == rewards[i] && idx[j] < idx[i])) {
                    better++;
                }
            }
            assertEquals(better + 1, ranks[i], "sample " + idx[i]);
        }
    }

    @Test
    void scoresThatDoNotMatchTheSamplesAreABrokenContract() {
        RunSpecs.Effective spec = spec(RolloutMode.ROLLOUT_MODE_PPO, 1, 1);
        RolloutRequests.Plan plan = RolloutRequests.plan(prompt(), spec, "run-1", 0);
        GenerateResponse g = generated(List.of(sample(0, FinishReason.FINISH_REASON_STOP, 5, 2)), 1);
        assertThrows(IllegalArgumentException.class, () -> RolloutAssembler.assemble(new RolloutAssembler.Group("run-1",
                0, 0, prompt(), plan, false, g, RolloutAssembler.publishable(g), ScoreResponse.getDefaultInstance(),
                Set.of(), NOW)));
        assertTrue(RolloutAssembler.problem(g.toBuilder().setModel(ModelRef.newBuilder().setName("policy")).build(), 1)
                .isPresent(), "version 0 is not an exact version");
        assertTrue(RolloutAssembler.problem(g, 2).isPresent(), "1 sample for n = 2");
        assertTrue(RolloutAssembler.problem(g, 1).isEmpty());
    }

    @Test
    void endedWithEosWithoutConfiguredIdsFollowsTheStopKind() {
        GeneratedSample stop = sample(0, FinishReason.FINISH_REASON_STOP, 5, 9);
        SamplingParams plain = SamplingParams.getDefaultInstance();
        assertTrue(RolloutAssembler.endedWithEos(stop, plain, Set.of()));
        assertFalse(RolloutAssembler.endedWithEos(stop, plain.toBuilder().addStopTokenIds(9).build(), Set.of()));
        assertFalse(RolloutAssembler.endedWithEos(stop, plain.toBuilder().addStop("\n\n").build(), Set.of()));
        assertFalse(RolloutAssembler.endedWithEos(stop, plain, Set.of(2)), "configured EOS 2, last token 9");
        assertFalse(RolloutAssembler.endedWithEos(sample(0, FinishReason.FINISH_REASON_LENGTH, 2), plain, Set.of(2)));
    }
}
