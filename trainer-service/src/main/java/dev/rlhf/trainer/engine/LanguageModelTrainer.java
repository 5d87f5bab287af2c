package dev.rlhf.trainer.engine;

import java.util.List;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import dev.rlhf.trainer.algo.WarmupCosineSchedule;

/**
 * Optimisation of a {@link LlamaModel} on next-token batches: forward, masked cross-entropy,
 * backward, global-norm clipping, AdamW with a warmup + cosine schedule. Each step runs in
 * an {@link NDScope}, so no native array outlives it (the parameters and the optimizer
 * moments are created outside and survive).
 */
public final class LanguageModelTrainer implements AutoCloseable {

    /**
     * A padded batch.
     *
     * @param ids       [B][T] input tokens
     * @param mask      [B][T] 1 = token, 0 = padding
     * @param positions [B][T]
     * @param targets   [B][T] the next token of each position (anything where lossMask is 0)
     * @param lossMask  [B][T] 1 where the prediction counts
     */
    public record Batch(long[][] ids, long[][] mask, long[][] positions, long[][] targets, float[][] lossMask) {
        public int tokens() {
            int n = 0;
            for (long[] row : mask) {
                for (long m : row) {
                    n += (int) m;
                }
            }
            return n;
        }
    }

    /** What one step did. */
    public record StepResult(int step, double loss, double gradNorm, double learningRate, int tokens) {
    }

    private final LlamaModel model;
    private final NDManager manager;
    private final AdamW optimizer;
    private final WarmupCosineSchedule schedule;
    private final double maxGradNorm;
    private int step;

    public LanguageModelTrainer(LlamaModel model, NDManager manager, AdamW.Options options,
            WarmupCosineSchedule schedule, double maxGradNorm) {
        this.model = model;
        this.manager = manager;
        this.optimizer = new AdamW(model.parameters(), options, manager);
        this.schedule = schedule;
        this.maxGradNorm = maxGradNorm;
        model.requireGradients(true);
    }

    /** One optimisation step on {@code batch}. */
    public StepResult step(Batch batch) {
        double lr = schedule.at(step);
        double loss;
        double norm;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // 1. forward and backward with gradients recorded
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray l = lossOf(batch);
                gc.backward(l);
                loss = l.getFloat();
            }
            // 2. clip, 3. update, 4. clear the gradients for the next step
            norm = Gradients.clipGlobalNorm(model.parameters().values(), maxGradNorm);
            optimizer.step(lr);
            Gradients.zero(model.parameters().values());
        }
        return new StepResult(step++, loss, norm, lr, batch.tokens());
    }

    /** Mean loss over {@code batches} (weighted by counted tokens), without gradients. */
    public double evaluate(List<Batch> batches) {
        double total = 0;
        double weight = 0;
        for (Batch b : batches) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                double counted = 0;
                for (float[] row : b.lossMask()) {
                    for (float m : row) {
                        counted += m;
                    }
                }
                total += lossOf(b).getFloat() * counted;
                weight += counted;
            }
        }
        return weight == 0 ? Double.NaN : total / weight;
    }

    private NDArray lossOf(Batch b) {
        NDArray logits = model.forward(manager.create(b.ids()), manager.create(b.mask()), manager.create(b.positions()));
        return CausalLmLoss.of(logits, manager.create(b.targets()), manager.create(b.lossMask()));
    }

    public int steps() {
        return step;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    @Override
    public void close() {
        optimizer.close();
    }
}
