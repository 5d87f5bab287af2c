package dev.rlhf.trainer.ppo;

/**
 * The per-token rewards of RLHF with a KL penalty to the reference (Ziegler et al. 2019
 * eq. 2; Ouyang et al. 2022 eq. 2; Stiennon et al. 2020):
 * <pre>
 *   r_t = −β · KL_t                       for every response token t
 *   r_T += clip(score, −c, c)             at the last response token T
 * </pre>
 * where KL_t is a {@link KlEstimator} of log π(a_t|s_t) − log π_ref(a_t|s_t) and score the
 * sequence's reward-model total (c = 0: no clipping; PpoConfig.reward_clip). Positions
 * outside the mask get 0. The last response token of a row is its last masked position, so
 * right padding and any variable length work.
 */
public final class TokenRewards {

    private TokenRewards() {
    }

    /**
     * @param kl        [B, T] per-token KL estimate (0 outside the mask)
     * @param mask      [B, T] true = a response token; every row has at least one
     * @param scores    [B] sequence scores (after {@link #withMissingEosPenalty})
     * @param beta      KL coefficient β ≥ 0
     * @param scoreClip c ≥ 0: scores are clipped to [−c, c]; 0 = no clipping
     * @return [B, T] token rewards
     */
    public static double[][] of(double[][] kl, boolean[][] mask, double[] scores, double beta, double scoreClip) {
        TokenArrays.requireShape("kl", kl, mask);
        if (scores.length != mask.length) {
            throw new IllegalArgumentException(scores.length + " scores for " + mask.length + " rows");
        }
        if (!(beta >= 0) || !(scoreClip >= 0)) {
            throw new IllegalArgumentException("need beta >= 0 and score clip >= 0, got " + beta + " and " + scoreClip);
        }
        double[][] rewards = new double[mask.length][];
        for (int b = 0; b < mask.length; b++) {
            rewards[b] = new double[mask[b].length];
            int last = -1;
            // 1. KL penalty on every response token
            for (int t = 0; t < mask[b].length; t++) {
                if (mask[b][t]) {
                    rewards[b][t] = -beta * kl[b][t];
                    last = t;
                }
            }
            if (last < 0) {
                throw new IllegalArgumentException("row " + b + " has no response token; drop empty responses first");
            }
            // 2. the (clipped) sequence score at the last response token
            double score = scoreClip > 0 ? Math.max(-scoreClip, Math.min(scoreClip, scores[b])) : scores[b];
            rewards[b][last] += score;
        }
        return rewards;
    }

    /**
     * The score of a rollout: {@code reward} less {@code penalty} when it did not end with EOS
     * (PpoConfig.missing_eos_penalty; TRL's {@code missing_eos_penalty}). Applied before the
     * clipping of {@link #of}.
     */
    public static double withMissingEosPenalty(double reward, boolean endedWithEos, double penalty) {
        if (!(penalty >= 0)) {
            throw new IllegalArgumentException("missing-EOS penalty must be >= 0, got " + penalty);
        }
        return endedWithEos ? reward : reward - penalty;
    }

    /**
     * The KL per sequence averaged over the batch, (1/B) Σ_b Σ_{t ∈ mask_b} KL_{b,t}, in nats:
     * what {@link KlController#update} observes and PpoConfig.target_kl is measured in.
     */
    public static double meanSequenceKl(double[][] kl, boolean[][] mask) {
        TokenArrays.requireShape("kl", kl, mask);
        if (mask.length == 0) {
            throw new IllegalArgumentException("no rows: the mean KL of an empty batch is undefined");
        }
        double sum = 0;
        for (int b = 0; b < mask.length; b++) {
            for (int t = 0; t < mask[b].length; t++) {
                if (mask[b][t]) {
                    sum += kl[b][t];
                }
            }
        }
        return sum / mask.length;
    }
}
