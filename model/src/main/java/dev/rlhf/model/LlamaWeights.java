package dev.rlhf.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The parameters of a {@code LlamaForCausalLM} under their Hugging Face names, with shapes
 * in PyTorch's {@code nn.Linear} layout ([out, in], so y = x·Wᵀ). With V vocab, D hidden,
 * I intermediate, H heads, KV key/value heads and hd = D/H:
 *
 * <pre>
 * model.embed_tokens.weight                         [V, D]
 * model.layers.i.input_layernorm.weight             [D]
 * model.layers.i.self_attn.q_proj.weight            [H*hd, D]
 * model.layers.i.self_attn.k_proj.weight            [KV*hd, D]
 * model.layers.i.self_attn.v_proj.weight            [KV*hd, D]
 * model.layers.i.self_attn.o_proj.weight            [D, H*hd]
 * model.layers.i.post_attention_layernorm.weight    [D]
 * model.layers.i.mlp.gate_proj.weight               [I, D]
 * model.layers.i.mlp.up_proj.weight                 [I, D]
 * model.layers.i.mlp.down_proj.weight               [D, I]
 * model.norm.weight                                 [D]
 * lm_head.weight                                    [V, D]   (absent when tie_word_embeddings)
 * </pre>
 */
public final class LlamaWeights {

    /** Standard deviation of the random init, HF's {@code initializer_range} default. */
    public static final double INIT_STD = 0.02;
    /** At most this many problems are listed in one error message. */
    private static final int MAX_PROBLEMS = 10;

    private LlamaWeights() {
    }

    /** Every parameter name and its shape, in the order above. */
    public static LinkedHashMap<String, long[]> expectedShapes(ModelConfig c) {
        long v = c.vocabSize();
        long d = c.hiddenSize();
        long ff = c.intermediateSize();
        long q = (long) c.numAttentionHeads() * c.headDim();
        long kv = (long) c.numKeyValueHeads() * c.headDim();
        LinkedHashMap<String, long[]> s = new LinkedHashMap<>();
        s.put("model.embed_tokens.weight", new long[] {v, d});
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            s.put(p + "input_layernorm.weight", new long[] {d});
            s.put(p + "self_attn.q_proj.weight", new long[] {q, d});
            s.put(p + "self_attn.k_proj.weight", new long[] {kv, d});
            s.put(p + "self_attn.v_proj.weight", new long[] {kv, d});
            s.put(p + "self_attn.o_proj.weight", new long[] {d, q});
            s.put(p + "post_attention_layernorm.weight", new long[] {d});
            s.put(p + "mlp.gate_proj.weight", new long[] {ff, d});
            s.put(p + "mlp.up_proj.weight", new long[] {ff, d});
            s.put(p + "mlp.down_proj.weight", new long[] {d, ff});
        }
        s.put("model.norm.weight", new long[] {d});
        if (!c.tieWordEmbeddings()) {
            s.put("lm_head.weight", new long[] {v, d});
        }
        return s;
    }

    /** {@link #check(ModelConfig, Map, String)} for weights read from {@code model.safetensors}. */
    public static void check(ModelConfig c, Map<String, Tensor> tensors) {
        check(c, tensors, "model.safetensors");
    }

    /**
     * Refuses weights that do not match {@code c} exactly: a missing tensor, an unexpected one
     * (so a renamed tensor is reported from both sides), a wrong shape, or a map key that
     * differs from the tensor's own name. All problems (up to 10) are listed in one message.
     *
     * @param source where the tensors came from, for the message (e.g. the file name)
     * @throws IllegalArgumentException naming each bad tensor and, for shapes, expected and actual
     */
    public static void check(ModelConfig c, Map<String, Tensor> tensors, String source) {
        LinkedHashMap<String, long[]> expected = expectedShapes(c);
        List<String> problems = new ArrayList<>();
        // 1. missing tensors and wrong shapes, in expected order
        expected.forEach((name, shape) -> {
            Tensor t = tensors.get(name);
            if (t == null) {
                problems.add(source + " lacks " + name + " " + Arrays.toString(shape));
            } else if (!Arrays.equals(shape, t.shape())) {
                problems.add(source + " has " + name + " of shape " + Arrays.toString(t.shape()) + ", expected "
                        + Arrays.toString(shape));
            }
        });
        // 2. tensors the config does not explain, and keys that disagree with the tensor's name
        tensors.forEach((name, t) -> {
            if (!expected.containsKey(name)) {
                problems.add(source + " has unexpected tensor " + name + (c.tieWordEmbeddings() && name.equals("lm_head.weight")
                        ? " (tie_word_embeddings is true)" : ""));
            } else if (!name.equals(t.name())) {
                problems.add(source + " maps " + name + " to a tensor named " + t.name());
            }
        });
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(summary(problems, c));
        }
    }

    /**
     * Deterministic random weights in {@link #expectedShapes} order: matrices ~ N(0, 0.02²)
     * from {@code new Random(seed).nextGaussian()}, norm weights (the 1-D tensors) all ones.
     */
    public static List<Tensor> random(ModelConfig c, long seed) {
        Random rng = new Random(seed);
        List<Tensor> out = new ArrayList<>();
        expectedShapes(c).forEach((name, shape) -> {
            Tensor t = Tensor.zeros(name, shape);
            float[] w = t.data();
            if (shape.length == 1) {
                Arrays.fill(w, 1f); // RMSNorm gain
            } else {
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) (rng.nextGaussian() * INIT_STD);
                }
            }
            out.add(t);
        });
        return out;
    }

    private static String summary(List<String> problems, ModelConfig c) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.join("; ", problems.subList(0, Math.min(MAX_PROBLEMS, problems.size()))));
        if (problems.size() > MAX_PROBLEMS) {
            sb.append("; and ").append(problems.size() - MAX_PROBLEMS).append(" more");
        }
        sb.append(" (config: ").append(c.modelType()).append(", ").append(c.numHiddenLayers()).append(" layers, hidden ")
                .append(c.hiddenSize()).append("; do the weights belong to this config.json?)");
        return sb.toString();
    }
}
