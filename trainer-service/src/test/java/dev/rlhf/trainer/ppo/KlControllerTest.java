package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;

import org.junit.jupiter.api.Test;

/** The adaptive controller against Ziegler et al.'s rule applied by hand, the fixed one, and checkpointing. */
class KlControllerTest {

    private static final double TARGET = 6.0;
    private static final long HORIZON = 10_000;
    private static final long N = 512; // K_β = 0.0512

    @Test
    void adaptiveFollowsTheProportionalRuleIncludingTheClippingOfTheError() {
        KlController c = KlController.of(true, 0.1, TARGET, HORIZON);
        double k = 512.0 / 10_000;
        double beta = 0.1;
        // observed KL → the error e written out by hand (clipped where noted)
        double[][] steps = {
            {6.0, 0.0},     // on target: β unchanged
            {6.6, 0.1},     // 10 % above: e = 0.1
            {12.0, 0.2},    // e = 1 clipped to 0.2
            {5.4, -0.1},    // 10 % below
            {0.0, -0.2},    // e = −1 clipped to −0.2
            {-3.0, -0.2},   // a negative k1 estimate: still −0.2
            {7.2, 0.2},     // exactly at the clip
        };
        for (double[] s : steps) {
            c.update(s[0], N);
            beta *= 1 + k * s[1];
            assertEquals(beta, c.beta(), 1e-15, "after observing KL " + s[0]);
        }
        assertEquals(0.1 * Math.pow(1 + k * 0.2, 2) * (1 + k * 0.1) * (1 - k * 0.1) * Math.pow(1 - k * 0.2, 2), c.beta(), 1e-15);
    }

    @Test
    void theGainScalesWithTheRolloutsOfTheIteration() {
        KlController c = new AdaptiveKlController(1.0, TARGET, 1000);
        c.update(12, 0);
        assertEquals(1.0, c.beta(), 0, "no rollouts, no change");
        c.update(12, 100);
        assertEquals(1 + 0.1 * 0.2, c.beta(), 1e-15);
    }

    @Test
    void restoringTheExportedStateContinuesTheSameTrajectory() {
        AdaptiveKlController a = new AdaptiveKlController(0.05, TARGET, HORIZON);
        a.update(9, N);
        a.update(2, N);
        Map<String, Double> saved = a.state();
        AdaptiveKlController b = new AdaptiveKlController(0.05, TARGET, HORIZON);
        b.restore(saved);
        assertEquals(a.beta(), b.beta(), 0);
        assertEquals(2, b.updates());
        a.update(7, N);
        b.update(7, N);
        assertEquals(a.beta(), b.beta(), 0);
        assertThrows(IllegalArgumentException.class, () -> b.restore(Map.of("updates", 3.0)));
    }

    @Test
    void fixedNeverMovesAndKeepsItsConfiguredBetaOverACheckpoint() {
        KlController c = KlController.of(false, 0.05, TARGET, HORIZON);
        c.update(100, N);
        c.update(0, N);
        c.restore(Map.of(KlController.BETA, 0.3));
        assertEquals(0.05, c.beta(), 0);
        assertEquals(Map.of(KlController.BETA, 0.05), c.state());
    }

    @Test
    void refusesBadConfigurationAndObservations() {
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveKlController(-0.1, TARGET, HORIZON));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveKlController(0.1, 0, HORIZON));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveKlController(0.1, TARGET, 0));
        assertThrows(IllegalArgumentException.class, () -> new FixedKlController(Double.NaN));
        AdaptiveKlController c = new AdaptiveKlController(0.1, TARGET, HORIZON);
        assertThrows(IllegalArgumentException.class, () -> c.update(Double.NaN, N));
        assertThrows(IllegalArgumentException.class, () -> c.update(1, -1));
        // K_β = 0.2 · 50 000 / 10 000 = 1: a low KL would set β to 0
        assertThrows(IllegalArgumentException.class, () -> c.update(0, 50_000));
        assertEquals(0.1, c.beta(), 0, "a refused update changes nothing");
    }
}
