package dev.rlhf.rollout.run;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import org.jboss.logging.Logger;

import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.rollout.core.RolloutRequests;
import dev.rlhf.rollout.core.RunSpecs;

/**
 * Drives a run over a named prompt set: {@code epochs} passes over its prompts in file
 * order, at most {@code max_concurrency} in flight (a semaphore), each through the
 * {@link PromptPipeline} (given-up prompts are counted as failures; there is no source
 * record to dead-letter). The run completes when the passes are done, max_prompts prompts
 * have completed or max_duration has passed, and every started prompt has finished.
 * With {@code samples_per_policy_version} a {@link VersionPacer} holds starts back until
 * policy-service serves a newer version (or, with {@code versions_ahead}, until the run is no
 * more than that many allowances ahead of it). Nothing is committed: a run lives in one
 * instance's memory and a restart forgets it.
 */
public final class PromptSetRunner extends RunDriver {

    private static final Logger LOG = Logger.getLogger(PromptSetRunner.class);

    private final RunSpecs.PromptSet source;
    private final PromptSets sets;
    private final PromptPipeline pipeline;
    private final RolloutMetrics metrics;
    private final int maxConcurrency;
    /** Null without {@code samples_per_policy_version}. */
    private final VersionPacer pacer;

    public PromptSetRunner(Run run, PromptSets sets, PromptPipeline pipeline, RolloutMetrics metrics,
            Upstreams upstreams) {
        super(run, "prompt-set");
        this.source = (RunSpecs.PromptSet) run.effective().source();
        this.sets = sets;
        this.pipeline = pipeline;
        this.metrics = metrics;
        this.maxConcurrency = run.effective().maxConcurrency();
        long paced = run.spec().getSamplesPerPolicyVersion();
        String policy = run.effective().policy().getName();
        this.pacer = paced == 0 ? null : new VersionPacer(run.id(), paced, run.spec().getVersionsAhead(),
                known -> upstreams.servedVersion(policy, known, Duration.ofMillis(500)), Duration.ofSeconds(60),
                Duration.ofMillis(20));
    }

    @Override
    protected void drive() {
        List<Prompt> prompts;
        try {
            prompts = sets.load(source.name());
        } catch (RuntimeException e) {
            run.fail(e.getMessage());
            return;
        }
        run.running();
        LOG.infof("run %s: %d prompts of set %s, %d epoch(s)", run.id(), prompts.size(), source.name(), source.epochs());
        Semaphore slots = new Semaphore(maxConcurrency);
        passes(prompts, slots);
        // every started prompt finishes (or is cancelled) before the run ends
        slots.acquireUninterruptibly(maxConcurrency);
    }

    private void passes(List<Prompt> prompts, Semaphore slots) {
        for (int epoch = 0; epoch < source.epochs(); epoch++) {
            for (Prompt prompt : prompts) {
                if (!RolloutRequests.addressedTo(prompt, run.id(), Optional.empty())) {
                    metrics.prompt("skipped");
                    continue;
                }
                // a free slot (back-pressure), then the run's admission (max_prompts counts those in flight)
                long iteration = -1;
                while (run.accepting()) {
                    try {
                        if (slots.tryAcquire(50, TimeUnit.MILLISECONDS)) {
                            iteration = run.admit();
                            if (iteration >= 0) {
                                break;
                            }
                            slots.release();
                            Thread.sleep(20); // max_prompts is reached by those in flight: wait for them
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                if (iteration < 0) {
                    return;
                }
                int samples = run.effective().samplesPerPrompt();
                boolean paced;
                try {
                    paced = pacer == null || pacer.acquire(samples, run::accepting);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    paced = false;
                }
                if (!paced) {
                    run.abandoned(null); // admitted, never started: the run stopped while it waited
                    slots.release();
                    return;
                }
                PromptSampler.Job job = new PromptSampler.Job(run.id(), run.effective(), epoch, iteration);
                workers.execute(() -> {
                    boolean published = false;
                    try (Cancellation cancel = run.cancellation().child()) {
                        published = pipeline.process(prompt, job, run, cancel, null).published();
                    } catch (RuntimeException e) {
                        LOG.errorf(e, "run %s: prompt %s failed unexpectedly", run.id(), prompt.getPromptId());
                        run.abandoned(e.toString());
                    } finally {
                        if (pacer != null && !published) {
                            pacer.release(samples);
                        }
                        slots.release();
                    }
                });
            }
        }
    }
}
