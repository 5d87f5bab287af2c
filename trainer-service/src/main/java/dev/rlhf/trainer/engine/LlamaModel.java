package dev.rlhf.trainer.engine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Embedding;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Rotary;
import dev.rlhf.model.Tensor;

/**
 * The Llama decoder on DJL (libtorch) over named parameters: the training twin of
 * {@code dev.rlhf.model.onnx.DecoderGraph}. Same parameter names and layouts as Hugging Face
 * ({@code model.layers.N.self_attn.q_proj.weight} [out, in], ...), same rotary tables
 * ({@link Rotary}), so the same weights give the same logits in both (tested to 1e-4).
 *
 * <p>Parameters live in this model's own manager; a forward pass's intermediates live in
 * the caller's (wrap steps in an {@code NDScope}).
 */
public final class LlamaModel implements AutoCloseable {

    private static final float MASKED = -1e9f;

    private final ModelConfig c;
    private final NDManager manager;
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    private final NDArray cos; // [maxPos, hd]
    private final NDArray sin; // [maxPos, hd]

    private LlamaModel(ModelConfig config, NDManager manager) {
        this.c = config;
        this.manager = manager;
        float[][] tables = Rotary.tables(config);
        this.cos = manager.create(tables[0], new Shape(config.maxPositionEmbeddings(), config.headDim()));
        this.sin = manager.create(tables[1], new Shape(config.maxPositionEmbeddings(), config.headDim()));
    }

    /** A model holding copies of {@code weights} (checked against the architecture), in a sub-manager of {@code parent}. */
    public static LlamaModel of(ModelConfig config, Map<String, Tensor> weights, NDManager parent) {
        LlamaWeights.check(config, weights);
        LlamaModel m = new LlamaModel(config, parent.newSubManager());
        for (Tensor t : weights.values()) {
            NDArray p = m.manager.create(t.data(), new Shape(t.shape()));
            p.setName(t.name());
            m.params.put(t.name(), p);
        }
        return m;
    }

    public ModelConfig config() {
        return c;
    }

    /** The parameters by HF name (live arrays: the optimizer updates them in place). */
    public Map<String, NDArray> parameters() {
        return params;
    }

    /** Turns gradient recording on or off for every parameter. */
    public void requireGradients(boolean on) {
        params.values().forEach(p -> p.setRequiresGradient(on));
    }

    /** A snapshot of the weights as plain tensors (for safetensors and ONNX export). */
    public List<Tensor> weights() {
        List<Tensor> out = new ArrayList<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            out.add(new Tensor(e.getKey(), e.getValue().getShape().getShape(), e.getValue().toFloatArray()));
        }
        return out;
    }

    /**
     * Logits [B, T, V] of a right- or left-padded batch (no cache: training and scoring).
     *
     * @param ids       [B, T] int64
     * @param mask      [B, T] int64, 1 = token, 0 = padding
     * @param positions [B, T] int64
     */
    public NDArray forward(NDArray ids, NDArray mask, NDArray positions) {
        NDArray x = hidden(ids, mask, positions);
        NDArray head = c.tieWordEmbeddings() ? p("model.embed_tokens.weight") : p("lm_head.weight");
        return x.matMul(head.transpose());
    }

    /** Final hidden states [B, T, D] after the last norm. */
    public NDArray hidden(NDArray ids, NDArray mask, NDArray positions) {
        // 1. embeddings, rotary rows of each position, additive mask [B, 1, 1, T, T]
        NDArray x = Embedding.embedding(ids, p("model.embed_tokens.weight"), SparseFormat.DENSE).singletonOrThrow();
        NDArray cosP = Embedding.embedding(positions, cos, SparseFormat.DENSE).singletonOrThrow().expandDims(1);
        NDArray sinP = Embedding.embedding(positions, sin, SparseFormat.DENSE).singletonOrThrow().expandDims(1);
        NDArray additive = attentionMask(mask);
        // 2. the layers, 3. the final norm
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            x = layer(i, x, cosP, sinP, additive);
        }
        return rmsNorm(x, p("model.norm.weight"));
    }

    private NDArray layer(int i, NDArray x, NDArray cosP, NDArray sinP, NDArray additive) {
        String pre = "model.layers." + i + ".";
        int hd = c.headDim();
        int heads = c.numAttentionHeads();
        int kv = c.numKeyValueHeads();
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);
        // 1. attention: [B, T, n·hd] → [B, n, T, hd], rotary on q and k
        NDArray h = rmsNorm(x, p(pre + "input_layernorm.weight"));
        NDArray q = rope(heads(linear(h, pre + "self_attn.q_proj.weight"), heads), cosP, sinP);
        NDArray k = rope(heads(linear(h, pre + "self_attn.k_proj.weight"), kv), cosP, sinP);
        NDArray v = heads(linear(h, pre + "self_attn.v_proj.weight"), kv);
        // 2. grouped-query attention: q [B, KV, H/KV, T, hd] against k, v [B, KV, 1, T, hd]
        NDArray q5 = q.reshape(b, kv, heads / kv, t, hd);
        NDArray k5 = k.expandDims(2);
        NDArray v5 = v.expandDims(2);
        NDArray scores = q5.matMul(k5.transpose(0, 1, 2, 4, 3)).mul(Scalars.of(q5, 1.0 / Math.sqrt(hd)))
                .add(additive);
        NDArray ctx = scores.softmax(-1).matMul(v5).reshape(b, heads, t, hd).transpose(0, 2, 1, 3)
                .reshape(b, t, (long) heads * hd);
        x = x.add(linear(ctx, pre + "self_attn.o_proj.weight"));
        // 3. SwiGLU feed-forward
        NDArray h2 = rmsNorm(x, p(pre + "post_attention_layernorm.weight"));
        NDArray gate = linear(h2, pre + "mlp.gate_proj.weight");
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(linear(h2, pre + "mlp.up_proj.weight"));
        return x.add(linear(act, pre + "mlp.down_proj.weight"));
    }

    /** [B, T, n·hd] → [B, n, T, hd]. */
    private NDArray heads(NDArray x, int n) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), n, c.headDim()).transpose(0, 2, 1, 3);
    }

    /** x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁]. */
    private NDArray rope(NDArray x, NDArray cosP, NDArray sinP) {
        int half = c.headDim() / 2;
        NDArray x1 = x.get("..., :" + half);
        NDArray x2 = x.get("..., " + half + ":");
        NDArray rotated = x2.neg().concat(x1, 3);
        return x.mul(cosP).add(rotated.mul(sinP));
    }

    /** RMSNorm: x / sqrt(mean(x²) + eps) · w. */
    private NDArray rmsNorm(NDArray x, NDArray w) {
        NDArray meanSquare = x.square().mean(new int[] {-1}, true);
        return x.div(meanSquare.add(Scalars.of(meanSquare, c.rmsNormEps())).sqrt()).mul(w);
    }

    /** x · Wᵀ with W [out, in]. */
    private NDArray linear(NDArray x, String name) {
        return x.matMul(p(name).transpose());
    }

    /** 0 where query i may attend key j (j ≤ i and mask[b, j] = 1), −1e9 elsewhere: [B, 1, 1, T, T]. */
    private NDArray attentionMask(NDArray mask) {
        long b = mask.getShape().get(0);
        long t = mask.getShape().get(1);
        NDManager m = mask.getManager();
        NDArray idx = m.arange(0, (int) t, 1, DataType.INT64);
        NDArray causal = idx.reshape(1, t).lte(idx.reshape(t, 1)); // [T, T]: key j ≤ query i
        NDArray keys = mask.reshape(b, 1, t).eq(1); // [B, 1, T]
        NDArray allowed = causal.expandDims(0).logicalAnd(keys); // [B, T, T]
        // 1 → 0, 0 → −1e9
        return allowed.toType(DataType.FLOAT32, false).sub(1f).mul(-MASKED).reshape(b, 1, 1, t, t);
    }

    private NDArray p(String name) {
        NDArray a = params.get(name);
        if (a == null) {
            throw new IllegalArgumentException("no parameter " + name);
        }
        return a;
    }

    @Override
    public void close() {
        manager.close();
    }
}
