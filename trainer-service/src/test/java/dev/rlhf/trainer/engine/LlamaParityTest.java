package dev.rlhf.trainer.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.ort.OrtDecoder;

/** Training (DJL/libtorch) and serving (ONNX Runtime) decoders give the same logits for the same weights. */
class LlamaParityTest {

    private static final int VOCAB = 101;

    @TempDir
    Path dir;

    private static ModelConfig config(boolean tied) {
        ModelConfig t = ModelConfig.tiny(VOCAB);
        return new ModelConfig(t.vocabSize(), t.hiddenSize(), t.intermediateSize(), t.numHiddenLayers(),
                t.numAttentionHeads(), t.numKeyValueHeads(), t.rmsNormEps(), t.ropeTheta(), t.maxPositionEmbeddings(),
                tied, t.bosTokenId(), t.eosTokenIds(), t.padTokenId(), t.modelType());
    }

    /** Random weights at std 0.2 (norms near 1), so that a wrong formula shows in the logits. */
    private static Map<String, Tensor> weights(ModelConfig c, long seed) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        Random rnd = new Random(seed);
        for (Tensor t : LlamaWeights.random(c, seed)) {
            float[] d = t.data().clone();
            boolean norm = t.name().endsWith("norm.weight");
            for (int i = 0; i < d.length; i++) {
                d[i] = norm ? 1f + 0.1f * (float) rnd.nextGaussian() : d[i] * 10f;
            }
            w.put(t.name(), new Tensor(t.name(), t.shape(), d));
        }
        return w;
    }

    @Test
    void djlAndOnnxRuntimeLogitsAgreeOnAPaddedBatch() throws Exception {
        for (boolean tied : new boolean[] {false, true}) {
            ModelConfig c = config(tied);
            Map<String, Tensor> w = weights(c, tied ? 3 : 4);
            Path onnx = dir.resolve("m" + tied + ".onnx");
            OnnxExport.write(c, w, DecoderGraph.Head.CAUSAL_LM, onnx, false);
            // a left-padded batch: row 0 has 3 pads
            long[][] ids = {{0, 0, 0, 5, 9, 17, 33, 2}, {4, 8, 15, 16, 23, 42, 7, 1}};
            long[][] mask = {{0, 0, 0, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1}};
            long[][] pos = {{0, 0, 0, 0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5, 6, 7}};
            float[] ort;
            try (OrtDecoder d = OrtDecoder.open(onnx, c, OrtDecoder.Options.cpu(2));
                    OrtDecoder.Forward f = d.forward(ids, mask, pos, null)) {
                ort = f.logits();
            }
            float[] djl;
            try (NDManager m = NDManager.newBaseManager(); LlamaModel model = LlamaModel.of(c, w, m)) {
                NDArray logits = model.forward(m.create(ids), m.create(mask), m.create(pos));
                djl = logits.toFloatArray();
            }
            double worst = 0;
            for (int r = 0; r < ids.length; r++) {
                for (int t = 0; t < ids[r].length; t++) {
                    if (mask[r][t] == 0) {
                        continue; // pad rows attend to nothing: their logits are meaningless in both
                    }
                    for (int v = 0; v < VOCAB; v++) {
                        int i = (r * ids[r].length + t) * VOCAB + v;
                        worst = Math.max(worst, Math.abs(ort[i] - djl[i]));
                    }
                }
            }
            assertTrue(worst <= 1e-4, "tied=" + tied + ": max abs diff " + worst);
            assertTrue(List.of(ort.length).get(0) == djl.length);
        }
    }
}
