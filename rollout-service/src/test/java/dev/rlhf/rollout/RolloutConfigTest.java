package dev.rlhf.rollout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.RolloutRunSpec;
import io.quarkus.runtime.configuration.DurationConverter;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;

/** A bad rlhf.rollout.* value is refused at start-up with a message that names the key. */
class RolloutConfigTest {

    static RolloutConfig config(Map<String, String> values) {
        SmallRyeConfig c = new SmallRyeConfigBuilder().withMapping(RolloutConfig.class)
                .withConverter(Duration.class, 100, new DurationConverter()) // Quarkus's "10s" form
                .withSources(new PropertiesConfigSource(values, "test", 500)).build();
        return c.getConfigMapping(RolloutConfig.class);
    }

    @Test
    void theDefaultsAreValidAndMakeAPpoStandingRunOfFourSamples() {
        RolloutConfig c = config(Map.of());
        assertEquals(List.of(), RolloutService.problems(c));
        RolloutRunSpec spec = RolloutService.standingSpec(c.consumer());
        assertEquals(4, spec.getSamplesPerPrompt());
        assertEquals(RolloutMode.ROLLOUT_MODE_PPO, spec.getMode());
        assertEquals(1.0f, spec.getSampling().getTemperature());
        assertTrue(spec.getPromptsTopic().getFromEarliest());
        assertEquals("rlhf-rollouts", c.consumer().groupId());
        assertEquals("rlhf.prompts.dlq.v1", c.topics().deadLetters());
    }

    @Test
    void badValuesAreNamedByTheirKeys() {
        assertEquals(List.of("rlhf.rollout.produce-timeout must be at least 2s, got PT1S"),
                RolloutService.problems(config(Map.of("rlhf.rollout.produce-timeout", "1s"))));
        assertEquals(List.of("rlhf.rollout.consumer.mode must be ppo or best-of-n, got 'grpo'"),
                RolloutService.problems(config(Map.of("rlhf.rollout.consumer.mode", "grpo"))));
        assertEquals(List.of("rlhf.rollout.consumer.* (the standing run's spec): spec.samples_per_prompt must be >= 2"
                + " in BEST_OF_N mode, was 1"), RolloutService.problems(config(Map.of("rlhf.rollout.consumer.mode",
                        "best-of-n", "rlhf.rollout.consumer.samples-per-prompt", "1"))));
        assertTrue(RolloutService.problems(config(Map.of("rlhf.rollout.retry.jitter", "1.5"))).get(0)
                .startsWith("rlhf.rollout.retry.jitter must be in [0, 1)"));
        assertTrue(RolloutService.problems(config(Map.of("rlhf.rollout.consumer.run-id", "no spaces please"))).get(0)
                .startsWith("rlhf.rollout.consumer.run-id must be"));
        assertTrue(RolloutService.problems(config(Map.of("rlhf.rollout.defaults.max-concurrency", "0"))).get(0)
                .startsWith("rlhf.rollout.defaults.max-concurrency must be >= 1"));
    }
}
