package dev.rlhf.model.ort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.NaiveLlama;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;

/** The ONNX graph on ONNX Runtime against the naive decoder, and the cache against recompute. */
class OrtDecoderTest {

    private static final int VOCAB = 97;
    private static final double TOLERANCE = 1e-4;

    @TempDir
    Path dir;

    /** Random weights large enough (std 0.2) that a wrong formula changes the logits visibly. */
    static Map<String, Tensor> weights(ModelConfig c, long seed) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        Random rnd = new Random(seed);
        for (Tensor t : LlamaWeights.random(c, seed)) {
            float[] data = t.data().clone();
            boolean norm = t.name().endsWith("norm.weight");
            for (int i = 0; i < data.length; i++) {
                data[i] = norm ? 1f + 0.1f * (float) rnd.nextGaussian() : data[i] * 10f;
            }
            w.put(t.name(), new Tensor(t.name(), t.shape(), data));
        }
        return w;
    }

    private OrtDecoder export(ModelConfig c, Map<String, Tensor> w, boolean external) throws Exception {
        Path file = dir.resolve("model-" + System.nanoTime() + ".onnx");
        assertEquals(external, OnnxExport.write(c, w, DecoderGraph.Head.CAUSAL_LM, file, external));
        assertEquals(external, Files.exists(file.resolveSibling(file.getFileName() + ".data")));
        return OrtDecoder.open(file, c, OrtDecoder.Options.cpu(2));
    }

    private static int[] tokens(int n, long seed) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + r.nextInt(VOCAB - 3);
        }
        return t;
    }

    private static void assertLogitsMatch(double[][] expected, float[] actual, int rowOffset, String what) {
        int v = expected[0].length;
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            for (int j = 0; j < v; j++) {
                worst = Math.max(worst, Math.abs(expected[i][j] - actual[(rowOffset + i) * v + j]));
            }
        }
        assertTrue(worst <= TOLERANCE, what + ": max abs diff " + worst);
    }

    private static ModelConfig gqa(boolean tied) {
        ModelConfig t = ModelConfig.tiny(VOCAB);
        return new ModelConfig(t.vocabSize(), t.hiddenSize(), t.intermediateSize(), t.numHiddenLayers(),
                t.numAttentionHeads(), t.numKeyValueHeads(), t.rmsNormEps(), t.ropeTheta(), t.maxPositionEmbeddings(),
                tied, t.bosTokenId(), t.eosTokenIds(), t.padTokenId(), t.modelType());
    }

    @Test
    void logitsEqualTheNaiveDecoderWithGqaTiedAndExternalWeights() throws Exception {
        for (boolean tied : new boolean[] {false, true}) {
            ModelConfig c = gqa(tied);
            assertTrue(c.numKeyValueHeads() < c.numAttentionHeads(), "the tiny config uses grouped-query attention");
            Map<String, Tensor> w = weights(c, tied ? 7 : 5);
            int[] seq = tokens(12, 1);
            double[][] expected = new NaiveLlama(c, w).logits(seq);
            for (boolean external : new boolean[] {false, true}) {
                try (OrtDecoder d = export(c, w, external);
                        OrtDecoder.Forward f = d.forward(new long[][] {toLong(seq)}, new long[][] {ones(seq.length)},
                                new long[][] {range(0, seq.length)}, null)) {
                    assertLogitsMatch(expected, f.logits(), 0, "tied=" + tied + " external=" + external);
                }
            }
        }
    }

    @Test
    void kvCacheDecodingEqualsFullRecompute() throws Exception {
        ModelConfig c = gqa(false);
        Map<String, Tensor> w = weights(c, 11);
        int[] seq = tokens(10, 2);
        try (OrtDecoder d = export(c, w, false)) {
            float[] full;
            try (OrtDecoder.Forward f = d.forward(new long[][] {toLong(seq)}, new long[][] {ones(seq.length)},
                    new long[][] {range(0, seq.length)}, null)) {
                full = f.logits();
            }
            // prefill 4 tokens, then one token per step through the cache
            int prefill = 4;
            OrtDecoder.Forward step = d.forward(new long[][] {toLong(java.util.Arrays.copyOf(seq, prefill))},
                    new long[][] {ones(prefill)}, new long[][] {range(0, prefill)}, null);
            double worst = maxDiff(step.logits(), 0, full, 0, prefill * VOCAB);
            for (int i = prefill; i < seq.length; i++) {
                OrtDecoder.Forward next = d.forward(new long[][] {{seq[i]}}, new long[][] {ones(i + 1)},
                        new long[][] {{i}}, step);
                step.close();
                step = next;
                worst = Math.max(worst, maxDiff(step.logits(), 0, full, i * VOCAB, VOCAB));
            }
            step.close();
            assertTrue(worst <= TOLERANCE, "cache vs recompute: max abs diff " + worst);
        }
    }

    @Test
    void batchedWithPaddingGivesTheSameGreedyTokensAsOneAtATime() throws Exception {
        ModelConfig c = gqa(false);
        Map<String, Tensor> w = weights(c, 13);
        List<int[]> prompts = List.of(tokens(3, 3), tokens(9, 4), tokens(6, 5));
        try (OrtDecoder d = export(c, w, false)) {
            OrtDecoder.Sampling greedy = OrtDecoder.Sampling.greedy(8);
            List<OrtDecoder.Generation> batched = d.generate(prompts, greedy);
            for (int i = 0; i < prompts.size(); i++) {
                OrtDecoder.Generation alone = d.generate(List.of(prompts.get(i)), greedy).get(0);
                assertArrayEquals(alone.tokens(), batched.get(i).tokens(), "prompt " + i);
                assertArrayEquals(alone.logprobs(), batched.get(i).logprobs(), 1e-4f, "prompt " + i);
            }
        }
    }

    @Test
    void generationLogprobsEqualTeacherForcedLogprobs() throws Exception {
        ModelConfig c = gqa(false);
        Map<String, Tensor> w = weights(c, 17);
        List<int[]> prompts = List.of(tokens(5, 6), tokens(2, 7));
        try (OrtDecoder d = export(c, w, false)) {
            OrtDecoder.Sampling sampling = new OrtDecoder.Sampling(6, 0.8f, 20, 0.95f, 42L, Set.of());
            List<OrtDecoder.Generation> gens = d.generate(prompts, sampling);
            List<float[]> scored = d.logprobs(prompts, gens.stream().map(OrtDecoder.Generation::tokens).toList(), 0.8f);
            for (int i = 0; i < gens.size(); i++) {
                assertArrayEquals(gens.get(i).logprobs(), scored.get(i), 1e-4f, "pair " + i);
            }
            // the same seed samples the same tokens
            assertArrayEquals(gens.get(0).tokens(), d.generate(prompts, sampling).get(0).tokens());
        }
    }

    @Test
    void stopTokensAndLengthEndGenerations() throws Exception {
        ModelConfig c = gqa(false);
        Map<String, Tensor> w = weights(c, 19);
        int[] prompt = tokens(4, 8);
        try (OrtDecoder d = export(c, w, false)) {
            OrtDecoder.Generation free = d.generate(List.of(prompt), OrtDecoder.Sampling.greedy(5)).get(0);
            assertEquals(OrtDecoder.Finish.LENGTH, free.finish());
            assertEquals(5, free.tokens().length);
            int stopAt = free.tokens()[2];
            OrtDecoder.Generation stopped = d.generate(List.of(prompt),
                    new OrtDecoder.Sampling(5, 0f, 0, 1f, 0L, Set.of(stopAt))).get(0);
            assertEquals(OrtDecoder.Finish.STOP, stopped.finish());
            assertEquals(stopAt, stopped.tokens()[stopped.tokens().length - 1]);
            assertTrue(stopped.tokens().length <= 3);
            assertThrows(IllegalArgumentException.class, () -> d.generate(List.of(tokens(250, 9)),
                    OrtDecoder.Sampling.greedy(10)), "beyond the context window");
        }
    }

    @Test
    void scalarHeadScoresTheLastRealToken() throws Exception {
        ModelConfig c = gqa(false);
        Map<String, Tensor> w = weights(c, 23);
        int k = 3; // an ensemble of three heads
        float[] head = new float[k * c.hiddenSize()];
        Random r = new Random(3);
        for (int i = 0; i < head.length; i++) {
            head[i] = (float) r.nextGaussian();
        }
        w.put("score.weight", new Tensor("score.weight", new long[] {k, c.hiddenSize()}, head));
        Path file = dir.resolve("reward.onnx");
        OnnxExport.write(c, w, DecoderGraph.Head.SCALAR, file, false);
        List<int[]> seqs = List.of(tokens(7, 10), tokens(4, 11));
        OrtDecoder.Padded in = OrtDecoder.Padded.left(seqs, 0);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(file.toString(), new OrtSession.SessionOptions());
                OnnxTensor ids = tensor(env, in.ids());
                OnnxTensor mask = tensor(env, in.mask());
                OnnxTensor pos = tensor(env, in.positions());
                OrtSession.Result out = s.run(Map.of("input_ids", ids, "attention_mask", mask, "position_ids", pos))) {
            float[][] scores = (float[][]) out.get("scores").orElseThrow().getValue();
            NaiveLlama naive = new NaiveLlama(c, w);
            for (int i = 0; i < seqs.size(); i++) {
                double[][] h = naive.hidden(seqs.get(i));
                for (int m = 0; m < k; m++) {
                    double expected = 0;
                    for (int j = 0; j < c.hiddenSize(); j++) {
                        expected += h[h.length - 1][j] * head[m * c.hiddenSize() + j];
                    }
                    assertEquals(expected, scores[i][m], TOLERANCE, "sequence " + i + " head " + m);
                }
            }
        }
    }

    @Test
    void cudaDemandedOnTheCpuBuildFailsClearly() throws Exception {
        ModelConfig c = gqa(false);
        Path file = dir.resolve("m.onnx");
        OnnxExport.write(c, weights(c, 1), DecoderGraph.Head.CAUSAL_LM, file, false);
        var e = assertThrows(IllegalStateException.class,
                () -> OrtDecoder.open(file, c, new OrtDecoder.Options(OrtDecoder.Provider.CUDA, 0, 1)));
        assertTrue(e.getMessage().contains("CUDA execution provider was demanded"), e.getMessage());
    }

    private static OnnxTensor tensor(OrtEnvironment env, long[][] rows) throws Exception {
        LongBuffer b = LongBuffer.allocate(rows.length * rows[0].length);
        for (long[] row : rows) {
            b.put(row);
        }
        b.flip();
        return OnnxTensor.createTensor(env, b, new long[] {rows.length, rows[0].length});
    }

    private static double maxDiff(float[] a, int aOffset, float[] b, int bOffset, int n) {
        double worst = 0;
        for (int i = 0; i < n; i++) {
            worst = Math.max(worst, Math.abs(a[aOffset + i] - b[bOffset + i]));
        }
        return worst;
    }

    private static long[] toLong(int[] a) {
        long[] out = new long[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    private static long[] ones(int n) {
        long[] out = new long[n];
        java.util.Arrays.fill(out, 1);
        return out;
    }

    private static long[] range(int from, int to) {
        long[] out = new long[to - from];
        for (int i = 0; i < out.length; i++) {
            out[i] = from + i;
        }
        return out;
    }
}
