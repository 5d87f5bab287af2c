package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Whitening and explained variance against values worked out by hand; padding never counts. */
class MaskedStatisticsTest {

    // masked entries 1, 2, 3, 4: mean 2.5, population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
    private final double[][] x = {{1, 2, 3, 1000}, {4, -1000, 55, 0}};
    private final boolean[][] mask = TokenArrays.rightPadded(new int[] {3, 1}, 4);

    @Test
    void meanAndVarianceOverMaskedEntriesOnly() {
        assertEquals(2.5, MaskedStatistics.mean(x, mask), 1e-12);
        assertEquals(1.25, MaskedStatistics.variance(x, mask), 1e-12);
    }

    @Test
    void whitenShiftsAndScalesTheMaskedEntriesAndZeroesPadding() {
        double s = Math.sqrt(1.25 + 1e-8);
        double[][] w = MaskedStatistics.whiten(x, mask, true);
        assertArrayEquals(new double[] {-1.5 / s, -0.5 / s, 0.5 / s, 0}, w[0], 1e-12);
        assertArrayEquals(new double[] {1.5 / s, 0, 0, 0}, w[1], 1e-12);
        assertEquals(0, MaskedStatistics.mean(w, mask), 1e-12);
        assertEquals(1, MaskedStatistics.variance(w, mask), 1e-7);
    }

    @Test
    void whitenWithoutShiftingTheMeanKeepsIt() {
        double s = Math.sqrt(1.25 + 1e-8);
        double[][] w = MaskedStatistics.whiten(x, mask, false);
        assertArrayEquals(new double[] {2.5 - 1.5 / s, 2.5 - 0.5 / s, 2.5 + 0.5 / s, 0}, w[0], 1e-12);
        assertArrayEquals(new double[] {2.5 + 1.5 / s, 0, 0, 0}, w[1], 1e-12);
        assertEquals(2.5, MaskedStatistics.mean(w, mask), 1e-12);
    }

    @Test
    void aConstantBatchWhitensToZerosNotToNaN() {
        double[][] w = MaskedStatistics.whiten(new double[][] {{3, 3}}, new boolean[][] {{true, true}}, true);
        assertArrayEquals(new double[] {0, 0}, w[0], 0);
    }

    @Test
    void explainedVarianceByHand() {
        double[][] returns = {{1, 2, 3, 9}, {4, 9, 9, 9}};
        // residuals R − V on the mask: 0.5, −0.5, 0.5, −0.5: variance 0.25; Var(R) = 1.25
        double[][] values = {{0.5, 2.5, 2.5, -9}, {4.5, 0, 0, 0}};
        assertEquals(1 - 0.25 / 1.25, MaskedStatistics.explainedVariance(returns, values, mask), 1e-12);
        assertEquals(1, MaskedStatistics.explainedVariance(returns, returns, mask), 1e-12);
        assertTrue(Double.isNaN(MaskedStatistics.explainedVariance(new double[][] {{2, 2}}, new double[][] {{1, 0}},
                new boolean[][] {{true, true}})), "constant returns");
    }
}
