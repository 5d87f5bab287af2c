package dev.rlhf.trainer.sft;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.ValidationSplit;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.DefaultTokenizer;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.trainer.VersionFolder;
import dev.rlhf.trainer.algo.WarmupCosineSchedule;
import dev.rlhf.trainer.engine.AdamW;
import dev.rlhf.trainer.engine.LanguageModelTrainer;
import dev.rlhf.trainer.engine.LlamaModel;

/**
 * Supervised fine-tuning (InstructGPT's first step, Ouyang et al. 2022 §3.5): next-token
 * cross-entropy on demonstrations, with the loss on response tokens only. Ends by writing a
 * {@code policy} version and a frozen {@code reference} copy to the model store.
 *
 * <p>Steps: 1. encode every demonstration with the chat template (refusing any longer than the
 * context window: nothing is silently cut); 2. split train/validation by prompt, so no prompt
 * is in both; 3. train for the configured epochs in shuffled, right-padded batches, reporting
 * progress and checkpointing every N steps; 4. measure validation loss before and after;
 * 5. export config, tokenizer, safetensors and ONNX, and store them atomically.
 */
public final class SftJob {

    /**
     * @param epochs             passes over the training split, &gt;= 1
     * @param batchSize          demonstrations per step
     * @param learningRate       AdamW peak learning rate
     * @param warmupSteps        linear warmup before the cosine decay (to 10 % of the peak)
     * @param weightDecay        decoupled, on projection matrices only
     * @param maxGradNorm        global gradient-norm clip (0 = off)
     * @param validationFraction share of prompts held out, in [0, 0.5]
     * @param seed               initial weights (when none are given), shuffling
     * @param checkpointEvery    steps between checkpoints (0 = none)
     * @param checkpointDir      where checkpoints go (null = none)
     * @param outputName         the store name of the result (usually "policy")
     * @param exportReference    also store the result as "reference" (the frozen KL anchor)
     */
    public record Config(int epochs, int batchSize, double learningRate, int warmupSteps, double weightDecay,
            double maxGradNorm, double validationFraction, long seed, int checkpointEvery, Path checkpointDir,
            String outputName, boolean exportReference) {
        public Config {
            if (epochs < 1 || batchSize < 1) {
                throw new IllegalArgumentException("epochs and batch size must be >= 1, got " + epochs + ", " + batchSize);
            }
            if (!(learningRate > 0) || warmupSteps < 0 || weightDecay < 0 || maxGradNorm < 0) {
                throw new IllegalArgumentException("need learning rate > 0 and warmup, weight decay, grad clip >= 0");
            }
            if (validationFraction < 0 || validationFraction > 0.5) {
                throw new IllegalArgumentException("validation fraction must be in [0, 0.5], got " + validationFraction);
            }
        }
    }

    /** Progress after a step. */
    public record Progress(int step, int totalSteps, double loss, double tokensPerSecond, Duration eta) {
        @Override
        public String toString() {
            return String.format("step %d/%d loss %.4f %.0f tok/s ETA %ds", step, totalSteps, loss, tokensPerSecond,
                    eta.toSeconds());
        }
    }

    /** What the job produced; {@code reference} is null when none was exported. */
    public record Result(double validationLossBefore, double validationLossAfter, int steps, double tokensPerSecond,
            StoredVersion policy, StoredVersion reference, List<Tensor> weights) {
    }

    private SftJob() {
    }

    /**
     * Runs SFT.
     *
     * @param initial weights to start from (HF names), or null for a seeded random init
     */
    public static Result run(ModelConfig model, Map<String, Tensor> initial, Path tokenizerJson,
            List<SftExample> data, ModelStore store, Config cfg, Consumer<Progress> progress) throws IOException {
        // 1. encode
        List<ChatTemplate.Encoded> encoded = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        int pad;
        try (Tokenizer tok = Tokenizer.load(tokenizerJson)) {
            if (tok.vocabSize() > model.vocabSize()) {
                throw new IllegalArgumentException("the tokenizer has " + tok.vocabSize()
                        + " tokens but the model's vocab_size is " + model.vocabSize());
            }
            ChatTemplate template = new ChatTemplate(tok);
            pad = tok.tokenId("<pad>").orElse(0);
            for (int i = 0; i < data.size(); i++) {
                ChatTemplate.Encoded e = template.encode(data.get(i).messages());
                if (e.length() > model.maxPositionEmbeddings()) {
                    throw new IllegalArgumentException("demonstration " + i + " has " + e.length()
                            + " tokens, more than the context window (max_position_embeddings "
                            + model.maxPositionEmbeddings() + "); shorten it or raise the window");
                }
                encoded.add(e);
                keys.add(data.get(i).promptKey());
            }
        }
        // 2. split by prompt
        List<ChatTemplate.Encoded> train = new ArrayList<>();
        List<ChatTemplate.Encoded> validation = new ArrayList<>();
        for (int i = 0; i < encoded.size(); i++) {
            (ValidationSplit.heldOut(keys.get(i), 0, cfg.validationFraction()) ? validation : train).add(encoded.get(i));
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException("no demonstrations left for training after the validation split");
        }
        Engine.getInstance().setRandomSeed((int) cfg.seed());
        Map<String, Tensor> init = initial != null ? initial : randomInit(model, cfg.seed());
        int stepsPerEpoch = (train.size() + cfg.batchSize() - 1) / cfg.batchSize();
        int total = stepsPerEpoch * cfg.epochs();
        try (NDManager m = NDManager.newBaseManager(); LlamaModel llama = LlamaModel.of(model, init, m);
                LanguageModelTrainer trainer = new LanguageModelTrainer(llama, m,
                        AdamW.Options.defaults(cfg.weightDecay()),
                        new WarmupCosineSchedule(cfg.learningRate(), Math.min(cfg.warmupSteps(), total), total, 0.1),
                        cfg.maxGradNorm())) {
            List<LanguageModelTrainer.Batch> valBatches = batches(validation, cfg.batchSize(), pad, null);
            double before = validation.isEmpty() ? Double.NaN : trainer.evaluate(valBatches);
            // 3. train
            Random shuffle = new Random(cfg.seed());
            long start = System.nanoTime();
            long tokens = 0;
            for (int epoch = 0; epoch < cfg.epochs(); epoch++) {
                for (LanguageModelTrainer.Batch batch : batches(train, cfg.batchSize(), pad, shuffle)) {
                    LanguageModelTrainer.StepResult r = trainer.step(batch);
                    tokens += r.tokens();
                    double elapsed = (System.nanoTime() - start) / 1e9;
                    int done = r.step() + 1;
                    progress.accept(new Progress(done, total, r.loss(), tokens / elapsed,
                            Duration.ofMillis((long) (elapsed / done * (total - done) * 1000))));
                    if (cfg.checkpointDir() != null && cfg.checkpointEvery() > 0 && done % cfg.checkpointEvery() == 0) {
                        checkpoint(cfg.checkpointDir(), done, llama.weights());
                    }
                }
            }
            double tokensPerSecond = tokens / ((System.nanoTime() - start) / 1e9);
            // 4. validation after
            double after = validation.isEmpty() ? Double.NaN : trainer.evaluate(valBatches);
            // 5. export and store
            List<Tensor> weights = llama.weights();
            Map<String, Double> metrics = new LinkedHashMap<>();
            metrics.put("sft.steps", (double) total);
            if (!validation.isEmpty()) {
                metrics.put("sft.validation_loss_before", before);
                metrics.put("sft.validation_loss_after", after);
            }
            metrics.put("sft.tokens_per_second", tokensPerSecond);
            Path folder = export(model, weights, tokenizerJson);
            try {
                StoredVersion policy = store.write(cfg.outputName(), ModelKind.POLICY, 0, folder, metrics);
                StoredVersion reference = cfg.exportReference()
                        ? store.write("reference", ModelKind.REFERENCE, 0, folder, metrics)
                        : null;
                return new Result(before, after, total, tokensPerSecond, policy, reference, weights);
            } finally {
                VersionFolder.delete(folder);
            }
        }
    }

    /**
     * A model to train from scratch: learns a byte-level BPE tokenizer of at most {@code vocab}
     * tokens from the demonstrations into {@code tokenizerOut} and returns a Llama config
     * sized to it (tied embeddings, intermediate = 2 · hidden, EOS {@code </s>}).
     */
    public static ModelConfig scratch(List<SftExample> data, Path tokenizerOut, int vocab, int hidden, int layers,
            int heads, int kvHeads, int context) {
        List<String> texts = new ArrayList<>();
        data.forEach(e -> e.messages().forEach(m -> texts.add(m.content())));
        DefaultTokenizer.write(tokenizerOut, texts, vocab);
        try (Tokenizer t = Tokenizer.load(tokenizerOut)) {
            int eos = t.tokenId(DefaultTokenizer.EOS).orElseThrow();
            int bos = t.tokenId(DefaultTokenizer.BOS).orElseThrow();
            int pad = t.tokenId(DefaultTokenizer.PAD).orElseThrow();
            return new ModelConfig(t.vocabSize(), hidden, 2 * hidden, layers, heads, kvHeads, 1e-5, 10000, context,
                    true, bos, List.of(eos), pad, "llama");
        }
    }

    /** A version folder's files: config.json, tokenizer.json, model.safetensors, model.onnx (+ .data). */
    public static Path export(ModelConfig model, List<Tensor> weights, Path tokenizerJson) throws IOException {
        return VersionFolder.write(model, weights, tokenizerJson, DecoderGraph.Head.CAUSAL_LM);
    }

    /**
     * Right-padded next-token batches; the loss counts a position when the token it predicts
     * is a response token (including the closing {@code </s>}).
     */
    static List<LanguageModelTrainer.Batch> batches(List<ChatTemplate.Encoded> data, int size, int pad, Random shuffle) {
        List<ChatTemplate.Encoded> order = new ArrayList<>(data);
        if (shuffle != null) {
            Collections.shuffle(order, shuffle);
        }
        List<LanguageModelTrainer.Batch> out = new ArrayList<>();
        for (int from = 0; from < order.size(); from += size) {
            List<ChatTemplate.Encoded> rows = order.subList(from, Math.min(order.size(), from + size));
            int t = rows.stream().mapToInt(ChatTemplate.Encoded::length).max().orElse(1);
            long[][] ids = new long[rows.size()][t];
            long[][] mask = new long[rows.size()][t];
            long[][] pos = new long[rows.size()][t];
            long[][] targets = new long[rows.size()][t];
            float[][] lossMask = new float[rows.size()][t];
            for (int r = 0; r < rows.size(); r++) {
                int[] seq = rows.get(r).ids();
                int promptLength = rows.get(r).promptLength();
                java.util.Arrays.fill(ids[r], pad);
                for (int i = 0; i < seq.length; i++) {
                    ids[r][i] = seq[i];
                    mask[r][i] = 1;
                    pos[r][i] = i;
                    if (i + 1 < seq.length) {
                        targets[r][i] = seq[i + 1];
                        lossMask[r][i] = i + 1 >= promptLength ? 1f : 0f;
                    }
                }
            }
            out.add(new LanguageModelTrainer.Batch(ids, mask, pos, targets, lossMask));
        }
        return out;
    }

    private static Map<String, Tensor> randomInit(ModelConfig model, long seed) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        dev.rlhf.model.LlamaWeights.random(model, seed).forEach(t -> w.put(t.name(), t));
        return w;
    }

    /** Weights at step {@code step}, written to a temp file and renamed: a crash leaves the previous checkpoint whole. */
    private static void checkpoint(Path dir, int step, List<Tensor> weights) throws IOException {
        Files.createDirectories(dir);
        Path tmp = dir.resolve("checkpoint.safetensors.tmp");
        SafeTensors.write(tmp, weights, Map.of("step", Integer.toString(step)));
        Files.move(tmp, dir.resolve("checkpoint.safetensors"), StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
    }
}
