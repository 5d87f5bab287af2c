package dev.rlhf.trainer.ppo;

import java.util.Map;

/**
 * The proportional controller of Ziegler et al. 2019 §2.2 ("Fine-Tuning Language Models
 * from Human Preferences"; TRL's {@code AdaptiveKLController}), which steers the KL to the
 * reference towards a target:
 * <pre>
 *   e   = clip(KL / KL_target − 1, −0.2, 0.2)
 *   β  ← β · (1 + K_β · e),      K_β = n_steps / horizon
 * </pre>
 * with KL the observed mean KL per sequence, n_steps the rollouts of the iteration and the
 * horizon in rollouts (PpoConfig.target_kl, kl_horizon). An update with K_β ≥ 1/0.2, which
 * could drive β to zero or below, is refused.
 */
public final class AdaptiveKlController implements KlController {

    /** Key of the number of updates so far in {@link #state()}. */
    public static final String UPDATES = "updates";
    /** The bound of the proportional error e. */
    public static final double ERROR_CLIP = 0.2;

    private final double targetKl;
    private final long horizon;
    private double beta;
    private long updates;

    /**
     * @param initialBeta β at the start, ≥ 0 (PpoConfig.kl_coef)
     * @param targetKl    KL_target in nats per sequence, &gt; 0
     * @param horizon     in rollouts, ≥ 1
     */
    public AdaptiveKlController(double initialBeta, double targetKl, long horizon) {
        this.beta = KlController.requireBeta(initialBeta);
        if (!(targetKl > 0) || Double.isInfinite(targetKl)) {
            throw new IllegalArgumentException("target KL must be finite and > 0 (PpoConfig.target_kl), got " + targetKl);
        }
        if (horizon < 1) {
            throw new IllegalArgumentException("KL horizon must be >= 1 rollouts (PpoConfig.kl_horizon), got " + horizon);
        }
        this.targetKl = targetKl;
        this.horizon = horizon;
    }

    @Override
    public double beta() {
        return beta;
    }

    /** Updates so far. */
    public long updates() {
        return updates;
    }

    @Override
    public void update(double observedKl, long nSteps) {
        if (Double.isNaN(observedKl) || Double.isInfinite(observedKl)) {
            throw new IllegalArgumentException("observed KL must be finite, got " + observedKl
                    + "; check the logprobs of the batch before updating β");
        }
        if (nSteps < 0) {
            throw new IllegalArgumentException("n_steps must be >= 0 rollouts, got " + nSteps);
        }
        if (nSteps * ERROR_CLIP >= horizon) {
            throw new IllegalArgumentException("K_β = " + nSteps + " / " + horizon + " >= 1/" + ERROR_CLIP
                    + " could make β <= 0; raise PpoConfig.kl_horizon above " + (long) (nSteps * ERROR_CLIP)
                    + " or use fewer rollouts per iteration");
        }
        // 1. proportional error, clipped
        double e = Math.max(-ERROR_CLIP, Math.min(ERROR_CLIP, observedKl / targetKl - 1));
        // 2. multiplicative update with gain K_β = n_steps / horizon
        beta *= 1 + e * nSteps / horizon;
        updates++;
    }

    @Override
    public Map<String, Double> state() {
        return Map.of(BETA, beta, UPDATES, (double) updates);
    }

    @Override
    public void restore(Map<String, Double> state) {
        Double b = state.get(BETA);
        if (b == null) {
            throw new IllegalArgumentException("KL controller state lacks \"" + BETA + "\": " + state);
        }
        beta = KlController.requireBeta(b);
        updates = state.getOrDefault(UPDATES, 0.0).longValue();
    }
}
