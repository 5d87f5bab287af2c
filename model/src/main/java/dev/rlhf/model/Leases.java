package dev.rlhf.model;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * The leases on one served model version, so that a hot swap never closes a version under a
 * call: a call leases the version from lookup until its work is handed over (or done); a
 * retired version closes once no lease is held and its own work is finished, and refuses new
 * leases from then on (the caller looks up the successor).
 */
public final class Leases {

    private int held;
    private boolean closing;

    /** @return false once the version is closing */
    public synchronized boolean acquire() {
        if (closing) {
            return false;
        }
        held++;
        return true;
    }

    public synchronized void release() {
        held--;
    }

    /** Marks the version closing when no lease is held and {@code idle} holds; returns whether it is closing. */
    public synchronized boolean closeIfUnused(BooleanSupplier idle) {
        if (held == 0 && idle.getAsBoolean()) {
            closing = true;
        }
        return closing;
    }

    /**
     * On a daemon thread {@code thread}: waits until {@link #closeIfUnused} succeeds (polling
     * every 50 ms, at most {@code atMost}), then runs {@code close}.
     */
    public void retire(String thread, BooleanSupplier idle, Duration atMost, Runnable close) {
        Thread t = new Thread(() -> {
            long deadline = System.nanoTime() + atMost.toNanos();
            while (!closeIfUnused(idle) && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    break;
                }
            }
            close.run();
        }, thread);
        t.setDaemon(true);
        t.start();
    }
}
