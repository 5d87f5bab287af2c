package dev.rlhf.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

class ValidationSplitTest {

    @Test
    void holdsOutAboutTheFractionOfKeysAndTheSeedPicksWhich() {
        long held = IntStream.range(0, 10_000).filter(i -> ValidationSplit.heldOut("prompt " + i, 7, 0.2)).count();
        assertEquals(2_000, held, 150, "about 20 % of 10,000 keys");
        long both = IntStream.range(0, 10_000).filter(i -> ValidationSplit.heldOut("prompt " + i, 7, 0.2)
                && ValidationSplit.heldOut("prompt " + i, 8, 0.2)).count();
        assertTrue(both < 700, "another seed holds out other keys (independent: about 400 in both), got " + both);
        assertTrue(IntStream.range(0, 1_000).noneMatch(i -> ValidationSplit.heldOut("k" + i, 1, 0)), "0: none");
        assertTrue(IntStream.range(0, 1_000).allMatch(i -> ValidationSplit.heldOut("k" + i, 1, 1)), "1: all");
    }

    @Test
    void theRuleIsFixedSoSplitsAreReproducible() {
        // what the jobs held out before the rule moved here (String.hashCode is specified)
        assertEquals(Math.floorMod(("Greet Yara.".hashCode() ^ Long.hashCode(7)) * 0x9E3779B9, 1000) < 200,
                ValidationSplit.heldOut("Greet Yara.", 7, 0.2));
        int inSet = 0;
        for (int i = 0; i < 100; i++) {
            boolean h = ValidationSplit.heldOut("What is " + i + "?", 0, 0.5);
            assertEquals(h, ValidationSplit.heldOut("What is " + i + "?", 0, 0.5), "the same key, the same side");
            inSet += h ? 1 : 0;
        }
        assertFalse(inSet == 0 || inSet == 100);
    }
}
