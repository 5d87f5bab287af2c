package dev.rlhf.trainer.ppo;

/**
 * Generalized advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous
 * Control Using Generalized Advantage Estimation", eq. 16) over the response tokens of each
 * row, computed backwards:
 * <pre>
 *   δ_t = r_t + γ V_{t+1} − V_t
 *   A_t = δ_t + γλ A_{t+1}            (= Σ_l (γλ)^l δ_{t+l})
 *   R_t = A_t + V_t                   (the critic's target)
 * </pre>
 * with V and A after the last response token 0 (the episode ends there). "t + 1" is the next
 * masked position of the row, so right padding ends a row and a masked-out span inside a row
 * is skipped (as verl's multi-turn GAE does). Unmasked positions get A = R = 0.
 *
 * @param gamma  discount γ in [0, 1] (PpoConfig.gamma)
 * @param lambda GAE λ in [0, 1] (PpoConfig.gae_lambda)
 */
public record GeneralizedAdvantageEstimator(double gamma, double lambda) {

    public GeneralizedAdvantageEstimator {
        if (!(gamma >= 0 && gamma <= 1)) {
            throw new IllegalArgumentException("gamma must be in [0, 1], got " + gamma);
        }
        if (!(lambda >= 0 && lambda <= 1)) {
            throw new IllegalArgumentException("GAE lambda must be in [0, 1], got " + lambda);
        }
    }

    /**
     * @param advantages [B, T] A_t (0 outside the mask)
     * @param returns    [B, T] R_t = A_t + V_t (0 outside the mask)
     */
    public record Estimate(double[][] advantages, double[][] returns) {
    }

    /**
     * @param rewards [B, T] token rewards r_t ({@link TokenRewards})
     * @param values  [B, T] the critic's V(s_t) at the batch's old parameters
     * @param mask    [B, T] true = a response token
     */
    public Estimate estimate(double[][] rewards, double[][] values, boolean[][] mask) {
        TokenArrays.requireShape("rewards", rewards, mask);
        TokenArrays.requireShape("values", values, mask);
        double[][] advantages = new double[mask.length][];
        double[][] returns = new double[mask.length][];
        for (int b = 0; b < mask.length; b++) {
            int width = mask[b].length;
            advantages[b] = new double[width];
            returns[b] = new double[width];
            double nextValue = 0; // V_{t+1}: 0 after the last response token
            double lastGaeLam = 0; // A_{t+1}
            for (int t = width - 1; t >= 0; t--) {
                if (!mask[b][t]) {
                    continue;
                }
                double delta = rewards[b][t] + gamma * nextValue - values[b][t];
                lastGaeLam = delta + gamma * lambda * lastGaeLam;
                advantages[b][t] = lastGaeLam;
                returns[b][t] = lastGaeLam + values[b][t];
                nextValue = values[b][t];
            }
        }
        return new Estimate(advantages, returns);
    }
}
