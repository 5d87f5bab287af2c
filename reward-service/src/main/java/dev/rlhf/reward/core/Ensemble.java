package dev.rlhf.reward.core;

/**
 * Statistics of an ensemble reward model's K member scores for one pair: the reward is
 * their mean, the uncertainty their (population) standard deviation — the disagreement of
 * the members (Coste et al. 2023, "Reward Model Ensembles Help Mitigate Overoptimization").
 */
public final class Ensemble {

    private Ensemble() {
    }

    /** r̄ = (1/K) Σ r_k over {@code members} [K], K ≥ 1. */
    public static double mean(float[] members) {
        if (members.length == 0) {
            throw new IllegalArgumentException("an ensemble has at least one member");
        }
        double sum = 0;
        for (float r : members) {
            sum += r;
        }
        return sum / members.length;
    }

    /** σ = √((1/K) Σ (r_k − r̄)²) over {@code members} [K]; 0 for K = 1. */
    public static double std(float[] members) {
        double mean = mean(members);
        double sq = 0;
        for (float r : members) {
            sq += (r - mean) * (r - mean);
        }
        return Math.sqrt(sq / members.length);
    }
}
