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
import dev.rlhf.model.ort.OrtPeak;
import dev.rlhf.model.ort.OrtScorer;
import dev.rlhf.trainer.algo.WarmupCosineSchedule;
import dev.rlhf.trainer.engine.AdamW;
import dev.rlhf.trainer.engine.LanguageModelTrainer;
import dev.rlhf.trainer.engine.LlamaModel;
import dev.rlhf.trainer.rm.PreferencePair;
import dev.rlhf.trainer.rm.RewardModel;
import dev.rlhf.trainer.rm.RewardModelJob;

/**
 * {@code bin/rlhf bench model}: the model core's speed on a ~32M-parameter Llama config, each
 * figure next to a ceiling measured in the same run.
 * <ol>
 * <li>training (DJL/libtorch): forward + backward + AdamW tokens/s and GFLOP/s (6·N·tokens,
 * attention not counted) ÷ the fp32 matmul peak of the same libtorch (2048² matmuls);
 * <li>serving (ONNX Runtime): greedy decode with KV cache, tokens/s at batch 1 and 8; batch 1
 * ÷ the memory-bandwidth roofline (fp32 weight bytes per token ÷ a triad bandwidth measured
 * here with as many threads);
 * <li>reward model: training tokens/s of {@code RewardModelJob} (chosen and rejected sides,
 * Bradley–Terry, AdamW; 6·N·tokens ÷ the libtorch peak) and ONNX Runtime scoring at batch 32
 * (sequences/s; 2·N·tokens ÷ the ONNX Runtime fp32 MatMul peak measured here), N without the
 * LM head, which a reward model does not have.
 * </ol>
 * The machine is shared: each ceiling is the best of a measurement at the start and one at the end.
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

        // 3. reward model: training, and scoring at batch 32 vs the ONNX Runtime matmul peak
        double rmTrainTokensPerSecond = rewardTraining(c, w, dir);
        Map<String, Tensor> rw = new LinkedHashMap<>(w);
        float[] head = new float[c.hiddenSize()];
        java.util.Arrays.fill(head, 0.01f);
        rw.put(RewardModel.HEAD, new Tensor(RewardModel.HEAD, new long[] {1, c.hiddenSize()}, head));
        Path scorer = dir.resolve("reward.onnx");
        OnnxExport.write(c, rw, DecoderGraph.Head.SCALAR, scorer, false);
        int scoreLength = 128;
        double ortPeak = OrtPeak.matMulGflops(threads);
        double sequencesPerSecond;
        try (OrtScorer s = OrtScorer.open(scorer, c, OrtDecoder.Options.cpu(threads), 32)) {
            sequencesPerSecond = score(s, 32, scoreLength);
        }
        Files.deleteIfExists(scorer);
        Files.deleteIfExists(dir);
        long rmParams = n - (c.tieWordEmbeddings() ? 0 : w.get("lm_head.weight").numel()); // no LM head in a reward model
        double scoreGflops = 2.0 * rmParams * scoreLength * sequencesPerSecond / 1e9;
        // the machine is shared: the ceilings are the best of a measurement at the start and one at the end
        peak = Math.max(peak, matmulPeak());
        ortPeak = Math.max(ortPeak, OrtPeak.matMulGflops(threads));
        double rmTrainGflops = 6.0 * rmParams * rmTrainTokensPerSecond / 1e9;

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
        System.out.printf("| reward-model training (RewardModelJob, 2 × 8 sequences of ~%d tokens per step) | %,.0f"
                + " tokens/s = %.1f GFLOP/s (6·N·tokens, N without the LM head) | libtorch fp32 matmul peak %.1f GFLOP/s | %.2f | |%n", REWARD_LENGTH,
                rmTrainTokensPerSecond, rmTrainGflops, peak, rmTrainGflops / peak);
        System.out.printf("| reward scoring (OrtScorer), batch 32 × %d tokens | %,.1f sequences/s = %.1f GFLOP/s (2·N·tokens) |"
                + " ONNX Runtime fp32 MatMul peak %.1f GFLOP/s | %.2f | |%n", scoreLength, sequencesPerSecond, scoreGflops,
                ortPeak, scoreGflops / ortPeak);
    }

    private static final int REWARD_LENGTH = 128;

    /** Tokens/s of a reward-model job on synthetic pairs (the job's own figure, first step included). */
    private static double rewardTraining(ModelConfig c, Map<String, Tensor> w, Path dir) throws Exception {
        Path tokenizer = dir.resolve("tokenizer.json");
        dev.rlhf.model.text.DefaultTokenizer.write(tokenizer, List.of("reward bench"), 300);
        Random r = new Random(3);
        List<PreferencePair> pairs = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            pairs.add(new PreferencePair(randomText(r, 16), randomText(r, REWARD_LENGTH - 24),
                    randomText(r, REWARD_LENGTH - 24), 0, 1));
        }
        double[] tokensPerSecond = {0};
        Path store = dir.resolve("store");
        RewardModelJob.run(c, w, tokenizer, pairs, new dev.rlhf.model.ModelStore(store),
                new RewardModelJob.Config(1, false, 0, 0, 0, 1, 8, 1e-5, 0, 0, 1.0, c.maxPositionEmbeddings(), 1, "reward"),
                p -> tokensPerSecond[0] = p.tokensPerSecond());
        dev.rlhf.trainer.VersionFolder.delete(store);
        Files.deleteIfExists(tokenizer);
        return tokensPerSecond[0];
    }

    /** Lowercase letters: one byte-level token each with the bench's 300-token tokenizer. */
    private static String randomText(Random r, int length) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) {
            sb.append((char) ('a' + r.nextInt(26)));
        }
        return sb.toString();
    }

    /** Sequences/s of scoring batches of {@code batch} random sequences of {@code length} tokens. */
    private static double score(OrtScorer s, int batch, int length) throws Exception {
        Random r = new Random(5);
        List<int[]> seqs = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            int[] seq = new int[length];
            for (int j = 0; j < length; j++) {
                seq[j] = 3 + r.nextInt(s.config().vocabSize() - 3);
            }
            seqs.add(seq);
        }
        s.score(seqs); // warmup
        int rounds = 4;
        long start = System.nanoTime();
        for (int i = 0; i < rounds; i++) {
            s.score(seqs);
        }
        return rounds * batch / ((System.nanoTime() - start) / 1e9);
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
