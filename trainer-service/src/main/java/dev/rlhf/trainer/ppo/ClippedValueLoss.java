package dev.rlhf.trainer.ppo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.rlhf.trainer.engine.Scalars;

/**
 * The clipped value loss of PPO for the critic (the OpenAI baselines ppo2 form, used by
 * Ziegler et al. 2019's lm-human-preferences, TRL and OpenRLHF), averaged over the response
 * tokens:
 * <pre>
 *   V^clip_t = clip(V_t, V^old_t − ε_v, V^old_t + ε_v)
 *   L        = Σ_t mask_t · ½ max((V_t − R_t)², (V^clip_t − R_t)²) / n
 * </pre>
 * With ε_v = 0 there is no clipping: L = Σ_t mask_t · ½ (V_t − R_t)² / n. Gradients flow
 * through V only. Diagnostic: the share of tokens where the clipped term is the larger.
 *
 * @param clipRange ε_v ≥ 0 (PpoConfig.value_clip_range); 0 = no clipping
 */
public record ClippedValueLoss(double clipRange) {

    public ClippedValueLoss {
        if (!(clipRange >= 0)) {
            throw new IllegalArgumentException("value clip range must be >= 0 (0 = no clipping), got " + clipRange);
        }
    }

    /**
     * @param loss         scalar, differentiable in V
     * @param clipFraction share of the tokens where the clipped error was the larger
     */
    public record Result(NDArray loss, double clipFraction) {
    }

    /** The loss averaged over the tokens of this batch (n = Σ mask). */
    public Result of(NDArray values, NDArray oldValues, NDArray returns, NDArray mask) {
        return of(values, oldValues, returns, mask, MaskedStatistics.tokens(mask));
    }

    /**
     * @param values    [B, T] V(s_t) of the critic being trained
     * @param oldValues [B, T] V^old(s_t), the values the returns were computed with
     * @param returns   [B, T] R_t, the GAE returns
     * @param mask      [B, T] 1 = a response token
     * @param tokens    n: Σ mask, or the whole minibatch's token count (see
     *                  {@link ClippedPolicyLoss#of(NDArray, NDArray, NDArray, NDArray, double)})
     */
    public Result of(NDArray values, NDArray oldValues, NDArray returns, NDArray mask, double tokens) {
        NDArray m = mask.toType(DataType.FLOAT32, false); // [B, T]
        NDArray r = returns.stopGradient(); // [B, T]
        NDArray unclipped = values.sub(r).square(); // [B, T]
        if (clipRange == 0) {
            NDArray mean = MaskedStatistics.mean(unclipped, m, tokens);
            return new Result(mean.mul(Scalars.of(mean, 0.5)), 0);
        }
        NDArray old = oldValues.stopGradient(); // [B, T]
        NDArray vClipped = values.maximum(old.sub((float) clipRange)).minimum(old.add((float) clipRange)); // [B, T]
        NDArray clipped = vClipped.sub(r).square(); // [B, T]
        NDArray mean = MaskedStatistics.mean(unclipped.maximum(clipped), m, tokens);
        NDArray loss = mean.mul(Scalars.of(mean, 0.5));
        NDArray clippedActive = clipped.gt(unclipped).toType(DataType.FLOAT32, false); // [B, T]
        return new Result(loss, MaskedStatistics.mean(clippedActive, m, tokens).getFloat());
    }
}
