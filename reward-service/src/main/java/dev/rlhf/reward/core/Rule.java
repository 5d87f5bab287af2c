package dev.rlhf.reward.core;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A rule-based reward: a check of a (prompt, response) pair with value {@link #SATISFIED}
 * (1) when it holds and {@link #VIOLATED} (0) when not. A rule's configured weight is thus
 * what a response gains by following it; rules never change the scale of the learned
 * components they are summed with.
 *
 * <p>Regexes are {@link java.util.regex.Pattern}s searched anywhere in the text
 * ({@link java.util.regex.Matcher#find()}); flags go inline, e.g. {@code (?i)}. Lengths count
 * Unicode code points, so an emoji is one character.
 */
public sealed interface Rule {

    /** Value of a rule that holds. */
    double SATISFIED = 1.0;
    /** Value of a rule that is broken. */
    double VIOLATED = 0.0;

    /** Whether {@code response} to {@code prompt} follows the rule. */
    boolean satisfied(String prompt, String response);

    /** {@link #SATISFIED} or {@link #VIOLATED}. */
    default double value(String prompt, String response) {
        return satisfied(prompt, response) ? SATISFIED : VIOLATED;
    }

    /** The response must contain a match of {@code pattern} (kind {@code regex-must}). */
    record RegexMust(Pattern pattern) implements Rule {
        public RegexMust {
            Objects.requireNonNull(pattern, "pattern");
        }

        @Override
        public boolean satisfied(String prompt, String response) {
            return pattern.matcher(response).find();
        }
    }

    /** The response must not contain any match of {@code pattern} (kind {@code regex-must-not}). */
    record RegexMustNot(Pattern pattern) implements Rule {
        public RegexMustNot {
            Objects.requireNonNull(pattern, "pattern");
        }

        @Override
        public boolean satisfied(String prompt, String response) {
            return !pattern.matcher(response).find();
        }
    }

    /**
     * The response has {@code minChars..maxChars} characters (code points), both inclusive
     * (kind {@code length}).
     */
    record Length(int minChars, int maxChars) implements Rule {
        public Length {
            if (minChars < 0 || maxChars < minChars) {
                throw new IllegalArgumentException("need 0 <= minChars <= maxChars, got " + minChars + ".." + maxChars);
            }
        }

        @Override
        public boolean satisfied(String prompt, String response) {
            int n = response.codePointCount(0, response.length());
            return n >= minChars && n <= maxChars;
        }
    }

    /**
     * When the prompt contains a match of {@code prompt}, the response must contain a match of
     * {@code refusal} (kind {@code refusal}): requests that must be declined are declined. Any
     * other prompt satisfies the rule.
     */
    record Refusal(Pattern prompt, Pattern refusal) implements Rule {
        public Refusal {
            Objects.requireNonNull(prompt, "prompt");
            Objects.requireNonNull(refusal, "refusal");
        }

        @Override
        public boolean satisfied(String promptText, String response) {
            return !prompt.matcher(promptText).find() || refusal.matcher(response).find();
        }
    }
}
