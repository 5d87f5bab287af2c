package dev.rlhf.trainer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import com.google.protobuf.util.Durations;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.proto.v1.BestOfNConfig;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobProgress;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.trainer.sft.SftExample;
import dev.rlhf.trainer.sft.SftJob;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Rejection-sampling fine-tuning (Llama 2 section 3.2.3) from {@code TrainerService.SubmitJob}:
 * the {@code best_of_n_selected} rollouts of one BEST_OF_N rollout run (a snapshot of the
 * rollouts topic, repeats dropped by rollout id, optionally only those with reward ≥
 * {@code min_reward}) become (prompt, response) demonstrations for {@link SftJob}, which
 * fine-tunes {@code policy_init} and stores and announces the result (no reference export).
 */
@ApplicationScoped
public class BestOfNJobRunner {

    private static final Logger LOG = Logger.getLogger(BestOfNJobRunner.class);

    private final JobRegistry registry;
    private final TrainerConfig config;
    private final JobQueue jobs;
    private final ModelAnnouncer announcer;
    private final String bootstrap;
    private final String rolloutsTopic;
    private final JobGauges gauges;

    BestOfNJobRunner(JobRegistry registry, TrainerConfig config, MeterRegistry meters, JobQueue jobs,
            ModelAnnouncer announcer,
            @ConfigProperty(name = "kafka.bootstrap.servers", defaultValue = "127.0.0.1:9092") String bootstrap,
            @ConfigProperty(name = "rlhf.trainer.rollouts-topic", defaultValue = "rlhf.rollouts.v1") String topic) {
        this.registry = registry;
        this.config = config;
        this.jobs = jobs;
        this.announcer = announcer;
        this.bootstrap = bootstrap;
        this.rolloutsTopic = topic;
        this.gauges = new JobGauges(meters, "best_of_n");
    }

    /**
     * Checks {@code c} and queues the job.
     *
     * @throws IllegalArgumentException naming the field, for a request that cannot run
     */
    public void submit(Job job, BestOfNConfig c) {
        if (c.getRolloutRunId().isEmpty()) {
            throw new IllegalArgumentException("best_of_n.rollout_run_id is required: the BEST_OF_N rollout run whose"
                    + " selected samples are the training data");
        }
        if (c.getRollouts().hasPath()) {
            throw new IllegalArgumentException("best_of_n.rollouts.path: rollouts are read from a topic only; give"
                    + " best_of_n.rollouts.topic or leave it unset (= " + rolloutsTopic + ")");
        }
        if (c.getMicroBatchSize() != 0 && c.getMicroBatchSize() != c.getBatchSize()) {
            throw new IllegalArgumentException("best_of_n.micro_batch_size: gradient accumulation is not supported yet;"
                    + " leave it 0");
        }
        if (c.getMaxSeqLength() < 0 || c.getEpochs() < 0 || c.getBatchSize() < 0) {
            throw new IllegalArgumentException("best_of_n: epochs, batch_size and max_seq_length must be >= 0");
        }
        if (c.hasValidationFraction() && (c.getValidationFraction() < 0 || c.getValidationFraction() > 0.5)) {
            throw new IllegalArgumentException("best_of_n.validation_fraction must be in [0, 0.5], got "
                    + c.getValidationFraction());
        }
        jobs.submit(() -> run(job.getJobId(), c));
    }

    private void run(String id, BestOfNConfig c) {
        registry.update(id, b -> b.setState(JobState.JOB_STATE_RUNNING).setStartedAt(JobRegistry.now()), "starting",
                "best-of-N fine-tuning starting", Map.of());
        try {
            ModelStore store = new ModelStore(config.modelStore());
            String name = c.getPolicyInit().getName().isEmpty() ? "policy" : c.getPolicyInit().getName();
            long version = c.getPolicyInit().getVersion() > 0 ? c.getPolicyInit().getVersion()
                    : store.latest(name).orElseThrow(() -> new IllegalArgumentException("best_of_n.policy_init: no"
                            + " model named " + name + " in the store " + store.root()));
            StoredVersion init = store.load(name, version);
            ModelConfig model = ModelConfig.read(init.file("config.json"));
            List<SftExample> data = selected(c, model);
            registry.update(id, b -> b, "data", data.size() + " selected samples of run " + c.getRolloutRunId(),
                    Map.of("samples", (double) data.size()));
            SftJob.Config cfg = new SftJob.Config(c.getEpochs() == 0 ? 1 : c.getEpochs(),
                    c.getBatchSize() == 0 ? 64 : c.getBatchSize(),
                    c.getOptimizer().getLearningRate() == 0 ? 1e-5 : c.getOptimizer().getLearningRate(),
                    c.getOptimizer().getWarmupSteps(), c.getOptimizer().getWeightDecay(),
                    c.getOptimizer().hasMaxGradNorm() ? c.getOptimizer().getMaxGradNorm() : 1.0,
                    c.hasValidationFraction() ? c.getValidationFraction() : 0.05, c.getSeed(),
                    (int) c.getCheckpointEverySteps(), config.checkpoints().resolve(id),
                    c.getOutputName().isEmpty() ? "policy" : c.getOutputName(), false);
            SftJob.Result r = SftJob.run(model, SafeTensors.read(init.file("model.safetensors")),
                    init.file("tokenizer.json"), data, store, cfg, p -> {
                        gauges.update(p.step(), p.loss(), p.tokensPerSecond());
                        registry.update(id, b -> b.setProgress(JobProgress.newBuilder().setStep(p.step())
                                .setTotalSteps(p.totalSteps()).setEta(Durations.fromMillis(p.eta().toMillis()))),
                                "train", p.toString(), Map.of("loss", p.loss(), "tokens_per_second",
                                        p.tokensPerSecond()));
                    });
            announcer.announce(r.policy(), id);
            Map<String, Double> metrics = new LinkedHashMap<>(r.policy().metrics());
            metrics.put("best_of_n.samples", (double) data.size());
            ModelRef produced = ModelRef.newBuilder().setName(r.policy().name()).setVersion(r.policy().version()).build();
            ModelRef input = ModelRef.newBuilder().setName(name).setVersion(version).build();
            registry.update(id, b -> b.setState(JobState.JOB_STATE_SUCCEEDED).setFinishedAt(JobRegistry.now())
                    .putAllMetrics(metrics).addProducedModels(produced).addInputModels(input), "done",
                    "best-of-N fine-tuning finished: " + produced.getName() + " v" + produced.getVersion(), metrics);
        } catch (Exception | Error e) {
            LOG.errorf(e, "best-of-N job %s failed", id);
            registry.update(id, b -> b.setState(JobState.JOB_STATE_FAILED).setFinishedAt(JobRegistry.now())
                    .setError(e.toString()), "failed", e.toString(), Map.of());
        }
    }

    /** The run's selected samples as demonstrations, each rollout id once. */
    private List<SftExample> selected(BestOfNConfig c, ModelConfig model) throws IOException {
        String topic = c.getRollouts().hasTopic() ? c.getRollouts().getTopic() : rolloutsTopic;
        int maxSeq = c.getMaxSeqLength() == 0 ? model.maxPositionEmbeddings() : c.getMaxSeqLength();
        Set<String> seen = new HashSet<>();
        List<SftExample> out = new ArrayList<>();
        int tooLong = 0;
        for (Rollout r : TopicSnapshot.read(bootstrap, topic, Rollout::parseFrom)) {
            if (!r.getRunId().equals(c.getRolloutRunId()) || !r.getBestOfNSelected() || !seen.add(r.getRolloutId())
                    || (c.hasMinReward() && r.getReward() < c.getMinReward())) {
                continue;
            }
            if (r.getPromptTokenIdsCount() + r.getResponseTokenIdsCount() > maxSeq) {
                tooLong++;
                continue;
            }
            out.add(SftExample.of(r.getPromptText(), r.getResponseText()));
            long max = c.getRollouts().getMaxRecords();
            if (max > 0 && out.size() >= max) {
                break;
            }
        }
        if (tooLong > 0) {
            LOG.warnf("best-of-N: dropped %d selected samples longer than %d tokens", tooLong, maxSeq);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("best_of_n: run " + c.getRolloutRunId() + " has no selected rollouts in "
                    + topic + (c.hasMinReward() ? " with reward >= " + c.getMinReward() : ""));
        }
        return out;
    }
}
