package dev.rlhf.rollout;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import dev.rlhf.kafka.support.DeadLetterQueue;
import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.proto.v1.GetRunRequest;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PromptsTopicSource;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.RolloutRun;
import dev.rlhf.proto.v1.RolloutRunSpec;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.StartRunRequest;
import dev.rlhf.proto.v1.StopRunRequest;
import dev.rlhf.rollout.core.RetryPolicy;
import dev.rlhf.rollout.core.RunSpecs;
import dev.rlhf.rollout.run.PromptConsumer;
import dev.rlhf.rollout.run.PromptPipeline;
import dev.rlhf.rollout.run.PromptSampler;
import dev.rlhf.rollout.run.PromptSetRunner;
import dev.rlhf.rollout.run.PromptSets;
import dev.rlhf.rollout.run.RolloutMetrics;
import dev.rlhf.rollout.run.RolloutPublisher;
import dev.rlhf.rollout.run.Run;
import dev.rlhf.rollout.run.RunDriver;
import dev.rlhf.rollout.run.Upstreams;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * The runs of this instance: the <b>standing run</b> — a {@link PromptConsumer} in group
 * {@code rlhf-rollouts} on rlhf.prompts.v1, configured by {@code rlhf.rollout.consumer.*}
 * and started with the service, so that instances share the topic's partitions — and the
 * runs started by RolloutService.StartRun: over a named prompt set ({@link PromptSetRunner})
 * or over the prompts topic in a group of their own,
 * {@code <consumer.group-id>.run.<run id>} ({@link PromptConsumer}).
 *
 * <p>Runs live in this instance's memory: GetRun answers for the runs started here (and for
 * the standing run, with this instance's counters); a restart forgets them. The standing run
 * appears under its run id ({@code rlhf.rollout.consumer.run-id}); StopRun on it drains this
 * instance (its partitions go to the other instances) until the service restarts.
 *
 * <p>Start-up fails on a bad {@code rlhf.rollout.*} value, naming the key.
 */
@ApplicationScoped
public class RolloutService {

    private static final Logger LOG = Logger.getLogger(RolloutService.class);

    private final RolloutConfig config;
    private final String bootstrap;
    private final Clock clock = Clock.systemUTC();
    private final RunSpecs.Defaults defaults;
    private final RolloutMetrics metrics;
    private final KafkaProducer<String, byte[]> producer;
    private final DeadLetterQueue deadLetters;
    private final PromptPipeline pipeline;
    private final PromptSets promptSets;
    private final Upstreams upstreams;
    private final RolloutRunSpec standingSpec;
    /** Every run known here, in start order: run id → its run and driver. */
    private final Map<String, Entry> runs = new LinkedHashMap<>();
    private PromptConsumer standing;

    private record Entry(Run run, RunDriver driver) {
    }

    RolloutService(RolloutConfig config, MeterRegistry meters, Upstreams upstreams,
            @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        this.config = config;
        this.bootstrap = bootstrap;
        List<String> problems = problems(config);
        if (!problems.isEmpty()) {
            throw new IllegalStateException("invalid configuration: " + String.join("; ", problems));
        }
        RolloutConfig.Retry r = config.retry();
        RetryPolicy retry = new RetryPolicy(r.initialBackoff(), r.maxBackoff(), r.multiplier(), r.jitter(),
                r.maxRetryAfter(), Math::random);
        this.defaults = defaults(config);
        this.standingSpec = standingSpec(config.consumer());
        this.metrics = new RolloutMetrics(meters);
        this.producer = ReliableProducers.create(bootstrap, "rollout-service", config.produceTimeout());
        this.deadLetters = new DeadLetterQueue(producer, config.topics().deadLetters(), "rollout-service",
                config.produceTimeout().toMillis() + 5_000);
        RolloutPublisher publisher = new RolloutPublisher(producer, config.topics().rollouts(),
                config.produceTimeout().plusSeconds(5));
        PromptSampler sampler = new PromptSampler(upstreams, retry, clock,
                new HashSet<>(config.eosTokenIds().orElse(List.of())),
                (call, code, d) -> metrics.callFailed(call, code.name(), d.kind().name().toLowerCase(java.util.Locale.ROOT)));
        this.pipeline = new PromptPipeline(sampler, publisher, deadLetters, metrics);
        this.promptSets = new PromptSets(config.promptSets());
        this.upstreams = upstreams;
    }

    static RunSpecs.Defaults defaults(RolloutConfig c) {
        return new RunSpecs.Defaults(c.defaults().maxConcurrency(), c.defaults().maxConcurrencyLimit(),
                c.defaults().callTimeout(), c.defaults().maxAttempts());
    }

    /** Every bad {@code rlhf.rollout.*} value, each naming its key; empty when the configuration is usable. */
    static List<String> problems(RolloutConfig c) {
        List<String> p = new ArrayList<>(settingProblems(c));
        try {
            RolloutConfig.Retry r = c.retry();
            new RetryPolicy(r.initialBackoff(), r.maxBackoff(), r.multiplier(), r.jitter(), r.maxRetryAfter(), () -> 0);
        } catch (IllegalArgumentException e) {
            p.add(e.getMessage());
        }
        if (p.isEmpty()) {
            try {
                for (String problem : RunSpecs.problems(standingSpec(c.consumer()), defaults(c))) {
                    p.add("rlhf.rollout.consumer.* (the standing run's spec): " + problem);
                }
            } catch (IllegalArgumentException e) {
                p.add(e.getMessage());
            }
        }
        return p;
    }

    private static List<String> settingProblems(RolloutConfig c) {
        List<String> p = new ArrayList<>();
        if (c.topics().prompts().isBlank() || c.topics().rollouts().isBlank() || c.topics().deadLetters().isBlank()) {
            p.add("rlhf.rollout.topics.prompts, .rollouts and .dead-letters must name topics");
        }
        if (c.produceTimeout().toMillis() < 2000) {
            p.add("rlhf.rollout.produce-timeout must be at least 2s, got " + c.produceTimeout());
        }
        if (c.maxActiveRuns() < 1) {
            p.add("rlhf.rollout.max-active-runs must be >= 1, got " + c.maxActiveRuns());
        }
        if (c.finishedRunsKept() < 0) {
            p.add("rlhf.rollout.finished-runs-kept must be >= 0, got " + c.finishedRunsKept());
        }
        if (c.maxConsecutiveFailures() < 0) {
            p.add("rlhf.rollout.max-consecutive-failures must be >= 0 (0 = never), got " + c.maxConsecutiveFailures());
        }
        if (c.eosTokenIds().orElse(List.of()).stream().anyMatch(id -> id < 0)) {
            p.add("rlhf.rollout.eos-token-ids must be token ids >= 0, got " + c.eosTokenIds().get());
        }
        RolloutConfig.Defaults d = c.defaults();
        if (d.maxConcurrency() < 1) {
            p.add("rlhf.rollout.defaults.max-concurrency must be >= 1, got " + d.maxConcurrency());
        }
        if (d.maxConcurrencyLimit() < d.maxConcurrency()) {
            p.add("rlhf.rollout.defaults.max-concurrency-limit must be >= defaults.max-concurrency ("
                    + d.maxConcurrency() + "), got " + d.maxConcurrencyLimit());
        }
        if (d.callTimeout().isNegative() || d.callTimeout().isZero()) {
            p.add("rlhf.rollout.defaults.call-timeout must be positive, got " + d.callTimeout());
        }
        if (d.maxAttempts() < 1) {
            p.add("rlhf.rollout.defaults.max-attempts must be >= 1, got " + d.maxAttempts());
        }
        RolloutConfig.Consumer k = c.consumer();
        if (!RunSpecs.RUN_ID.matcher(k.runId()).matches()) {
            p.add("rlhf.rollout.consumer.run-id must be 1..64 characters of [A-Za-z0-9._-], got '" + k.runId() + "'");
        }
        if (k.groupId().isBlank()) {
            p.add("rlhf.rollout.consumer.group-id must be set");
        }
        if (k.revokeGrace().isNegative()) {
            p.add("rlhf.rollout.consumer.revoke-grace must be >= 0, got " + k.revokeGrace());
        }
        if (k.restartBackoff().isNegative() || k.restartBackoff().isZero()) {
            p.add("rlhf.rollout.consumer.restart-backoff must be positive, got " + k.restartBackoff());
        }
        if (k.stopGrace().isNegative()) {
            p.add("rlhf.rollout.consumer.stop-grace must be >= 0, got " + k.stopGrace());
        }
        return p;
    }

    /** The standing run's spec, from {@code rlhf.rollout.consumer.*}. */
    static RolloutRunSpec standingSpec(RolloutConfig.Consumer c) {
        RolloutMode mode = switch (c.mode()) {
            case "ppo" -> RolloutMode.ROLLOUT_MODE_PPO;
            case "best-of-n" -> RolloutMode.ROLLOUT_MODE_BEST_OF_N;
            default -> throw new IllegalArgumentException("rlhf.rollout.consumer.mode must be ppo or best-of-n, got '"
                    + c.mode() + "'");
        };
        RolloutRunSpec.Builder s = RolloutRunSpec.newBuilder()
                .setPromptsTopic(PromptsTopicSource.newBuilder().setPromptSet(c.promptSet().orElse(""))
                        .setFromEarliest(c.fromEarliest()))
                .setSamplesPerPrompt(c.samplesPerPrompt())
                .setSampling(SamplingParams.newBuilder().setTemperature(c.temperature()).setTopP(c.topP())
                        .setTopK(c.topK()).setMaxNewTokens(c.maxNewTokens()))
                .setMode(mode)
                .setBestOfNKeep(c.bestOfNKeep())
                .setPolicy(ModelRef.newBuilder().setName(c.policy()).setVersion(c.policyVersion()))
                .addAllRewardComponents(c.rewardComponents().orElse(List.of()))
                .setMaxConcurrency(c.maxConcurrency())
                .setMaxAttempts(c.maxAttempts())
                .setPromptsPerIteration(c.promptsPerIteration());
        c.callTimeout().ifPresent(t -> s.setCallTimeout(com.google.protobuf.Duration.newBuilder()
                .setSeconds(t.getSeconds()).setNanos(t.getNano())));
        return s.build();
    }

    void onStart(@Observes StartupEvent ignored) {
        if (config.consumer().enabled()) {
            standing = startStanding();
        } else {
            LOG.info("standing run disabled (rlhf.rollout.consumer.enabled=false): only StartRun runs");
        }
    }

    void onStop(@Observes ShutdownEvent ignored) {
        List<Entry> all;
        synchronized (this) {
            all = new ArrayList<>(runs.values());
        }
        Duration grace = config.consumer().stopGrace();
        all.forEach(e -> e.run().stop(false));
        for (Entry e : all) {
            e.driver().close(grace);
        }
        producer.close(Duration.ofSeconds(5));
    }

    /** Starts a standing-run consumer (one per instance; a test starts a second to act as another instance). */
    PromptConsumer startStanding() {
        RolloutConfig.Consumer c = config.consumer();
        Run run = new Run(c.runId(), standingSpec, RunSpecs.effective(standingSpec, defaults), clock,
                config.maxConsecutiveFailures());
        PromptConsumer consumer = new PromptConsumer(new PromptConsumer.Settings(bootstrap, config.topics().prompts(),
                c.groupId(), c.fromEarliest() ? Optional.empty() : Optional.of(Instant.now(clock)), c.revokeGrace(),
                c.restartBackoff()), run, c.promptSet(), pipeline, deadLetters, metrics);
        synchronized (this) {
            runs.putIfAbsent(run.id(), new Entry(run, consumer));
        }
        consumer.start();
        LOG.infof("standing run %s: group %s on %s, %s", run.id(), c.groupId(), config.topics().prompts(),
                summary(run.effective()));
        return consumer;
    }

    /** The standing run's consumer of this instance (null when disabled). */
    PromptConsumer standing() {
        return standing;
    }

    /** RolloutService.StartRun (rollout.proto); errors are gRPC statuses. */
    public RolloutRun start(StartRunRequest request) {
        String id = request.getRunId().isEmpty() ? UUID.randomUUID().toString() : request.getRunId();
        if (!RunSpecs.RUN_ID.matcher(id).matches()) {
            throw Status.INVALID_ARGUMENT.withDescription("run_id must be 1..64 characters of [A-Za-z0-9._-], was '"
                    + id + "'").asRuntimeException();
        }
        if (!request.hasSpec()) {
            throw Status.INVALID_ARGUMENT.withDescription("spec is required").asRuntimeException();
        }
        RolloutRunSpec spec = request.getSpec();
        List<String> problems = RunSpecs.problems(spec, defaults);
        if (!problems.isEmpty()) {
            throw Status.INVALID_ARGUMENT.withDescription(String.join("; ", problems)).asRuntimeException();
        }
        RunSpecs.Effective effective = RunSpecs.effective(spec, defaults);
        synchronized (this) {
            Entry existing = runs.get(id);
            if (existing != null) {
                if (existing.run().spec().equals(spec) && existing.driver() != standing) {
                    return existing.run().snapshot(); // an idempotent retry
                }
                throw Status.ALREADY_EXISTS.withDescription("run " + id + " exists with a different spec"
                        + (existing.driver() == standing ? " (it is the standing run)" : "")
                        + "; choose another run_id").asRuntimeException();
            }
            if (effective.source() instanceof RunSpecs.PromptSet ps && !promptSets.exists(ps.name())) {
                throw Status.NOT_FOUND.withDescription("no prompt set '" + ps.name() + "' in " + config.promptSets()
                        + " (<name>.jsonl or <name>.pb; rlhf.rollout.prompt-sets)").asRuntimeException();
            }
            long active = runs.values().stream().filter(e -> e.driver() != standing && !e.run().isFinal()).count();
            if (active >= config.maxActiveRuns()) {
                throw Status.RESOURCE_EXHAUSTED.withDescription(active + " runs are active, the limit of this instance"
                        + " (rlhf.rollout.max-active-runs); stop one or wait for one to finish").asRuntimeException();
            }
            Run run = new Run(id, spec, effective, clock, config.maxConsecutiveFailures());
            RunDriver driver = effective.source() instanceof RunSpecs.Topic t
                    ? new PromptConsumer(new PromptConsumer.Settings(bootstrap, config.topics().prompts(),
                            config.consumer().groupId() + ".run." + id,
                            t.fromEarliest() ? Optional.empty() : Optional.of(Instant.now(clock)),
                            config.consumer().revokeGrace(), config.consumer().restartBackoff()),
                            run, t.promptSet(), pipeline, deadLetters, metrics)
                    : new PromptSetRunner(run, promptSets, pipeline, metrics, upstreams);
            driver.start();
            runs.put(id, new Entry(run, driver));
            forgetOldRuns();
            LOG.infof("run %s started: %s", id, summary(effective));
            return run.snapshot();
        }
    }

    /** One line for logs. */
    static String summary(RunSpecs.Effective e) {
        String source = e.source() instanceof RunSpecs.PromptSet ps ? "prompt set " + ps.name() + " x" + ps.epochs()
                : "topic" + ((RunSpecs.Topic) e.source()).promptSet().map(s -> " (set " + s + ")").orElse("");
        return source + ", K=" + e.samplesPerPrompt() + ", " + e.mode().name().substring("ROLLOUT_MODE_".length())
                + (e.bestOfN() ? " keep " + e.bestOfNKeep() : "") + ", " + e.policy().getName() + " "
                + (e.policy().getVersion() == 0 ? "current" : "v" + e.policy().getVersion()) + ", temperature "
                + e.sampling().getTemperature() + ", max concurrency " + e.maxConcurrency() + ", max attempts "
                + e.maxAttempts() + ", call timeout " + e.callTimeout().toMillis() + " ms";
    }

    /** RolloutService.StopRun. */
    public RolloutRun stop(StopRunRequest request) {
        Run run = find(request.getRunId());
        run.stop(request.getAbortInFlight());
        return run.snapshot();
    }

    /** RolloutService.GetRun. */
    public RolloutRun get(GetRunRequest request) {
        return find(request.getRunId()).snapshot();
    }

    private synchronized Run find(String id) {
        if (id.isEmpty()) {
            throw Status.INVALID_ARGUMENT.withDescription("run_id is required").asRuntimeException();
        }
        Entry e = runs.get(id);
        if (e == null) {
            throw Status.NOT_FOUND.withDescription("no run " + id + " in this instance (runs live in the instance that"
                    + " started them, until it restarts)").asRuntimeException();
        }
        return e.run();
    }

    /** Keeps at most finished-runs-kept final runs, forgetting the oldest. */
    private void forgetOldRuns() {
        long finished = runs.values().stream().filter(e -> e.run().isFinal()).count();
        for (Iterator<Entry> it = runs.values().iterator(); it.hasNext() && finished > config.finishedRunsKept();) {
            Entry e = it.next();
            if (e.run().isFinal() && e.driver() != standing) {
                it.remove();
                finished--;
            }
        }
    }
}
