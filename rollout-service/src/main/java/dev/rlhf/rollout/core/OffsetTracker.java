package dev.rlhf.rollout.core;

import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;

import org.apache.kafka.common.TopicPartition;

/**
 * Which offset of each partition may be committed when records finish out of order.
 *
 * <p>Records are {@link #started} in offset order per partition (as polled) and
 * {@link #completed} in any order (prompts run concurrently). The committable offset of a
 * partition is the offset of its oldest started record that has not completed, or one past
 * its newest started record when all have: Kafka's committed offset means "everything below
 * is done", so a finished record behind an unfinished one is not committed until the
 * unfinished one finishes. A crash therefore replays the unfinished record and the finished
 * ones after it (whose rollouts carry the same ids), never skips one.
 *
 * <p>Offsets need not be contiguous (compaction, transaction markers): only started offsets
 * count. Not thread-safe: the consumer thread owns it.
 */
public final class OffsetTracker {

    /** Per partition: started offsets not yet passed by the commit point → completed? */
    private final Map<TopicPartition, TreeMap<Long, Boolean>> windows = new HashMap<>();
    /** Per partition: the committable offset (next offset to read after a restart). */
    private final Map<TopicPartition, Long> committable = new HashMap<>();
    /** Per partition: the offset last {@link #committed}. */
    private final Map<TopicPartition, Long> reported = new HashMap<>();

    /**
     * Records that {@code offset} was polled and will be worked on.
     *
     * @throws IllegalArgumentException when it is not above the partition's previous one
     */
    public void started(TopicPartition tp, long offset) {
        TreeMap<Long, Boolean> w = windows.computeIfAbsent(tp, k -> new TreeMap<>());
        long floor = w.isEmpty() ? committable.getOrDefault(tp, Long.MIN_VALUE) : w.lastKey() + 1;
        if (offset < floor) {
            throw new IllegalArgumentException(tp + ": offset " + offset + " started after " + (floor - 1)
                    + "; offsets must be started in increasing order");
        }
        w.put(offset, Boolean.FALSE);
        if (w.size() == 1) {
            committable.put(tp, offset); // nothing below it is pending
        }
    }

    /**
     * Records that the work of {@code offset} is durable (its rollouts or dead letter
     * acknowledged). Unknown offsets (of a partition forgotten since) are ignored.
     */
    public void completed(TopicPartition tp, long offset) {
        TreeMap<Long, Boolean> w = windows.get(tp);
        if (w == null || !w.containsKey(offset)) {
            return;
        }
        w.put(offset, Boolean.TRUE);
        // move the commit point over the completed head
        Iterator<Map.Entry<Long, Boolean>> it = w.entrySet().iterator();
        long next = committable.get(tp);
        while (it.hasNext()) {
            Map.Entry<Long, Boolean> e = it.next();
            if (!e.getValue()) {
                next = e.getKey();
                break;
            }
            next = e.getKey() + 1;
            it.remove();
        }
        committable.put(tp, next);
    }

    /** The offset that may be committed for {@code tp}; empty when nothing was started there. */
    public OptionalLong committable(TopicPartition tp) {
        Long c = committable.get(tp);
        return c == null ? OptionalLong.empty() : OptionalLong.of(c);
    }

    /** Records started and not yet passed by the commit point (completed or not) in {@code tp}. */
    public int pending(TopicPartition tp) {
        TreeMap<Long, Boolean> w = windows.get(tp);
        return w == null ? 0 : w.size();
    }

    /**
     * The partitions whose committable offset moved past the last {@link #committed} one,
     * with that offset (what to pass to {@code commitSync}).
     */
    public Map<TopicPartition, Long> advanced() {
        return advanced(committable.keySet());
    }

    /** Like {@link #advanced()} for {@code partitions} only. */
    public Map<TopicPartition, Long> advanced(Collection<TopicPartition> partitions) {
        Map<TopicPartition, Long> out = new HashMap<>();
        for (TopicPartition tp : partitions) {
            Long c = committable.get(tp);
            Long r = reported.get(tp);
            if (c != null && (r == null || r < c)) {
                out.put(tp, c);
            }
        }
        return out;
    }

    /** Records that {@code offsets} (from {@link #advanced}) were committed. */
    public void committed(Map<TopicPartition, Long> offsets) {
        offsets.forEach((tp, o) -> {
            if (committable.containsKey(tp)) {
                reported.merge(tp, o, Math::max);
            }
        });
    }

    /** Forgets {@code partitions} (revoked or lost): later completions there are ignored. */
    public void forget(Collection<TopicPartition> partitions) {
        for (TopicPartition tp : partitions) {
            windows.remove(tp);
            committable.remove(tp);
            reported.remove(tp);
        }
    }
}
