package dev.rlhf.trainer.ppo.job;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import ai.djl.ndarray.NDManager;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.trainer.VersionFolder;
import dev.rlhf.trainer.engine.LlamaModel;
import dev.rlhf.trainer.ppo.ActorCritic;
import dev.rlhf.trainer.ppo.KlController;
import dev.rlhf.trainer.ppo.PpoIteration;
import dev.rlhf.trainer.sft.SftExample;

/**
 * The PPO job: follows the rollouts topic and, per iteration, takes a batch of fresh
 * rollouts, runs {@link PpoIteration} on them (old log-probabilities and values recomputed by
 * the training engine, reference log-probabilities from the frozen reference), exports and
 * announces a policy version every {@code exportEvery} iterations and checkpoints every
 * {@code checkpointEvery} (weights, both optimizers, KL controller, iteration, the topic
 * positions and the ids of every rollout trained on). Plain Java: the trainer service runs
 * it on its job queue, {@link PpoCommand} in a process of its own.
 *
 * <p><b>Staleness rule.</b> A rollout is used when it was sampled by the job's current policy
 * (the policy it started from, then each version it exported) or by one of the
 * {@code maxPolicyLag} versions before it, by model name and version; older ones are skipped and counted
 * ({@link RolloutFeed.Verdict#STALE}). Accepted rollouts are not importance-corrected: the
 * ratio's denominator is the log-probability recomputed with the trainer's current weights
 * (the serving log-probabilities are only compared, as {@code logprob_mismatch}), so a lag
 * of L versions makes the data at most L exports off-policy.
 *
 * <p><b>Resume.</b> Iterations after the last checkpoint are lost in a crash and done again
 * from its positions: every rollout is in the weights exactly once ({@code trained.tsv}). The
 * minibatch order (and the draw of the ptx term's demonstrations) is seeded by the iteration,
 * so on a one-partition topic the repeated iteration trains on the same batch in the same
 * order; with several partitions a batch may interleave them differently (Kafka orders records
 * within a partition only). A version exported after the last checkpoint is exported again (as
 * a new version number) by the repeated iteration.
 *
 * <p><b>Checkpoint writing.</b> A checkpoint is a snapshot taken at the end of its iteration
 * and written (files, fsync, {@code LATEST}) by a writer thread while the next batch
 * arrives; the job waits for it to be durable, and only then commits the group's offsets,
 * before it trains on that batch (the last iteration's, and a cancelled job's, before it
 * returns). So training never outruns the last durable checkpoint by more than one
 * iteration, as before; {@code time/checkpoint_ms} is the snapshot's share of the iteration,
 * a write that outlasts the wait shows in the next {@code time/wait_ms}.
 */
public final class PpoJob {

    /** What the job reports as it goes. */
    public interface Listener {
        /** Once, before the first batch; {@code resumedAt} is the checkpoint's iteration or −1. */
        default void started(long resumedAt, StoredVersion policy, StoredVersion reference) {
        }

        /** A batch is complete and training on it begins. */
        default void training(long iteration, List<String> rolloutIds) {
        }

        /** An iteration finished (and was exported and checkpointed when due). */
        default void iteration(Report report) {
        }
    }

    /** Announces a stored version (on rlhf.models.v1, in the service). */
    public interface Announcer {
        void announce(StoredVersion version);
    }

    /**
     * One iteration: its diagnostics, the version it exported (or null), what the feed saw so
     * far, and where the wall time went.
     */
    public record Report(long iteration, PpoIteration.Diagnostics diagnostics, StoredVersion exported,
            boolean checkpointed, Map<RolloutFeed.Verdict, Long> feed, double meanReward, long waitMillis,
            long trainMillis, long exportMillis, long checkpointMillis) {
    }

    /** How the job ended. */
    public record Result(long iterations, StoredVersion lastExported, boolean cancelled) {
    }

    private final PpoSettings s;
    private final ModelStore store;
    private final String bootstrap;
    private final PpoCheckpoint checkpoint;
    private final String group;

    /**
     * @param jobName names the consumer group used for monitoring ({@code trainer-ppo-<name>})
     */
    public PpoJob(PpoSettings settings, ModelStore store, String bootstrap, Path checkpointDir, String jobName) {
        this.s = settings;
        this.store = store;
        this.bootstrap = bootstrap;
        this.checkpoint = new PpoCheckpoint(checkpointDir);
        this.group = "trainer-ppo-" + jobName;
    }

    /**
     * Runs until {@code maxIterations} (or, when that is 0, until {@code cancelled}).
     *
     * @param resume continue from the job's checkpoint (fresh start when it has none); false
     *               deletes any checkpoint of this job name first
     * @param since  where a fresh start reads from: the rollouts published at or after this
     *               time (the trainer passes the job's submission time), or the whole retained
     *               topic when null; a resumed job reads from its checkpoint's positions
     */
    public Result run(boolean resume, Instant since, Listener listener, Announcer announcer, BooleanSupplier cancelled)
            throws IOException {
        PpoCheckpoint.Saved saved = null;
        if (resume) {
            saved = checkpoint.load().orElse(null);
        } else {
            checkpoint.clear();
        }
        StoredVersion policy = store.load(s.policyName(), saved != null ? saved.state().policyVersion()
                : resolve(s.policyName(), s.policyVersion(), "ppo.policy_init"));
        StoredVersion reference = store.load(s.referenceName(), saved != null ? saved.state().referenceVersion()
                : resolve(s.referenceName(), s.referenceVersion(), "ppo.reference"));
        ModelConfig config = ModelConfig.read(policy.file("config.json"));
        ModelConfig refConfig = ModelConfig.read(reference.file("config.json"));
        if (refConfig.vocabSize() != config.vocabSize()) {
            throw new IllegalArgumentException("ppo.reference: " + reference.name() + " v" + reference.version()
                    + " has vocabulary " + refConfig.vocabSize() + ", the policy " + config.vocabSize());
        }
        int maxSeq = s.maxSeqLength() == 0 ? config.maxPositionEmbeddings()
                : Math.min(s.maxSeqLength(), config.maxPositionEmbeddings());
        Map<String, Tensor> weights = new LinkedHashMap<>(saved != null ? saved.weights()
                : SafeTensors.read(policy.file("model.safetensors")));
        Tensor valueHead = weights.remove(ActorCritic.VALUE_HEAD);
        KlController kl = KlController.of(s.adaptiveKl(), s.klCoef(), s.targetKl(), s.klHorizon());
        long iteration = 0;
        String currentName = policy.name();
        long currentVersion = policy.version();
        List<String> trained = new ArrayList<>();
        Set<String> trainedIds = new HashSet<>();
        Map<Integer, Long> positions = Map.of();
        StoredVersion lastExported = null;
        if (saved != null) {
            PpoCheckpoint.State st = saved.state();
            kl.restore(st.kl());
            iteration = st.iteration();
            positions = st.positions();
            currentName = st.currentName();
            currentVersion = st.currentVersion();
            trained.addAll(saved.trained());
            saved.trained().forEach(line -> trainedIds.add(line.substring(line.indexOf('\t') + 1)));
        }
        listener.started(saved == null ? -1 : iteration, policy, reference);
        ExecutorService writer = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, group + "-checkpoint");
            t.setDaemon(true);
            return t;
        });
        PendingCheckpoint pending = null;
        try (NDManager manager = NDManager.newBaseManager();
                ActorCritic model = new ActorCritic(config, weights, valueHead, manager);
                LlamaModel ref = LlamaModel.of(refConfig, SafeTensors.read(reference.file("model.safetensors")), manager);
                RolloutFeed feed = new RolloutFeed(bootstrap, s.rolloutTopic(), group, positions, since)) {
            PpoIteration ppo = new PpoIteration(model, ref, manager, kl, s.iteration(),
                    s.ptxData() == null ? List.of() : ptxDemonstrations(s.ptxData(), policy, maxSeq));
            if (saved != null) {
                ppo.actorOptimizer().restore(saved.actorMoments(), saved.state().actorSteps());
                ppo.criticOptimizer().restore(saved.criticMoments(), saved.state().criticSteps());
            }
            while ((s.maxIterations() == 0 || iteration < s.maxIterations()) && !cancelled.getAsBoolean()) {
                // 1. a batch of fresh rollouts
                long t0 = System.nanoTime();
                String name = currentName;
                long floor = currentVersion - s.maxPolicyLag();
                Set<String> batchIds = new HashSet<>();
                List<Rollout> batch = feed.next(s.batchSize(), r -> judge(r, name, floor, maxSeq, trainedIds, batchIds),
                        cancelled);
                if (batch.size() < s.batchSize()) {
                    break; // cancelled while waiting: the partial batch is read again on resume
                }
                // the previous checkpoint was written while this batch arrived: durable before training on
                pending = finish(pending, feed);
                long t1 = System.nanoTime();
                List<String> ids = batch.stream().map(Rollout::getRolloutId).toList();
                listener.training(iteration, ids);
                // 2.–8. the PPO iteration
                List<PpoIteration.Rollout> rollouts = new ArrayList<>();
                double rewardSum = 0;
                for (Rollout r : batch) {
                    double reward = r.getReward() - (r.getEndedWithEos() ? 0 : s.missingEosPenalty());
                    rewardSum += r.getReward();
                    float[] served = new float[r.getBehaviourLogprobsCount()];
                    for (int i = 0; i < served.length; i++) {
                        served[i] = r.getBehaviourLogprobs(i);
                    }
                    rollouts.add(new PpoIteration.Rollout(r.getPromptTokenIdsList().stream().mapToInt(Integer::intValue)
                            .toArray(), r.getResponseTokenIdsList().stream().mapToInt(Integer::intValue).toArray(),
                            served.length == r.getResponseTokenIdsCount() ? served : null, reward));
                }
                PpoIteration.Diagnostics d = ppo.run(rollouts, iteration);
                long t2 = System.nanoTime();
                for (String id : ids) {
                    trained.add(iteration + "\t" + id);
                    trainedIds.add(id);
                }
                iteration++;
                boolean last = s.maxIterations() > 0 && iteration == s.maxIterations();
                // 9. a new policy version, served once announced
                StoredVersion exported = null;
                if (iteration % s.exportEvery() == 0 || last) {
                    exported = export(model, config, policy, currentName.equals(s.outputName()) ? currentVersion : 0,
                            d, iteration);
                    announcer.announce(exported);
                    lastExported = exported;
                    currentName = exported.name();
                    currentVersion = exported.version();
                }
                long t3 = System.nanoTime();
                // 10. the checkpoint, then the consumer group's offsets: a snapshot now, written by
                //     the writer thread while the next batch arrives (the last one at once)
                boolean checkpointed = iteration % s.checkpointEvery() == 0 || last;
                if (checkpointed) {
                    List<Tensor> state = new ArrayList<>(model.policyWeights());
                    state.add(model.valueHead());
                    PpoCheckpoint.State st = new PpoCheckpoint.State(iteration, kl.state(),
                            ppo.actorOptimizer().steps(), ppo.criticOptimizer().steps(), feed.positions(),
                            policy.name(), policy.version(), reference.name(), reference.version(), currentName,
                            currentVersion);
                    List<Tensor> actor = ppo.actorOptimizer().moments();
                    List<Tensor> critic = ppo.criticOptimizer().moments();
                    List<String> ledger = List.copyOf(trained);
                    pending = new PendingCheckpoint(writer.submit(() -> checkpoint.save(st, state, actor, critic, ledger)),
                            st.positions());
                    if (last) {
                        pending = finish(pending, feed);
                    }
                }
                long t4 = System.nanoTime();
                listener.iteration(new Report(iteration - 1, d, exported, checkpointed, feed.counts(),
                        rewardSum / batch.size(), (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000,
                        (t4 - t3) / 1_000_000));
            }
            finish(pending, feed); // a cancelled job's last checkpoint is durable before it returns
        } finally {
            writer.shutdown();
            try {
                writer.awaitTermination(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return new Result(iteration, lastExported, cancelled.getAsBoolean());
    }

    /** A checkpoint being written, and the positions to commit once it is durable. */
    private record PendingCheckpoint(Future<Path> written, Map<Integer, Long> positions) {
    }

    /** Waits for {@code pending} (if any) to be durable, then commits its positions; returns null. */
    private static PendingCheckpoint finish(PendingCheckpoint pending, RolloutFeed feed) throws IOException {
        if (pending == null) {
            return null;
        }
        try {
            pending.written().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the checkpoint was written", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException("writing the checkpoint failed", e);
        }
        feed.commit(pending.positions());
        return null;
    }

    /**
     * The ptx term's demonstrations, encoded with the policy's tokenizer and chat template.
     *
     * @throws IllegalArgumentException naming the demonstration that is longer than {@code maxSeq}
     */
    static List<PpoIteration.Demonstration> ptxDemonstrations(Path file, StoredVersion policy, int maxSeq)
            throws IOException {
        List<SftExample> data = SftExample.readJsonl(file);
        if (data.isEmpty()) {
            throw new IllegalArgumentException("ppo.ptx_data.path: " + file + " holds no demonstrations");
        }
        List<PpoIteration.Demonstration> out = new ArrayList<>();
        try (Tokenizer tok = Tokenizer.load(policy.file("tokenizer.json"))) {
            ChatTemplate template = new ChatTemplate(tok);
            for (int i = 0; i < data.size(); i++) {
                ChatTemplate.Encoded e = template.encode(data.get(i).messages());
                if (e.length() > maxSeq) {
                    throw new IllegalArgumentException("ppo.ptx_data: demonstration " + i + " of " + file + " has "
                            + e.length() + " tokens, more than the " + maxSeq + " the job trains on");
                }
                int[] ids = e.ids();
                out.add(new PpoIteration.Demonstration(Arrays.copyOf(ids, e.promptLength()),
                        Arrays.copyOfRange(ids, e.promptLength(), ids.length)));
            }
        }
        return out;
    }

    private RolloutFeed.Verdict judge(Rollout r, String current, long floor, int maxSeq, Set<String> trained,
            Set<String> batch) {
        if (!s.rolloutRunId().isEmpty() && !s.rolloutRunId().equals(r.getRunId())) {
            return RolloutFeed.Verdict.OTHER_RUN;
        }
        if (!r.getPolicy().getName().equals(current) || r.getPolicy().getVersion() < floor) {
            return RolloutFeed.Verdict.STALE;
        }
        if (r.getPromptTokenIdsCount() + r.getResponseTokenIdsCount() > maxSeq) {
            return RolloutFeed.Verdict.TOO_LONG;
        }
        if (trained.contains(r.getRolloutId()) || !batch.add(r.getRolloutId())) {
            return RolloutFeed.Verdict.REPEAT;
        }
        return RolloutFeed.Verdict.ACCEPT;
    }

    private long resolve(String name, long version, String field) throws IOException {
        if (version > 0) {
            return version;
        }
        return store.latest(name).orElseThrow(() -> new IllegalArgumentException(field + ": no model named " + name
                + " in the store " + store.root()));
    }

    private StoredVersion export(ActorCritic model, ModelConfig config, StoredVersion init, long parent,
            PpoIteration.Diagnostics d, long iteration) throws IOException {
        Path folder = VersionFolder.write(config, model.policyWeights(), init.file("tokenizer.json"),
                DecoderGraph.Head.CAUSAL_LM);
        try {
            Map<String, Double> metrics = new LinkedHashMap<>();
            metrics.put("ppo.iteration", (double) iteration);
            metrics.put("ppo.mean_score", d.meanScore());
            metrics.put("ppo.kl", d.meanKl());
            metrics.put("ppo.beta", d.beta());
            metrics.put("ppo.clip_fraction", d.clipFraction());
            metrics.put("ppo.approx_kl", d.approxKl());
            metrics.put("ppo.optimizer_steps", (double) d.optimizerSteps());
            metrics.put("ppo.entropy", d.entropy());
            metrics.put("ppo.value_explained_variance", d.explainedVariance());
            metrics.put("ppo.response_length", d.meanResponseLength());
            metrics.put("ppo.logprob_mismatch", d.logprobMismatch());
            metrics.put("ppo.ptx_loss", d.ptxLoss());
            metrics.values().removeIf(v -> !Double.isFinite(v));
            return store.write(s.outputName(), ModelKind.POLICY, parent, folder, metrics);
        } finally {
            VersionFolder.delete(folder);
        }
    }
}
