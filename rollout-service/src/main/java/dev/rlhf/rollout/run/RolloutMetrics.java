package dev.rlhf.rollout.run;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.rlhf.proto.v1.Rollout;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The figures an operator watches, on {@code /q/metrics}: prompts by outcome, rollouts and
 * response tokens published (rates give rollouts/s and tokens/s), the reward of published
 * samples, retries by call and code, dead letters, prompts in flight, and the consumer lag
 * of the prompts topic. Service-wide: run ids are not tags (unbounded); per-run figures are in
 * {@code RolloutRun}.
 */
public final class RolloutMetrics {

    private final MeterRegistry meters;
    private final Counter rollouts;
    private final Counter tokens;
    private final DistributionSummary reward;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Map<Object, Long> lags = new ConcurrentHashMap<>();

    public RolloutMetrics(MeterRegistry meters) {
        this.meters = meters;
        this.rollouts = Counter.builder("rlhf.rollout.rollouts")
                .description("Rollout records published to rlhf.rollouts.v1 and acknowledged").register(meters);
        this.tokens = Counter.builder("rlhf.rollout.response.tokens")
                .description("Response tokens of the published rollouts").register(meters);
        this.reward = DistributionSummary.builder("rlhf.rollout.reward")
                .description("Total reward of the published rollouts").register(meters);
        Gauge.builder("rlhf.rollout.prompts.in.flight", inFlight, AtomicInteger::get).strongReference(true)
                .description("Prompts being sampled, scored or published").register(meters);
        Gauge.builder("rlhf.rollout.consumer.lag", lags, l -> l.values().stream().mapToLong(Long::longValue).sum())
                .strongReference(true)
                .description("Prompts on rlhf.prompts.v1 not yet fetched by this instance's consumers").register(meters);
        for (String outcome : List.of("published", "failed", "dead_lettered", "skipped", "cancelled")) {
            prompts(outcome);
        }
    }

    /** Prompts by outcome: published, failed, dead_lettered (unreadable), skipped (another run or set), cancelled. */
    public void prompt(String outcome) {
        prompts(outcome).increment();
    }

    private Counter prompts(String outcome) {
        return Counter.builder("rlhf.rollout.prompts").description("Prompts by outcome").tag("outcome", outcome)
                .register(meters);
    }

    /** A group was acknowledged. */
    public void published(List<Rollout> group) {
        rollouts.increment(group.size());
        for (Rollout r : group) {
            tokens.increment(r.getResponseTokenIdsCount());
            reward.record(r.getReward());
        }
    }

    /** A failed call that led to {@code decision} (retry, fail_prompt, fail_run). */
    public void callFailed(String call, String code, String decision) {
        meters.counter("rlhf.rollout.call.failures", "call", call, "code", code, "decision", decision).increment();
    }

    /** A record written to the dead-letter topic, by reason (unreadable, invalid, failed). */
    public void deadLettered(String reason) {
        meters.counter("rlhf.rollout.dead.letters", "reason", reason).increment();
    }

    /** The counter of prompts in flight, shared by every run of the service. */
    public AtomicInteger inFlight() {
        return inFlight;
    }

    /** The latest lag reading of one consumer ({@code -1} forgets it); the gauge sums them. */
    public void lag(Object consumer, long records) {
        if (records < 0) {
            lags.remove(consumer);
        } else {
            lags.put(consumer, records);
        }
    }
}
