package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

import ai.djl.ndarray.NDManager;

/** The three estimators by hand, their expectations against the exact KL, and the DJL twin. */
class KlEstimatorTest {

    @Test
    void handValuesOnBothSidesOfTheReference() {
        // log p = −1, log q = −2: log r = −1
        assertEquals(1.0, KlEstimator.K1.of(-1, -2), 1e-12);
        assertEquals(0.5, KlEstimator.K2.of(-1, -2), 1e-12);
        assertEquals(Math.exp(-1) - 1 + 1, KlEstimator.K3.of(-1, -2), 1e-12);
        // log p = −2, log q = −1: log r = +1
        assertEquals(-1.0, KlEstimator.K1.of(-2, -1), 1e-12);
        assertEquals(0.5, KlEstimator.K2.of(-2, -1), 1e-12);
        assertEquals(Math.E - 1 - 1, KlEstimator.K3.of(-2, -1), 1e-12);
        for (KlEstimator k : KlEstimator.values()) {
            assertEquals(0, k.of(-3, -3), 1e-15, k + " of equal distributions");
        }
    }

    @Test
    void k1AndK3AreUnbiasedAndK3IsNonNegative() {
        Random rnd = new Random(3);
        int v = 6;
        double[] p = softmax(rnd, v);
        double[] q = softmax(rnd, v);
        double exact = 0;
        double e1 = 0;
        double e3 = 0;
        for (int x = 0; x < v; x++) {
            exact += p[x] * Math.log(p[x] / q[x]);
            e1 += p[x] * KlEstimator.K1.of(Math.log(p[x]), Math.log(q[x]));
            double k3 = KlEstimator.K3.of(Math.log(p[x]), Math.log(q[x]));
            assertTrue(k3 >= 0, "k3 of token " + x);
            e3 += p[x] * k3;
        }
        assertEquals(exact, e1, 1e-12);
        assertEquals(exact, e3, 1e-12);
    }

    @Test
    void perTokenIsZeroOutsideTheMaskAndTheDjlFormAgrees() {
        double[][] logp = {{-1, -2, -0.5}, {-3, -4, -5}};
        double[][] logq = {{-2, -1, -0.7}, {-2.5, 100, 100}};
        boolean[][] mask = TokenArrays.rightPadded(new int[] {3, 1}, 3);
        for (KlEstimator k : KlEstimator.values()) {
            double[][] kl = k.perToken(logp, logq, mask);
            assertArrayEquals(new double[] {k.of(-3, -2.5), 0, 0}, kl[1], 1e-12, k + " row 1");
            try (NDManager m = NDManager.newBaseManager()) {
                double[][] djl = TokenArrays.toMatrix(k.of(TokenArrays.toNDArray(m, logp), TokenArrays.toNDArray(m, logq)));
                assertArrayEquals(kl[0], djl[0], 1e-6, k + " on DJL");
            }
        }
    }

    private static double[] softmax(Random rnd, int v) {
        double[] p = new double[v];
        double z = 0;
        for (int i = 0; i < v; i++) {
            p[i] = Math.exp(2 * rnd.nextGaussian());
            z += p[i];
        }
        for (int i = 0; i < v; i++) {
            p[i] /= z;
        }
        return p;
    }
}
