package dev.rlhf.trainer.ppo;

import ai.djl.ndarray.NDArray;
import dev.rlhf.trainer.engine.Scalars;

/**
 * Per-token estimators of KL(p ‖ q) from the logprobs of a token sampled from p (J. Schulman,
 * "Approximating KL Divergence", 2020). With log r = log q(x) − log p(x), x ~ p:
 * <pre>
 *   k1 = −log r = log p − log q          unbiased, can be negative
 *   k2 = ½ (log r)²                      biased, ≥ 0, low variance
 *   k3 = (r − 1) − log r                 unbiased, ≥ 0, low variance
 * </pre>
 * For the KL penalty of RLHF p is the policy π and q the reference π_ref (Ziegler et al. 2019
 * use k1); for PPO's approximate-KL diagnostic p is π_old (the sampler) and q the current π.
 */
public enum KlEstimator {
    /** k1 = log p − log q. */
    K1 {
        @Override
        public double of(double logp, double logq) {
            return logp - logq;
        }

        @Override
        public NDArray of(NDArray logp, NDArray logq) {
            return logp.sub(logq);
        }
    },
    /** k2 = ½ (log q − log p)². */
    K2 {
        @Override
        public double of(double logp, double logq) {
            double logR = logq - logp;
            return 0.5 * logR * logR;
        }

        @Override
        public NDArray of(NDArray logp, NDArray logq) {
            NDArray squared = logq.sub(logp).square();
            return squared.mul(Scalars.of(squared, 0.5));
        }
    },
    /** k3 = (r − 1) − log r with r = q/p. */
    K3 {
        @Override
        public double of(double logp, double logq) {
            double logR = logq - logp;
            return Math.expm1(logR) - logR;
        }

        @Override
        public NDArray of(NDArray logp, NDArray logq) {
            NDArray logR = logq.sub(logp);
            return logR.exp().sub(Scalars.of(logR, 1)).sub(logR);
        }
    };

    /** The estimate for one token: {@code logp} = log p(x) of the sampler, {@code logq} = log q(x). */
    public abstract double of(double logp, double logq);

    /** The element-wise estimate on DJL arrays of any (equal) shape; differentiable. */
    public abstract NDArray of(NDArray logp, NDArray logq);

    /**
     * The per-token estimate [B, T] where {@code mask} is true, 0 elsewhere.
     *
     * @param logp [B, T] log p of the sampled tokens (the policy's, for the KL penalty)
     * @param logq [B, T] log q of the same tokens (the reference's)
     * @param mask [B, T] true = a response token
     */
    public double[][] perToken(double[][] logp, double[][] logq, boolean[][] mask) {
        TokenArrays.requireShape("logp", logp, mask);
        TokenArrays.requireShape("logq", logq, mask);
        double[][] kl = new double[mask.length][];
        for (int b = 0; b < mask.length; b++) {
            kl[b] = new double[mask[b].length];
            for (int t = 0; t < mask[b].length; t++) {
                if (mask[b][t]) {
                    kl[b][t] = of(logp[b][t], logq[b][t]);
                }
            }
        }
        return kl;
    }
}
