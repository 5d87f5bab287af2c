package dev.rlhf.reward.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;

import org.junit.jupiter.api.Test;

/** Ensemble statistics and the weighted combination of reward.proto. */
class CombinationTest {

    @Test
    void ensembleMeanAndPopulationStd() {
        assertEquals(2, Ensemble.mean(new float[] {1, 2, 3}), 1e-12);
        assertEquals(Math.sqrt(2.0 / 3), Ensemble.std(new float[] {1, 2, 3}), 1e-7);
        assertEquals(0, Ensemble.std(new float[] {5}), 0, "one member has no disagreement");
        assertThrows(IllegalArgumentException.class, () -> Ensemble.mean(new float[0]));
    }

    @Test
    void totalIsTheWeightedSumAndUncertaintyAddsInQuadrature() {
        double[] w = {1.0, 0.5, 2.0};
        assertEquals(1.0 * 0.3 + 0.5 * -1 + 2.0 * 1, Combination.total(w, new double[] {0.3, -1, 1}), 1e-12);
        assertEquals(Math.sqrt(0.2 * 0.2 + 0.25 * 0.25), Combination.uncertainty(w, new double[] {0.2, 0.5, 0}), 1e-12);
        assertEquals(0, Combination.uncertainty(w, new double[3]), 0, "rules alone are certain");
        assertThrows(IllegalArgumentException.class, () -> Combination.total(w, new double[2]));
    }

    @Test
    void uncertaintyIsTheStdOfTheTotalOfIndependentComponents() {
        // sample two independent components with σ 0.3 and 0.8: the total's σ matches
        Random r = new Random(4);
        double[] w = {1.5, -0.5};
        int n = 200_000;
        double sum = 0;
        double sq = 0;
        for (int i = 0; i < n; i++) {
            double t = Combination.total(w, new double[] {0.3 * r.nextGaussian(), 0.8 * r.nextGaussian()});
            sum += t;
            sq += t * t;
        }
        double empirical = Math.sqrt(sq / n - (sum / n) * (sum / n));
        assertEquals(Combination.uncertainty(w, new double[] {0.3, 0.8}), empirical, 0.01);
    }
}
