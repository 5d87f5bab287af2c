package dev.rlhf.trainer.rm;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.ValidationSplit;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.trainer.VersionFolder;
import dev.rlhf.trainer.algo.WarmupCosineSchedule;
import dev.rlhf.trainer.engine.AdamW;
import dev.rlhf.trainer.engine.Gradients;
import ai.djl.ndarray.NDScope;

/**
 * Trains a reward model on preference pairs with the {@link BradleyTerry} loss and stores it
 * as a {@link ModelKind#REWARD} version (ONNX with K scalar heads).
 *
 * <p>Steps: 1. format each side with {@link ChatTemplate#scoring} (what reward-service
 * scores), dropping pairs whose longer side exceeds {@code maxSeqLength}; 2. split train /
 * validation by prompt (seeded hash), so no prompt is on both sides; 3. with K &gt; 1 and
 * bootstrap, give each (pair, member) a Poisson(1) count — the online bootstrap, which
 * resamples each member's data with replacement in expectation; 4. train in shuffled,
 * left-padded batches (chosen and rejected in one forward pass); 5. evaluate held-out
 * accuracy of the ensemble mean and its calibration (expected calibration error of
 * σ(r̄_c − r̄_r), 10 bins); 6. export and store, with the figures in the manifest.
 */
public final class RewardModelJob {

    /**
     * @param members            ensemble heads K, 1..8
     * @param bootstrap          each member trains on its own resample (K &gt; 1)
     * @param marginScale        the loss's margin = marginScale · pair margin
     * @param l2Coef             centring penalty coefficient
     * @param validationFraction share of prompts held out, [0, 0.5]
     * @param maxSeqLength       longest side in tokens (longer pairs are dropped)
     */
    public record Config(int members, boolean bootstrap, double marginScale, double l2Coef, double validationFraction,
            int epochs, int batchSize, double learningRate, int warmupSteps, double weightDecay, double maxGradNorm,
            int maxSeqLength, long seed, String outputName) {
        public Config {
            if (members < 1 || members > 8) {
                throw new IllegalArgumentException("ensemble_size must be in 1..8, got " + members);
            }
            if (epochs < 1 || batchSize < 1 || maxSeqLength < 2) {
                throw new IllegalArgumentException("epochs and batch size must be >= 1 and max length >= 2");
            }
            if (!(learningRate > 0) || warmupSteps < 0 || weightDecay < 0 || maxGradNorm < 0 || marginScale < 0
                    || l2Coef < 0) {
                throw new IllegalArgumentException("need learning rate > 0 and warmup, weight decay, grad clip,"
                        + " margin scale, l2 coefficient >= 0");
            }
            if (validationFraction < 0 || validationFraction > 0.5) {
                throw new IllegalArgumentException("validation_fraction must be in [0, 0.5], got " + validationFraction);
            }
        }
    }

    /** Progress after a step. */
    public record Progress(int step, int totalSteps, double loss, double accuracy, double tokensPerSecond, Duration eta) {
        @Override
        public String toString() {
            return String.format("step %d/%d loss %.4f batch accuracy %.3f %.0f tok/s ETA %ds", step, totalSteps, loss,
                    accuracy, tokensPerSecond, eta.toSeconds());
        }
    }

    /**
     * Figures of the ensemble mean on a set of pairs.
     *
     * @param accuracy    share of pairs whose chosen side scores higher (ties count half)
     * @param ece         expected calibration error of σ(r̄_c − r̄_r), 10 equal-width bins
     * @param uncertainty mean over both sides of the members' standard deviation (0 for K = 1)
     * @param scoreMean   mean reward over both sides
     * @param scoreStd    standard deviation of the reward over both sides
     */
    public record Evaluation(int pairs, double accuracy, double ece, double uncertainty, double scoreMean,
            double scoreStd) {
    }

    /** What the job produced. */
    public record Result(Evaluation train, Evaluation validation, int steps, double tokensPerSecond, int dropped,
            StoredVersion version, List<Tensor> weights) {
    }

    /** One encoded pair with its per-member weights (preference weight × bootstrap count). */
    record Encoded(String prompt, int[] chosen, int[] rejected, float margin, float[] weights) {
    }

    /** β of an ensemble's randomized prior ({@link RewardModel}); rewards are of order 1 after training. */
    static final double PRIOR_SCALE = 3.0;

    private RewardModelJob() {
    }

    /**
     * Runs the job.
     *
     * @param init trunk weights to start from (usually the SFT policy's), heads fresh
     */
    public static Result run(ModelConfig model, Map<String, Tensor> init, Path tokenizerJson, List<PreferencePair> data,
            ModelStore store, Config cfg, Consumer<Progress> progress) throws IOException {
        // 1. format, 2. split, 3. bootstrap counts
        List<Encoded> train = new ArrayList<>();
        List<Encoded> validation = new ArrayList<>();
        int dropped = 0;
        int pad = Math.max(model.padTokenId(), 0);
        Random bootstrap = new Random(cfg.seed() ^ 0x5DEECE66DL);
        try (Tokenizer tok = Tokenizer.load(tokenizerJson)) {
            ChatTemplate template = new ChatTemplate(tok);
            for (PreferencePair p : data) {
                int[] c;
                int[] r;
                try {
                    c = template.scoring(p.prompt(), p.chosen()).ids();
                    r = template.scoring(p.prompt(), p.rejected()).ids();
                } catch (IllegalArgumentException e) {
                    dropped++; // a text that encodes to a chat marker cannot be scored as written
                    continue;
                }
                if (Math.max(c.length, r.length) > Math.min(cfg.maxSeqLength(), model.maxPositionEmbeddings())) {
                    dropped++;
                    continue;
                }
                float[] w = new float[cfg.members()];
                for (int k = 0; k < w.length; k++) {
                    w[k] = (float) (p.weight() * (cfg.bootstrap() && cfg.members() > 1 ? poisson1(bootstrap) : 1));
                }
                Encoded e = new Encoded(p.prompt(), c, r, (float) (cfg.marginScale() * p.margin()), w);
                (ValidationSplit.heldOut(p.prompt(), cfg.seed(), cfg.validationFraction()) ? validation : train).add(e);
            }
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException("no preference pairs left for training (" + data.size() + " given, "
                    + dropped + " too long or unencodable, " + validation.size() + " held out)");
        }
        Engine.getInstance().setRandomSeed((int) cfg.seed());
        int stepsPerEpoch = (train.size() + cfg.batchSize() - 1) / cfg.batchSize();
        int total = stepsPerEpoch * cfg.epochs();
        WarmupCosineSchedule schedule = new WarmupCosineSchedule(cfg.learningRate(), Math.min(cfg.warmupSteps(), total),
                total, 0.1);
        try (NDManager m = NDManager.newBaseManager();
                RewardModel rm = RewardModel.of(model, init, cfg.members(), cfg.seed(), PRIOR_SCALE, m);
                AdamW optimizer = new AdamW(rm.parameters(), AdamW.Options.defaults(cfg.weightDecay()), m)) {
            rm.requireGradients(true);
            // 4. train
            Random shuffle = new Random(cfg.seed());
            long start = System.nanoTime();
            long tokens = 0;
            int step = 0;
            for (int epoch = 0; epoch < cfg.epochs(); epoch++) {
                List<Encoded> order = new ArrayList<>(train);
                Collections.shuffle(order, shuffle);
                for (int from = 0; from < order.size(); from += cfg.batchSize()) {
                    List<Encoded> batch = order.subList(from, Math.min(order.size(), from + cfg.batchSize()));
                    double loss;
                    double accuracy;
                    try (NDScope scope = new NDScope()) {
                        scope.suppressNotUsedWarning();
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            NDArray[] sides = score(rm, m, batch, pad);
                            NDArray margins = m.create(marginsOf(batch), new Shape(batch.size(), 1));
                            NDArray weights = m.create(weightsOf(batch), new Shape(batch.size(), cfg.members()));
                            NDArray l = BradleyTerry.loss(sides[0], sides[1], margins, weights, cfg.l2Coef());
                            gc.backward(l);
                            loss = l.getFloat();
                            accuracy = sides[0].mean(new int[] {1}).gt(sides[1].mean(new int[] {1})).toType(
                                    ai.djl.ndarray.types.DataType.FLOAT32, false).mean().getFloat();
                        }
                        Gradients.clipGlobalNorm(rm.parameters().values(), cfg.maxGradNorm());
                        optimizer.step(schedule.at(step));
                        Gradients.zero(rm.parameters().values());
                    }
                    for (Encoded e : batch) {
                        tokens += e.chosen().length + e.rejected().length;
                    }
                    step++;
                    double elapsed = (System.nanoTime() - start) / 1e9;
                    progress.accept(new Progress(step, total, loss, accuracy, tokens / elapsed,
                            Duration.ofMillis((long) (elapsed / step * (total - step) * 1000))));
                }
            }
            double tokensPerSecond = tokens / ((System.nanoTime() - start) / 1e9);
            // 5. evaluate
            Evaluation trainEval = evaluate(rm, m, train, pad, cfg.batchSize());
            Evaluation valEval = validation.isEmpty() ? null : evaluate(rm, m, validation, pad, cfg.batchSize());
            // 6. export and store
            List<Tensor> weights = rm.weights();
            Map<String, Double> metrics = new LinkedHashMap<>();
            metrics.put("rm.steps", (double) total);
            metrics.put("rm.members", (double) cfg.members());
            metrics.put("rm.pairs_train", (double) train.size());
            metrics.put("rm.pairs_validation", (double) validation.size());
            metrics.put("rm.pairs_dropped", (double) dropped);
            metrics.put("rm.train_accuracy", trainEval.accuracy());
            metrics.put("rm.score_mean", trainEval.scoreMean());
            metrics.put("rm.score_std", trainEval.scoreStd());
            if (valEval != null) {
                metrics.put("rm.validation_accuracy", valEval.accuracy());
                metrics.put("rm.validation_ece", valEval.ece());
                metrics.put("rm.validation_uncertainty", valEval.uncertainty());
            }
            metrics.put("rm.tokens_per_second", tokensPerSecond);
            Path folder = VersionFolder.write(model, weights, tokenizerJson, DecoderGraph.Head.SCALAR);
            try {
                StoredVersion v = store.write(cfg.outputName(), ModelKind.REWARD, 0, folder, metrics);
                return new Result(trainEval, valEval, total, tokensPerSecond, dropped, v, weights);
            } finally {
                VersionFolder.delete(folder);
            }
        }
    }

    /** Rewards [B, K] of the chosen and of the rejected sides, in one left-padded forward pass. */
    private static NDArray[] score(RewardModel rm, NDManager m, List<Encoded> batch, int pad) {
        List<int[]> seqs = new ArrayList<>(2 * batch.size());
        batch.forEach(e -> seqs.add(e.chosen()));
        batch.forEach(e -> seqs.add(e.rejected()));
        OrtDecoder.Padded in = OrtDecoder.Padded.left(seqs, pad);
        NDArray scores = rm.score(m.create(in.ids()), m.create(in.mask()), m.create(in.positions()));
        int b = batch.size();
        return new NDArray[] {scores.get("0:" + b), scores.get(b + ":" + 2 * b)};
    }

    /** Ensemble figures on {@code pairs}, without gradients. */
    static Evaluation evaluate(RewardModel rm, NDManager m, List<Encoded> pairs, int pad, int batchSize) {
        int k = rm.members();
        double correct = 0;
        double[] binConfidence = new double[10];
        double[] binCorrect = new double[10];
        int[] binCount = new int[10];
        double spread = 0;
        double sum = 0;
        double sumSq = 0;
        for (int from = 0; from < pairs.size(); from += batchSize) {
            List<Encoded> batch = pairs.subList(from, Math.min(pairs.size(), from + batchSize));
            float[] c;
            float[] r;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray[] sides = score(rm, m, batch, pad);
                c = sides[0].toFloatArray();
                r = sides[1].toFloatArray();
            }
            for (int i = 0; i < batch.size(); i++) {
                double mc = mean(c, i * k, k);
                double mr = mean(r, i * k, k);
                spread += std(c, i * k, k, mc) + std(r, i * k, k, mr);
                sum += mc + mr;
                sumSq += mc * mc + mr * mr;
                double p = 1 / (1 + Math.exp(-(mc - mr)));
                boolean right = mc > mr;
                correct += mc == mr ? 0.5 : right ? 1 : 0;
                double confidence = Math.max(p, 1 - p);
                int bin = Math.min(9, (int) (confidence * 10));
                binConfidence[bin] += confidence;
                binCorrect[bin] += right ? 1 : 0;
                binCount[bin]++;
            }
        }
        int n = pairs.size();
        double ece = 0;
        for (int b = 0; b < 10; b++) {
            if (binCount[b] > 0) {
                ece += Math.abs(binCorrect[b] - binConfidence[b]) / n;
            }
        }
        double mean = sum / (2.0 * n);
        return new Evaluation(n, correct / n, ece, spread / (2.0 * n), mean,
                Math.sqrt(Math.max(0, sumSq / (2.0 * n) - mean * mean)));
    }

    private static float[] marginsOf(List<Encoded> batch) {
        float[] out = new float[batch.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = batch.get(i).margin();
        }
        return out;
    }

    private static float[] weightsOf(List<Encoded> batch) {
        int k = batch.get(0).weights().length;
        float[] out = new float[batch.size() * k];
        for (int i = 0; i < batch.size(); i++) {
            System.arraycopy(batch.get(i).weights(), 0, out, i * k, k);
        }
        return out;
    }

    private static double mean(float[] a, int from, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += a[from + i];
        }
        return s / n;
    }

    private static double std(float[] a, int from, int n, double mean) {
        if (n < 2) {
            return 0;
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (a[from + i] - mean) * (a[from + i] - mean);
        }
        return Math.sqrt(s / (n - 1));
    }

    /** A Poisson(1) draw (Knuth): the bootstrap count of one pair for one member. */
    private static int poisson1(Random r) {
        double limit = Math.exp(-1);
        double p = r.nextDouble();
        int k = 0;
        while (p > limit) {
            p *= r.nextDouble();
            k++;
        }
        return k;
    }
}
