package dev.rlhf.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;

import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.Tensor;
import dev.rlhf.proto.v1.DataSource;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobProgress;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.proto.v1.RewardModelConfig;
import dev.rlhf.trainer.rm.PreferencePair;
import dev.rlhf.trainer.rm.RewardModelJob;
import dev.rlhf.trainer.sft.SftExample;
import dev.rlhf.trainer.sft.SftJob;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Runs reward-model jobs from {@code TrainerService.SubmitJob} on the {@link JobQueue}: reads
 * the pairs (a JSONL file, or a snapshot of a preferences topic up to its end offsets at job
 * start, repeats dropped by preference id), trains {@link RewardModelJob} from the
 * {@code init_from} version (or from scratch), stores and announces the result. Metrics as for SFT, tagged
 * {@code kind="reward_model"}.
 */
@ApplicationScoped
public class RewardModelJobRunner {

    private static final Logger LOG = Logger.getLogger(RewardModelJobRunner.class);

    private final JobRegistry registry;
    private final TrainerConfig config;
    private final JobQueue jobs;
    private final ModelAnnouncer announcer;
    private final String bootstrap;
    private final JobGauges gauges;

    RewardModelJobRunner(JobRegistry registry, TrainerConfig config, MeterRegistry meters, JobQueue jobs,
            ModelAnnouncer announcer,
            @ConfigProperty(name = "kafka.bootstrap.servers", defaultValue = "127.0.0.1:9092") String bootstrap) {
        this.registry = registry;
        this.config = config;
        this.jobs = jobs;
        this.announcer = announcer;
        this.bootstrap = bootstrap;
        this.gauges = new JobGauges(meters, "reward_model");
    }

    /**
     * Checks {@code rm} and queues the job.
     *
     * @throws IllegalArgumentException naming the field, for a request that cannot run
     */
    public void submit(Job job, RewardModelConfig rm) {
        if (rm.getEnsembleSize() < 0 || rm.getEnsembleSize() > 8) {
            throw new IllegalArgumentException("reward_model.ensemble_size must be in 0..8, got " + rm.getEnsembleSize());
        }
        if (rm.getMicroBatchSize() != 0 && rm.getMicroBatchSize() != rm.getBatchSize()) {
            throw new IllegalArgumentException("reward_model.micro_batch_size: gradient accumulation is not supported"
                    + " yet; leave it 0");
        }
        if (rm.hasValidationFraction() && (rm.getValidationFraction() < 0 || rm.getValidationFraction() > 0.5)) {
            throw new IllegalArgumentException("reward_model.validation_fraction must be in [0, 0.5], got "
                    + rm.getValidationFraction());
        }
        if (rm.getMarginScale() < 0 || rm.getRewardL2Coef() < 0 || rm.getEpochs() < 0 || rm.getBatchSize() < 0
                || rm.getMaxSeqLength() < 0) {
            throw new IllegalArgumentException("reward_model: margin_scale, reward_l2_coef, epochs, batch_size and"
                    + " max_seq_length must be >= 0");
        }
        if (rm.getData().hasPath() && !Files.isRegularFile(Path.of(rm.getData().getPath()))) {
            throw new IllegalArgumentException("reward_model.data.path: no such file " + rm.getData().getPath());
        }
        jobs.submit(() -> run(job.getJobId(), rm));
    }

    private void run(String id, RewardModelConfig rm) {
        registry.update(id, b -> b.setState(JobState.JOB_STATE_RUNNING).setStartedAt(JobRegistry.now()), "starting",
                "reward model starting", Map.of());
        try {
            List<PreferencePair> data = read(rm);
            registry.update(id, b -> b, "data", data.size() + " preference pairs", Map.of("pairs", (double) data.size()));
            ModelStore store = new ModelStore(config.modelStore());
            Start start = start(rm, data, store);
            ModelConfig model = start.config();
            int members = rm.getEnsembleSize() == 0 ? 1 : rm.getEnsembleSize();
            RewardModelJob.Config cfg = new RewardModelJob.Config(members, rm.getBootstrap(), rm.getMarginScale(),
                    rm.getRewardL2Coef(), rm.hasValidationFraction() ? rm.getValidationFraction() : 0.05,
                    rm.getEpochs() == 0 ? 1 : rm.getEpochs(), rm.getBatchSize() == 0 ? 64 : rm.getBatchSize(),
                    rm.getOptimizer().getLearningRate() == 0 ? 1e-5 : rm.getOptimizer().getLearningRate(),
                    rm.getOptimizer().getWarmupSteps(), rm.getOptimizer().getWeightDecay(),
                    rm.getOptimizer().hasMaxGradNorm() ? rm.getOptimizer().getMaxGradNorm() : 1.0,
                    rm.getMaxSeqLength() == 0 ? model.maxPositionEmbeddings() : rm.getMaxSeqLength(), rm.getSeed(),
                    rm.getOutputName().isEmpty() ? "reward" : rm.getOutputName());
            RewardModelJob.Result r = RewardModelJob.run(model, start.weights(), start.tokenizer(), data, store, cfg,
                    p -> {
                        gauges.update(p.step(), p.loss(), p.tokensPerSecond());
                        registry.update(id, b -> b.setProgress(JobProgress.newBuilder().setStep(p.step())
                                .setTotalSteps(p.totalSteps()).setEta(Durations.fromMillis(p.eta().toMillis()))),
                                "train", p.toString(), Map.of("loss", p.loss(), "accuracy", p.accuracy(),
                                        "tokens_per_second", p.tokensPerSecond()));
                    });
            announcer.announce(r.version(), id);
            Map<String, Double> metrics = new LinkedHashMap<>(r.version().metrics());
            ModelRef produced = ModelRef.newBuilder().setName(r.version().name()).setVersion(r.version().version()).build();
            registry.update(id, b -> b.setState(JobState.JOB_STATE_SUCCEEDED).setFinishedAt(JobRegistry.now())
                    .putAllMetrics(metrics).addProducedModels(produced).addAllInputModels(start.inputs()),
                    "done", "reward model finished: " + produced.getName() + " v" + produced.getVersion(), metrics);
        } catch (Exception | Error e) {
            LOG.errorf(e, "reward-model job %s failed", id);
            registry.update(id, b -> b.setState(JobState.JOB_STATE_FAILED).setFinishedAt(JobRegistry.now())
                    .setError(e.toString()), "failed", e.toString(), Map.of());
        }
    }

    /** The starting point: a stored decoder ({@code init_from}), or a fresh one with a tokenizer learned from the pairs. */
    private record Start(ModelConfig config, Map<String, Tensor> weights, Path tokenizer, List<ModelRef> inputs) {
    }

    private Start start(RewardModelConfig rm, List<PreferencePair> data, ModelStore store) throws IOException {
        if (!rm.getInitFrom().getName().isEmpty()) {
            String name = rm.getInitFrom().getName();
            long version = rm.getInitFrom().getVersion() > 0 ? rm.getInitFrom().getVersion()
                    : store.latest(name).orElseThrow(() -> new IllegalArgumentException(
                            "reward_model.init_from: no model named " + name + " in the store " + store.root()));
            StoredVersion v = store.load(name, version);
            return new Start(ModelConfig.read(v.file("config.json")), SafeTensors.read(v.file("model.safetensors")),
                    v.file("tokenizer.json"), List.of(ModelRef.newBuilder().setName(name).setVersion(version).build()));
        }
        List<SftExample> texts = new ArrayList<>();
        for (PreferencePair p : data) {
            texts.add(SftExample.of(p.prompt(), p.chosen()));
            texts.add(SftExample.of(p.prompt(), p.rejected()));
        }
        TrainerConfig.Architecture a = config.scratch();
        Path tokenizer = Files.createTempDirectory("rlhf-tokenizer-").resolve("tokenizer.json");
        ModelConfig c = SftJob.scratch(texts, tokenizer, a.vocab(), a.hidden(), a.layers(), a.heads(), a.kvHeads(),
                a.context());
        Map<String, Tensor> weights = new LinkedHashMap<>();
        LlamaWeights.random(c, rm.getSeed()).forEach(t -> weights.put(t.name(), t));
        return new Start(c, weights, tokenizer, List.of());
    }

    private List<PreferencePair> read(RewardModelConfig rm) throws IOException {
        List<PreferencePair> pairs;
        if (rm.getData().hasPath()) {
            pairs = PreferencePair.readJsonl(Path.of(rm.getData().getPath()));
        } else {
            String topic = rm.getData().hasTopic() ? rm.getData().getTopic() : "rlhf.preferences.v1";
            pairs = snapshot(topic, rm.getData());
        }
        long max = rm.getData().getMaxRecords();
        if (max > 0 && pairs.size() > max) {
            pairs = pairs.subList(0, (int) max);
        }
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("reward_model.data holds no preference pairs");
        }
        return pairs;
    }

    /**
     * Every retained Preference of {@code topic} up to its end offsets now, each preference id
     * once, created at or after {@code data.since} (Preference.created_at) and carrying every
     * label of {@code data.label_filter}.
     */
    private List<PreferencePair> snapshot(String topic, DataSource data) {
        Set<String> seen = new HashSet<>();
        List<PreferencePair> out = new ArrayList<>();
        for (Preference pref : TopicSnapshot.read(bootstrap, topic, Preference::parseFrom)) {
            if (data.hasSince() && Timestamps.compare(pref.getCreatedAt(), data.getSince()) < 0) {
                continue;
            }
            if (!pref.getLabelsMap().entrySet().containsAll(data.getLabelFilterMap().entrySet())) {
                continue;
            }
            if (seen.add(pref.getPreferenceId())) {
                try {
                    out.add(PreferencePair.of(pref));
                } catch (IllegalArgumentException e) {
                    LOG.warnf("skipped invalid preference %s of %s: %s", pref.getPreferenceId(), topic, e.getMessage());
                }
            }
        }
        return out;
    }
}
