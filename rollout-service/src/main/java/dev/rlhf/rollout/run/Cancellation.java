package dev.rlhf.rollout.run;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A cancellation signal that propagates down a tree: run → partition lease → prompt. Hooks
 * (e.g. cancelling a gRPC call's context) run once, on the cancelling thread; a child
 * cancelled with its parent unhooks itself from the parent when closed, so long-lived
 * parents do not collect the hooks of finished prompts.
 */
public final class Cancellation implements BooleanSupplier, AutoCloseable {

    private final Set<Runnable> hooks = new LinkedHashSet<>();
    private final Cancellation parent;
    private final Runnable parentHook;
    private boolean cancelled;

    /** A root that only {@link #cancel} cancels. */
    public Cancellation() {
        this(null);
    }

    private Cancellation(Cancellation parent) {
        this.parent = parent;
        this.parentHook = parent == null ? null : this::cancel;
    }

    /** A child cancelled when this is (at once, if this already is). Close it when done. */
    public Cancellation child() {
        Cancellation c = new Cancellation(this);
        if (!onCancel(c.parentHook)) {
            c.cancel();
        }
        return c;
    }

    /** Cancels this and its children, runs the hooks and wakes {@link #sleep}ers. Idempotent. */
    public void cancel() {
        List<Runnable> run;
        synchronized (this) {
            if (cancelled) {
                return;
            }
            cancelled = true;
            run = List.copyOf(hooks);
            hooks.clear();
            notifyAll();
        }
        run.forEach(Runnable::run);
    }

    /** Whether it was cancelled. */
    public synchronized boolean cancelled() {
        return cancelled;
    }

    @Override
    public boolean getAsBoolean() {
        return cancelled();
    }

    /** Registers {@code hook} to run on cancellation; returns false (and does not register) when already cancelled. */
    public synchronized boolean onCancel(Runnable hook) {
        if (cancelled) {
            return false;
        }
        hooks.add(hook);
        return true;
    }

    /** Removes a hook registered with {@link #onCancel}. */
    public synchronized void removeHook(Runnable hook) {
        hooks.remove(hook);
    }

    /** Waits {@code millis} unless cancelled first; returns true when the full time passed uncancelled. */
    public synchronized boolean sleep(long millis) {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        try {
            while (!cancelled) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return true;
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return false;
    }

    /** Unhooks this child from its parent (no effect on a root). */
    @Override
    public void close() {
        if (parent != null) {
            parent.removeHook(parentHook);
        }
    }
}
