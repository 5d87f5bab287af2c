package dev.rlhf.trainer.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.trainer.algo.WarmupCosineSchedule;
import dev.rlhf.trainer.engine.AdamW;
import dev.rlhf.trainer.engine.LanguageModelTrainer;
import dev.rlhf.trainer.engine.LlamaModel;

/**
 * {@code bin/rlhf bench model}: the model core's speed on a ~32M-parameter Llama config, each
 * figure next to a ceiling measured in the same run.
 * <ol>
 * <li>training (DJL/libtorch): forward + backward + AdamW tokens/s and GFLOP/s (6·N·tokens,
 * attention not counted) ÷ the fp32 matmul peak of the same libtorch (2048² matmuls);
 * <li>serving (ONNX Runtime): greedy decode with KV cache, tokens/s at batch 1 and 8; batch 1
 * ÷ the memory-bandwidth roofline (fp32 weight bytes per token ÷ a triad bandwidth measured
 * here with as many threads).
 * </ol>
 */
public final class ModelBench {

    public static void main(String[] args) throws Exception {
        int threads = Integer.getInteger("threads", Runtime.getRuntime().availableProcessors());
        int steps = Integer.getInteger("steps", 4);
        ModelConfig c = new ModelConfig(8192, 512, 1376, 8, 8, 4, 1e-5, 10000, 1024, false, 1, List.of(2), 0, "llama");
        Map<String, Tensor> w = new LinkedHashMap<>();
        LlamaWeights.random(c, 1).forEach(t -> w.put(t.name(), t));
        long n = w.values().stream().mapToLong(Tensor::numel).sum();
        System.out.printf("model bench: %.1fM parameters (d %d, %d layers, %d heads, %d kv heads, vocab %d), %d threads%n",
                n / 1e6, c.hiddenSize(), c.numHiddenLayers(), c.numAttentionHeads(), c.numKeyValueHeads(), c.vocabSize(),
                threads);

        // 1. training vs matmul peak
        double peak = matmulPeak();
        int b = 8;
        int t = 256;
        double trainTokensPerSecond = train(c, w, b, t, steps);
        double trainGflops = 6.0 * n * trainTokensPerSecond / 1e9;

        // 2. decoding vs the memory-bandwidth roofline
        Path dir = Files.createTempDirectory("model-bench");
        Path onnx = dir.resolve("model.onnx");
        OnnxExport.write(c, w, DecoderGraph.Head.CAUSAL_LM, onnx, false);
        double bandwidth = triadBandwidth(threads);
        double roofline = bandwidth / (4.0 * n);
        double decode1;
        double decode8;
        try (OrtDecoder d = OrtDecoder.open(onnx, c, OrtDecoder.Options.cpu(threads))) {
            decode(d, 1, 16); // warmup
            decode1 = decode(d, 1, 128);
            decode(d, 8, 16);
            decode8 = decode(d, 8, 64);
        }
        Files.deleteIfExists(onnx);
        Files.deleteIfExists(dir);

        System.out.println();
        System.out.println("| measurement | figure | ceiling (same run) | ratio | target |");
        System.out.println("|---|---|---|---|---|");
        System.out.printf("| train fwd+bwd+AdamW, B=%d T=%d | %,.0f tokens/s = %.1f GFLOP/s (6·N·tokens) | libtorch fp32 "
                + "matmul peak %.1f GFLOP/s | %.2f | ≥ 0.6 |%n", b, t, trainTokensPerSecond, trainGflops, peak,
                trainGflops / peak);
        System.out.printf("| ORT greedy decode, batch 1 | %,.0f tokens/s | roofline %.0f tokens/s (%.1f GB/s ÷ %.0f MB"
                + " of fp32 weights per token) | %.2f | ≥ 0.6 |%n", decode1, roofline, bandwidth / 1e9, 4.0 * n / 1e6,
                decode1 / roofline);
        System.out.printf("| ORT greedy decode, batch 8 | %,.0f tokens/s | — | %.2f× batch 1 | |%n", decode8,
                decode8 / decode1);
    }

    /** fp32 matmul GFLOP/s of this libtorch: the best of several 2048×2048 products. */
    private static double matmulPeak() {
        int size = 2048;
        double best = 0;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.randomNormal(new Shape(size, size));
            NDArray bm = m.randomNormal(new Shape(size, size));
            for (int i = 0; i < 8; i++) {
                long start = System.nanoTime();
                try (NDArray c = a.matMul(bm)) {
                    c.getFloat(0, 0); // wait for the result
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                best = Math.max(best, 2.0 * size * size * size / seconds / 1e9);
            }
        }
        return best;
    }

    private static double train(ModelConfig c, Map<String, Tensor> w, int b, int t, int steps) {
        Engine.getInstance().setRandomSeed(1);
        Random r = new Random(1);
        try (NDManager m = NDManager.newBaseManager(); LlamaModel model = LlamaModel.of(c, w, m);
                LanguageModelTrainer trainer = new LanguageModelTrainer(model, m, AdamW.Options.defaults(0.01),
                        new WarmupCosineSchedule(1e-4, 1, steps + 2, 0.1), 1.0)) {
            trainer.step(batch(c, b, t, r)); // warmup
            long start = System.nanoTime();
            int tokens = 0;
            for (int s = 0; s < steps; s++) {
                tokens += trainer.step(batch(c, b, t, r)).tokens();
            }
            return tokens / ((System.nanoTime() - start) / 1e9);
        }
    }

    private static LanguageModelTrainer.Batch batch(ModelConfig c, int b, int t, Random r) {
        long[][] ids = new long[b][t];
        long[][] mask = new long[b][t];
        long[][] pos = new long[b][t];
        long[][] targets = new long[b][t];
        float[][] lossMask = new float[b][t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                ids[i][j] = r.nextInt(c.vocabSize());
                mask[i][j] = 1;
                pos[i][j] = j;
                lossMask[i][j] = 1;
            }
            for (int j = 0; j < t; j++) {
                targets[i][j] = j + 1 < t ? ids[i][j + 1] : 0;
            }
        }
        return new LanguageModelTrainer.Batch(ids, mask, pos, targets, lossMask);
    }

    /** Tokens/s of greedy decoding {@code tokens} new tokens for {@code batch} 16-token prompts. */
    private static double decode(OrtDecoder d, int batch, int tokens) throws Exception {
        List<int[]> prompts = new ArrayList<>();
        Random r = new Random(batch);
        for (int i = 0; i < batch; i++) {
            int[] p = new int[16];
            for (int j = 0; j < p.length; j++) {
                p[j] = 3 + r.nextInt(d.config().vocabSize() - 3);
            }
            prompts.add(p);
        }
        // only the config's EOS stops a row (rare with random weights); the count is of tokens produced
        OrtDecoder.Sampling s = new OrtDecoder.Sampling(tokens, 0f, 0, 1f, 0, java.util.Set.of());
        long start = System.nanoTime();
        List<OrtDecoder.Generation> out = d.generate(prompts, s);
        double seconds = (System.nanoTime() - start) / 1e9;
        long produced = out.stream().mapToLong(g -> g.tokens().length).sum();
        return produced / seconds;
    }

    /** STREAM-style triad a[i] = b[i] + s·c[i] over 3 × 128 MB arrays: bytes moved per second. */
    private static double triadBandwidth(int threads) throws InterruptedException {
        int n = 16 * 1024 * 1024;
        double[] a = new double[n];
        double[] bb = new double[n];
        double[] cc = new double[n];
        java.util.Arrays.fill(bb, 1.0);
        java.util.Arrays.fill(cc, 2.0);
        double best = 0;
        for (int rep = 0; rep < 6; rep++) {
            CountDownLatch done = new CountDownLatch(threads);
            long start = System.nanoTime();
            for (int th = 0; th < threads; th++) {
                int from = (int) ((long) n * th / threads);
                int to = (int) ((long) n * (th + 1) / threads);
                new Thread(() -> {
                    for (int i = from; i < to; i++) {
                        a[i] = bb[i] + 3.0 * cc[i];
                    }
                    done.countDown();
                }).start();
            }
            done.await();
            double seconds = (System.nanoTime() - start) / 1e9;
            best = Math.max(best, 3.0 * 8 * n / seconds);
        }
        return best;
    }
}
