package dev.rlhf.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jboss.logging.Logger;

import com.google.protobuf.util.Durations;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.Tensor;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobProgress;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.SftConfig;
import dev.rlhf.trainer.sft.SftExample;
import dev.rlhf.trainer.sft.SftJob;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Runs SFT jobs from {@code TrainerService.SubmitJob} on the {@link JobQueue}, translating the
 * proto's {@link SftConfig} into {@link SftJob.Config} and progress into job events and
 * metrics ({@code rlhf_trainer_step}, {@code rlhf_trainer_loss},
 * {@code rlhf_trainer_tokens_per_second}, tagged {@code kind="sft"}); announces what it stored.
 */
@ApplicationScoped
public class SftJobRunner {

    private static final Logger LOG = Logger.getLogger(SftJobRunner.class);

    private final JobRegistry registry;
    private final TrainerConfig config;
    private final JobQueue jobs;
    private final ModelAnnouncer announcer;
    private final JobGauges gauges;

    SftJobRunner(JobRegistry registry, TrainerConfig config, MeterRegistry meters, JobQueue jobs,
            ModelAnnouncer announcer) {
        this.registry = registry;
        this.config = config;
        this.jobs = jobs;
        this.announcer = announcer;
        this.gauges = new JobGauges(meters, "sft");
    }

    /**
     * Checks {@code sft} and queues the job.
     *
     * @throws IllegalArgumentException naming the field, for a request that cannot run
     */
    public void submit(Job job, SftConfig sft) {
        SftExample.jsonlFile(sft.getData(), "sft.data");
        if (sft.getMicroBatchSize() != 0 && sft.getMicroBatchSize() != sft.getBatchSize()) {
            throw new IllegalArgumentException("sft.micro_batch_size: gradient accumulation is not supported yet;"
                    + " leave it 0");
        }
        if (sft.getMaxSeqLength() != 0) {
            throw new IllegalArgumentException("sft.max_seq_length: leave it 0; examples longer than the context"
                    + " window are refused, never cut");
        }
        if (sft.getTrainOnPrompt()) {
            throw new IllegalArgumentException("sft.train_on_prompt: not supported yet; the loss is on responses");
        }
        if (sft.hasValidationFraction() && (sft.getValidationFraction() < 0 || sft.getValidationFraction() > 0.5)) {
            throw new IllegalArgumentException("sft.validation_fraction must be in [0, 0.5], got "
                    + sft.getValidationFraction());
        }
        jobs.submit(() -> run(job.getJobId(), sft));
    }

    private void run(String id, SftConfig sft) {
        registry.update(id, b -> b.setState(JobState.JOB_STATE_RUNNING).setStartedAt(JobRegistry.now()), "starting",
                "SFT starting", Map.of());
        try {
            List<SftExample> data = SftExample.readJsonl(Path.of(sft.getData().getPath()));
            ModelStore store = new ModelStore(config.modelStore());
            Start start = start(sft, data, store);
            String output = sft.getOutputName().isEmpty() ? "policy" : sft.getOutputName();
            SftJob.Config cfg = new SftJob.Config(sft.getEpochs() == 0 ? 2 : sft.getEpochs(),
                    sft.getBatchSize() == 0 ? 64 : sft.getBatchSize(),
                    sft.getOptimizer().getLearningRate() == 0 ? 1e-5 : sft.getOptimizer().getLearningRate(),
                    sft.getOptimizer().getWarmupSteps(), sft.getOptimizer().getWeightDecay(),
                    sft.getOptimizer().hasMaxGradNorm() ? sft.getOptimizer().getMaxGradNorm() : 1.0,
                    sft.hasValidationFraction() ? sft.getValidationFraction() : 0.05, sft.getSeed(),
                    (int) sft.getCheckpointEverySteps(), config.checkpoints().resolve(id), output,
                    !sft.getSkipReferenceExport());
            SftJob.Result r = SftJob.run(start.config(), start.weights(), start.tokenizer(), data, store, cfg, p -> {
                gauges.update(p.step(), p.loss(), p.tokensPerSecond());
                registry.update(id, b -> b.setProgress(JobProgress.newBuilder().setStep(p.step())
                        .setTotalSteps(p.totalSteps()).setEta(Durations.fromMillis(p.eta().toMillis()))),
                        "train", p.toString(), Map.of("loss", p.loss(), "tokens_per_second", p.tokensPerSecond()));
            });
            announcer.announce(r.policy(), id);
            if (r.reference() != null) {
                announcer.announce(r.reference(), id);
            }
            Map<String, Double> metrics = new LinkedHashMap<>(r.policy().metrics());
            List<ModelRef> produced = new ArrayList<>();
            produced.add(ModelRef.newBuilder().setName(r.policy().name()).setVersion(r.policy().version()).build());
            if (r.reference() != null) {
                produced.add(ModelRef.newBuilder().setName("reference").setVersion(r.reference().version()).build());
            }
            registry.update(id, b -> b.setState(JobState.JOB_STATE_SUCCEEDED).setFinishedAt(JobRegistry.now())
                    .putAllMetrics(metrics).addAllProducedModels(produced).addAllInputModels(start.inputs()),
                    "done", "SFT finished: " + produced, metrics);
        } catch (Exception | Error e) {
            LOG.errorf(e, "SFT job %s failed", id);
            registry.update(id, b -> b.setState(JobState.JOB_STATE_FAILED).setFinishedAt(JobRegistry.now())
                    .setError(e.toString()), "failed", e.toString(), Map.of());
        }
    }

    /** The starting point: a stored model ({@code init}), or a fresh one with a tokenizer learned from the data. */
    private record Start(ModelConfig config, Map<String, Tensor> weights, Path tokenizer, List<ModelRef> inputs) {
    }

    private Start start(SftConfig sft, List<SftExample> data, ModelStore store) throws IOException {
        if (!sft.getInit().getName().isEmpty()) {
            String name = sft.getInit().getName();
            long version = sft.getInit().getVersion() > 0 ? sft.getInit().getVersion()
                    : store.latest(name).orElseThrow(() -> new IllegalArgumentException(
                            "sft.init: no model named " + name + " in the store " + store.root()));
            StoredVersion v = store.load(name, version);
            return new Start(ModelConfig.read(v.file("config.json")), SafeTensors.read(v.file("model.safetensors")),
                    v.file("tokenizer.json"), List.of(ModelRef.newBuilder().setName(name).setVersion(version).build()));
        }
        TrainerConfig.Architecture a = config.scratch();
        Path tokenizer = Files.createTempDirectory("rlhf-tokenizer-").resolve("tokenizer.json");
        ModelConfig c = SftJob.scratch(data, tokenizer, a.vocab(), a.hidden(), a.layers(), a.heads(), a.kvHeads(),
                a.context());
        return new Start(c, null, tokenizer, List.of());
    }
}
