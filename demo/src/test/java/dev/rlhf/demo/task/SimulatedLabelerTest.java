package dev.rlhf.demo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.rlhf.demo.task.SimulatedLabeler.Choice;
import dev.rlhf.demo.task.SimulatedLabeler.Comparison;

class SimulatedLabelerTest {

    private static final GoldJudge JUDGE = new GoldJudge();
    /** Every ordered pair of kinds on every training prompt: 306 × 12 comparisons, none tied in gold. */
    private static final List<Comparison> COMPARISONS = comparisons(DemoTask.create(11));
    private static final int ROUNDS = 5;

    @Test
    void empiricalAgreementWithTheGoldOrderingMatchesOneMinusTheDisagreementRate() {
        SimulatedLabeler labeler = new SimulatedLabeler(JUDGE, 0.2, 3);
        double disagreement = labeler.disagreementRate(COMPARISONS);
        assertTrue(disagreement > 0.05 && disagreement < 0.45, "a test temperature with noise to measure: " + disagreement);
        double agreement = agreement(labeler);
        assertEquals(1 - disagreement, agreement, 0.015);
        assertEquals(labeler.noiseCeiling(COMPARISONS), agreement, 0.015);
    }

    @Test
    void theNoiseCeilingIsTheMeanOfTheLargerProbability() {
        SimulatedLabeler labeler = new SimulatedLabeler(JUDGE, 0.2, 3);
        SimulatedLabeler oracle = new SimulatedLabeler(JUDGE, 0.2, 99);
        double sumMax = 0;
        double sumMin = 0;
        for (Comparison c : COMPARISONS) {
            double p = oracle.choose(c.prompt(), c.first(), c.second()).probabilityFirst();
            sumMax += Math.max(p, 1 - p);
            sumMin += Math.min(p, 1 - p);
        }
        assertEquals(sumMax / COMPARISONS.size(), labeler.noiseCeiling(COMPARISONS), 1e-12);
        assertEquals(sumMin / COMPARISONS.size(), labeler.disagreementRate(COMPARISONS), 1e-12);
    }

    @Test
    void probabilitiesFollowBradleyTerryAndAreSymmetric() {
        SimulatedLabeler labeler = new SimulatedLabeler(JUDGE, 0.5, 1);
        for (Comparison c : COMPARISONS.subList(0, 200)) {
            double x = (JUDGE.score(c.prompt(), c.first()) - JUDGE.score(c.prompt(), c.second())) / 0.5;
            double p = labeler.choose(c.prompt(), c.first(), c.second()).probabilityFirst();
            double q = labeler.choose(c.prompt(), c.second(), c.first()).probabilityFirst();
            assertEquals(1 / (1 + Math.exp(-x)), p, 1e-12, c::toString);
            assertEquals(1.0, p + q, 1e-12, c::toString);
        }
    }

    @Test
    void aNearZeroTemperatureAlwaysPicksTheGoldPreferredResponse() {
        SimulatedLabeler labeler = new SimulatedLabeler(JUDGE, 1e-9, 5);
        assertEquals(1.0, agreement(labeler), 0.0);
        assertEquals(1.0, labeler.noiseCeiling(COMPARISONS), 1e-12);
        assertEquals(0.0, labeler.disagreementRate(COMPARISONS), 1e-12);
    }

    @Test
    void aLargeTemperatureFlipsCoins() {
        SimulatedLabeler labeler = new SimulatedLabeler(JUDGE, 1e4, 5);
        int first = 0;
        for (int round = 0; round < ROUNDS; round++) {
            for (Comparison c : COMPARISONS) {
                first += labeler.choose(c.prompt(), c.first(), c.second()).firstPreferred() ? 1 : 0;
            }
        }
        assertEquals(0.5, first / (double) (ROUNDS * COMPARISONS.size()), 0.015);
        assertEquals(0.5, agreement(labeler), 0.015);
        assertEquals(0.5, labeler.noiseCeiling(COMPARISONS), 1e-3);
    }

    @Test
    void theSameSeedGivesTheSameLabelsAndAnotherSeedOthers() {
        assertEquals(labels(new SimulatedLabeler(JUDGE, 0.3, 8)), labels(new SimulatedLabeler(JUDGE, 0.3, 8)));
        assertNotEquals(labels(new SimulatedLabeler(JUDGE, 0.3, 8)), labels(new SimulatedLabeler(JUDGE, 0.3, 9)));
    }

    @Test
    void badArgumentsAreRejectedByValue() {
        for (double t : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new SimulatedLabeler(JUDGE, t, 1));
            assertTrue(e.getMessage().contains("temperature " + t), e.getMessage());
        }
        SimulatedLabeler labeler = new SimulatedLabeler(JUDGE, 1, 1);
        assertThrows(IllegalArgumentException.class, () -> labeler.noiseCeiling(List.of()));
        assertThrows(NullPointerException.class, () -> new SimulatedLabeler(null, 1, 1));
    }

    /** The share of ROUNDS labels per comparison that pick the response the judge scores higher. */
    private static double agreement(SimulatedLabeler labeler) {
        int agree = 0;
        for (int round = 0; round < ROUNDS; round++) {
            for (Comparison c : COMPARISONS) {
                boolean goldFirst = JUDGE.score(c.prompt(), c.first()) > JUDGE.score(c.prompt(), c.second());
                agree += labeler.choose(c.prompt(), c.first(), c.second()).firstPreferred() == goldFirst ? 1 : 0;
            }
        }
        return agree / (double) (ROUNDS * COMPARISONS.size());
    }

    private static List<Boolean> labels(SimulatedLabeler labeler) {
        return COMPARISONS.subList(0, 500).stream()
                .map(c -> labeler.choose(c.prompt(), c.first(), c.second()))
                .map(Choice::firstPreferred).toList();
    }

    private static List<Comparison> comparisons(DemoTask task) {
        List<Comparison> out = new ArrayList<>();
        for (String prompt : task.trainPrompts()) {
            for (Quality a : Quality.values()) {
                for (Quality b : Quality.values()) {
                    if (a != b) {
                        out.add(new Comparison(prompt, DemoTask.responses(prompt, a).get(0),
                                DemoTask.responses(prompt, b).get(0)));
                    }
                }
            }
        }
        for (Comparison c : out) {
            if (JUDGE.score(c.prompt(), c.first()) == JUDGE.score(c.prompt(), c.second())) {
                throw new IllegalStateException("a gold tie would make the agreement ambiguous: " + c);
            }
        }
        return out;
    }
}
