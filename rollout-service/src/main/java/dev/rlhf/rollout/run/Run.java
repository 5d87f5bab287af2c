package dev.rlhf.rollout.run;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.RolloutRun;
import dev.rlhf.proto.v1.RolloutRunSpec;
import dev.rlhf.proto.v1.RolloutRunState;
import dev.rlhf.rollout.core.RunSpecs;

/**
 * One rollout run: its spec, its life cycle (rollout.proto: PENDING → RUNNING → COMPLETED |
 * STOPPING → STOPPED, FAILED from any non-final state) and its counters. Its driver (a
 * {@link PromptConsumer} or {@link PromptSetRunner}) asks {@link #admit} before starting a
 * prompt, reports {@link #finished}, and calls {@link #end} when its last prompt is done.
 * Thread-safe; counters are this instance's (a run lives in one instance; the standing topic
 * run has one such object per instance).
 */
public final class Run {

    /** Rollouts kept for the rolling figures of {@code RolloutRun.metrics}. */
    static final int WINDOW = 256;

    private final String id;
    private final RolloutRunSpec spec;
    private final RunSpecs.Effective effective;
    private final Clock clock;
    private final int maxConsecutiveFailures;
    private final Cancellation cancellation = new Cancellation();

    private RolloutRunState state = RolloutRunState.ROLLOUT_RUN_STATE_PENDING;
    private final Instant createdAt;
    private Instant startedAt;
    private Instant updatedAt;
    private Instant finishedAt;
    private String error = "";
    private boolean failing;
    private boolean stopRequested;
    private ModelRef currentPolicy;
    private long completed;
    private long inFlight;
    private long published;
    private long failures;
    private int consecutiveFailures;
    /** [≤ WINDOW] (reward, response length) of the latest published rollouts. */
    private final Deque<double[]> recent = new ArrayDeque<>();

    /**
     * @param maxConsecutiveFailures the run fails after this many prompts in a row were given up; 0 = never
     */
    public Run(String id, RolloutRunSpec spec, RunSpecs.Effective effective, Clock clock, int maxConsecutiveFailures) {
        this.id = id;
        this.spec = spec;
        this.effective = effective;
        this.clock = clock;
        this.maxConsecutiveFailures = maxConsecutiveFailures;
        this.createdAt = clock.instant();
        this.updatedAt = createdAt;
    }

    public String id() {
        return id;
    }

    /** The spec as the caller sent it. */
    public RolloutRunSpec spec() {
        return spec;
    }

    /** The spec with defaults filled in. */
    public RunSpecs.Effective effective() {
        return effective;
    }

    /** Cancelled when the run is aborted or fails: every prompt's cancellation is a child of it. */
    public Cancellation cancellation() {
        return cancellation;
    }

    /** The prompt source is ready: PENDING → RUNNING (starts the max_duration clock). */
    public synchronized void running() {
        if (state == RolloutRunState.ROLLOUT_RUN_STATE_PENDING) {
            state = stopRequested ? RolloutRunState.ROLLOUT_RUN_STATE_STOPPING : RolloutRunState.ROLLOUT_RUN_STATE_RUNNING;
            startedAt = clock.instant();
            touch();
        }
    }

    /**
     * Starts a prompt when the run takes more: not stopping, not failing, under max_prompts
     * (counting those in flight) and within max_duration.
     *
     * @return the run's iteration for the prompt, or -1 when no prompt may start now
     */
    public synchronized long admit() {
        if (!accepting() || (effective.maxPrompts() > 0 && completed + inFlight >= effective.maxPrompts())) {
            return -1;
        }
        inFlight++;
        touch();
        return effective.promptsPerIteration() == 0 ? 0 : completed / effective.promptsPerIteration();
    }

    /** Whether the run may start prompts in the future (false once stopping, failing or a limit is reached). */
    public synchronized boolean accepting() {
        return !stopRequested && !failing && !limitReached();
    }

    /** Whether max_prompts prompts have completed or max_duration has passed. */
    public synchronized boolean limitReached() {
        if (effective.maxPrompts() > 0 && completed >= effective.maxPrompts()) {
            return true;
        }
        return startedAt != null && effective.maxDuration().isPresent()
                && !clock.instant().isBefore(startedAt.plus(effective.maxDuration().get()));
    }

    /** Prompts started and not finished. */
    public synchronized long inFlight() {
        return inFlight;
    }

    /** A prompt's group was published (acknowledged). */
    public synchronized void published(List<Rollout> group) {
        inFlight--;
        completed++;
        published += group.size();
        consecutiveFailures = 0;
        if (!group.isEmpty()) {
            currentPolicy = group.get(0).getPolicy();
        }
        for (Rollout r : group) {
            recent.addLast(new double[] {r.getReward(), r.getResponseTokenIdsCount()});
            if (recent.size() > WINDOW) {
                recent.removeFirst();
            }
        }
        touch();
    }

    /** A prompt was given up (after max_attempts, or not retriable); fails the run after too many in a row. */
    public synchronized void gaveUp(String reason) {
        inFlight--;
        failures++;
        consecutiveFailures++;
        error = reason;
        touch();
        if (maxConsecutiveFailures > 0 && consecutiveFailures >= maxConsecutiveFailures) {
            fail(consecutiveFailures + " prompts in a row were given up (rlhf.rollout.max-consecutive-failures); last: "
                    + reason);
        }
    }

    /** A prompt ended without a result of its own (cancelled, revoked, or its publish failed): it will be replayed or dropped. */
    public synchronized void abandoned(String reason) {
        inFlight--;
        if (reason != null) {
            error = reason;
        }
        touch();
    }

    /** The run cannot go on: no new prompts, the ones in flight are cancelled; FAILED once the driver ends. */
    public void fail(String reason) {
        synchronized (this) {
            if (isFinal() || failing) {
                return;
            }
            failing = true;
            error = reason;
            touch();
        }
        cancellation.cancel();
    }

    /**
     * StopRun: no new prompts; with {@code abort}, the ones in flight are cancelled and not
     * published. A final run is left as it is.
     */
    public void stop(boolean abort) {
        synchronized (this) {
            if (isFinal()) {
                return;
            }
            stopRequested = true;
            if (state == RolloutRunState.ROLLOUT_RUN_STATE_RUNNING || state == RolloutRunState.ROLLOUT_RUN_STATE_PENDING) {
                state = RolloutRunState.ROLLOUT_RUN_STATE_STOPPING;
            }
            touch();
        }
        if (abort) {
            cancellation.cancel();
        }
    }

    /** The driver is done: FAILED when failing, STOPPED when stopped, else COMPLETED. */
    public synchronized void end() {
        if (isFinal()) {
            return;
        }
        state = failing ? RolloutRunState.ROLLOUT_RUN_STATE_FAILED
                : stopRequested ? RolloutRunState.ROLLOUT_RUN_STATE_STOPPED : RolloutRunState.ROLLOUT_RUN_STATE_COMPLETED;
        finishedAt = clock.instant();
        touch();
    }

    /** COMPLETED, STOPPED or FAILED. */
    public synchronized boolean isFinal() {
        return state == RolloutRunState.ROLLOUT_RUN_STATE_COMPLETED || state == RolloutRunState.ROLLOUT_RUN_STATE_STOPPED
                || state == RolloutRunState.ROLLOUT_RUN_STATE_FAILED;
    }

    /** Whether the run is failing or failed. */
    public synchronized boolean failing() {
        return failing;
    }

    public synchronized RolloutRunState state() {
        return state;
    }

    /** The run as RolloutService reports it. */
    public synchronized RolloutRun snapshot() {
        RolloutRun.Builder r = RolloutRun.newBuilder()
                .setRunId(id)
                .setSpec(spec)
                .setState(state)
                .setPromptsCompleted(completed)
                .setPromptsInFlight(inFlight)
                .setRolloutsPublished(published)
                .setFailures(failures)
                .setIteration(effective.promptsPerIteration() == 0 ? 0 : completed / effective.promptsPerIteration())
                .setCreatedAt(ts(createdAt))
                .setUpdatedAt(ts(updatedAt))
                .setError(error);
        if (currentPolicy != null) {
            r.setCurrentPolicy(currentPolicy);
        }
        if (startedAt != null) {
            r.setStartedAt(ts(startedAt));
        }
        if (finishedAt != null) {
            r.setFinishedAt(ts(finishedAt));
        }
        if (!recent.isEmpty()) {
            double n = recent.size();
            double mean = recent.stream().mapToDouble(v -> v[0]).sum() / n;
            double var = recent.stream().mapToDouble(v -> (v[0] - mean) * (v[0] - mean)).sum() / n;
            r.putMetrics("reward/mean", mean);
            r.putMetrics("reward/std", Math.sqrt(var));
            r.putMetrics("response_length/mean", recent.stream().mapToDouble(v -> v[1]).sum() / n);
        }
        if (startedAt != null) {
            Instant end = finishedAt != null ? finishedAt : clock.instant();
            double seconds = Math.max(1e-3, (end.toEpochMilli() - startedAt.toEpochMilli()) / 1000.0);
            r.putMetrics("rollouts_per_s", published / seconds);
        }
        return r.build();
    }

    private void touch() {
        updatedAt = clock.instant();
    }

    private static Timestamp ts(Instant t) {
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }
}
