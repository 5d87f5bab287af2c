package dev.rlhf.trainer.algo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class WarmupCosineScheduleTest {

    private final WarmupCosineSchedule s = new WarmupCosineSchedule(1e-3, 10, 110, 0.1);

    @Test
    void warmsUpLinearlyThenFollowsTheCosine() {
        assertEquals(1e-4, s.at(0), 1e-12);
        assertEquals(1e-3, s.at(9), 1e-12);
        assertEquals(1e-3, s.at(10), 1e-12, "the cosine starts at the peak");
        // halfway through the decay: r + (1 − r)·½
        assertEquals(1e-3 * (0.1 + 0.9 * 0.5), s.at(60), 1e-12);
        assertEquals(1e-4, s.at(110), 1e-12);
        assertEquals(1e-4, s.at(500), 1e-12, "past the end it stays at the floor");
        for (int i = 11; i < 110; i++) {
            assertEquals(true, s.at(i) <= s.at(i - 1), "monotone decay at " + i);
        }
    }

    @Test
    void badSettingsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new WarmupCosineSchedule(0, 1, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> new WarmupCosineSchedule(1, 5, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> new WarmupCosineSchedule(1, 0, 2, 1.5));
    }
}
