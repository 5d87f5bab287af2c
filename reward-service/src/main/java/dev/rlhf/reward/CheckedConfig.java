package dev.rlhf.reward;

import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * Produces the checked forms of {@link RewardConfig}. {@link ModelRegistry} is created at
 * start-up and injects both, so a bad key fails start-up, not the first call.
 */
public class CheckedConfig {

    @Produces
    @Singleton
    Components components(RewardConfig config) {
        return Components.from(config);
    }

    @Produces
    @Singleton
    ScoringLimits limits(RewardConfig config) {
        return ScoringLimits.from(config);
    }
}
