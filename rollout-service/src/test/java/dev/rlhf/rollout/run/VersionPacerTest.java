package dev.rlhf.rollout.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class VersionPacerTest {

    private static CompletableFuture<Boolean> acquireAsync(VersionPacer pacer, int samples, AtomicBoolean accepting) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return pacer.acquire(samples, accepting::get);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void startsWaitForANewerVersionOnceTheAllowanceIsSpent() throws Exception {
        AtomicLong served = new AtomicLong(3);
        AtomicBoolean accepting = new AtomicBoolean(true);
        java.util.List<Long> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        VersionPacer pacer = new VersionPacer("r", 8, 0, known -> {
            asked.add(known);
            return served.get();
        }, Duration.ofSeconds(60), Duration.ofMillis(5));
        assertTrue(pacer.acquire(4, accepting::get));
        assertTrue(pacer.acquire(4, accepting::get));
        CompletableFuture<Boolean> third = acquireAsync(pacer, 4, accepting);
        Thread.sleep(150);
        assertFalse(third.isDone(), "v3's 8 samples are spent: the third prompt waits");
        served.set(4);
        assertTrue(third.get(5, TimeUnit.SECONDS), "v4 is served: a new allowance");
        assertTrue(pacer.acquire(4, accepting::get), "v4's allowance has 4 left");
        assertEquals(-1L, asked.get(0), "nothing known at first");
        assertTrue(asked.stream().skip(1).allMatch(v -> v == 3), "then it asks for a version newer than v3: " + asked);
    }

    @Test
    void samplesNotPublishedGoBackToTheAllowance() throws Exception {
        AtomicBoolean accepting = new AtomicBoolean(true);
        VersionPacer pacer = new VersionPacer("r", 8, 0, known -> 1, Duration.ofSeconds(60), Duration.ofMillis(5));
        assertTrue(pacer.acquire(8, accepting::get));
        CompletableFuture<Boolean> next = acquireAsync(pacer, 4, accepting);
        Thread.sleep(100);
        assertFalse(next.isDone());
        pacer.release(4); // a prompt given up
        assertTrue(next.get(5, TimeUnit.SECONDS));
    }

    @Test
    void aRunThatStopsWhileWaitingIsNotStartedAndPatienceStartsAnotherAllowance() throws Exception {
        AtomicBoolean accepting = new AtomicBoolean(true);
        VersionPacer stuck = new VersionPacer("r", 4, 0, known -> -1, Duration.ofSeconds(60), Duration.ofMillis(5));
        assertTrue(stuck.acquire(4, accepting::get), "no version known yet: the first allowance still starts");
        CompletableFuture<Boolean> waiting = acquireAsync(stuck, 4, accepting);
        Thread.sleep(100);
        accepting.set(false);
        assertFalse(waiting.get(5, TimeUnit.SECONDS), "stopped while waiting: nothing starts");

        accepting.set(true);
        VersionPacer patient = new VersionPacer("r", 4, 0, known -> 7, Duration.ofMillis(200), Duration.ofMillis(5));
        assertTrue(patient.acquire(4, accepting::get));
        long start = System.nanoTime();
        assertTrue(patient.acquire(4, accepting::get), "v7 stays: after the patience another allowance starts");
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(200), "not before the patience ends");
    }

    @Test
    void aRunAheadDrawsOneMoreAllowanceThenOnePerNewerVersion() throws Exception {
        AtomicLong served = new AtomicLong(3);
        AtomicBoolean accepting = new AtomicBoolean(true);
        VersionPacer pacer = new VersionPacer("r", 8, 1, known -> served.get(), Duration.ofSeconds(60), Duration.ofMillis(5));
        for (int i = 0; i < 4; i++) {
            assertTrue(pacer.acquire(4, accepting::get), "v3 gives two allowances: start " + i);
        }
        CompletableFuture<Boolean> fifth = acquireAsync(pacer, 4, accepting);
        Thread.sleep(150);
        assertFalse(fifth.isDone(), "two allowances ahead of nothing: the fifth waits");
        served.set(4);
        assertTrue(fifth.get(5, TimeUnit.SECONDS), "v4 gives one more allowance");
        assertTrue(pacer.acquire(4, accepting::get));
        CompletableFuture<Boolean> seventh = acquireAsync(pacer, 4, accepting);
        Thread.sleep(150);
        assertFalse(seventh.isDone(), "v4's allowance is spent: still one ahead, not two");
        accepting.set(false);
        assertFalse(seventh.get(5, TimeUnit.SECONDS));
    }
}
