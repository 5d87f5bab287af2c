package dev.rlhf.rollout.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The commit point never passes an unfinished record, whatever order records finish in. */
class OffsetTrackerTest {

    private static final TopicPartition P0 = new TopicPartition("rlhf.prompts.v1", 0);
    private static final TopicPartition P1 = new TopicPartition("rlhf.prompts.v1", 1);

    @Test
    void outOfOrderCompletionCommitsOnlyTheContiguousPrefix() {
        OffsetTracker t = new OffsetTracker();
        for (long o = 10; o < 15; o++) {
            t.started(P0, o);
        }
        assertEquals(OptionalLong.of(10), t.committable(P0));
        t.completed(P0, 12);
        t.completed(P0, 14);
        assertEquals(OptionalLong.of(10), t.committable(P0), "10 is unfinished: nothing past it is committable");
        t.completed(P0, 10);
        assertEquals(OptionalLong.of(11), t.committable(P0));
        t.completed(P0, 11);
        assertEquals(OptionalLong.of(13), t.committable(P0), "10..12 done, 13 not");
        t.completed(P0, 13);
        assertEquals(OptionalLong.of(15), t.committable(P0), "all done: one past the last");
        assertEquals(0, t.pending(P0));
    }

    @Test
    void gapsInOffsetsDoNotHoldTheCommitBack() {
        OffsetTracker t = new OffsetTracker();
        t.started(P0, 3);
        t.started(P0, 7); // 4..6 were compacted away or are transaction markers
        t.completed(P0, 3);
        assertEquals(OptionalLong.of(7), t.committable(P0));
        t.completed(P0, 7);
        assertEquals(OptionalLong.of(8), t.committable(P0));
        t.started(P0, 20);
        assertEquals(OptionalLong.of(20), t.committable(P0));
    }

    @Test
    void advancedReportsEachMoveOnceAndOnlyAfterACommit() {
        OffsetTracker t = new OffsetTracker();
        t.started(P0, 0);
        t.started(P1, 0);
        t.started(P1, 1);
        assertEquals(Map.of(P0, 0L, P1, 0L), t.advanced(), "the first positions are committable");
        t.committed(t.advanced());
        assertTrue(t.advanced().isEmpty());
        t.completed(P1, 1);
        assertTrue(t.advanced().isEmpty(), "P1@0 unfinished");
        t.completed(P1, 0);
        Map<TopicPartition, Long> moved = t.advanced();
        assertEquals(Map.of(P1, 2L), moved);
        assertEquals(Map.of(P1, 2L), t.advanced(), "not committed yet: reported again");
        t.committed(moved);
        assertTrue(t.advanced().isEmpty());
        assertEquals(Map.of(), t.advanced(Set.of(P0)));
    }

    @Test
    void forgottenPartitionsIgnoreLateCompletions() {
        OffsetTracker t = new OffsetTracker();
        t.started(P0, 5);
        t.forget(Set.of(P0));
        t.completed(P0, 5);
        assertEquals(OptionalLong.empty(), t.committable(P0));
        t.started(P0, 2); // reassigned and rewound to the committed offset: accepted
        assertEquals(OptionalLong.of(2), t.committable(P0));
    }

    @Test
    void startsMustIncrease() {
        OffsetTracker t = new OffsetTracker();
        t.started(P0, 5);
        assertThrows(IllegalArgumentException.class, () -> t.started(P0, 5));
        assertThrows(IllegalArgumentException.class, () -> t.started(P0, 4));
    }

    /** Oracle: the smallest started offset not completed, else one past the largest started. */
    @Test
    void matchesTheNaiveMinimumForRandomCompletionOrders() {
        Random random = new Random(17);
        for (int trial = 0; trial < 200; trial++) {
            OffsetTracker t = new OffsetTracker();
            List<Long> offsets = new ArrayList<>();
            long o = random.nextInt(5);
            for (int i = 0; i < 1 + random.nextInt(30); i++) {
                offsets.add(o);
                t.started(P0, o);
                o += 1 + random.nextInt(3);
            }
            List<Long> order = new ArrayList<>(offsets);
            Collections.shuffle(order, random);
            TreeSet<Long> open = new TreeSet<>(offsets);
            for (long done : order) {
                t.completed(P0, done);
                open.remove(done);
                long expected = open.isEmpty() ? offsets.get(offsets.size() - 1) + 1 : open.first();
                assertEquals(OptionalLong.of(expected), t.committable(P0), "trial " + trial + " after " + done);
            }
        }
    }
}
