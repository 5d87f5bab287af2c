package dev.rlhf.rollout.run;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.jboss.logging.Logger;

/**
 * Drives one {@link Run} from its prompt source: a thread of its own that feeds prompts to a
 * pool of {@code max_concurrency} workers, and ends the run when {@link #drive} returns.
 * Closing stops gracefully (the prompts in flight finish), then by aborting them.
 */
public abstract class RunDriver implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(RunDriver.class);

    protected final Run run;
    /** max_concurrency threads that run prompts through the pipeline. */
    protected final ExecutorService workers;
    private final String kind;
    private final CountDownLatch ended = new CountDownLatch(1);
    private Thread thread;

    /** @param kind names the driver's thread, e.g. "consumer" */
    protected RunDriver(Run run, String kind) {
        this.run = run;
        this.kind = kind;
        AtomicInteger n = new AtomicInteger();
        this.workers = Executors.newFixedThreadPool(run.effective().maxConcurrency(), r -> {
            Thread t = new Thread(r, "rollout-" + run.id() + "-worker-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** Feeds the run's prompts until it takes no more and none is in flight. */
    protected abstract void drive();

    /** Called when a graceful stop and an abort both took too long (e.g. to wake a blocked poll). */
    protected void forceStop() {
    }

    /** Called once after {@link #drive} returned, before the run ends. */
    protected void drove() {
    }

    /** The run it drives. */
    public Run run() {
        return run;
    }

    /** Starts the driver's thread. */
    public synchronized void start() {
        if (thread != null) {
            throw new IllegalStateException("already started");
        }
        thread = new Thread(this::body, "rollout-" + run.id() + "-" + kind);
        thread.setDaemon(true);
        thread.start();
    }

    private void body() {
        try {
            drive();
        } catch (RuntimeException e) {
            LOG.errorf(e, "run %s: its %s failed", run.id(), kind);
            run.fail(kind + " failed: " + e);
        } finally {
            workers.shutdownNow();
            try {
                workers.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            drove();
            run.end();
            LOG.infof("run %s ended %s", run.id(), run.state());
            ended.countDown();
        }
    }

    /** Waits until the run has ended; returns whether it did within {@code timeout}. */
    public boolean awaitEnd(Duration timeout) {
        try {
            return ended.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Stops gracefully for up to {@code grace} (the prompts in flight finish and count), then
     * by aborting them (not published; a topic driver leaves them uncommitted for the next
     * reader).
     */
    public void close(Duration grace) {
        run.stop(false);
        if (!awaitEnd(grace)) {
            run.stop(true);
            if (!awaitEnd(Duration.ofSeconds(10))) {
                forceStop();
                awaitEnd(Duration.ofSeconds(10));
            }
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(10));
    }
}
