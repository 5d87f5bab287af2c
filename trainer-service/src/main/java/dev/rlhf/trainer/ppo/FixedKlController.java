package dev.rlhf.trainer.ppo;

import java.util.Map;

/** β stays at its configured value; updates are ignored (PpoConfig.adaptive_kl false). */
public final class FixedKlController implements KlController {

    private final double beta;

    public FixedKlController(double beta) {
        this.beta = KlController.requireBeta(beta);
    }

    @Override
    public double beta() {
        return beta;
    }

    @Override
    public void update(double observedKl, long nSteps) {
        // fixed: nothing to adapt
    }

    @Override
    public Map<String, Double> state() {
        return Map.of(BETA, beta);
    }

    /** Nothing to restore: the configured β wins over a checkpointed one. */
    @Override
    public void restore(Map<String, Double> state) {
        // fixed: the configuration is the state
    }
}
