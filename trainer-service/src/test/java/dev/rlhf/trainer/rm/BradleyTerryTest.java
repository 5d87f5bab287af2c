package dev.rlhf.trainer.rm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.api.Test;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** The DJL loss against a naive loop over pairs and members. */
class BradleyTerryTest {

    @Test
    void lossEqualsTheNaiveSumIncludingMarginsWeightsAndCentring() {
        int b = 7;
        int k = 3;
        Random r = new Random(5);
        float[] chosen = new float[b * k];
        float[] rejected = new float[b * k];
        float[] weight = new float[b * k];
        float[] margin = new float[b];
        for (int i = 0; i < b * k; i++) {
            chosen[i] = (float) (r.nextGaussian() * 4); // large gaps too: the stable form must hold
            rejected[i] = (float) (r.nextGaussian() * 4);
            weight[i] = r.nextInt(3); // bootstrap counts, zeros included
        }
        for (int i = 0; i < b; i++) {
            margin[i] = r.nextFloat();
        }
        double l2 = 0.05;
        double num = 0;
        double den = 0;
        double centre = 0;
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < k; j++) {
                double x = chosen[i * k + j] - rejected[i * k + j] - margin[i];
                num += weight[i * k + j] * -Math.log(1 / (1 + Math.exp(-x)));
                den += weight[i * k + j];
                centre += Math.pow(chosen[i * k + j] + rejected[i * k + j], 2);
            }
        }
        double expected = num / den + l2 * centre / (b * k);
        try (NDManager m = NDManager.newBaseManager()) {
            double actual = BradleyTerry.loss(m.create(chosen, new Shape(b, k)), m.create(rejected, new Shape(b, k)),
                    m.create(margin, new Shape(b, 1)), m.create(weight, new Shape(b, k)), l2).getFloat();
            assertEquals(expected, actual, 1e-5 * Math.max(1, Math.abs(expected)));
        }
    }

    @Test
    void aWideCorrectGapCostsAlmostNothingAndAWideWrongOneItsSize() {
        try (NDManager m = NDManager.newBaseManager()) {
            var one = m.create(new float[] {1f}, new Shape(1, 1));
            var zero = m.create(new float[] {0f}, new Shape(1, 1));
            assertEquals(0, BradleyTerry.loss(m.create(new float[] {50f}, new Shape(1, 1)), zero, zero, one, 0).getFloat(),
                    1e-6);
            assertEquals(50, BradleyTerry.loss(zero, m.create(new float[] {50f}, new Shape(1, 1)), zero, one, 0).getFloat(),
                    1e-4);
            assertEquals(Math.log(2), BradleyTerry.loss(zero, zero, zero, one, 0).getFloat(), 1e-6);
        }
    }
}
