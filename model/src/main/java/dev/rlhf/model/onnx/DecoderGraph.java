package dev.rlhf.model.onnx;

import static dev.rlhf.model.onnx.GraphBuilder.intAttr;
import static dev.rlhf.model.onnx.GraphBuilder.intsAttr;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Rotary;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.GraphBuilder.Dim;
import dev.rlhf.model.onnx.Onnx.GraphProto;
import dev.rlhf.model.onnx.Onnx.NodeProto;
import dev.rlhf.model.onnx.Onnx.TensorProto;
import dev.rlhf.model.onnx.Onnx.TensorProto.DataType;

/**
 * The Llama decoder as an ONNX graph (opset 17), the serving twin of the training decoder.
 *
 * <p>Causal-LM variant, Optimum-style I/O:
 * <pre>
 * input_ids                 [B, T]            int64
 * attention_mask            [B, P+T]          int64, 1 = real token, 0 = padding (left)
 * position_ids              [B, T]            int64
 * past_key_values.N.key     [B, KV, P, hd]    float (P = 0 on the first call)
 * past_key_values.N.value   [B, KV, P, hd]
 * → logits                  [B, T, V]
 * → present.N.key / .value  [B, KV, P+T, hd]
 * </pre>
 * Scalar-head variant (reward and value models, no cache): input_ids, attention_mask,
 * position_ids → {@code values} [B, T, K] (K heads at every position) and {@code scores}
 * [B, K] (the heads at the last non-pad position, which must be the last position: pad on
 * the left). K &gt; 1 is an ensemble of heads on one trunk.
 *
 * <p>Per layer (Touvron et al. 2023, "LLaMA"): x += o(attn(rope(q(n1(x))), rope(k(n1(x))),
 * v(n1(x)))); x += down(silu(gate(n2(x))) * up(n2(x))), with RMSNorm n1, n2 and grouped-query
 * attention (each group of H/KV query heads shares one key/value head). Projection weights
 * are stored transposed ({@code <hf name>.T}, [in, out]) so that MatMul needs no Transpose;
 * q, k, v are one product ({@code qkv_proj.weight.T}), gate and up another
 * ({@code gate_up_proj.weight.T}), each split after.
 *
 * <p>Fused-attention variant ({@link #withFusedAttention}), the CPU serving graph of a
 * causal LM: per layer, the packed q/k/v product goes straight into ONNX Runtime's
 * {@code com.microsoft:GroupQueryAttention} (rotary inside; no mask, transposes or cache
 * Concat), whose KV cache is right-padded, one row per sequence, written in place when past
 * and present are bound to the same buffer:
 * <pre>
 * input_ids                 [B, T]            int64, right-padded
 * seqlens_k                 [B]               int32, per row: tokens in the cache after this pass − 1
 * total_sequence_length     []                int32, T for a prompt pass (the cache starts empty);
 *                                             max(seqlens_k) + 1 for a decode step (T = 1)
 * past_key_values.N.key     [B, KV, L, hd]    float, each row's entries first
 * past_key_values.N.value   [B, KV, L, hd]
 * → logits                  [B, T, V]
 * → present.N.key / .value  [B, KV, max(L, total_sequence_length), hd]
 * </pre>
 */
public final class DecoderGraph {

    /** Which head the decoder carries. */
    public enum Head {
        /** Next-token logits and a KV cache (policy, reference). */
        CAUSAL_LM,
        /** K scalars per position from {@code score.weight} [K, D] (reward, value; K &gt; 1: an ensemble). */
        SCALAR
    }

    private static final float MASKED = -1e9f;

    private final ModelConfig c;
    private final Map<String, Tensor> w;
    private final Head head;
    private final GraphBuilder g;
    /** Initializers of an existing graph to build from instead of {@link #w}, or null. */
    private final Map<String, TensorProto> reused;
    private final Set<String> added = new HashSet<>();
    /** GroupQueryAttention instead of attention from standard ops ({@link #withFusedAttention}). */
    private final boolean fusedAttention;
    /** GroupQueryAttention's rotary tables, [positions, hd/2] each (fused attention only). */
    private String cosCache;
    private String sinCache;
    /** The [hd, hd] initializer R with x·R = rotate_half(x) = [−x₂, x₁]. */
    private String rotateHalf;

    private DecoderGraph(ModelConfig config, Map<String, Tensor> weights, Head head, GraphBuilder.WeightSink sink) {
        this.c = config;
        this.w = weights;
        this.head = head;
        this.g = new GraphBuilder("llama_decoder", sink);
        this.reused = null;
        this.fusedAttention = false;
    }

    private DecoderGraph(ModelConfig config, Map<String, TensorProto> initializers) {
        this.c = config;
        this.w = Map.of();
        this.head = Head.CAUSAL_LM;
        this.g = new GraphBuilder("llama_decoder_fused_attention", GraphBuilder.INLINE);
        this.reused = initializers;
        this.fusedAttention = true;
    }

    /**
     * Whether {@link #withFusedAttention} can serve {@code config}: GroupQueryAttention's
     * rotary needs a head width that is a multiple of 16.
     */
    public static boolean fusedAttentionSupports(ModelConfig config) {
        return config.headDim() % 16 == 0 && config.numAttentionHeads() % config.numKeyValueHeads() == 0;
    }

    /**
     * The fused-attention graph (class javadoc) of the decoder whose {@link Head#CAUSAL_LM}
     * graph has the initializers {@code serving} (by name): its weights are taken as they are,
     * only the nodes around them are new.
     *
     * @throws IllegalArgumentException when {@code serving} lacks a weight of {@code config}
     *                                  or {@code config} is not {@link #fusedAttentionSupports supported}
     */
    static GraphProto withFusedAttention(Map<String, TensorProto> serving, ModelConfig config) {
        if (!fusedAttentionSupports(config)) {
            throw new IllegalArgumentException("fused attention needs a head width that is a multiple of 16, got "
                    + config.headDim());
        }
        return new DecoderGraph(config, serving).build();
    }

    /**
     * The graph for {@code config} with {@code weights} (HF names; checked by
     * {@link LlamaWeights#check}, plus {@code score.weight} for {@link Head#SCALAR}).
     */
    static GraphProto build(ModelConfig config, Map<String, Tensor> weights, Head head, GraphBuilder.WeightSink sink) {
        return new DecoderGraph(config, weights, head, sink).build();
    }

    private GraphProto build() {
        Dim b = Dim.sym("batch");
        Dim t = Dim.sym("sequence");
        Dim s = Dim.sym(head == Head.CAUSAL_LM ? "total_sequence" : "sequence");
        g.input("input_ids", DataType.INT64, b, t);
        String x = g.op("Gather", "embed", weight("model.embed_tokens.weight", false), "input_ids");
        float[][] tables = Rotary.tables(c);
        String cos = null;
        String sin = null;
        String mask = null;
        if (fusedAttention) {
            // 1. GroupQueryAttention's lengths and rotary caches: [positions, hd/2], the first
            //    half of the duplicated tables
            g.input("seqlens_k", DataType.INT32, b);
            g.input("total_sequence_length", DataType.INT32);
            int positions = c.maxPositionEmbeddings();
            int half = c.headDim() / 2;
            float[] cosHalf = new float[positions * half];
            float[] sinHalf = new float[positions * half];
            for (int p = 0; p < positions; p++) {
                System.arraycopy(tables[0], p * c.headDim(), cosHalf, p * half, half);
                System.arraycopy(tables[1], p * c.headDim(), sinHalf, p * half, half);
            }
            cosCache = g.floats("rotary.cos_cache", new long[] {positions, half}, cosHalf);
            sinCache = g.floats("rotary.sin_cache", new long[] {positions, half}, sinHalf);
        } else {
            g.input("attention_mask", DataType.INT64, b, s);
            g.input("position_ids", DataType.INT64, b, t);
            // 1. rotary tables, the additive attention mask
            long[] tableShape = {c.maxPositionEmbeddings(), c.headDim()};
        // [B, T, 1, hd]: broadcast over the heads of [B, T, n, hd]
            cos = unsqueeze(g.op("Gather", "cos", g.floats("rotary.cos", tableShape, tables[0]), "position_ids"), 2);
            sin = unsqueeze(g.op("Gather", "sin", g.floats("rotary.sin", tableShape, tables[1]), "position_ids"), 2);
            int hd = c.headDim();
            float[] r = new float[hd * hd]; // x·R = [−x₂, x₁]
            for (int j = 0; j < hd / 2; j++) {
                r[(j + hd / 2) * hd + j] = -1f;
                r[j * hd + j + hd / 2] = 1f;
            }
            rotateHalf = g.floats("rotary.rotate_half", new long[] {hd, hd}, r);
            mask = attentionMask(); // [B, 1, 1, T, S]
        }

        // 2. the layers
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            x = layer(i, x, cos, sin, mask);
        }
        // 3. final norm and head
        x = rmsNorm(x, "model.norm.weight");
        if (head == Head.CAUSAL_LM) {
            String lmHead = c.tieWordEmbeddings()
                    ? g.op("Transpose", "lm_head", List.of(intsAttr("perm", 1, 0)), "model.embed_tokens.weight")
                    : weight("lm_head.weight", true);
            g.opNamed("MatMul", "logits", List.of(), x, lmHead);
            g.output("logits", DataType.FLOAT, b, t, Dim.of(c.vocabSize()));
        } else {
            long k = w.get("score.weight").shape()[0];
            scalarHead(x);
            g.output("values", DataType.FLOAT, b, t, Dim.of(k));
            g.output("scores", DataType.FLOAT, b, Dim.of(k));
        }
        return g.proto().build();
    }

    private String layer(int i, String x, String cos, String sin, String mask) {
        String p = "model.layers." + i + ".";
        x = g.op("Add", "resid", x, g.op("MatMul", "o", fusedAttention ? fusedAttention(i, x) : attention(i, x, cos, sin,
                mask), weight(p + "self_attn.o_proj.weight", true)));
        // 4. SwiGLU feed-forward block
        String h2 = rmsNorm(x, p + "post_attention_layernorm.weight");
        String gate;
        String up;
        if (has(p + "mlp.gate_up_proj.weight.T")) {
            List<String> gateUp = g.opMulti("Split", "gate_up", 2, List.of(intAttr("axis", -1)), g.op("MatMul",
                    "gate_up", h2, fused(p + "mlp.gate_up_proj.weight.T", p + "mlp.gate_proj.weight",
                            p + "mlp.up_proj.weight")));
            gate = gateUp.get(0);
            up = gateUp.get(1);
        } else { // a graph written before gate and up were one product
            gate = g.op("MatMul", "gate", h2, weight(p + "mlp.gate_proj.weight", true));
            up = g.op("MatMul", "up", h2, weight(p + "mlp.up_proj.weight", true));
        }
        String act = g.op("Mul", "swiglu", g.op("Mul", "silu", gate, g.op("Sigmoid", "sig", gate)), up);
        return g.op("Add", "resid", x, g.op("MatMul", "down", act, weight(p + "mlp.down_proj.weight", true)));
    }

    /** Layer {@code i}'s attention of n1(x) with standard ops: [B, T, H·hd], before o. */
    private String attention(int i, String x, String cos, String sin, String mask) {
        String p = "model.layers." + i + ".";
        int hd = c.headDim();
        int heads = c.numAttentionHeads();
        int kv = c.numKeyValueHeads();
        // 1. attention block: q, k, v in one product, as heads [B, T, H + 2·KV, hd]; rotary on the
        //    q and k heads together; then each [B, n, T, hd]
        String h = rmsNorm(x, p + "input_layernorm.weight");
        String qkvHeads = g.op("Reshape", "qkv_heads", g.op("MatMul", "qkv", h, fused(p + "self_attn.qkv_proj.weight.T",
                p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight")),
                g.int64s("shape", 0, 0, heads + 2L * kv, hd));
        List<String> qkAndV = g.opMulti("Split", "qk_v", 2, List.of(intAttr("axis", 2)), qkvHeads,
                g.int64s("qk_v_sizes", heads + kv, kv));
        List<String> qAndK = g.opMulti("Split", "q_k", 2, List.of(intAttr("axis", 2)), rope(qkAndV.get(0), cos, sin),
                g.int64s("q_k_sizes", heads, kv));
        String q = headsFirst(qAndK.get(0));
        String k = headsFirst(qAndK.get(1));
        String v = headsFirst(qkAndV.get(1));
        // 2. the cache: present = past ++ new, along the sequence axis
        if (head == Head.CAUSAL_LM) {
            Dim b = Dim.sym("batch");
            Dim past = Dim.sym("past_sequence");
            Dim total = Dim.sym("total_sequence");
            for (String kind : List.of("key", "value")) {
                g.input("past_key_values." + i + "." + kind, DataType.FLOAT, b, Dim.of(kv), past, Dim.of(hd));
                g.output("present." + i + "." + kind, DataType.FLOAT, b, Dim.of(kv), total, Dim.of(hd));
            }
            g.opNamed("Concat", "present." + i + ".key", List.of(intAttr("axis", 2)), "past_key_values." + i + ".key", k);
            g.opNamed("Concat", "present." + i + ".value", List.of(intAttr("axis", 2)), "past_key_values." + i + ".value",
                    v);
            k = "present." + i + ".key";
            v = "present." + i + ".value";
        }
        // 3. grouped-query attention: q [B, KV, H/KV, T, hd] against k, v [B, KV, 1, S, hd]
        String q5 = g.op("Reshape", "q5", q, g.int64s("shape", 0, kv, heads / kv, -1, hd));
        String k5 = unsqueeze(k, 2);
        String v5 = unsqueeze(v, 2);
        String kT = g.op("Transpose", "kT", List.of(intsAttr("perm", 0, 1, 2, 4, 3)), k5);
        String scores = g.op("Mul", "scores", g.op("MatMul", "qk", q5, kT),
                g.floatScalar("scale", (float) (1.0 / Math.sqrt(hd))));
        String probs = g.op("Softmax", "probs", List.of(intAttr("axis", -1)), g.op("Add", "masked", scores, mask));
        String ctx = g.op("MatMul", "ctx", probs, v5); // [B, KV, H/KV, T, hd]
        String ctx4 = g.op("Reshape", "ctx4", ctx, g.int64s("shape", 0, heads, -1, hd));
        return g.op("Reshape", "merged", g.op("Transpose", "ctxT", List.of(intsAttr("perm", 0, 2, 1, 3)), ctx4),
                g.int64s("shape", 0, 0, -1));
    }

    /**
     * Layer {@code i}'s attention of n1(x) as one GroupQueryAttention node on the packed q/k/v
     * product ([B, T, (H + 2·KV)·hd], the layout of {@code qkv_proj.weight.T}; three products
     * for a graph written before they were one): rotary, the cache write and the attention
     * itself: [B, T, H·hd], before o.
     */
    private String fusedAttention(int i, String x) {
        String p = "model.layers." + i + ".";
        String h = rmsNorm(x, p + "input_layernorm.weight");
        List<String> qkv;
        if (has(p + "self_attn.qkv_proj.weight.T")) { // packed: key and value left empty
            qkv = List.of(g.op("MatMul", "qkv", h, fused(p + "self_attn.qkv_proj.weight.T", p + "self_attn.q_proj.weight",
                    p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight")), "", "");
        } else { // a graph written before q, k and v were one product
            qkv = List.of(g.op("MatMul", "q", h, weight(p + "self_attn.q_proj.weight", true)),
                    g.op("MatMul", "k", h, weight(p + "self_attn.k_proj.weight", true)),
                    g.op("MatMul", "v", h, weight(p + "self_attn.v_proj.weight", true)));
        }
        Dim b = Dim.sym("batch");
        for (String kind : List.of("key", "value")) {
            g.input("past_key_values." + i + "." + kind, DataType.FLOAT, b, Dim.of(c.numKeyValueHeads()),
                    Dim.sym("past_sequence"), Dim.of(c.headDim()));
            g.output("present." + i + "." + kind, DataType.FLOAT, b, Dim.of(c.numKeyValueHeads()),
                    Dim.sym("present_sequence"), Dim.of(c.headDim()));
        }
        String out = "attention_" + i;
        g.proto().addNode(NodeProto.newBuilder().setOpType("GroupQueryAttention").setDomain("com.microsoft")
                .setName(out + "_GroupQueryAttention")
                .addAllInput(List.of(qkv.get(0), qkv.get(1), qkv.get(2), "past_key_values." + i + ".key",
                        "past_key_values." + i + ".value", "seqlens_k", "total_sequence_length", cosCache, sinCache))
                .addAllOutput(List.of(out, "present." + i + ".key", "present." + i + ".value"))
                .addAttribute(intAttr("num_heads", c.numAttentionHeads()))
                .addAttribute(intAttr("kv_num_heads", c.numKeyValueHeads())).addAttribute(intAttr("do_rotary", 1)));
        return out;
    }

    /** [B, T, n, hd] → [B, n, T, hd]. */
    private String headsFirst(String x) {
        return g.op("Transpose", "headsT", List.of(intsAttr("perm", 0, 2, 1, 3)), x);
    }

    /**
     * Rotary position embedding of heads [B, T, n, hd] (cos, sin [B, T, 1, hd]), HF's
     * rotate_half form x·cos + [−x₂, x₁]·sin, with [−x₂, x₁] as x·R for the signed permutation
     * R ({@link #rotateHalf}): one small MatMul instead of Split, Neg and Concat (exact: each
     * output is one input times ±1 plus zeros).
     */
    private String rope(String x, String cos, String sin) {
        String rotated = g.op("MatMul", "rot", x, rotateHalf);
        return g.op("Add", "rope", g.op("Mul", "xcos", x, cos), g.op("Mul", "rsin", rotated, sin));
    }

    /** RMSNorm (Zhang & Sennrich 2019): x / sqrt(mean(x²) + eps) · w. */
    private String rmsNorm(String x, String weightName) {
        return rmsNorm(g, x, weight(weightName, false), c.rmsNormEps());
    }

    /** {@link #rmsNorm(String, String)} into any graph (the decode benchmark's too), {@code weight} already added. */
    static String rmsNorm(GraphBuilder g, String x, String weight, double eps) {
        // Pow(x, 2) rather than x·x: the form ONNX Runtime fuses into SimplifiedLayerNormalization
        String ms = g.op("ReduceMean", "ms", List.of(intsAttr("axes", -1), intAttr("keepdims", 1)),
                g.op("Pow", "sq", x, g.floatScalar("two", 2f)));
        String rms = g.op("Sqrt", "rms", g.op("Add", "mseps", ms, g.floatScalar("eps", (float) eps)));
        return g.op("Mul", "normed", g.op("Div", "xn", x, rms), weight);
    }

    /**
     * Additive mask [B, 1, 1, T, S]: 0 where query t (cache index S−T+t) may attend key j
     * (j ≤ S−T+t and attention_mask[b, j] = 1), −1e9 elsewhere.
     */
    private String attentionMask() {
        String s = g.op("Shape", "S", List.of(intAttr("start", 1), intAttr("end", 2)), "attention_mask");
        String t = g.op("Shape", "T", List.of(intAttr("start", 1), intAttr("end", 2)), "input_ids");
        String axes0 = g.int64s("axes", 0);
        String sScalar = g.op("Squeeze", "s", s, axes0);
        String tScalar = g.op("Squeeze", "t", t, axes0);
        String zero = g.int64Scalar("zero", 0);
        String one = g.int64Scalar("one", 1);
        String keys = g.op("Range", "keys", zero, sScalar, one); // [S]
        String queries = g.op("Range", "queries", g.op("Sub", "past", sScalar, tScalar), sScalar, one); // [T]
        String causal = g.op("LessOrEqual", "causal", unsqueeze(keys, 0), unsqueeze(queries, 1)); // [T, S]
        String pad = g.op("Cast", "pad", List.of(intAttr("to", DataType.BOOL_VALUE)), "attention_mask"); // [B, S]
        String pad4 = g.op("Unsqueeze", "pad4", pad, g.int64s("axes", 1, 2)); // [B, 1, 1, S]
        String allowed = g.op("And", "allowed", causal, pad4); // [B, 1, T, S]
        String additive = g.op("Where", "mask", allowed, g.floatScalar("open", 0f), g.floatScalar("closed", MASKED));
        return unsqueeze(additive, 1);
    }

    /**
     * values [B, T, K] = x·scoreᵀ; scores [B, K] = values at the last position (inputs are
     * left-padded), plus, when the weights carry a randomized prior ({@code prior.embed}
     * [V, P], {@code prior.weight} [K, P]), each member's fixed prior of the masked mean of
     * {@code prior.embed} over the sequence's tokens.
     */
    private void scalarHead(String x) {
        g.opNamed("MatMul", "values", List.of(), x, weight("score.weight", true)); // [B, T, K]
        String lastIndex = g.op("Sub", "last_index", g.op("Shape", "T", List.of(intAttr("start", 1), intAttr("end", 2)),
                "input_ids"), g.int64s("one", 1)); // [1]
        String picked = g.op("Gather", "picked", List.of(intAttr("axis", 1)), "values", lastIndex); // [B, 1, K]
        if (!w.containsKey("prior.embed")) {
            g.opNamed("Squeeze", "scores", List.of(), picked, g.int64s("axes", 1));
            return;
        }
        String learned = g.op("Squeeze", "learned", picked, g.int64s("axes", 1)); // [B, K]
        String mask = g.op("Cast", "maskf", List.of(intAttr("to", DataType.FLOAT_VALUE)), "attention_mask"); // [B, T]
        String embedded = g.op("Gather", "prior_embed", weight("prior.embed", false), "input_ids"); // [B, T, P]
        String masked = g.op("Mul", "prior_masked", embedded, unsqueeze(mask, -1));
        String sum = g.op("ReduceSum", "prior_sum", List.of(intAttr("keepdims", 0)), masked, g.int64s("axes", 1));
        String count = g.op("ReduceSum", "prior_count", List.of(intAttr("keepdims", 1)), mask, g.int64s("axes", 1));
        String bag = g.op("Div", "prior_bag", sum, count); // [B, P]
        String prior = g.op("MatMul", "prior", bag, weight("prior.weight", true)); // [B, K]
        g.opNamed("Add", "scores", List.of(), learned, prior);
    }

    private String unsqueeze(String x, long axis) {
        return g.op("Unsqueeze", "unsq", x, g.int64s("axes", axis));
    }

    /**
     * Adds projections that read the same input as one initializer {@code name}: each
     * transposed to [in, out], side by side along out, so that one MatMul (and a Split)
     * replaces several: fewer, wider products keep both cores busier at decode batch sizes.
     */
    private String fused(String name, String... parts) {
        return reused != null ? reuse(name) : fused(g, w, name, parts);
    }

    /** Whether the weights hold {@code name}: always when building from weights, else if the reused graph has it. */
    private boolean has(String name) {
        return reused == null || reused.containsKey(name);
    }

    /** The existing initializer {@code name}, added to this graph at its first use. */
    private String reuse(String name) {
        TensorProto t = reused.get(name);
        if (t == null) {
            throw new IllegalArgumentException("the serving graph lacks the initializer " + name);
        }
        if (added.add(name)) {
            g.proto().addInitializer(t);
        }
        return name;
    }

    /** {@link #fused(String, String...)} into any graph (the decode benchmark's too). */
    static String fused(GraphBuilder g, Map<String, Tensor> w, String name, String... parts) {
        int total = 0;
        for (String part : parts) {
            Tensor t = w.get(part);
            if (t == null) {
                throw new IllegalArgumentException("the weights lack " + part);
            }
            total += (int) t.shape()[0];
        }
        int in = (int) w.get(parts[0]).shape()[1];
        float[] out = new float[in * total];
        int offset = 0;
        for (String part : parts) {
            Tensor t = w.get(part);
            int rows = (int) t.shape()[0];
            for (int r = 0; r < rows; r++) {
                for (int col = 0; col < in; col++) {
                    out[col * total + offset + r] = t.data()[r * in + col];
                }
            }
            offset += rows;
        }
        return g.floats(name, new long[] {in, total}, out);
    }

    /** Adds a weight as an initializer, transposed to [in, out] for projections. */
    private String weight(String name, boolean transposed) {
        if (reused != null) {
            return reuse(transposed ? name + ".T" : name);
        }
        Tensor t = w.get(name);
        if (t == null) {
            throw new IllegalArgumentException("the weights lack " + name);
        }
        if (!transposed) {
            return g.floats(name, t.shape(), t.data());
        }
        int rows = (int) t.shape()[0];
        int cols = (int) t.shape()[1];
        float[] tr = new float[t.data().length];
        for (int r = 0; r < rows; r++) {
            for (int col = 0; col < cols; col++) {
                tr[col * rows + r] = t.data()[r * cols + col];
            }
        }
        return g.floats(name + ".T", new long[] {cols, rows}, tr);
    }
}
