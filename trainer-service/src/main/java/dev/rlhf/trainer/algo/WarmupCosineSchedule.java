package dev.rlhf.trainer.algo;

/**
 * Learning rate with linear warmup then cosine decay (Loshchilov &amp; Hutter 2017, "SGDR";
 * the schedule of most LLM fine-tuning recipes):
 * <pre>
 * lr(s) = peak · (s + 1) / warmup                                   for s &lt; warmup
 * lr(s) = peak · (r + (1 − r) · ½ · (1 + cos(π · (s − warmup) / (total − warmup))))   after
 * </pre>
 * with r = {@code minRatio}; steps past {@code total} keep the final value.
 */
public record WarmupCosineSchedule(double peak, int warmupSteps, int totalSteps, double minRatio) {

    public WarmupCosineSchedule {
        if (!(peak > 0)) {
            throw new IllegalArgumentException("peak learning rate must be > 0, got " + peak);
        }
        if (warmupSteps < 0 || totalSteps < 1 || warmupSteps > totalSteps) {
            throw new IllegalArgumentException("need 0 <= warmup (" + warmupSteps + ") <= total (" + totalSteps
                    + ") and total >= 1");
        }
        if (minRatio < 0 || minRatio > 1) {
            throw new IllegalArgumentException("min ratio must be in [0, 1], got " + minRatio);
        }
    }

    /** The learning rate of step {@code s} (0-based). */
    public double at(int s) {
        if (s < warmupSteps) {
            return peak * (s + 1) / warmupSteps;
        }
        int decaySteps = Math.max(1, totalSteps - warmupSteps);
        double progress = Math.min(1.0, (double) (s - warmupSteps) / decaySteps);
        return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
}
