package dev.rlhf.trainer.ppo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.rlhf.trainer.engine.Scalars;

/**
 * Statistics over the masked entries of a batch only (padding never counts), and the
 * whitening of advantages and rewards built on them. Variances are population variances
 * (divide by n): whitened entries then have mean 0 and variance 1 exactly, as in OpenRLHF's
 * {@code masked_normalize}; TRL's {@code whiten} divides by n − 1, a difference of a factor
 * n/(n − 1) that vanishes for PPO batch sizes.
 */
public final class MaskedStatistics {

    /** Added to the variance before the square root of {@link #whiten} (TRL's 1e-8). */
    public static final double WHITEN_EPS = 1e-8;

    private MaskedStatistics() {
    }

    /** (1/n) Σ_{mask} x, n = the number of true entries; NaN when n = 0. */
    public static double mean(double[][] x, boolean[][] mask) {
        TokenArrays.requireShape("x", x, mask);
        double sum = 0;
        long n = 0;
        for (int b = 0; b < x.length; b++) {
            for (int t = 0; t < x[b].length; t++) {
                if (mask[b][t]) {
                    sum += x[b][t];
                    n++;
                }
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    /** (1/n) Σ_{mask} (x − mean)²; NaN when n = 0. */
    public static double variance(double[][] x, boolean[][] mask) {
        double mean = mean(x, mask);
        double sum = 0;
        long n = 0;
        for (int b = 0; b < x.length; b++) {
            for (int t = 0; t < x[b].length; t++) {
                if (mask[b][t]) {
                    double d = x[b][t] - mean;
                    sum += d * d;
                    n++;
                }
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    /**
     * Whitening over the masked entries: (x − μ) / √(σ² + ε), plus μ again when
     * {@code shiftMean} is false (TRL's {@code whiten(shift_mean=False)}, for rewards: the
     * scale changes, the sign of the mean does not). Unmasked entries become 0; a batch with
     * no masked entry is returned as zeros.
     *
     * @param x    [B, T] advantages or rewards
     * @param mask [B, T] true = counts
     * @return a new [B, T] array
     */
    public static double[][] whiten(double[][] x, boolean[][] mask, boolean shiftMean) {
        double mean = mean(x, mask);
        double scale = 1 / Math.sqrt(variance(x, mask) + WHITEN_EPS);
        double[][] out = new double[x.length][];
        for (int b = 0; b < x.length; b++) {
            out[b] = new double[x[b].length];
            for (int t = 0; t < x[b].length; t++) {
                if (mask[b][t]) {
                    out[b][t] = (x[b][t] - mean) * scale + (shiftMean ? 0 : mean);
                }
            }
        }
        return out;
    }

    /**
     * Explained variance of the critic, 1 − Var(R − V) / Var(R) over the masked entries: 1 =
     * perfect, 0 = no better than the mean return, &lt; 0 = worse. NaN when Var(R) = 0 (as
     * CleanRL reports it).
     *
     * @param returns [B, T] GAE returns R
     * @param values  [B, T] the critic's values V
     */
    public static double explainedVariance(double[][] returns, double[][] values, boolean[][] mask) {
        TokenArrays.requireShape("values", values, mask);
        double varReturns = variance(returns, mask);
        double[][] residual = new double[returns.length][];
        for (int b = 0; b < returns.length; b++) {
            residual[b] = new double[returns[b].length];
            for (int t = 0; t < returns[b].length; t++) {
                residual[b][t] = returns[b][t] - values[b][t];
            }
        }
        return varReturns == 0 ? Double.NaN : 1 - variance(residual, mask) / varReturns;
    }

    /**
     * Σ (x · mask) / n on DJL arrays, differentiable in x. With n = Σ mask this is the masked
     * mean; with n = the token count of a whole minibatch, the values of its micro-batches
     * add up to the minibatch's masked mean (gradient accumulation without reweighting).
     *
     * @param x      [B, T]
     * @param mask   [B, T] 1 = counts, 0 = not
     * @param tokens n &gt; 0
     * @return scalar
     */
    public static NDArray mean(NDArray x, NDArray mask, double tokens) {
        if (!(tokens > 0)) {
            throw new IllegalArgumentException("token count must be > 0, got " + tokens);
        }
        NDArray sum = x.mul(mask).sum();
        return sum.div(Scalars.of(sum, tokens));
    }

    /** Σ mask of a [B, T] 0/1 array, at least 1 (an all-padding batch then averages to 0). */
    public static double tokens(NDArray mask) {
        return Math.max(1.0, mask.toType(DataType.FLOAT32, false).sum().getFloat());
    }
}
