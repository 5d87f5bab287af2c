package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Token rewards and the per-sequence KL against values worked out by hand. */
class TokenRewardsTest {

    private final boolean[][] mask = TokenArrays.rightPadded(new int[] {3, 1, 4}, 4);
    // padding holds garbage on purpose: it must not leak into rewards or sums
    private final double[][] kl = {{0.5, -0.2, 1.0, 77}, {0.3, 9, 9, 9}, {0.1, 0.1, 0.1, 0.1}};

    @Test
    void penaltyOnEveryResponseTokenAndTheClippedScoreOnTheLast() {
        double[][] r = TokenRewards.of(kl, mask, new double[] {2.0, -5.0, 0.7}, 0.1, 3.0);
        assertArrayEquals(new double[] {-0.05, 0.02, -0.1 + 2.0, 0}, r[0], 1e-12);
        assertArrayEquals(new double[] {-0.03 - 3.0, 0, 0, 0}, r[1], 1e-12, "−5 clipped to −3, on the only token");
        assertArrayEquals(new double[] {-0.01, -0.01, -0.01, -0.01 + 0.7}, r[2], 1e-12, "full row: score on position 3");
    }

    @Test
    void clipZeroKeepsTheScoreAndBetaZeroDropsThePenalty() {
        double[][] r = TokenRewards.of(kl, mask, new double[] {20, -50, 0}, 0, 0);
        assertArrayEquals(new double[] {0, 0, 20, 0}, r[0], 0);
        assertArrayEquals(new double[] {-50, 0, 0, 0}, r[1], 0);
        assertArrayEquals(new double[] {0, 0, 0, 0}, r[2], 0);
    }

    @Test
    void theScoreGoesToTheLastMaskedPositionWhereverItIs() {
        boolean[][] holes = {{true, true, false, true, false}};
        double[][] r = TokenRewards.of(new double[][] {{1, 1, 1, 1, 1}}, holes, new double[] {4}, 0.5, 0);
        assertArrayEquals(new double[] {-0.5, -0.5, 0, 3.5, 0}, r[0], 1e-12);
    }

    @Test
    void missingEosPenaltyOnlyWithoutEos() {
        assertEquals(1.5, TokenRewards.withMissingEosPenalty(1.5, true, 1.0));
        assertEquals(0.5, TokenRewards.withMissingEosPenalty(1.5, false, 1.0));
        assertThrows(IllegalArgumentException.class, () -> TokenRewards.withMissingEosPenalty(1, false, -1));
    }

    @Test
    void meanSequenceKlSumsEachRowOverItsTokensThenAveragesRows() {
        // (0.5 − 0.2 + 1.0) + 0.3 + 0.4 = 2.0 over 3 rows
        assertEquals(2.0 / 3, TokenRewards.meanSequenceKl(kl, mask), 1e-12);
    }

    @Test
    void refusesEmptyRowsNegativeBetaAndMisshapenInputs() {
        boolean[][] empty = TokenArrays.rightPadded(new int[] {2, 0}, 2);
        assertThrows(IllegalArgumentException.class, () -> TokenRewards.of(new double[2][2], empty, new double[2], 0.1, 0));
        assertThrows(IllegalArgumentException.class, () -> TokenRewards.of(kl, mask, new double[3], -0.1, 0));
        assertThrows(IllegalArgumentException.class, () -> TokenRewards.of(kl, mask, new double[2], 0.1, 0));
    }
}
