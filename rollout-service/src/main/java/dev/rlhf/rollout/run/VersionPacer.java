package dev.rlhf.rollout.run;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

import org.jboss.logging.Logger;

/**
 * On-policy pacing of a run ({@code RolloutRunSpec.samples_per_policy_version}): at most
 * {@code allowance} samples start while one policy version is served; then starts wait
 * until a newer version is served. Samples of a prompt that was not published go back to
 * the allowance. When no newer version appears within {@code patience}, a new allowance
 * starts, so a consumer that needs more samples than it got is never left waiting. The
 * served version is asked for only once the allowance is spent (a swap in the middle of an
 * allowance is noticed then).
 *
 * <p>{@link #acquire} is called by the run's one driving thread, {@link #release} by workers.
 */
final class VersionPacer {

    private static final Logger LOG = Logger.getLogger(VersionPacer.class);

    private final String runId;
    private final long allowance;
    private final LongSupplier servedVersion;
    private final Duration patience;
    private final Duration poll;

    private long version = -1;
    private long used;
    /** System.nanoTime() when a start first had to wait for this version; 0 = not waiting. */
    private long waitingSince;

    /**
     * @param servedVersion the policy version served now, or -1 when it cannot be told (the
     *                      current allowance then goes on until a version is seen or patience ends)
     */
    VersionPacer(String runId, long allowance, LongSupplier servedVersion, Duration patience, Duration poll) {
        this.runId = runId;
        this.allowance = allowance;
        this.servedVersion = servedVersion;
        this.patience = patience;
        this.poll = poll;
    }

    /**
     * Takes {@code samples} from the served version's allowance, waiting for a newer version
     * when it is spent.
     *
     * @return false when {@code accepting} turned false while waiting
     */
    boolean acquire(int samples, BooleanSupplier accepting) throws InterruptedException {
        synchronized (this) {
            if (version >= 0 && used + samples <= allowance) {
                used += samples; // within the allowance: no need to ask which version is served
                return true;
            }
        }
        while (accepting.getAsBoolean()) {
            long served = servedVersion.getAsLong();
            synchronized (this) {
                if (served > version) {
                    version = served;
                    used = 0;
                    waitingSince = 0;
                }
                if (used + samples <= allowance) {
                    used += samples;
                    return true;
                }
                long now = System.nanoTime();
                if (waitingSince == 0) {
                    waitingSince = now;
                } else if (now - waitingSince >= patience.toNanos()) {
                    LOG.warnf("run %s: policy v%d served for %d s after its %d samples; starting another %d",
                            runId, version, patience.toSeconds(), allowance, allowance);
                    used = 0;
                    waitingSince = 0;
                    continue;
                }
            }
            Thread.sleep(poll.toMillis());
        }
        return false;
    }

    /** Returns the samples of a prompt that was not published. */
    synchronized void release(int samples) {
        used = Math.max(0, used - samples);
    }
}
