package dev.rlhf.trainer;

import java.util.concurrent.atomic.AtomicReference;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The gauges of one job kind: {@code rlhf_trainer_step}, {@code rlhf_trainer_loss} and
 * {@code rlhf_trainer_tokens_per_second}, tagged {@code kind}.
 */
final class JobGauges {

    private final AtomicReference<Double> step = new AtomicReference<>(0.0);
    private final AtomicReference<Double> loss = new AtomicReference<>(Double.NaN);
    private final AtomicReference<Double> tokensPerSecond = new AtomicReference<>(0.0);

    JobGauges(MeterRegistry meters, String kind) {
        Gauge.builder("rlhf.trainer.step", step, AtomicReference::get).tag("kind", kind)
                .description("Optimizer steps done by the running job").register(meters);
        Gauge.builder("rlhf.trainer.loss", loss, AtomicReference::get).tag("kind", kind)
                .description("Training loss of the last step").register(meters);
        Gauge.builder("rlhf.trainer.tokens_per_second", tokensPerSecond, AtomicReference::get).tag("kind", kind)
                .description("Training throughput of the running job").register(meters);
    }

    void update(int step, double loss, double tokensPerSecond) {
        this.step.set((double) step);
        this.loss.set(loss);
        this.tokensPerSecond.set(tokensPerSecond);
    }
}
