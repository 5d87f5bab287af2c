package dev.rlhf.rollout.run;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.LongUnaryOperator;

import org.jboss.logging.Logger;

/**
 * On-policy pacing of a run ({@code RolloutRunSpec.samples_per_policy_version}): at most
 * {@code allowance} samples start while one policy version is served; then starts wait
 * until a newer version is served. With {@code ahead} ({@code versions_ahead}) the run may
 * be that many allowances ahead: the first version seen gives {@code 1 + ahead} allowances,
 * each newer one another (samples not yet drawn carry over). Samples of a prompt that was
 * not published go back to the allowance. When no newer version appears within
 * {@code patience}, another allowance is given, so a consumer that needs more samples than
 * it got is never left waiting. The served version is asked for only once the allowance is
 * spent (a swap in the middle of an allowance is noticed then), with a long poll that
 * policy-service answers as soon as it serves a newer version.
 *
 * <p>{@link #acquire} is called by the run's one driving thread, {@link #release} by workers.
 */
final class VersionPacer {

    private static final Logger LOG = Logger.getLogger(VersionPacer.class);

    private final String runId;
    private final long allowance;
    /** Most samples started and not yet credited back by newer versions: {@code (1 + ahead) · allowance}. */
    private final long limit;
    private final LongUnaryOperator servedNewerThan;
    private final Duration patience;
    private final Duration poll;

    private long version = -1;
    private long used;
    /** System.nanoTime() when a start first had to wait for this version; 0 = not waiting. */
    private long waitingSince;

    /**
     * @param servedNewerThan given the version known (−1 for none), the policy version served
     *                        now, or −1 when it cannot be told (the current allowance then goes
     *                        on until a version is seen or patience ends); it may wait a while
     *                        for a version newer than the one known (a long poll)
     * @param poll            the least time between two questions that came back at once
     */
    VersionPacer(String runId, long allowance, int ahead, LongUnaryOperator servedNewerThan, Duration patience,
            Duration poll) {
        if (allowance < 1 || ahead < 0) {
            throw new IllegalArgumentException("need allowance >= 1 and ahead >= 0, got " + allowance + ", " + ahead);
        }
        this.runId = runId;
        this.allowance = allowance;
        this.limit = allowance * (1 + ahead);
        this.servedNewerThan = servedNewerThan;
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
            if (version >= 0 && used + samples <= limit) {
                used += samples; // within the allowance: no need to ask which version is served
                return true;
            }
        }
        while (accepting.getAsBoolean()) {
            long asked = System.nanoTime();
            long served = servedNewerThan.applyAsLong(version);
            synchronized (this) {
                if (served > version) {
                    // the first version seen opens the whole limit; each newer one another allowance
                    used = version < 0 ? 0 : Math.max(0, used - allowance);
                    version = served;
                    waitingSince = 0;
                }
                if (used + samples <= limit) {
                    used += samples;
                    return true;
                }
                long now = System.nanoTime();
                if (waitingSince == 0) {
                    waitingSince = now;
                } else if (now - waitingSince >= patience.toNanos()) {
                    LOG.warnf("run %s: policy v%d served for %d s after its %d samples; starting another %d",
                            runId, version, patience.toSeconds(), allowance, allowance);
                    used = Math.max(0, used - allowance);
                    waitingSince = 0;
                    continue;
                }
            }
            // a long poll that timed out asks again at once; an answer that came back at once
            // (no long poll, or a failed call) is repeated after the poll interval
            long left = poll.toNanos() - (System.nanoTime() - asked);
            if (left > 0) {
                TimeUnit.NANOSECONDS.sleep(left);
            }
        }
        return false;
    }

    /** Returns the samples of a prompt that was not published. */
    synchronized void release(int samples) {
        used = Math.max(0, used - samples);
    }
}
