package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

/** The entropy against a plain loop over the vocabulary, and the bonus's gradient direction. */
class TokenEntropyTest {

    @Test
    void matchesAPlainLoopPerTokenAndOnAverageOverTheMask() {
        int b = 2;
        int t = 3;
        int v = 7;
        Random rnd = new Random(11);
        float[] logits = new float[b * t * v];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (3 * rnd.nextGaussian());
        }
        float[] mask = {1, 1, 0, 1, 0, 0};
        double[] naive = new double[b * t];
        double masked = 0;
        for (int p = 0; p < b * t; p++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < v; k++) {
                max = Math.max(max, logits[p * v + k]);
            }
            double z = 0;
            for (int k = 0; k < v; k++) {
                z += Math.exp(logits[p * v + k] - max);
            }
            for (int k = 0; k < v; k++) {
                double prob = Math.exp(logits[p * v + k] - max) / z;
                naive[p] -= prob * Math.log(prob);
            }
            masked += mask[p] * naive[p];
        }
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray l = m.create(logits, new Shape(b, t, v));
            float[] perToken = TokenEntropy.perToken(l).toFloatArray();
            for (int p = 0; p < b * t; p++) {
                assertEquals(naive[p], perToken[p], 1e-5, "token " + p);
            }
            assertEquals(masked / 3, TokenEntropy.maskedMean(l, m.create(mask, new Shape(b, t))).getFloat(), 1e-5);
            assertEquals(Math.log(v), TokenEntropy.perToken(m.zeros(new Shape(1, 1, v))).getFloat(0, 0), 1e-6,
                    "uniform");
        }
    }

    @Test
    void ascendingTheBonusRaisesTheEntropy() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logits = m.create(new float[] {2f, 0f, -1f, 0.5f}, new Shape(1, 1, 4));
            logits.setRequiresGradient(true);
            NDArray mask = m.ones(new Shape(1, 1));
            float before;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray h = TokenEntropy.maskedMean(logits, mask);
                before = h.getFloat();
                gc.backward(h.neg()); // the bonus enters the loss as −coef·H
            }
            NDArray stepped = logits.sub(logits.getGradient().mul(0.1f));
            assertTrue(TokenEntropy.maskedMean(stepped, mask).getFloat() > before);
        }
    }
}
