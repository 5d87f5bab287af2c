package dev.rlhf.rollout.run;

import java.util.Optional;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.jboss.logging.Logger;

import dev.rlhf.kafka.support.DeadLetterQueue;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.rollout.core.RolloutRequests;

/**
 * One prompt from start to durable result, the same for every kind of run: 1. check it,
 * 2. sample and score it ({@link PromptSampler}), 3. publish its group and wait for the
 * acknowledgements ({@link RolloutPublisher}) — or, when it is given up and came from a
 * topic, write it to the dead-letter topic with the reason and wait for that
 * acknowledgement — 4. count it in its {@link Run} and the service metrics.
 *
 * <p>The {@link Outcome} tells a topic driver whether the record's offset may be committed:
 * only {@link Disposition#DONE} means its result is durable.
 */
public final class PromptPipeline {

    private static final Logger LOG = Logger.getLogger(PromptPipeline.class);

    /** What the driver does with the prompt's offset. */
    public enum Disposition {
        /** Published or given up (and dead-lettered, when from a topic): the offset may be committed. */
        DONE,
        /** Cancelled (stop with abort, rebalance, run failure): not done, replayed by whoever reads it next. */
        CANCELLED,
        /** The run's configuration is wrong: not done; the run is failing. */
        RUN_FAILED,
        /** Kafka did not acknowledge the group or the dead letter: not done; start over from the last commit. */
        KAFKA_FAILED
    }

    /** @param detail for logs: the failure, or empty */
    public record Outcome(Disposition disposition, String detail) {
        /** Whether the prompt's rollouts were published (DONE with no give-up reason). */
        public boolean published() {
            return disposition == Disposition.DONE && detail.isEmpty();
        }
    }

    private final PromptSampler sampler;
    private final RolloutPublisher publisher;
    private final DeadLetterQueue deadLetters;
    private final RolloutMetrics metrics;

    public PromptPipeline(PromptSampler sampler, RolloutPublisher publisher, DeadLetterQueue deadLetters,
            RolloutMetrics metrics) {
        this.sampler = sampler;
        this.publisher = publisher;
        this.deadLetters = deadLetters;
        this.metrics = metrics;
    }

    /**
     * Runs {@code prompt}, already admitted by {@code run} ({@link Run#admit}), to its outcome.
     *
     * @param source the record it was read from (dead-lettered when the prompt is given up), or null
     */
    public Outcome process(Prompt prompt, PromptSampler.Job job, Run run, Cancellation cancel,
            ConsumerRecord<String, byte[]> source) {
        metrics.inFlight().incrementAndGet();
        try {
            // 1. check
            Optional<String> problem = RolloutRequests.problem(prompt);
            PromptSampler.Result result = problem.isPresent() ? new PromptSampler.GaveUp(problem.get())
                    : sampler.sample(prompt, job, cancel); // 2. sample and score
            if (result instanceof PromptSampler.Sampled s) {
                if (cancel.cancelled()) {
                    return abandoned(run, Disposition.CANCELLED, null);
                }
                // 3. publish
                try {
                    publisher.publish(s.rollouts());
                } catch (RolloutPublisher.PublishFailedException e) {
                    return abandoned(run, Disposition.KAFKA_FAILED, e.getMessage());
                }
                // 4. count
                run.published(s.rollouts());
                metrics.published(s.rollouts());
                metrics.prompt("published");
                return new Outcome(Disposition.DONE, "");
            }
            if (result instanceof PromptSampler.GaveUp g) {
                if (source != null) {
                    try {
                        deadLetters.deadLetter(source, g.reason(), null);
                    } catch (RuntimeException e) { // DeadLetterException, or the producer's own (e.g. no metadata)
                        return abandoned(run, Disposition.KAFKA_FAILED, "dead-lettering prompt " + prompt.getPromptId()
                                + " failed: " + e.getMessage() + (e.getCause() == null ? "" : ": " + e.getCause()));
                    }
                    metrics.deadLettered(problem.isPresent() ? "invalid" : "failed");
                }
                LOG.warnf("run %s gave up prompt %s%s: %s", job.runId(), prompt.getPromptId(),
                        source == null ? "" : " (dead-lettered)", g.reason());
                run.gaveUp(g.reason());
                metrics.prompt("failed");
                return new Outcome(Disposition.DONE, g.reason());
            }
            if (result instanceof PromptSampler.RunFatal f) {
                LOG.errorf("run %s fails on prompt %s: %s", job.runId(), prompt.getPromptId(), f.reason());
                run.fail(f.reason());
                return abandoned(run, Disposition.RUN_FAILED, f.reason());
            }
            return abandoned(run, Disposition.CANCELLED, null);
        } finally {
            metrics.inFlight().decrementAndGet();
        }
    }

    private Outcome abandoned(Run run, Disposition d, String detail) {
        run.abandoned(d == Disposition.KAFKA_FAILED ? detail : null);
        if (d == Disposition.CANCELLED) {
            metrics.prompt("cancelled");
        }
        return new Outcome(d, detail == null ? "" : detail);
    }
}
