package dev.rlhf.trainer.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;

/** AdamW and clipping against the formulas computed by hand, in double precision. */
class AdamWTest {

    @Test
    void matchesTheNaiveUpdateWithDecoupledDecayOnMatricesOnly() {
        float[] w0 = {0.5f, -1.0f, 2.0f};
        float[] c = {0.3f, -0.2f, 1.5f}; // loss = Σ c·w² / 2 → g = c·w
        double lr = 0.1;
        double wd = 0.05;
        AdamW.Options o = new AdamW.Options(0.9, 0.95, 1e-8, wd, AdamW.decayMatricesOnly());
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray matrix = m.create(w0.clone());
            NDArray norm = m.create(w0.clone());
            Map<String, NDArray> params = new LinkedHashMap<>();
            params.put("model.layers.0.mlp.up_proj.weight", matrix);
            params.put("model.layers.0.input_layernorm.weight", norm);
            params.values().forEach(p -> p.setRequiresGradient(true));
            try (AdamW adam = new AdamW(params, o, m)) {
                double[][] naive = {toDouble(w0), toDouble(w0)};
                double[][] mom = new double[2][3];
                double[][] vel = new double[2][3];
                for (int t = 1; t <= 3; t++) {
                    try (NDScope scope = new NDScope()) {
                        scope.suppressNotUsedWarning();
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            NDArray cs = m.create(c);
                            gc.backward(matrix.square().mul(cs).sum().div(2).add(norm.square().mul(cs).sum().div(2)));
                        }
                        adam.step(lr);
                        Gradients.zero(params.values());
                    }
                    for (int p = 0; p < 2; p++) {
                        for (int i = 0; i < 3; i++) {
                            double g = c[i] * naive[p][i];
                            mom[p][i] = 0.9 * mom[p][i] + 0.1 * g;
                            vel[p][i] = 0.95 * vel[p][i] + 0.05 * g * g;
                            double step = mom[p][i] / (1 - Math.pow(0.9, t)) / (Math.sqrt(vel[p][i] / (1 - Math.pow(0.95, t))) + 1e-8);
                            naive[p][i] -= lr * (step + (p == 0 ? wd * naive[p][i] : 0));
                        }
                    }
                }
                assertArrayEquals(naive[0], toDouble(matrix.toFloatArray()), 1e-5, "decayed matrix");
                assertArrayEquals(naive[1], toDouble(norm.toFloatArray()), 1e-5, "norm weight, no decay");
                assertEquals(3, adam.steps());
            }
        }
    }

    @Test
    void clippingScalesAllGradientsByOneGlobalNorm() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new float[] {1f, 2f});
            NDArray b = m.create(new float[] {2f});
            List.of(a, b).forEach(p -> p.setRequiresGradient(true));
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                // gradients: a → (3, 4), b → (12): global norm 13
                gc.backward(a.mul(m.create(new float[] {3f, 4f})).sum().add(b.mul(12f).sum()));
            }
            double norm = Gradients.clipGlobalNorm(List.of(a, b), 6.5);
            assertEquals(13.0, norm, 1e-5);
            assertArrayEquals(new float[] {1.5f, 2f}, a.getGradient().toFloatArray(), 1e-4f);
            assertArrayEquals(new float[] {6f}, b.getGradient().toFloatArray(), 1e-4f);
            assertEquals(6.5, Gradients.clipGlobalNorm(List.of(a, b), 100), 1e-3, "below the limit: untouched");
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
