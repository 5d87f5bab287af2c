package dev.rlhf.rollout.core;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.IntStream;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.FinishReason;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GeneratedSample;
import dev.rlhf.proto.v1.PairScore;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.ScoreResponse;

/**
 * Turns one prompt's Generate and Score responses into its group of {@link Rollout} records
 * (events.proto, rlhf.rollouts.v1): one per published sample, with the deterministic id of
 * {@link RolloutIds}, the exact policy version, the behaviour logprobs, the reward and its
 * components, and — in BEST_OF_N mode — the rank within the group.
 *
 * <p>Samples whose generation failed (finish reason CANCELLED or ERROR, or no token) are not
 * published; {@code group_size} stays K, so a short group shows as fewer records.
 */
public final class RolloutAssembler {

    /**
     * Everything one group is made of.
     *
     * @param runId       the run (Rollout.run_id)
     * @param epoch       pass over a prompt set (0 for the topic); part of the rollout id
     * @param iteration   the run's iteration when the prompt was started
     * @param prompt      the prompt as read
     * @param plan        its sampling plan (K, best_of_n_keep)
     * @param bestOfN     BEST_OF_N mode: rank and select
     * @param generated   the policy's answer
     * @param samples     the publishable samples of {@code generated}, in sample order ({@link #publishable})
     * @param scores      the reward-service's answer for {@code samples}, pair i = sample i
     * @param eosTokenIds the policy's EOS ids when configured, else empty (see {@link #endedWithEos})
     * @param createdAt   publication time
     */
    public record Group(String runId, long epoch, long iteration, Prompt prompt, RolloutRequests.Plan plan,
            boolean bestOfN, GenerateResponse generated, List<GeneratedSample> samples, ScoreResponse scores,
            Set<Integer> eosTokenIds, Timestamp createdAt) {
    }

    private RolloutAssembler() {
    }

    /** What is wrong with a Generate response for a plan of {@code k} samples (a broken contract), or empty. */
    public static Optional<String> problem(GenerateResponse g, int k) {
        if (g.getModel().getVersion() <= 0 || g.getModel().getName().isEmpty()) {
            return Optional.of("policy-service answered without the exact model version (got '" + g.getModel().getName()
                    + "' v" + g.getModel().getVersion() + ")");
        }
        if (g.getSamplesCount() != k) {
            return Optional.of("policy-service answered " + g.getSamplesCount() + " samples for n = " + k);
        }
        return Optional.empty();
    }

    /** The samples that can become rollouts: finished by STOP or LENGTH, with >= 1 token and one logprob per token. */
    public static List<GeneratedSample> publishable(GenerateResponse g) {
        return g.getSamplesList().stream()
                .filter(s -> s.getFinishReason() == FinishReason.FINISH_REASON_STOP
                        || s.getFinishReason() == FinishReason.FINISH_REASON_LENGTH)
                .filter(s -> s.getTokenIdsCount() >= 1 && s.getLogprobsCount() == s.getTokenIdsCount())
                .sorted(Comparator.comparingInt(GeneratedSample::getSampleIndex))
                .toList();
    }

    /**
     * The group's records, in sample order.
     *
     * @throws IllegalArgumentException when the scores do not match the samples (a broken contract)
     */
    public static List<Rollout> assemble(Group g) {
        List<PairScore> scores = g.scores().getScoresList();
        if (scores.size() != g.samples().size()) {
            throw new IllegalArgumentException("reward-service answered " + scores.size() + " scores for "
                    + g.samples().size() + " pairs");
        }
        GenerateResponse gen = g.generated();
        int[] ranks = new int[g.samples().size()];
        if (g.bestOfN()) {
            double[] rewards = scores.stream().mapToDouble(PairScore::getTotal).toArray();
            int[] indexes = g.samples().stream().mapToInt(GeneratedSample::getSampleIndex).toArray();
            ranks = ranks(rewards, indexes);
        }
        String promptText = g.prompt().getText().isEmpty() ? gen.getPromptText() : g.prompt().getText();
        // the effective parameters as the policy reports them (seed as used), n = K
        SamplingParams sampling = (gen.hasSampling() ? gen.getSampling() : g.plan().sampling()).toBuilder()
                .setN(g.plan().k()).build();
        List<Rollout> out = new ArrayList<>(g.samples().size());
        for (int i = 0; i < g.samples().size(); i++) {
            GeneratedSample s = g.samples().get(i);
            PairScore score = scores.get(i);
            Rollout.Builder r = Rollout.newBuilder()
                    .setRolloutId(RolloutIds.rolloutId(g.runId(), g.prompt().getPromptId(), g.epoch(), gen.getModel(),
                            s.getSampleIndex()))
                    .setRunId(g.runId())
                    .setPromptId(g.prompt().getPromptId())
                    .setSampleIndex(s.getSampleIndex())
                    .setGroupSize(g.plan().k())
                    .addAllPromptTokenIds(gen.getPromptTokenIdsList())
                    .addAllResponseTokenIds(s.getTokenIdsList())
                    .addAllBehaviourLogprobs(s.getLogprobsList())
                    .setPolicy(gen.getModel())
                    .setReward(score.getTotal())
                    .addAllRewardComponents(score.getComponentsList())
                    .setRewardUncertainty(score.getUncertainty())
                    .setFinishReason(s.getFinishReason())
                    .setEndedWithEos(endedWithEos(s, sampling, g.eosTokenIds()))
                    .setSampling(sampling)
                    .setCreatedAt(g.createdAt())
                    .setIteration(g.iteration())
                    .setPromptText(promptText)
                    .setResponseText(s.getText())
                    .putAllLabels(g.prompt().getLabelsMap())
                    .setRewardConfigVersion(g.scores().getConfigVersion());
            if (g.bestOfN()) {
                r.setBestOfNRank(ranks[i]).setBestOfNSelected(ranks[i] <= g.plan().bestOfNKeep());
            }
            out.add(r.build());
        }
        return out;
    }

    /**
     * Best-of-N ranks (rejection sampling, Llama 2 §3.2.3): rank 1 = highest reward, ties
     * broken by the lower sample index.
     *
     * @param rewards      [N] total reward of each sample
     * @param sampleIndexes [N] Rollout.sample_index of each sample
     * @return [N] the rank of each sample, a permutation of 1..N
     */
    public static int[] ranks(double[] rewards, int[] sampleIndexes) {
        Integer[] order = IntStream.range(0, rewards.length).boxed().toArray(Integer[]::new);
        java.util.Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -rewards[i])
                .thenComparingInt(i -> sampleIndexes[i]));
        int[] rank = new int[rewards.length];
        for (int r = 0; r < order.length; r++) {
            rank[order[r]] = r + 1;
        }
        return rank;
    }

    /**
     * Rollout.ended_with_eos: the sample stopped (STOP) and its last token is the policy's EOS.
     * GeneratedSample does not say which stop it hit, so: with {@code eosTokenIds} configured,
     * the last token is looked up there; without, a STOP whose last token is not one of the
     * request's stop_token_ids is taken for EOS when no stop strings were in effect, and for a
     * stop string (false) when some were — an EOS stop is then reported false.
     */
    public static boolean endedWithEos(GeneratedSample s, SamplingParams sampling, Set<Integer> eosTokenIds) {
        if (s.getFinishReason() != FinishReason.FINISH_REASON_STOP || s.getTokenIdsCount() == 0) {
            return false;
        }
        int last = s.getTokenIds(s.getTokenIdsCount() - 1);
        if (!eosTokenIds.isEmpty()) {
            return eosTokenIds.contains(last);
        }
        return !sampling.getStopTokenIdsList().contains(last) && sampling.getStopCount() == 0;
    }
}
