package dev.rlhf.model.ort;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.NaiveLlama;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;

/** The scalar-head graph on ONNX Runtime through {@link OrtScorer}, against the naive decoder. */
class OrtScorerTest {

    private static final int VOCAB = 97;
    private static final int HEADS = 3;
    private static final double TOLERANCE = 1e-4;

    @TempDir
    Path dir;

    /** A tiny Llama with random weights (std 0.2) and {@value #HEADS} random heads [K, D]. */
    private static Map<String, Tensor> weights(ModelConfig c, long seed) {
        Map<String, Tensor> w = OrtDecoderTest.weights(c, seed);
        float[] head = new float[HEADS * c.hiddenSize()];
        Random r = new Random(seed + 1);
        for (int i = 0; i < head.length; i++) {
            head[i] = (float) r.nextGaussian();
        }
        w.put("score.weight", new Tensor("score.weight", new long[] {HEADS, c.hiddenSize()}, head));
        return w;
    }

    private Path export(ModelConfig c, Map<String, Tensor> w) throws Exception {
        Path file = dir.resolve("reward-" + System.nanoTime() + ".onnx");
        OnnxExport.write(c, w, DecoderGraph.Head.SCALAR, file, false);
        return file;
    }

    private static int[] tokens(int n, long seed) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + r.nextInt(VOCAB - 3);
        }
        return t;
    }

    /** [K] the naive heads at the last token: h_T · score.weight[k]. */
    private static double[] naiveScores(ModelConfig c, Map<String, Tensor> w, int[] seq) {
        double[][] h = new NaiveLlama(c, w).hidden(seq);
        float[] head = w.get("score.weight").data();
        double[] out = new double[HEADS];
        for (int k = 0; k < HEADS; k++) {
            for (int j = 0; j < c.hiddenSize(); j++) {
                out[k] += h[h.length - 1][j] * head[k * c.hiddenSize() + j];
            }
        }
        return out;
    }

    @Test
    void scoresEqualTheNaiveDecoderForEveryHeadInALeftPaddedBatch() throws Exception {
        ModelConfig c = ModelConfig.tiny(VOCAB);
        Map<String, Tensor> w = weights(c, 23);
        List<int[]> seqs = List.of(tokens(9, 1), tokens(3, 2), tokens(14, 3), tokens(1, 4));
        try (OrtScorer s = OrtScorer.open(export(c, w), c, OrtDecoder.Options.cpu(2), 16)) {
            assertEquals(HEADS, s.heads());
            float[][] scores = s.score(seqs);
            assertEquals(seqs.size(), scores.length);
            for (int i = 0; i < seqs.size(); i++) {
                double[] expected = naiveScores(c, w, seqs.get(i));
                assertEquals(HEADS, scores[i].length);
                for (int k = 0; k < HEADS; k++) {
                    assertEquals(expected[k], scores[i][k], TOLERANCE, "sequence " + i + " head " + k);
                }
            }
            // the heads differ: a graph that returned one head K times would pass the shape check only
            assertTrue(Math.abs(scores[0][0] - scores[0][1]) > 1e-3, "heads are distinct members");
        }
    }

    @Test
    void aScoreDoesNotDependOnItsBatchOrOnChunking() throws Exception {
        ModelConfig c = ModelConfig.tiny(VOCAB);
        Map<String, Tensor> w = weights(c, 5);
        List<int[]> seqs = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            seqs.add(tokens(2 + (i * 5) % 17, 100 + i)); // lengths 2..18, unsorted
        }
        Path file = export(c, w);
        try (OrtScorer wide = OrtScorer.open(file, c, OrtDecoder.Options.cpu(1), 64);
                OrtScorer narrow = OrtScorer.open(file, c, OrtDecoder.Options.cpu(1), 2)) {
            float[][] together = wide.score(seqs);
            float[][] chunked = narrow.score(seqs);
            for (int i = 0; i < seqs.size(); i++) {
                float[] alone = wide.score(List.of(seqs.get(i)))[0];
                for (int k = 0; k < HEADS; k++) {
                    assertEquals(alone[k], together[i][k], 1e-5, "sequence " + i + " padded in a batch, head " + k);
                    assertEquals(alone[k], chunked[i][k], 1e-5, "sequence " + i + " in chunks of 2, head " + k);
                }
            }
            assertEquals(0, wide.score(List.of()).length);
        }
    }

    @Test
    void badSequencesAreRefusedNamingTheirIndex() throws Exception {
        ModelConfig c = ModelConfig.tiny(VOCAB);
        try (OrtScorer s = OrtScorer.open(export(c, weights(c, 1)), c, OrtDecoder.Options.cpu(1), 4)) {
            var empty = assertThrows(IllegalArgumentException.class, () -> s.score(List.of(tokens(3, 1), new int[0])));
            assertTrue(empty.getMessage().startsWith("sequence 1 has 0 tokens"), empty.getMessage());
            var tooLong = assertThrows(IllegalArgumentException.class,
                    () -> s.score(List.of(tokens(c.maxPositionEmbeddings() + 1, 1))));
            assertTrue(tooLong.getMessage().contains("max_position_embeddings " + c.maxPositionEmbeddings()),
                    tooLong.getMessage());
            var vocab = assertThrows(IllegalArgumentException.class, () -> s.score(List.of(new int[] {5, VOCAB})));
            assertTrue(vocab.getMessage().contains("token id " + VOCAB + " at position 1"), vocab.getMessage());
            // the longest allowed sequence is scored
            float[][] longest = s.score(List.of(tokens(c.maxPositionEmbeddings(), 2)));
            assertEquals(HEADS, longest[0].length);
        }
    }

    @Test
    void aCausalLmGraphIsRefusedWithTheFix() throws Exception {
        ModelConfig c = ModelConfig.tiny(VOCAB);
        Path file = dir.resolve("policy.onnx");
        OnnxExport.write(c, OrtDecoderTest.weights(c, 1), DecoderGraph.Head.CAUSAL_LM, file, false);
        var e = assertThrows(IllegalArgumentException.class, () -> OrtScorer.open(file, c, OrtDecoder.Options.cpu(1), 4));
        assertTrue(e.getMessage().contains("not a scalar-head graph") && e.getMessage().contains("Head.SCALAR"),
                e.getMessage());
    }

    @Test
    void cudaDemandedOnTheCpuBuildFailsClearly() throws Exception {
        ModelConfig c = ModelConfig.tiny(VOCAB);
        Path file = export(c, weights(c, 1));
        var e = assertThrows(IllegalStateException.class,
                () -> OrtScorer.open(file, c, new OrtDecoder.Options(OrtDecoder.Provider.CUDA, 0, 1), 4));
        assertTrue(e.getMessage().contains("CUDA execution provider was demanded"), e.getMessage());
    }
}
