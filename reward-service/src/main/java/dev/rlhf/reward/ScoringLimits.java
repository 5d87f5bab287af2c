package dev.rlhf.reward;

/**
 * How Score calls are bounded and how over-long pairs are handled, checked from
 * {@link RewardConfig}.
 *
 * @param batchSize        most sequences in one ONNX Runtime run
 * @param maxPairs         most pairs in one call
 * @param maxInflightPairs most pairs being scored at once over all calls
 * @param retryAfterMs     the retry hint sent with RESOURCE_EXHAUSTED
 * @param truncation       what happens to a pair longer than a reward model's context
 */
public record ScoringLimits(int batchSize, int maxPairs, int maxInflightPairs, int retryAfterMs, Truncation truncation) {

    /** What happens to a pair longer than a reward model's context length. */
    public enum Truncation {
        /** INVALID_ARGUMENT naming the pair. */
        REJECT,
        /** Tokens are dropped from the left (the prompt's first) until it fits; the score is marked truncated. */
        TRUNCATE_LEFT
    }

    /**
     * Checks and reads the limits.
     *
     * @throws IllegalArgumentException naming the bad key, its value and the fix
     */
    public static ScoringLimits from(RewardConfig c) {
        if (c.batchSize() < 1) {
            throw new IllegalArgumentException("rlhf.reward.batch-size must be >= 1, got " + c.batchSize());
        }
        if (c.maxPairs() < 1) {
            throw new IllegalArgumentException("rlhf.reward.max-pairs must be >= 1, got " + c.maxPairs());
        }
        if (c.maxInflightPairs() < c.maxPairs()) {
            throw new IllegalArgumentException("rlhf.reward.max-inflight-pairs (" + c.maxInflightPairs()
                    + ") must be >= rlhf.reward.max-pairs (" + c.maxPairs() + "), or a full call is never admitted");
        }
        if (c.retryAfterMs() < 0) {
            throw new IllegalArgumentException("rlhf.reward.retry-after-ms must be >= 0, got " + c.retryAfterMs());
        }
        Truncation truncation = switch (c.truncation()) {
            case "reject" -> Truncation.REJECT;
            case "truncate-left" -> Truncation.TRUNCATE_LEFT;
            default -> throw new IllegalArgumentException("rlhf.reward.truncation must be reject or truncate-left, got '"
                    + c.truncation() + "'");
        };
        return new ScoringLimits(c.batchSize(), c.maxPairs(), c.maxInflightPairs(), c.retryAfterMs(), truncation);
    }
}
