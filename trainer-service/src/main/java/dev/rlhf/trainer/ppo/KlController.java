package dev.rlhf.trainer.ppo;

import java.util.Map;

/**
 * Holds the KL coefficient β of the token rewards ({@link TokenRewards}) and updates it
 * after each iteration from the observed KL to the reference. Either fixed, or the adaptive
 * controller of Ziegler et al. 2019 (PpoConfig.adaptive_kl).
 */
public interface KlController {

    /** Key of β in {@link #state()}. */
    String BETA = "beta";

    /** The current β ≥ 0. */
    double beta();

    /**
     * Updates β after an iteration.
     *
     * @param observedKl the batch's mean KL to the reference per sequence, in nats
     *                   ({@link TokenRewards#meanSequenceKl})
     * @param nSteps     the rollouts the iteration used, ≥ 0
     */
    void update(double observedKl, long nSteps);

    /** The state to checkpoint, as named numbers ({@value #BETA}, ...). */
    Map<String, Double> state();

    /** Restores a {@link #state()} saved by a controller of the same kind. */
    void restore(Map<String, Double> state);

    /**
     * The controller of PpoConfig: adaptive towards {@code targetKl} over {@code horizon}
     * rollouts when {@code adaptive}, else fixed at {@code beta}.
     */
    static KlController of(boolean adaptive, double beta, double targetKl, long horizon) {
        return adaptive ? new AdaptiveKlController(beta, targetKl, horizon) : new FixedKlController(beta);
    }

    /** Throws unless β is a finite number ≥ 0. */
    static double requireBeta(double beta) {
        if (!(beta >= 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("KL coefficient β must be finite and >= 0 (PpoConfig.kl_coef), got " + beta);
        }
        return beta;
    }
}
