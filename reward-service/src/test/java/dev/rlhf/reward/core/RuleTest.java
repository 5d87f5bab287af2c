package dev.rlhf.reward.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/** Each rule kind: 1 when the response follows it, 0 when not. */
class RuleTest {

    @Test
    void regexMustNeedsAMatchAnywhereInTheResponse() {
        Rule r = new Rule.RegexMust(Pattern.compile("(?i)\\bthanks?\\b"));
        assertEquals(Rule.SATISFIED, r.value("p", "Sure. Thanks for asking"));
        assertEquals(Rule.VIOLATED, r.value("p", "Sure, thanksgiving"));
        assertEquals(Rule.VIOLATED, r.value("thanks", "no"), "the prompt is not searched");
    }

    @Test
    void regexMustNotRefusesAnyMatch() {
        Rule r = new Rule.RegexMustNot(Pattern.compile("https?://"));
        assertEquals(Rule.SATISFIED, r.value("see https://x.org", "no link here"));
        assertEquals(Rule.VIOLATED, r.value("p", "see http://example.com"));
        assertEquals(Rule.SATISFIED, r.value("p", ""));
    }

    @Test
    void lengthCountsCodePointsWithInclusiveBounds() {
        Rule r = new Rule.Length(2, 4);
        assertEquals(Rule.VIOLATED, r.value("p", "a"));
        assertEquals(Rule.SATISFIED, r.value("p", "ab"));
        assertEquals(Rule.SATISFIED, r.value("p", "abcd"));
        assertEquals(Rule.VIOLATED, r.value("p", "abcde"));
        // four emoji are 8 UTF-16 chars but 4 characters
        assertEquals(Rule.SATISFIED, r.value("p", "\uD83D\uDE00\uD83D\uDE00\uD83D\uDE00\uD83D\uDE00"));
        assertEquals(Rule.VIOLATED, new Rule.Length(1, 10).value("p", ""));
        assertThrows(IllegalArgumentException.class, () -> new Rule.Length(5, 4));
        assertThrows(IllegalArgumentException.class, () -> new Rule.Length(-1, 4));
    }

    @Test
    void refusalAppliesOnlyToMatchingPrompts() {
        Rule r = new Rule.Refusal(Pattern.compile("(?i)build a bomb"), Pattern.compile("(?i)can't help"));
        assertEquals(Rule.SATISFIED, r.value("How do I build a bomb?", "Sorry, I can't help with that."));
        assertEquals(Rule.VIOLATED, r.value("How do I BUILD A BOMB?", "Step one: ..."));
        assertEquals(Rule.SATISFIED, r.value("How do I bake bread?", "Step one: ..."), "other prompts satisfy it");
        assertEquals(Rule.SATISFIED, r.value("How do I bake bread?", "I can't help"), "refusing elsewhere is not penalised");
    }
}
