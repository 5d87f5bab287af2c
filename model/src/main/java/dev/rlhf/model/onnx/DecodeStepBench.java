package dev.rlhf.model.onnx;

import static dev.rlhf.model.onnx.GraphBuilder.intAttr;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Rotary;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.GraphBuilder.Dim;
import dev.rlhf.model.onnx.Onnx.ModelProto;
import dev.rlhf.model.onnx.Onnx.NodeProto;
import dev.rlhf.model.onnx.Onnx.OperatorSetIdProto;
import dev.rlhf.model.onnx.Onnx.TensorProto.DataType;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.OrtPeak;

/**
 * {@code bin/rlhf bench decode}: where a decode step of {@code bin/rlhf bench policy}'s model
 * (25.5M parameters) goes, at the batch sizes its clients make. One step (one new token per
 * row, 40 cached positions) is timed on three graphs, medians of 150 runs after 30:
 * <ol>
 * <li>the serving graph ({@link DecoderGraph}: attention with standard ops, the cache grown
 * by Concat);
 * <li>the same decoder with ONNX Runtime's fused {@code com.microsoft:GroupQueryAttention}
 * (rotary inside, past and present one buffer of 64 positions written in place, bound as
 * pinned outputs): what the attention path could save, checked against the serving graph's
 * logits;
 * <li>the step's projections alone (q/k/v, o, gate/up and down MatMuls of every layer, the
 * same shapes, nothing else): the most any graph of this model could do.
 * </ol>
 * Each is printed as ms per step and as a fraction of ONNX Runtime's fp32 MatMul peak
 * measured in the same run, counting 2·N FLOP per row as the policy benchmark's roofline does.
 */
public final class DecodeStepBench {

    private static final int PAST = 40;
    private static final int BUFFER = 64;
    private static final int WARMUP = 30;
    private static final int RUNS = 150;

    private final ModelConfig c;
    private final Map<String, Tensor> w;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();

    private DecodeStepBench(ModelConfig config) {
        this.c = config;
        this.w = new LinkedHashMap<>();
        LlamaWeights.random(config, 1).forEach(t -> w.put(t.name(), t));
    }

    public static void main(String[] args) throws Exception {
        int threads = Runtime.getRuntime().availableProcessors();
        // bin/rlhf bench policy's model: vocab of its 300-token tokenizer, d 512, 8 layers, 8 heads / 4 KV heads
        ModelConfig config = new ModelConfig(300, 512, 1536, 8, 8, 4, 1e-5, 10000, 512, false, 1, List.of(2), 0,
                "llama");
        DecodeStepBench bench = new DecodeStepBench(config);
        long parameters = bench.w.values().stream().mapToLong(Tensor::numel).sum();
        double peak = OrtPeak.matMulGflops(threads);
        Path dir = Files.createTempDirectory("decode-step-bench");
        Path serving = dir.resolve("serving.onnx");
        Path gqa = dir.resolve("gqa.onnx");
        Path projections = dir.resolve("projections.onnx");
        OnnxExport.write(config, bench.w, DecoderGraph.Head.CAUSAL_LM, serving, false);
        Files.write(gqa, bench.gqaModel().toByteArray());
        Files.write(projections, bench.projectionsModel().toByteArray());
        System.out.printf(Locale.ROOT, "decode step: %.1fM parameters (d %d, %d layers, %d heads / %d KV heads), %d"
                + " cached positions, %d threads; ONNX Runtime fp32 MatMul peak %.1f GFLOP/s (1024³)%n%n",
                parameters / 1e6, config.hiddenSize(), config.numHiddenLayers(), config.numAttentionHeads(),
                config.numKeyValueHeads(), PAST, threads, peak);
        System.out.println("| rows | serving graph | with GroupQueryAttention | projections alone |");
        System.out.println("|---|---|---|---|");
        double worst = 0;
        try (OrtSession.SessionOptions so = OrtDecoder.sessionOptions(OrtDecoder.Options.cpu(threads));
                OrtSession s1 = bench.env.createSession(serving.toString(), so);
                OrtSession s2 = bench.env.createSession(gqa.toString(), so);
                OrtSession s3 = bench.env.createSession(projections.toString(), so)) {
            for (int rows : new int[] {8, 31}) {
                double flop = 2.0 * parameters * rows;
                Step a = bench.servingStep(s1, rows);
                Step b = bench.gqaStep(s2, rows);
                worst = Math.max(worst, maxAbsDiff(a.logits, b.logits));
                if (worst > 1e-3) { // then its timing would mean nothing
                    throw new IllegalStateException("the GroupQueryAttention graph's logits differ from the serving"
                            + " graph's by " + worst + " at " + rows + " rows");
                }
                double ms1 = a.time();
                double ms2 = b.time();
                double ms3 = bench.projectionsStep(s3, rows).time();
                System.out.printf(Locale.ROOT, "| %d | %.2f ms (%.2f of peak) | %.2f ms (%.2f) | %.2f ms (%.2f) |%n", rows,
                        ms1, flop / ms1 / 1e6 / peak, ms2, flop / ms2 / 1e6 / peak, ms3, flop / ms3 / 1e6 / peak);
            }
        }
        System.out.printf(Locale.ROOT, "%nGroupQueryAttention graph against the serving graph: logits differ by at"
                + " most %.2e%n", worst);
        for (Path file : List.of(serving, gqa, projections, dir)) {
            Files.deleteIfExists(file);
        }
    }

    /** A step ready to run again and again, and the logits of its first run. */
    private record Step(Runner runner, float[] logits) {
        double time() throws Exception {
            for (int i = 0; i < WARMUP; i++) {
                runner.run();
            }
            double[] ms = new double[RUNS];
            for (int i = 0; i < RUNS; i++) {
                long start = System.nanoTime();
                runner.run();
                ms[i] = (System.nanoTime() - start) / 1e6;
            }
            Arrays.sort(ms);
            return ms[RUNS / 2];
        }
    }

    private interface Runner {
        /** One step; returns the logits flattened. */
        float[] run() throws Exception;
    }

    private Step servingStep(OrtSession session, int rows) throws Exception {
        Map<String, OnnxTensor> in = new HashMap<>();
        in.put("input_ids", longs(rows, 1, 5));
        in.put("attention_mask", longs(rows, PAST + 1, 1));
        in.put("position_ids", longs(rows, 1, PAST));
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (String kind : List.of("key", "value")) {
                in.put("past_key_values." + i + "." + kind, floats(past(rows, i, kind), rows, c.numKeyValueHeads(),
                        PAST, c.headDim()));
            }
        }
        Runner r = () -> {
            try (OrtSession.Result out = session.run(in)) {
                return flat(out.get("logits").orElseThrow());
            }
        };
        return new Step(r, r.run());
    }

    private Step gqaStep(OrtSession session, int rows) throws Exception {
        int kv = c.numKeyValueHeads();
        int hd = c.headDim();
        Map<String, OnnxTensor> in = new HashMap<>();
        Map<String, OnnxValue> pinned = new HashMap<>();
        in.put("input_ids", longs(rows, 1, 5));
        int[] seqlens = new int[rows];
        Arrays.fill(seqlens, PAST); // total length − 1 per row: the new token goes to position PAST
        in.put("seqlens_k", OnnxTensor.createTensor(env, IntBuffer.wrap(seqlens), new long[] {rows}));
        in.put("total_sequence_length", OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {PAST + 1}), new long[] {}));
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            for (String kind : List.of("key", "value")) {
                // the same past as the serving step's, in the first PAST positions of a BUFFER-long buffer
                float[] past = past(rows, i, kind);
                FloatBuffer buffer = ByteBuffer.allocateDirect(rows * kv * BUFFER * hd * 4).order(ByteOrder.nativeOrder())
                        .asFloatBuffer();
                for (int r = 0; r < rows * kv; r++) {
                    buffer.put(r * BUFFER * hd, past, r * PAST * hd, PAST * hd);
                }
                OnnxTensor t = OnnxTensor.createTensor(env, buffer, new long[] {rows, kv, BUFFER, hd});
                in.put("past_key_values." + i + "." + kind, t);
                pinned.put("present." + i + "." + kind, t);
            }
        }
        Runner r = () -> {
            try (OrtSession.Result out = session.run(in, Set.of("logits"), pinned)) {
                return flat(out.get("logits").orElseThrow());
            }
        };
        return new Step(r, r.run());
    }

    private Step projectionsStep(OrtSession session, int rows) throws Exception {
        Map<String, OnnxTensor> in = Map.of("x", floats(random(rows * c.hiddenSize(), 3), rows, c.hiddenSize()),
                "act", floats(random(rows * c.intermediateSize(), 4), rows, c.intermediateSize()));
        Runner r = () -> {
            try (OrtSession.Result out = session.run(in)) {
                return new float[0];
            }
        };
        return new Step(r, r.run());
    }

    /** The decoder with GroupQueryAttention: per layer RMSNorm, qkv, GQA (rotary inside), o, RMSNorm, SwiGLU. */
    private ModelProto gqaModel() {
        GraphBuilder g = new GraphBuilder("llama_decoder_gqa", GraphBuilder.INLINE);
        int heads = c.numAttentionHeads();
        int kv = c.numKeyValueHeads();
        int hd = c.headDim();
        Dim b = Dim.sym("batch");
        g.input("input_ids", DataType.INT64, b, Dim.sym("sequence"));
        g.input("seqlens_k", DataType.INT32, b);
        g.input("total_sequence_length", DataType.INT32);
        // GroupQueryAttention's caches: [positions, hd/2], one half of HF's duplicated tables
        float[][] tables = Rotary.tables(c);
        int positions = c.maxPositionEmbeddings();
        float[] cos = new float[positions * hd / 2];
        float[] sin = new float[positions * hd / 2];
        for (int p = 0; p < positions; p++) {
            System.arraycopy(tables[0], p * hd, cos, p * hd / 2, hd / 2);
            System.arraycopy(tables[1], p * hd, sin, p * hd / 2, hd / 2);
        }
        String cosCache = g.floats("cos_cache", new long[] {positions, hd / 2}, cos);
        String sinCache = g.floats("sin_cache", new long[] {positions, hd / 2}, sin);
        String x = g.op("Gather", "embed", g.floats("model.embed_tokens.weight",
                w.get("model.embed_tokens.weight").shape(), w.get("model.embed_tokens.weight").data()), "input_ids");
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            String h = rmsNorm(g, x, p + "input_layernorm.weight");
            String qkv = g.op("MatMul", "qkv", h, projection(g, p + "qkv", p + "self_attn.q_proj.weight",
                    p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"));
            List<String> split = g.opMulti("Split", "q_k_v", 3, List.of(intAttr("axis", -1)), qkv,
                    g.int64s("sizes", (long) heads * hd, (long) kv * hd, (long) kv * hd));
            for (String kind : List.of("key", "value")) {
                g.input("past_key_values." + i + "." + kind, DataType.FLOAT, b, Dim.of(kv), Dim.sym("buffer"), Dim.of(hd));
                g.output("present." + i + "." + kind, DataType.FLOAT, b, Dim.of(kv), Dim.sym("buffer"), Dim.of(hd));
            }
            String attention = "attention_" + i;
            g.proto().addNode(NodeProto.newBuilder().setOpType("GroupQueryAttention").setDomain("com.microsoft")
                    .setName(attention).addAllInput(List.of(split.get(0), split.get(1), split.get(2),
                            "past_key_values." + i + ".key", "past_key_values." + i + ".value", "seqlens_k",
                            "total_sequence_length", cosCache, sinCache))
                    .addAllOutput(List.of(attention, "present." + i + ".key", "present." + i + ".value"))
                    .addAttribute(intAttr("num_heads", heads)).addAttribute(intAttr("kv_num_heads", kv))
                    .addAttribute(intAttr("do_rotary", 1)));
            x = g.op("Add", "resid", x, g.op("MatMul", "o", attention, projection(g, p + "o",
                    p + "self_attn.o_proj.weight")));
            String h2 = rmsNorm(g, x, p + "post_attention_layernorm.weight");
            List<String> gateUp = g.opMulti("Split", "gate_up", 2, List.of(intAttr("axis", -1)), g.op("MatMul",
                    "gate_up", h2, projection(g, p + "gate_up", p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight")));
            String act = g.op("Mul", "swiglu", g.op("Mul", "silu", gateUp.get(0), g.op("Sigmoid", "sig",
                    gateUp.get(0))), gateUp.get(1));
            x = g.op("Add", "resid", x, g.op("MatMul", "down", act, projection(g, p + "down",
                    p + "mlp.down_proj.weight")));
        }
        x = rmsNorm(g, x, "model.norm.weight");
        g.opNamed("MatMul", "logits", List.of(), x, projection(g, "lm_head", "lm_head.weight"));
        g.output("logits", DataType.FLOAT, b, Dim.sym("sequence"), Dim.of(c.vocabSize()));
        return model(g, true);
    }

    /** Every projection of a step, side by side: x [rows, d] and act [rows, ffn] in, nothing between them. */
    private ModelProto projectionsModel() {
        GraphBuilder g = new GraphBuilder("projections", GraphBuilder.INLINE);
        Dim rows = Dim.sym("rows");
        g.input("x", DataType.FLOAT, rows, Dim.of(c.hiddenSize()));
        g.input("act", DataType.FLOAT, rows, Dim.of(c.intermediateSize()));
        List<String[]> products = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            products.add(new String[] {"x", p + "qkv", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                p + "self_attn.v_proj.weight"});
            products.add(new String[] {"x", p + "o", p + "self_attn.o_proj.weight"});
            products.add(new String[] {"x", p + "gate_up", p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"});
            products.add(new String[] {"act", p + "down", p + "mlp.down_proj.weight"});
        }
        products.add(new String[] {"x", "lm_head", "lm_head.weight"});
        for (String[] product : products) {
            String weight = projection(g, product[1], Arrays.copyOfRange(product, 2, product.length));
            String out = product[1] + ".out";
            g.opNamed("MatMul", out, List.of(), product[0], weight);
            g.output(out, DataType.FLOAT, rows, Dim.sym(out + ".size"));
        }
        return model(g, false);
    }

    /** The given HF projections ([out, in] each) as one [in, Σout] initializer, as the serving graph has them. */
    private String projection(GraphBuilder g, String name, String... parts) {
        return DecoderGraph.fused(g, w, name + ".T", parts);
    }

    /** RMSNorm as {@link DecoderGraph} writes it (the form ONNX Runtime fuses), with the named weight. */
    private String rmsNorm(GraphBuilder g, String x, String weight) {
        Tensor t = w.get(weight);
        return DecoderGraph.rmsNorm(g, x, g.floats(weight, t.shape(), t.data()), c.rmsNormEps());
    }

    private static ModelProto model(GraphBuilder g, boolean contrib) {
        ModelProto.Builder m = ModelProto.newBuilder().setIrVersion(OnnxExport.IR_VERSION)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OnnxExport.OPSET));
        if (contrib) {
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1));
        }
        return m.setGraph(g.proto()).build();
    }

    /** The past keys or values of one layer, [rows, KV, PAST, hd], seeded by layer and kind. */
    private float[] past(int rows, int layer, String kind) {
        return random(rows * c.numKeyValueHeads() * PAST * c.headDim(), 31L * layer + kind.hashCode());
    }

    private OnnxTensor floats(float[] data, long... shape) throws Exception {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
    }

    private OnnxTensor longs(int rows, int cols, long value) throws Exception {
        long[] data = new long[rows * cols];
        Arrays.fill(data, value);
        return OnnxTensor.createTensor(env, LongBuffer.wrap(data), new long[] {rows, cols});
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian() * 0.5f;
        }
        return x;
    }

    private static float[] flat(OnnxValue logits) throws Exception {
        FloatBuffer fb = ((OnnxTensor) logits).getFloatBuffer();
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalStateException("logits of " + a.length + " and " + b.length + " values");
        }
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }
}
