package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;

import org.junit.jupiter.api.Test;

/** The backward recursion against the sum form A_t = Σ_l (γλ)^l δ_{t+l} computed by a double loop. */
class GeneralizedAdvantageEstimatorTest {

    /** The oracle: each advantage from its own sum over the rest of the row's masked positions. */
    private static double[][][] naive(double[][] r, double[][] v, boolean[][] mask, double gamma, double lambda) {
        double[][] adv = new double[r.length][];
        double[][] ret = new double[r.length][];
        for (int b = 0; b < r.length; b++) {
            boolean[] row = mask[b];
            int[] idx = java.util.stream.IntStream.range(0, row.length).filter(t -> row[t]).toArray();
            adv[b] = new double[mask[b].length];
            ret[b] = new double[mask[b].length];
            for (int k = 0; k < idx.length; k++) {
                double a = 0;
                for (int j = k; j < idx.length; j++) {
                    double next = j + 1 < idx.length ? v[b][idx[j + 1]] : 0;
                    double delta = r[b][idx[j]] + gamma * next - v[b][idx[j]];
                    a += Math.pow(gamma * lambda, j - k) * delta;
                }
                adv[b][idx[k]] = a;
                ret[b][idx[k]] = a + v[b][idx[k]];
            }
        }
        return new double[][][] {adv, ret};
    }

    private static double[][] gaussian(Random rnd, int rows, int t) {
        double[][] x = new double[rows][t];
        for (double[] row : x) {
            for (int i = 0; i < t; i++) {
                row[i] = rnd.nextGaussian();
            }
        }
        return x;
    }

    @Test
    void matchesTheNaiveSumOnRandomRightPaddedRows() {
        Random rnd = new Random(42);
        double[][] params = {{1.0, 0.95}, {0.99, 0.9}, {1.0, 1.0}, {0.5, 0.0}, {0.0, 0.7}};
        for (double[] p : params) {
            for (int trial = 0; trial < 5; trial++) {
                int rows = 8;
                int width = 1 + rnd.nextInt(24);
                int[] lengths = new int[rows];
                for (int b = 0; b < rows; b++) {
                    lengths[b] = rnd.nextInt(width + 1); // 0 and full width included
                }
                lengths[0] = width;
                boolean[][] mask = TokenArrays.rightPadded(lengths, width);
                double[][] r = gaussian(rnd, rows, width);
                double[][] v = gaussian(rnd, rows, width);
                var est = new GeneralizedAdvantageEstimator(p[0], p[1]).estimate(r, v, mask);
                double[][][] want = naive(r, v, mask, p[0], p[1]);
                for (int b = 0; b < rows; b++) {
                    assertArrayEquals(want[0][b], est.advantages()[b], 1e-6, "advantages, row " + b);
                    assertArrayEquals(want[1][b], est.returns()[b], 1e-6, "returns, row " + b);
                }
            }
        }
    }

    @Test
    void aMaskedOutSpanInsideARowIsSkippedAsIfTheRowWereCompacted() {
        Random rnd = new Random(7);
        boolean[][] holes = {{true, false, false, true, true, false, true, false}};
        double[][] r = gaussian(rnd, 1, 8);
        double[][] v = gaussian(rnd, 1, 8);
        int[] kept = {0, 3, 4, 6};
        double[][] rc = {new double[4]};
        double[][] vc = {new double[4]};
        for (int i = 0; i < 4; i++) {
            rc[0][i] = r[0][kept[i]];
            vc[0][i] = v[0][kept[i]];
        }
        var gae = new GeneralizedAdvantageEstimator(0.9, 0.8);
        var sparse = gae.estimate(r, v, holes);
        var compact = gae.estimate(rc, vc, TokenArrays.rightPadded(new int[] {4}, 4));
        for (int i = 0; i < 4; i++) {
            assertEquals(compact.advantages()[0][i], sparse.advantages()[0][kept[i]], 1e-12);
        }
        assertEquals(0, sparse.advantages()[0][1]);
        assertEquals(0, sparse.returns()[0][7]);
    }

    @Test
    void lambdaOneGivesTheDiscountedRewardToGoWhateverTheValues() {
        double[][] r = {{1, 2, 3, 0}};
        double[][] v = {{10, -4, 7, 99}};
        boolean[][] mask = TokenArrays.rightPadded(new int[] {3}, 4);
        var est = new GeneralizedAdvantageEstimator(0.5, 1.0).estimate(r, v, mask);
        // R_2 = 3, R_1 = 2 + 0.5·3 = 3.5, R_0 = 1 + 0.5·3.5 = 2.75
        assertArrayEquals(new double[] {2.75, 3.5, 3, 0}, est.returns()[0], 1e-12);
        assertArrayEquals(new double[] {2.75 - 10, 3.5 + 4, 3 - 7, 0}, est.advantages()[0], 1e-12);
    }

    @Test
    void lambdaZeroGivesTheOneStepTemporalDifference() {
        double[][] r = {{1, 2, 3}};
        double[][] v = {{0.5, -1, 2}};
        var est = new GeneralizedAdvantageEstimator(0.9, 0.0).estimate(r, v, TokenArrays.rightPadded(new int[] {3}, 3));
        // δ_0 = 1 + 0.9·(−1) − 0.5, δ_1 = 2 + 0.9·2 + 1, δ_2 = 3 + 0 − 2
        assertArrayEquals(new double[] {-0.4, 4.8, 1}, est.advantages()[0], 1e-12);
    }

    @Test
    void refusesParametersOutsideTheUnitIntervalAndMismatchedShapes() {
        assertThrows(IllegalArgumentException.class, () -> new GeneralizedAdvantageEstimator(1.01, 0.95));
        assertThrows(IllegalArgumentException.class, () -> new GeneralizedAdvantageEstimator(1, Double.NaN));
        var gae = new GeneralizedAdvantageEstimator(1, 0.95);
        assertThrows(IllegalArgumentException.class,
                () -> gae.estimate(new double[1][3], new double[1][2], TokenArrays.rightPadded(new int[] {2}, 3)));
    }
}
