package dev.rlhf.model.onnx;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.GraphBuilder.Dim;
import dev.rlhf.model.onnx.Onnx.ModelProto;
import dev.rlhf.model.onnx.Onnx.OperatorSetIdProto;
import dev.rlhf.model.onnx.Onnx.TensorProto.DataType;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.OrtPeak;
import dev.rlhf.model.ort.SlotDecoder;

/**
 * {@code bin/rlhf bench decode}: where a decode step of {@code bin/rlhf bench policy}'s model
 * (25.5M parameters) goes, at the batch sizes its clients make. One step (one new token per
 * row, 40 cached positions, the same prompts) is timed on three graphs, medians of 150 runs after 30:
 * <ol>
 * <li>the serving graph ({@link DecoderGraph}: attention with standard ops, the cache grown
 * by Concat);
 * <li>the fused-attention graph policy-service serves on CPU ({@link SlotDecoder}: ONNX
 * Runtime's {@code com.microsoft:GroupQueryAttention}, rotary inside, each row's cache a slot
 * of the context window written in place), checked against the serving graph's logits;
 * <li>the step's projections alone (q/k/v, o, gate/up and down MatMuls of every layer, the
 * same shapes, nothing else): the most any graph of this model could do.
 * </ol>
 * Each is printed as ms per step and as a fraction of ONNX Runtime's fp32 MatMul peak
 * measured in the same run, counting 2·N FLOP per row as the policy benchmark's roofline does.
 */
public final class DecodeStepBench {

    private static final int PAST = 40;
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
        Path projections = dir.resolve("projections.onnx");
        OnnxExport.write(config, bench.w, DecoderGraph.Head.CAUSAL_LM, serving, false);
        Files.write(projections, bench.projectionsModel().toByteArray());
        System.out.printf(Locale.ROOT, "decode step: %.1fM parameters (d %d, %d layers, %d heads / %d KV heads), %d"
                + " cached positions, %d threads; ONNX Runtime fp32 MatMul peak %.1f GFLOP/s (1024³)%n%n",
                parameters / 1e6, config.hiddenSize(), config.numHiddenLayers(), config.numAttentionHeads(),
                config.numKeyValueHeads(), PAST, threads, peak);
        System.out.println("| rows | serving graph | fused attention (SlotDecoder) | projections alone |");
        System.out.println("|---|---|---|---|");
        double worst = 0;
        OrtDecoder.Options options = OrtDecoder.Options.cpu(threads);
        try (OrtSession.SessionOptions so = OrtDecoder.sessionOptions(options);
                OrtDecoder standard = OrtDecoder.open(serving, config, options);
                SlotDecoder fused = SlotDecoder.open(serving, config, options, 32);
                OrtSession s3 = bench.env.createSession(projections.toString(), so)) {
            for (int rows : new int[] {8, 31}) {
                double flop = 2.0 * parameters * rows;
                List<int[]> prompts = new ArrayList<>();
                Random random = new Random(rows);
                for (int r = 0; r < rows; r++) {
                    prompts.add(random.ints(PAST, 6, config.vocabSize()).toArray());
                }
                Step a = bench.servingStep(standard, rows, prompts);
                Step b = bench.fusedStep(fused, rows, prompts);
                worst = Math.max(worst, maxAbsDiff(a.logits, b.logits));
                if (worst > 1e-3) { // then its timing would mean nothing
                    throw new IllegalStateException("the fused-attention graph's logits differ from the serving"
                            + " graph's by " + worst + " at " + rows + " rows");
                }
                double ms1 = a.time();
                double ms2 = b.time();
                double ms3 = bench.projectionsStep(s3, rows).time();
                System.out.printf(Locale.ROOT, "| %d | %.2f ms (%.2f of peak) | %.2f ms (%.2f) | %.2f ms (%.2f) |%n", rows,
                        ms1, flop / ms1 / 1e6 / peak, ms2, flop / ms2 / 1e6 / peak, ms3, flop / ms3 / 1e6 / peak);
            }
        }
        System.out.printf(Locale.ROOT, "%nfused-attention graph against the serving graph: logits differ by at most"
                + " %.2e%n", worst);
        for (Path file : List.of(serving, projections, dir)) {
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

    private Step servingStep(OrtDecoder decoder, int rows, List<int[]> prompts) throws Exception {
        OrtDecoder.Padded in = OrtDecoder.Padded.left(prompts, 0);
        OrtDecoder.Forward prefill = decoder.forward(in.ids(), in.mask(), in.positions(), null);
        OrtDecoder.Cache past = prefill.cache();
        long[][] ids = new long[rows][1];
        long[][] mask = new long[rows][PAST + 1];
        long[][] positions = new long[rows][1];
        for (int r = 0; r < rows; r++) {
            ids[r][0] = 5;
            Arrays.fill(mask[r], 1);
            positions[r][0] = PAST;
        }
        Runner runner = () -> {
            try (OrtDecoder.Forward f = decoder.step(ids, mask, positions, past)) {
                return f.logits();
            }
        };
        return new Step(runner, runner.run());
    }

    private Step fusedStep(SlotDecoder decoder, int rows, List<int[]> prompts) throws Exception {
        decoder.prefill(prompts, 0);
        int[] tokens = new int[rows];
        Arrays.fill(tokens, 5);
        Runner runner = () -> {
            for (int r = 0; r < rows; r++) {
                decoder.truncate(r, PAST); // the same step every run: the token goes to position PAST
            }
            float[][] logits = decoder.decode(tokens);
            float[] flat = new float[rows * c.vocabSize()];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(logits[r], 0, flat, r * c.vocabSize(), c.vocabSize());
            }
            return flat;
        };
        return new Step(runner, runner.run());
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
        return model(g);
    }

    /** The given HF projections ([out, in] each) as one [in, Σout] initializer, as the serving graph has them. */
    private String projection(GraphBuilder g, String name, String... parts) {
        return DecoderGraph.fused(g, w, name + ".T", parts);
    }

    private static ModelProto model(GraphBuilder g) {
        return ModelProto.newBuilder().setIrVersion(OnnxExport.IR_VERSION)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OnnxExport.OPSET))
                .setGraph(g.proto()).build();
    }

    private OnnxTensor floats(float[] data, long... shape) throws Exception {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian() * 0.5f;
        }
        return x;
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
