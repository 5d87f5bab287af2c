package dev.rlhf.demo.task;

import java.util.List;
import java.util.Objects;
import java.util.Random;

/**
 * A simulated human labeler: shown a prompt and two responses, it prefers one at random by
 * the Bradley–Terry model on the {@link GoldJudge}'s scores with a temperature,
 * <pre>
 * P(a ≻ b) = σ((gold(a) − gold(b)) / temperature)
 * </pre>
 * (Bradley &amp; Terry 1952; the preference model of Christiano et al. 2017 and Ouyang et al.
 * 2022). A low temperature gives a careful labeler who almost always agrees with the gold
 * ordering, a high one a coin-flipper. Because the labels are noisy, no reward model can
 * agree with them more often than {@link #noiseCeiling}; the demo compares the reward model's
 * held-out accuracy against that ceiling.
 *
 * <p>Thread-safety: safe to share; the draws come from one {@link Random} seeded at
 * construction, whose updates are atomic. The sequence of choices is reproducible from the
 * seed only when the calls come in a fixed order (from one thread, say).
 */
public final class SimulatedLabeler {

    /**
     * One label.
     *
     * @param firstPreferred   whether the labeler preferred the first response
     * @param probabilityFirst the probability, in [0, 1], with which it does so
     */
    public record Choice(boolean firstPreferred, double probabilityFirst) {
        public Choice {
            if (!(probabilityFirst >= 0 && probabilityFirst <= 1)) {
                throw new IllegalArgumentException("probabilityFirst " + probabilityFirst + " must be in [0, 1]");
            }
        }
    }

    /**
     * Two responses to one prompt, for the expected-label statistics.
     *
     * @param prompt a prompt of one of {@link DemoTask}'s templates
     * @param first  one response
     * @param second the other
     */
    public record Comparison(String prompt, String first, String second) {
        public Comparison {
            Objects.requireNonNull(prompt, "prompt");
            Objects.requireNonNull(first, "first");
            Objects.requireNonNull(second, "second");
        }
    }

    private final GoldJudge judge;
    private final double temperature;
    private final Random random;

    /**
     * @param judge       the gold scores the labeler's preferences follow
     * @param temperature the Bradley–Terry temperature, finite and &gt; 0 (the judge's scores
     *                    lie in [0, 1]; 0.1 gives a careful labeler, 10 a near coin-flipper)
     * @param seed        seeds the labeler's draws
     */
    public SimulatedLabeler(GoldJudge judge, double temperature, long seed) {
        this.judge = Objects.requireNonNull(judge, "judge");
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature " + temperature
                    + " must be finite and > 0; for a labeler that always follows the judge use a small one, e.g. 1e-6");
        }
        this.temperature = temperature;
        this.random = new Random(seed);
    }

    /**
     * @return which response the labeler prefers, drawn with P(a ≻ b) = σ((gold(a) − gold(b)) / T),
     *         and that probability
     * @throws IllegalArgumentException naming the prompt when it fits no template
     */
    public Choice choose(String prompt, String a, String b) {
        double p = probabilityFirst(prompt, a, b);
        return new Choice(random.nextDouble() < p, p);
    }

    /**
     * The expected share of this labeler's labels on these comparisons that go against the
     * gold ordering: the mean of min(p, 1 − p) with p = P(first ≻ second). A tie in gold
     * counts ½.
     *
     * @param comparisons at least one
     */
    public double disagreementRate(List<Comparison> comparisons) {
        if (comparisons.isEmpty()) {
            throw new IllegalArgumentException("no comparisons; give at least one");
        }
        double sum = 0;
        for (Comparison c : comparisons) {
            double p = probabilityFirst(c.prompt(), c.first(), c.second());
            sum += Math.min(p, 1 - p);
        }
        return sum / comparisons.size();
    }

    /**
     * The labelers' noise ceiling: the expected accuracy, against this labeler's labels, of
     * the best possible predictor (the one that always names the gold-preferred response),
     * the mean of max(p, 1 − p), which is 1 − {@link #disagreementRate}.
     *
     * @param comparisons at least one
     */
    public double noiseCeiling(List<Comparison> comparisons) {
        return 1 - disagreementRate(comparisons);
    }

    /** σ((gold(a) − gold(b)) / T), evaluated so that neither branch overflows. */
    private double probabilityFirst(String prompt, String a, String b) {
        double x = (judge.score(prompt, a) - judge.score(prompt, b)) / temperature;
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }
}
