package dev.rlhf.trainer;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobProgress;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.trainer.ppo.PpoIteration;
import dev.rlhf.trainer.ppo.job.PpoJob;
import dev.rlhf.trainer.ppo.job.PpoSettings;
import dev.rlhf.trainer.ppo.job.RolloutFeed;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Runs PPO jobs ({@link PpoJob}) from {@code TrainerService.SubmitJob} on the {@link JobQueue}. A
 * fresh job learns from the rollouts published since it was submitted (a resumed one from its
 * checkpoint's positions).
 * Each iteration becomes a job event (stage "iteration") whose metrics are PPO's diagnostics
 * ({@code ppo/mean_score}, {@code ppo/kl}, {@code ppo/beta}, {@code ppo/clip_fraction},
 * {@code ppo/approx_kl}, {@code ppo/optimizer_steps}, {@code ppo/entropy}, {@code ppo/value_explained_variance},
 * {@code ppo/response_length}, {@code ppo/logprob_mismatch}), what the rollout feed skipped
 * ({@code rollouts/stale}, {@code rollouts/other_run}, {@code rollouts/too_long},
 * {@code rollouts/repeat}, {@code rollouts/unreadable}) and where the time went
 * ({@code time/wait_ms}, {@code time/train_ms}, {@code time/export_ms},
 * {@code time/checkpoint_ms}); the same figures are gauges {@code rlhf_trainer_ppo{metric}}.
 * Every exported version is announced on rlhf.models.v1 and listed in the job's produced
 * models. A job without max_iterations runs until the trainer stops; it is then CANCELLED
 * and can be resumed from its checkpoint by a submission with resume_from_checkpoint.
 */
@ApplicationScoped
public class PpoJobRunner {

    private static final Logger LOG = Logger.getLogger(PpoJobRunner.class);

    private final JobRegistry registry;
    private final TrainerConfig config;
    private final JobQueue jobs;
    private final ModelAnnouncer announcer;
    private final MeterRegistry meters;
    private final String bootstrap;
    private final String rolloutsTopic;
    private final Map<String, AtomicReference<Double>> gauges = new ConcurrentHashMap<>();
    private final AtomicBoolean stopping = new AtomicBoolean();

    PpoJobRunner(JobRegistry registry, TrainerConfig config, MeterRegistry meters, JobQueue jobs,
            ModelAnnouncer announcer,
            @ConfigProperty(name = "kafka.bootstrap.servers", defaultValue = "127.0.0.1:9092") String bootstrap,
            @ConfigProperty(name = "rlhf.trainer.rollouts-topic", defaultValue = "rlhf.rollouts.v1") String topic) {
        this.registry = registry;
        this.config = config;
        this.jobs = jobs;
        this.announcer = announcer;
        this.meters = meters;
        this.bootstrap = bootstrap;
        this.rolloutsTopic = topic;
    }

    /**
     * Checks {@code ppo} and queues the job.
     *
     * @throws IllegalArgumentException naming the field, for a request that cannot run
     */
    public void submit(Job job, PpoConfig ppo, boolean resume) {
        PpoSettings settings = PpoSettings.of(ppo, rolloutsTopic);
        jobs.submit(() -> run(job, settings, resume));
    }

    private void run(Job job, PpoSettings settings, boolean resume) {
        String id = job.getJobId();
        registry.update(id, b -> b.setState(JobState.JOB_STATE_RUNNING).setStartedAt(JobRegistry.now()), "starting",
                "PPO starting: " + settings, Map.of());
        try {
            PpoJob ppo = new PpoJob(settings, new ModelStore(config.modelStore()), bootstrap,
                    config.checkpoints().resolve(job.getJobName()), job.getJobName());
            Instant submitted = Instant.ofEpochSecond(job.getCreatedAt().getSeconds(),
                    job.getCreatedAt().getNanos());
            PpoJob.Result r = ppo.run(resume, submitted, new PpoJob.Listener() {
                @Override
                public void started(long resumedAt, StoredVersion policy, StoredVersion reference) {
                    List<ModelRef> inputs = List.of(ref(policy), ref(reference));
                    String message = resumedAt >= 0 ? "resumed from the checkpoint of iteration " + resumedAt
                            : (resume ? "no checkpoint of " + job.getJobName() + ": starting from scratch"
                                    : "starting from scratch");
                    registry.update(id, b -> b.addAllInputModels(inputs), "starting", message + " with " + policy.name()
                            + " v" + policy.version() + " and reference " + reference.name() + " v"
                            + reference.version(), Map.of());
                }

                @Override
                public void iteration(PpoJob.Report report) {
                    Map<String, Double> metrics = metrics(report);
                    metrics.forEach((k, v) -> gauges.computeIfAbsent(k, name -> {
                        AtomicReference<Double> g = new AtomicReference<>(Double.NaN);
                        Gauge.builder("rlhf.trainer.ppo", g, AtomicReference::get).tag("metric", name)
                                .description("PPO diagnostics of the last iteration").register(meters);
                        return g;
                    }).set(v));
                    long step = report.iteration() + 1;
                    StoredVersion v = report.exported();
                    registry.update(id, b -> {
                        b.setProgress(JobProgress.newBuilder().setStep(step).setTotalSteps(settings.maxIterations()))
                                .putAllMetrics(metrics);
                        if (v != null) {
                            b.addProducedModels(ref(v));
                        }
                        return b;
                    }, "iteration", String.format("iteration %d: reward %.3f, KL %.3f, β %.4f%s", report.iteration(),
                            report.meanReward(), report.diagnostics().meanKl(), report.diagnostics().beta(),
                            v == null ? "" : ", exported " + v.name() + " v" + v.version()), metrics);
                }
            }, v -> announcer.announce(v, id), stopping::get);
            JobState end = r.cancelled() ? JobState.JOB_STATE_CANCELLED : JobState.JOB_STATE_SUCCEEDED;
            registry.update(id, b -> b.setState(end).setFinishedAt(JobRegistry.now()), "done", "PPO "
                    + (r.cancelled() ? "cancelled" : "finished") + " after " + r.iterations() + " iterations", Map.of());
        } catch (Exception | Error e) {
            LOG.errorf(e, "PPO job %s failed", id);
            registry.update(id, b -> b.setState(JobState.JOB_STATE_FAILED).setFinishedAt(JobRegistry.now())
                    .setError(e.toString()), "failed", e.toString(), Map.of());
        }
    }

    private static Map<String, Double> metrics(PpoJob.Report r) {
        PpoIteration.Diagnostics d = r.diagnostics();
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("ppo/mean_score", d.meanScore());
        m.put("ppo/mean_reward", r.meanReward());
        m.put("ppo/kl", d.meanKl());
        m.put("ppo/beta", d.beta());
        m.put("ppo/policy_loss", d.policyLoss());
        m.put("ppo/value_loss", d.valueLoss());
        m.put("ppo/clip_fraction", d.clipFraction());
        m.put("ppo/approx_kl", d.approxKl());
        m.put("ppo/optimizer_steps", (double) d.optimizerSteps());
        m.put("ppo/entropy", d.entropy());
        m.put("ppo/value_explained_variance", d.explainedVariance());
        m.put("ppo/response_length", d.meanResponseLength());
        m.put("ppo/logprob_mismatch", d.logprobMismatch());
        m.put("ppo/ptx_loss", d.ptxLoss());
        for (RolloutFeed.Verdict v : RolloutFeed.Verdict.values()) {
            if (v != RolloutFeed.Verdict.ACCEPT) {
                m.put("rollouts/" + v.name().toLowerCase(), (double) r.feed().getOrDefault(v, 0L));
            }
        }
        m.put("time/wait_ms", (double) r.waitMillis());
        m.put("time/train_ms", (double) r.trainMillis());
        m.put("time/export_ms", (double) r.exportMillis());
        m.put("time/checkpoint_ms", (double) r.checkpointMillis());
        m.values().removeIf(x -> !Double.isFinite(x));
        return m;
    }

    private static ModelRef ref(StoredVersion v) {
        return ModelRef.newBuilder().setName(v.name()).setVersion(v.version()).build();
    }

    /** Lets a running job stop at its next batch boundary when the trainer shuts down. */
    @PreDestroy
    void stop() {
        stopping.set(true);
    }
}
