package dev.rlhf.reward.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** Welford's statistics against a two-pass oracle, batch invariance, and the warm-up rule. */
class RunningNormalizerTest {

    /** Two passes: μ = Σx/n, then σ² = Σ(x − μ)²/n. */
    private static double[] twoPass(double[] x) {
        double mean = Arrays.stream(x).sum() / x.length;
        double var = Arrays.stream(x).map(v -> (v - mean) * (v - mean)).sum() / x.length;
        return new double[] {mean, Math.sqrt(var)};
    }

    private static double[] gaussian(int n, double mean, double std, long seed) {
        Random r = new Random(seed);
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = mean + std * r.nextGaussian();
        }
        return x;
    }

    @Test
    void statisticsEqualTheTwoPassOracleEvenFarFromZero() {
        // scores around 1e8 with σ 0.5: the naive Σx² − (Σx)²/n loses every digit of σ here
        double[] x = gaussian(5000, 1e8, 0.5, 1);
        RunningNormalizer n = new RunningNormalizer(0, 1e-6);
        RunningNormalizer.Snapshot s = n.observe(x);
        double[] oracle = twoPass(x);
        assertEquals(5000, s.count());
        assertEquals(oracle[0], s.mean(), 1e-6);
        assertEquals(oracle[1], s.std(), 1e-6);
    }

    @Test
    void batchesGiveTheSameStatisticsAsOneStream() {
        double[] x = gaussian(1000, 3, 2, 2);
        RunningNormalizer whole = new RunningNormalizer(0, 1e-6);
        RunningNormalizer batched = new RunningNormalizer(0, 1e-6);
        whole.observe(x);
        for (int from = 0; from < x.length; from += 37) {
            batched.observe(Arrays.copyOfRange(x, from, Math.min(x.length, from + 37)));
        }
        assertEquals(whole.snapshot().mean(), batched.snapshot().mean(), 1e-12);
        assertEquals(whole.snapshot().std(), batched.snapshot().std(), 1e-12);
        assertEquals(whole.snapshot().count(), batched.snapshot().count());
    }

    @Test
    void beforeWarmUpValuesAreOnlyCentredThenStandardised() {
        RunningNormalizer n = new RunningNormalizer(6, 1e-6);
        // 1. a first batch is centred on its own mean, not scaled
        RunningNormalizer.Snapshot first = n.observe(new double[] {1, 3, 5});
        assertEquals(-2, first.normalise(1), 1e-12);
        assertEquals(2, first.normalise(5), 1e-12);
        assertEquals(0.7, first.rescale(0.7), 1e-12, "spreads are not rescaled before warm-up");
        // 2. the sixth score completes warm-up: values are (x − μ) / σ over all six
        RunningNormalizer.Snapshot second = n.observe(new double[] {2, 4, 9});
        double[] oracle = twoPass(new double[] {1, 3, 5, 2, 4, 9});
        assertEquals(6, second.count());
        assertEquals((9 - oracle[0]) / oracle[1], second.normalise(9), 1e-12);
        assertEquals(0.7 / oracle[1], second.rescale(0.7), 1e-12);
        // standardised values of the stream have mean 0 and σ 1
        double[] z = Arrays.stream(new double[] {1, 3, 5, 2, 4, 9}).map(second::normalise).toArray();
        assertEquals(0, twoPass(z)[0], 1e-12);
        assertEquals(1, twoPass(z)[1], 1e-12);
    }

    @Test
    void epsilonBoundsTheDivisorOfConstantScores() {
        RunningNormalizer n = new RunningNormalizer(0, 1e-3);
        RunningNormalizer.Snapshot s = n.observe(new double[] {4, 4, 4, 4});
        assertEquals(0, s.std(), 0);
        assertEquals(1e-3, s.scale(), 0);
        assertEquals(1000, s.normalise(5), 1e-9);
        assertTrue(Double.isFinite(s.normalise(4)));
    }

    @Test
    void nonFiniteScoresAndBadSettingsAreRefused() {
        RunningNormalizer n = new RunningNormalizer(0, 1e-6);
        n.observe(new double[] {1});
        var e = assertThrows(IllegalArgumentException.class, () -> n.observe(new double[] {2, Double.NaN}));
        assertTrue(e.getMessage().contains("score 1"), e.getMessage());
        assertEquals(1, n.snapshot().count(), "a refused batch leaves the statistics as they were");
        assertThrows(IllegalArgumentException.class, () -> new RunningNormalizer(-1, 1e-6));
        assertThrows(IllegalArgumentException.class, () -> new RunningNormalizer(0, 0));
    }
}
