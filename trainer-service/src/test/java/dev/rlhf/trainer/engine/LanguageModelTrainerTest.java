package dev.rlhf.trainer.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.trainer.algo.WarmupCosineSchedule;

class LanguageModelTrainerTest {

    private static Map<String, Tensor> init(ModelConfig c, long seed) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        LlamaWeights.random(c, seed).forEach(t -> w.put(t.name(), t));
        return w;
    }

    /** A copy task: the second half of each row repeats the first; only the second half is scored. */
    private static LanguageModelTrainer.Batch copyBatch(int rows, int half, int vocab, long seed) {
        java.util.Random r = new java.util.Random(seed);
        int t = 2 * half;
        long[][] ids = new long[rows][t];
        long[][] mask = new long[rows][t];
        long[][] pos = new long[rows][t];
        long[][] targets = new long[rows][t];
        float[][] lossMask = new float[rows][t];
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < half; i++) {
                ids[b][i] = 4 + r.nextInt(vocab - 4);
                ids[b][half + i] = ids[b][i];
            }
            for (int i = 0; i < t; i++) {
                mask[b][i] = 1;
                pos[b][i] = i;
                targets[b][i] = i + 1 < t ? ids[b][i + 1] : 0;
                lossMask[b][i] = i >= half - 1 && i + 1 < t ? 1 : 0;
            }
        }
        return new LanguageModelTrainer.Batch(ids, mask, pos, targets, lossMask);
    }

    @Test
    void learnsACopyTaskWithoutGrowingLiveArrays() {
        Engine.getInstance().setRandomSeed(1);
        ModelConfig c = ModelConfig.tiny(32);
        try (NDManager m = NDManager.newBaseManager(); LlamaModel model = LlamaModel.of(c, init(c, 1), m);
                LanguageModelTrainer trainer = new LanguageModelTrainer(model, m, AdamW.Options.defaults(0.01),
                        new WarmupCosineSchedule(3e-3, 10, 150, 0.1), 1.0)) {
            LanguageModelTrainer.Batch eval = copyBatch(16, 8, 32, 999);
            double before = trainer.evaluate(java.util.List.of(eval));
            int liveAfterWarmup = -1;
            for (int s = 0; s < 150; s++) {
                trainer.step(copyBatch(16, 8, 32, s));
                if (s == 4) {
                    liveAfterWarmup = m.getManagedArrays().size();
                }
            }
            // the count covers sub-managers: parameters and both AdamW moments are in it
            assertTrue(liveAfterWarmup >= 3 * model.parameters().size(), "live arrays: " + liveAfterWarmup);
            assertEquals(liveAfterWarmup, m.getManagedArrays().size(), "live native arrays grew across steps");
            double after = trainer.evaluate(java.util.List.of(eval));
            assertTrue(after < 0.5 * before, "held-out copy loss " + before + " → " + after);
        }
    }

    /**
     * Seeds fix the initial weights, data order and sampling. With several intra-op threads
     * libtorch's parallel reductions (e.g. the embedding gradient) may add in another order,
     * so losses agree to float rounding, not bit for bit; a different seed differs by far more.
     */
    @Test
    void theSameSeedGivesTheSameTraining() {
        double[] a = losses(5);
        double[] b = losses(5);
        double[] other = losses(6);
        double worstSame = 0;
        double worstOther = 0;
        for (int i = 0; i < a.length; i++) {
            worstSame = Math.max(worstSame, Math.abs(a[i] - b[i]));
            worstOther = Math.max(worstOther, Math.abs(a[i] - other[i]));
        }
        assertTrue(worstSame < 1e-3, "same seed: max loss difference " + worstSame);
        assertTrue(worstOther > 100 * worstSame && worstOther > 1e-3, "other seed: " + worstOther);
    }

    private static double[] losses(long seed) {
        ModelConfig c = ModelConfig.tiny(32);
        Engine.getInstance().setRandomSeed((int) seed);
        double[] losses = new double[6];
        try (NDManager m = NDManager.newBaseManager(); LlamaModel model = LlamaModel.of(c, init(c, seed), m);
                LanguageModelTrainer trainer = new LanguageModelTrainer(model, m, AdamW.Options.defaults(0.01),
                        new WarmupCosineSchedule(3e-3, 2, 6, 0.1), 1.0)) {
            for (int s = 0; s < 6; s++) {
                losses[s] = trainer.step(copyBatch(8, 6, 32, 100 + s)).loss();
            }
        }
        return losses;
    }
}
