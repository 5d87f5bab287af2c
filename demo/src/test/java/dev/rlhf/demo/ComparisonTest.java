package dev.rlhf.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The demo's final-versus-SFT comparison on held-out prompts. */
class ComparisonTest {

    @Test
    void winsTiesAndLossesArePerPromptAndATieCountsHalf() {
        double[] sft = {1.0, 1.0, 0.5, 0.3, 0.75, 0.5};
        double[] fin = {1.0, 0.5, 1.0, 1.0, 0.75, 0.25};
        Demo.Comparison c = Demo.Comparison.of(sft, fin);
        assertEquals(2, c.wins());
        assertEquals(2, c.ties());
        assertEquals(2, c.losses());
        assertEquals(2, c.sftPerfect());
        assertEquals((2 + 1.0) / 6, c.winRate(), 1e-12);
        assertEquals(4.05 / 6, c.goldSft(), 1e-12);
        assertEquals(4.5 / 6, c.goldFinal(), 1e-12);
        assertEquals("wins 2, ties 2, losses 2; SFT already scores 1 on 2 prompts", Report.counts(c));
    }
}
