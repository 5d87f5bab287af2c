package dev.rlhf.demo;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.google.protobuf.util.JsonFormat;
import com.google.protobuf.util.Timestamps;

import dev.rlhf.proto.v1.DataSource;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobKind;
import dev.rlhf.proto.v1.ModelVersion;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.RolloutServiceGrpc;
import dev.rlhf.proto.v1.SftConfig;
import dev.rlhf.proto.v1.StartRunRequest;
import dev.rlhf.proto.v1.StopRunRequest;
import dev.rlhf.proto.v1.SubmitJobRequest;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;

/**
 * {@code bin/rlhf bench ppo}: the time of a PPO iteration through the services (rollout-service
 * sampling from policy-service and scoring with reward-service, the PPO job following
 * rlhf.rollouts.v1, exporting, announcing and checkpointing each version) next to the same
 * iteration in one process without Kafka or gRPC ({@code trainer-service}'s
 * {@code bench.PpoBench}, forked with the same model store, settings and reward rule), in one
 * command. Both start from the same SFT policy (data/sft-demo.jsonl). Figures are medians over
 * the iterations after the first. {@code --batch N} sets the rollouts per iteration (default
 * 256); policy-service then decodes and queues up to N rows, so a version's whole batch is
 * taken at once (with a smaller queue the requests beyond it are refused and retried after
 * the service's 200 ms retry hint). {@code --ahead 1} lets the rollout run draw one batch
 * ahead ({@code versions_ahead}): the services then sample the next batch while the job
 * trains, from the version before; the one-process baseline stays sequential and on-policy.
 */
public final class PpoLoopBench {

    private static final int ITERATIONS = 13;
    /** Rollouts per iteration unless {@code --batch N}. */
    private static final int DEFAULT_BATCH = 256;
    private static final int K = 4;
    private static final int MAX_NEW = 24;
    private static final double LEARNING_RATE = 5e-4;
    private static final Pattern LINE = Pattern.compile("iteration (\\d+): generation (\\d+) ms, scoring (\\d+) ms,"
            + " training (\\d+) ms, export (\\d+) ms.*");

    public static void main(String[] args) throws Exception {
        int batch = DEFAULT_BATCH;
        int ahead = 0;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--batch") && i + 1 < args.length) {
                batch = Integer.parseInt(args[++i]);
            } else if (args[i].equals("--ahead") && i + 1 < args.length) {
                ahead = Integer.parseInt(args[++i]);
            } else {
                throw new IllegalArgumentException("usage: PpoLoopBench [--batch N] [--ahead 0|1], N a multiple of "
                        + 4 * K + " (default " + DEFAULT_BATCH + "); got " + String.join(" ", args));
            }
        }
        if (ahead < 0 || ahead > 1) {
            throw new IllegalArgumentException("--ahead must be 0 (on-policy) or 1 (sampling one batch ahead), got "
                    + ahead);
        }
        if (batch < 4 * K || batch % (4 * K) != 0) {
            throw new IllegalArgumentException("--batch must be a positive multiple of " + 4 * K + " (" + K
                    + " samples per prompt, 4 minibatches), got " + batch);
        }
        Path root = Path.of(System.getProperty("rlhf.root", "."));
        Path work = Files.createTempDirectory("rlhf-bench-ppo-");
        String bootstrap = System.getenv("KAFKA_BOOTSTRAP_SERVERS") != null ? System.getenv("KAFKA_BOOTSTRAP_SERVERS")
                : KafkaTestBroker.shared().bootstrapServers();
        List<String> prompts = PpoLoop.sftDemoPrompts(root);
        Files.write(work.resolve("prompts.txt"), prompts);
        try (Stack stack = new Stack(root, work, work.resolve("models"), bootstrap)) {
            // the trainer with the full JIT, as the in-process baseline runs (the stack's default
            // of C1 only saves start-up compilation on 2 cores)
            stack.start("trainer-service", "1500m", List.of("-Drlhf.normaliser.enabled=false", "-XX:TieredStopAtLevel=4"));
            TrainerServiceGrpc.TrainerServiceBlockingStub trainer = TrainerServiceGrpc.newBlockingStub(
                    stack.channel("trainer-service"));
            System.out.println("SFT on data/sft-demo.jsonl ...");
            watch(trainer, trainer.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_SFT)
                    .setJobName("bench-sft").setSft(SftConfig.newBuilder().setData(DataSource.newBuilder()
                            .setPath(root.resolve("data/sft-demo.jsonl").toAbsolutePath().toString())).setEpochs(8)
                            .setBatchSize(16).setValidationFraction(0).setSeed(7).setOptimizer(OptimizerConfig
                                    .newBuilder().setLearningRate(3e-3).setWarmupSteps(10)))
                    .build()), null);

            // 1. in one process, from the SFT policy
            System.out.println("in one process (trainer-service bench.PpoBench) ...");
            Files.writeString(work.resolve("ppo.json"), JsonFormat.printer().print(PpoLoop.config("in-process", batch,
                    ITERATIONS, LEARNING_RATE)));
            List<long[]> local = inProcess(root, work);

            // 2. through the services
            stack.start("policy-service", "1g", List.of("-Drlhf.policy.max-batch=" + batch,
                    "-Drlhf.policy.max-queue=" + batch));
            stack.start("reward-service", "512m", List.of("-Drlhf.reward.components[0].name=excited",
                    "-Drlhf.reward.components[0].kind=regex-must", "-Drlhf.reward.components[0].pattern=!",
                    "-Drlhf.reward.components[0].model=", "-Drlhf.reward.components[0].normalise="));
            stack.start("rollout-service", "512m", List.of("-Drlhf.rollout.defaults.max-concurrency-limit="
                    + Math.max(64, batch / K)));
            PpoLoop.writePromptSet(stack.promptSets(), "bench", prompts);
            String run = "bench-" + UUID.randomUUID();
            System.out.println("through the services ...");
            Job ppo = trainer.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_PPO).setJobName("bench-ppo")
                    .setPpo(PpoLoop.config(run, batch, ITERATIONS, LEARNING_RATE)).build());
            RolloutServiceGrpc.RolloutServiceBlockingStub rollouts = RolloutServiceGrpc.newBlockingStub(
                    stack.channel("rollout-service"));
            StartRunRequest start = PpoLoop.run(run, "bench", K, batch / K, MAX_NEW, batch);
            rollouts.startRun(start.toBuilder().setSpec(start.getSpec().toBuilder().setVersionsAhead(ahead)).build());
            List<long[]> services = new ArrayList<>();
            watch(trainer, ppo, services);
            rollouts.stopRun(StopRunRequest.newBuilder().setRunId(run).setAbortInFlight(true).build());
            report(local, services, batch, ahead);
            timeline(bootstrap, ppo.getJobId(), run);
        }
    }

    /** Forks the in-process baseline; one {generation, scoring, training, export} per iteration. */
    private static List<long[]> inProcess(Path root, Path work) throws Exception {
        String cp = root.resolve("trainer-service/target/classes") + ":" + root.resolve("model/target/classes") + ":"
                + Files.readString(root.resolve("trainer-service/target/classpath.txt")).trim();
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx2g",
                "-cp", cp, "dev.rlhf.trainer.bench.PpoBench", "--config", work.resolve("ppo.json").toString(),
                "--store", work.resolve("models").toString(), "--prompts", work.resolve("prompts.txt").toString(),
                "--k", String.valueOf(K), "--max-new-tokens", String.valueOf(MAX_NEW))
                .redirectErrorStream(true).start();
        List<long[]> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                Matcher m = LINE.matcher(line);
                if (m.matches()) {
                    System.out.println("  " + line);
                    out.add(new long[] {Long.parseLong(m.group(2)), Long.parseLong(m.group(3)),
                            Long.parseLong(m.group(4)), Long.parseLong(m.group(5))});
                }
            }
        }
        if (p.waitFor() != 0 || out.size() != ITERATIONS) {
            throw new IllegalStateException("the in-process baseline failed (exit " + p.exitValue() + ")");
        }
        return out;
    }

    /**
     * Follows a job to its end; for PPO, one {period, train, wait, export + checkpoint} per
     * iteration (period = time since the previous iteration's event, as the client saw it).
     */
    private static void watch(TrainerServiceGrpc.TrainerServiceBlockingStub trainer, Job job, List<long[]> iterations) {
        long[] previous = {System.nanoTime()};
        TrainerJobs.succeeded(trainer, job, job.getJobName(), e -> {
            if (iterations != null && e.getStage().equals("iteration")) {
                long now = System.nanoTime();
                var m = e.getMetricsMap();
                long[] row = {(now - previous[0]) / 1_000_000, m.get("time/train_ms").longValue(),
                    m.get("time/wait_ms").longValue(), m.get("time/export_ms").longValue()
                            + m.get("time/checkpoint_ms").longValue()};
                iterations.add(row);
                System.out.println("  " + e.getMessage() + String.format(Locale.ROOT, "; period %d ms, wait %d ms,"
                        + " train %d ms, export+checkpoint %d ms", row[0], row[2], row[1], row[3]));
                previous[0] = now;
            }
        });
    }

    /**
     * Where the wait for rollouts goes, from the topics: for each version the job announced,
     * milliseconds from its announcement (record time on rlhf.models.v1) to the first and to
     * the last of the run's rollouts sampled from it (Rollout.created_at), and how many.
     */
    private static void timeline(String bootstrap, String jobId, String run) throws Exception {
        Map<Long, Long> announced = new TreeMap<>();
        for (var rec : TopicReader.readAll(bootstrap, "rlhf.models.v1")) {
            ModelVersion v = ModelVersion.parseFrom(rec.value());
            if (v.getTrainingJobId().equals(jobId)) {
                announced.put(v.getVersion(), rec.timestamp());
            }
        }
        Map<Long, List<Long>> created = new HashMap<>();
        for (var rec : TopicReader.readAll(bootstrap, "rlhf.rollouts.v1")) {
            Rollout r = Rollout.parseFrom(rec.value());
            if (r.getRunId().equals(run)) {
                created.computeIfAbsent(r.getPolicy().getVersion(), k -> new ArrayList<>())
                        .add(Timestamps.toMillis(r.getCreatedAt()));
            }
        }
        List<long[]> rows = new ArrayList<>();
        for (var e : announced.entrySet()) {
            List<Long> ts = created.getOrDefault(e.getKey(), List.of());
            if (!ts.isEmpty()) {
                rows.add(new long[] {Collections.min(ts) - e.getValue(), Collections.max(ts) - e.getValue(), ts.size()});
            }
        }
        if (rows.size() < 2) {
            return;
        }
        System.out.printf(Locale.ROOT, "  after a version is announced (medians of %d versions): its first rollout"
                + " +%d ms, its last +%d ms (%d rollouts; they include policy-service's swap and each prompt's"
                + " sampling, scoring and publishing)%n", rows.size() - 1, median(rows, 0), median(rows, 1),
                median(rows, 2));
    }

    private static long median(List<long[]> rows, int column) {
        long[] xs = rows.stream().skip(1).mapToLong(r -> r[column]).sorted().toArray();
        return xs[xs.length / 2];
    }

    /**
     * The overhead over whole periods, and split: what each iteration spends outside training
     * (services: the period less training; one process: generation, scoring and export), and
     * training, which differs between the runs also because they train on different samples
     * (response lengths, early-stopped epochs).
     */
    private static void report(List<long[]> local, List<long[]> services, int batch, int ahead) {
        long gen = median(local, 0);
        long score = median(local, 1);
        long train = median(local, 2);
        long export = median(local, 3);
        long localTotal = median(local.stream().map(r -> new long[] {r[0] + r[1] + r[2] + r[3]}).toList(), 0);
        long localAround = median(local.stream().map(r -> new long[] {r[0] + r[1] + r[3]}).toList(), 0);
        long period = median(services, 0);
        long sTrain = median(services, 1);
        long sWait = median(services, 2);
        long sExport = median(services, 3);
        long sAround = median(services.stream().map(r -> new long[] {r[0] - r[1]}).toList(), 0);
        System.out.printf(Locale.ROOT, "%nPPO iteration (%d rollouts = %d prompts x %d samples, <= %d new tokens),"
                + " medians of iterations 1..%d; the services' rollouts %s:%n", batch, batch / K, K, MAX_NEW,
                ITERATIONS - 1, ahead == 0 ? "paced on-policy (each batch drawn from the version it trains)"
                        : "drawn one batch ahead (each batch from the version before the one it trains, while it trains)");
        System.out.printf(Locale.ROOT, "  one process:  %6d ms per iteration (generation %d, scoring %d, training %d,"
                + " export %d)%n", localTotal, gen, score, train, export);
        System.out.printf(Locale.ROOT, "  services:     %6d ms per iteration = waiting for rollouts %d (generation +"
                + " scoring + Kafka/gRPC, less what overlapped training) + training %d + export/announce/checkpoint %d"
                + " + other %d%n", period, sWait, sTrain, sExport, period - sWait - sTrain - sExport);
        System.out.printf(Locale.ROOT, "  services overhead: %+.1f%% of the one-process iteration (whole periods; target"
                + " <= 10%%)%n", 100.0 * (period - localTotal) / localTotal);
        System.out.printf(Locale.ROOT, "    outside training: one process %d ms, services %d ms (%+d ms = %+.1f%%);"
                + " training %+.1f%% (other samples%s)%n", localAround, sAround, sAround - localAround,
                100.0 * (sAround - localAround) / localTotal, 100.0 * (sTrain - train) / train,
                ahead == 0 ? "" : ", and sampling on the same cores alongside");
    }
}
