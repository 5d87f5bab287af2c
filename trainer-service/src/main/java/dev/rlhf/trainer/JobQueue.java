package dev.rlhf.trainer;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/** Runs the trainer's jobs one at a time, in submission order: a job owns the machine's cores. */
@ApplicationScoped
public class JobQueue {

    private final ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "trainer-jobs");
        t.setDaemon(true);
        return t;
    });

    public void submit(Runnable job) {
        executor.submit(job);
    }

    @PreDestroy
    void stop() {
        executor.shutdownNow();
    }
}
