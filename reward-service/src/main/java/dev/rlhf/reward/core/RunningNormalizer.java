package dev.rlhf.reward.core;

/**
 * Running normalisation of one reward model's raw scores, so that a reward's scale does not
 * change from one trained version to the next (OpenRLHF's {@code normalize_reward}, with the
 * statistics kept online instead of from the training set).
 *
 * <p>Statistics: count n, mean μ and M₂ = Σ(x − μ)² by Welford's update (B. P. Welford, 1962,
 * "Note on a method for calculating corrected sums of squares and products"), which stays
 * exact where the naive Σx² − (Σx)²/n cancels catastrophically: for each score x,
 * <pre>
 *   n ← n + 1;  δ = x − μ;  μ ← μ + δ / n;  M₂ ← M₂ + δ · (x − μ)
 * </pre>
 * and σ = √(M₂ / n), the population standard deviation.
 *
 * <p>Per scored batch, {@link #observe} first adds the batch's raw scores, then returns a
 * {@link Snapshot} that every score of the batch is normalised with (one call, one set of
 * statistics). A value is
 * <ul>
 *   <li>{@code (x − μ) / max(σ, ε)} once n ≥ warm-up;</li>
 *   <li>{@code x − μ} before (centred only: with few scores σ is too noisy to divide by,
 *       while μ settles fast). The first batch is thus centred on its own mean.</li>
 * </ul>
 * A new model version gets a new normaliser: statistics of another version's scores do not
 * apply to it. Thread-safe.
 */
public final class RunningNormalizer {

    private final long warmUp;
    private final double epsilon;
    private long count;
    private double mean;
    private double m2;

    /**
     * @param warmUp  scores to see before dividing by σ, ≥ 0
     * @param epsilon lower bound of the σ divided by, &gt; 0
     */
    public RunningNormalizer(long warmUp, double epsilon) {
        if (warmUp < 0) {
            throw new IllegalArgumentException("warm-up must be >= 0, got " + warmUp);
        }
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException("epsilon must be a finite number > 0, got " + epsilon);
        }
        this.warmUp = warmUp;
        this.epsilon = epsilon;
    }

    /**
     * The statistics a batch is normalised with.
     *
     * @param count n, scores seen (this batch included)
     * @param mean  μ of those scores
     * @param std   σ of those scores (population)
     * @param scale the divisor: max(σ, ε) after warm-up, 1 before
     */
    public record Snapshot(long count, double mean, double std, double scale) {

        /** The normalised value of raw score {@code x}: (x − μ) / scale. */
        public double normalise(double x) {
            return (x - mean) / scale;
        }

        /** A spread (e.g. the ensemble's σ) in normalised units: s / scale. */
        public double rescale(double spread) {
            return spread / scale;
        }
    }

    /**
     * Adds {@code raw} (a batch's raw scores) to the statistics.
     *
     * @param raw [B] raw scores, each finite
     * @return the statistics after the update, to normalise this batch with
     * @throws IllegalArgumentException on a non-finite score (it would poison μ and σ for good)
     */
    public synchronized Snapshot observe(double[] raw) {
        for (int i = 0; i < raw.length; i++) {
            if (!Double.isFinite(raw[i])) {
                throw new IllegalArgumentException("score " + i + " of the batch is " + raw[i] + ", not finite");
            }
        }
        for (double x : raw) {
            count++;
            double delta = x - mean;
            mean += delta / count;
            m2 += delta * (x - mean);
        }
        return snapshot();
    }

    /** The current statistics, without an update. */
    public synchronized Snapshot snapshot() {
        double std = count == 0 ? 0 : Math.sqrt(m2 / count);
        double scale = count >= warmUp && count > 0 ? Math.max(std, epsilon) : 1.0;
        return new Snapshot(count, mean, std, scale);
    }
}
