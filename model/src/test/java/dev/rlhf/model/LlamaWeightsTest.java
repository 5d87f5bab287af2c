package dev.rlhf.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaWeightsTest {

    private static final ModelConfig TINY = ModelConfig.tiny(100);

    @Test
    void expectedShapesFollowTheHuggingFaceLayout() {
        LinkedHashMap<String, long[]> s = LlamaWeights.expectedShapes(TINY);
        assertEquals(1 + 9 * 2 + 1 + 1, s.size());
        List<String> names = new ArrayList<>(s.keySet());
        assertEquals("model.embed_tokens.weight", names.get(0));
        assertEquals("model.layers.0.input_layernorm.weight", names.get(1));
        assertEquals("lm_head.weight", names.get(names.size() - 1));
        // hd = 64 / 4 = 16; q: 4 heads, k and v: 2 KV heads
        assertArrayEquals(new long[] {100, 64}, s.get("model.embed_tokens.weight"));
        assertArrayEquals(new long[] {64}, s.get("model.layers.1.input_layernorm.weight"));
        assertArrayEquals(new long[] {64, 64}, s.get("model.layers.1.self_attn.q_proj.weight"));
        assertArrayEquals(new long[] {32, 64}, s.get("model.layers.1.self_attn.k_proj.weight"));
        assertArrayEquals(new long[] {32, 64}, s.get("model.layers.1.self_attn.v_proj.weight"));
        assertArrayEquals(new long[] {64, 64}, s.get("model.layers.1.self_attn.o_proj.weight"));
        assertArrayEquals(new long[] {64}, s.get("model.layers.1.post_attention_layernorm.weight"));
        assertArrayEquals(new long[] {128, 64}, s.get("model.layers.1.mlp.gate_proj.weight"));
        assertArrayEquals(new long[] {128, 64}, s.get("model.layers.1.mlp.up_proj.weight"));
        assertArrayEquals(new long[] {64, 128}, s.get("model.layers.1.mlp.down_proj.weight"));
        assertArrayEquals(new long[] {64}, s.get("model.norm.weight"));
        assertArrayEquals(new long[] {100, 64}, s.get("lm_head.weight"));
        assertFalse(LlamaWeights.expectedShapes(tied()).containsKey("lm_head.weight"));
    }

    @Test
    void randomWeightsPassTheCheckAndAreDeterministic() {
        List<Tensor> a = LlamaWeights.random(TINY, 7);
        assertEquals(new ArrayList<>(LlamaWeights.expectedShapes(TINY).keySet()), a.stream().map(Tensor::name).toList());
        assertDoesNotThrow(() -> LlamaWeights.check(TINY, byName(a)));
        assertEquals(a, LlamaWeights.random(TINY, 7), "same seed, same weights");
        assertNotEquals(a, LlamaWeights.random(TINY, 8), "another seed, other weights");
    }

    @Test
    void randomWeightsHaveTheDocumentedDistribution() {
        double sum = 0;
        double sumSq = 0;
        long n = 0;
        for (Tensor t : LlamaWeights.random(TINY, 1)) {
            if (t.shape().length == 1) {
                for (float x : t.data()) {
                    assertEquals(1f, x, t.name() + " is a norm gain");
                }
                continue;
            }
            for (float x : t.data()) {
                sum += x;
                sumSq += (double) x * x;
                n++;
            }
        }
        double mean = sum / n;
        double std = Math.sqrt(sumSq / n - mean * mean);
        assertEquals(0.0, mean, 0.001);
        assertEquals(LlamaWeights.INIT_STD, std, 0.001);
    }

    @Test
    void missingTensorIsNamed() {
        Map<String, Tensor> w = byName(LlamaWeights.random(TINY, 1));
        w.remove("model.layers.1.mlp.up_proj.weight");
        assertRefused(w, "model.safetensors lacks model.layers.1.mlp.up_proj.weight");
    }

    @Test
    void unexpectedTensorIsNamed() {
        Map<String, Tensor> w = byName(LlamaWeights.random(TINY, 1));
        w.put("model.layers.0.self_attn.q_proj.bias", Tensor.zeros("model.layers.0.self_attn.q_proj.bias", 64));
        assertRefused(w, "unexpected tensor model.layers.0.self_attn.q_proj.bias");
    }

    @Test
    void renamedTensorIsCaughtFromBothSides() {
        Map<String, Tensor> w = byName(LlamaWeights.random(TINY, 1));
        Tensor t = w.remove("model.norm.weight");
        w.put("model.final_norm.weight", new Tensor("model.final_norm.weight", t.shape(), t.data()));
        String m = assertRefused(w, "lacks model.norm.weight");
        assertTrue(m.contains("unexpected tensor model.final_norm.weight"), m);
    }

    @Test
    void wrongShapeNamesExpectedAndActual() {
        Map<String, Tensor> w = byName(LlamaWeights.random(TINY, 1));
        w.put("model.layers.0.self_attn.k_proj.weight", Tensor.zeros("model.layers.0.self_attn.k_proj.weight", 64, 64));
        assertRefused(w, "model.layers.0.self_attn.k_proj.weight of shape [64, 64], expected [32, 64]");
    }

    @Test
    void keyThatDisagreesWithTheTensorNameIsRefused() {
        Map<String, Tensor> w = byName(LlamaWeights.random(TINY, 1));
        w.put("model.norm.weight", Tensor.zeros("something.else", 64));
        assertRefused(w, "maps model.norm.weight to a tensor named something.else");
    }

    @Test
    void tiedConfigRefusesAnLmHead() {
        Map<String, Tensor> w = byName(LlamaWeights.random(TINY, 1));
        String m = assertThrows(IllegalArgumentException.class, () -> LlamaWeights.check(tied(), w, "ckpt")).getMessage();
        assertTrue(m.contains("ckpt has unexpected tensor lm_head.weight (tie_word_embeddings is true)"), m);
    }

    @Test
    void weightsSurviveASafeTensorsRoundTrip(@TempDir Path dir) throws Exception {
        List<Tensor> w = LlamaWeights.random(TINY, 3);
        Path file = dir.resolve("model.safetensors");
        SafeTensors.write(file, w, Map.of());
        Map<String, Tensor> back = SafeTensors.read(file);
        LlamaWeights.check(TINY, back);
        assertEquals(byName(w), back);
    }

    private static ModelConfig tied() {
        ModelConfig c = TINY;
        return new ModelConfig(c.vocabSize(), c.hiddenSize(), c.intermediateSize(), c.numHiddenLayers(), c.numAttentionHeads(),
                c.numKeyValueHeads(), c.rmsNormEps(), c.ropeTheta(), c.maxPositionEmbeddings(), true, c.bosTokenId(),
                c.eosTokenIds(), c.padTokenId(), c.modelType());
    }

    private static Map<String, Tensor> byName(List<Tensor> tensors) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        tensors.forEach(t -> m.put(t.name(), t));
        return m;
    }

    private static String assertRefused(Map<String, Tensor> w, String expected) {
        String m = assertThrows(IllegalArgumentException.class, () -> LlamaWeights.check(TINY, w)).getMessage();
        assertTrue(m.contains(expected), m);
        return m;
    }
}
