package dev.rlhf.trainer.ppo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * The clipped surrogate objective of PPO (Schulman et al. 2017, eq. 7) as a per-token loss,
 * averaged over the response tokens:
 * <pre>
 *   ρ_t = exp(log π(a_t|s_t) − log π_old(a_t|s_t))
 *   L   = Σ_t mask_t · −min(ρ_t A_t, clip(ρ_t, 1 − ε, 1 + ε) A_t) / n
 * </pre>
 * Gradients flow through log π only (π_old and A are constants). Diagnostics, over the same
 * tokens and the same n: the clip fraction, the share of tokens where the clipped term is the
 * larger loss, i.e. where clipping zeroes the gradient (TRL's {@code clipfrac}); and the
 * approximate KL(π_old ‖ π) by a {@link KlEstimator} (K2 = ½ (log ρ)², TRL's {@code approxkl};
 * or K3).
 *
 * @param clipRange ε in (0, 1) (PpoConfig.clip_range)
 * @param approxKl  the estimator of the approximate-KL diagnostic
 */
public record ClippedPolicyLoss(double clipRange, KlEstimator approxKl) {

    public ClippedPolicyLoss {
        if (!(clipRange > 0 && clipRange < 1)) {
            throw new IllegalArgumentException("clip range ε must be in (0, 1), got " + clipRange);
        }
        if (approxKl == null) {
            throw new IllegalArgumentException("approximate-KL estimator is required (K2 as TRL, or K3)");
        }
    }

    /** With the K2 approximate-KL diagnostic. */
    public ClippedPolicyLoss(double clipRange) {
        this(clipRange, KlEstimator.K2);
    }

    /**
     * @param loss         scalar, differentiable in log π
     * @param clipFraction share of the tokens whose gradient the clipping removed
     * @param approxKl     mean approximate KL(π_old ‖ π) per token
     */
    public record Result(NDArray loss, double clipFraction, double approxKl) {
    }

    /** The loss averaged over the tokens of this batch (n = Σ mask). */
    public Result of(NDArray logp, NDArray oldLogp, NDArray advantages, NDArray mask) {
        return of(logp, oldLogp, advantages, mask, MaskedStatistics.tokens(mask));
    }

    /**
     * @param logp       [B, T] log π(a_t|s_t) of the response tokens under the current policy
     * @param oldLogp    [B, T] log π_old(a_t|s_t), the policy that collected the batch
     * @param advantages [B, T] A_t, usually whitened
     * @param mask       [B, T] 1 = a response token
     * @param tokens     n: Σ mask, or the token count of the whole minibatch when this is one
     *                   of its micro-batches (the micro-batch results then add up to the
     *                   minibatch's)
     */
    public Result of(NDArray logp, NDArray oldLogp, NDArray advantages, NDArray mask, double tokens) {
        NDArray m = mask.toType(DataType.FLOAT32, false); // [B, T]
        // 1. log ρ, zeroed on padding so that exp cannot overflow there
        NDArray logRatio = logp.sub(oldLogp.stopGradient()).mul(m); // [B, T]
        NDArray ratio = logRatio.exp(); // [B, T]
        NDArray a = advantages.stopGradient(); // [B, T]
        // 2. both surrogates as losses; the larger is the pessimistic bound
        NDArray unclipped = ratio.mul(a).neg(); // [B, T]
        NDArray clipped = ratio.clip(1 - clipRange, 1 + clipRange).mul(a).neg(); // [B, T]
        NDArray loss = MaskedStatistics.mean(unclipped.maximum(clipped), m, tokens);
        // 3. diagnostics; log r of KL(π_old ‖ π) is log π − log π_old = log ρ
        NDArray clippedActive = clipped.gt(unclipped).toType(DataType.FLOAT32, false); // [B, T]
        NDArray lr = logRatio.stopGradient();
        double clipFraction = MaskedStatistics.mean(clippedActive, m, tokens).getFloat();
        double kl = MaskedStatistics.mean(approxKl.of(lr.zerosLike(), lr), m, tokens).getFloat();
        return new Result(loss, clipFraction, kl);
    }
}
