package dev.rlhf.reward.core;

/**
 * The combined reward of one pair from its components (reward.proto, PairScore): the total
 * Σ wᵢ·vᵢ and, treating the components as independent, its uncertainty √(Σ (wᵢ·uᵢ)²).
 */
public final class Combination {

    private Combination() {
    }

    /**
     * Σ wᵢ·vᵢ.
     *
     * @param weights [C] component weights
     * @param values  [C] component values (after normalisation)
     */
    public static double total(double[] weights, double[] values) {
        check(weights, values);
        double sum = 0;
        for (int i = 0; i < weights.length; i++) {
            sum += weights[i] * values[i];
        }
        return sum;
    }

    /**
     * √(Σ (wᵢ·uᵢ)²): the standard deviation of the total for independent components.
     *
     * @param weights       [C] component weights
     * @param uncertainties [C] component standard deviations (0 for rules)
     */
    public static double uncertainty(double[] weights, double[] uncertainties) {
        check(weights, uncertainties);
        double sq = 0;
        for (int i = 0; i < weights.length; i++) {
            double u = weights[i] * uncertainties[i];
            sq += u * u;
        }
        return Math.sqrt(sq);
    }

    private static void check(double[] weights, double[] other) {
        if (weights.length != other.length) {
            throw new IllegalArgumentException(weights.length + " weights for " + other.length + " components");
        }
    }
}
