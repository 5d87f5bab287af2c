package dev.rlhf.demo;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.google.protobuf.util.Timestamps;

import dev.rlhf.demo.task.DemoTask;
import dev.rlhf.demo.task.Demonstration;
import dev.rlhf.demo.task.GoldJudge;
import dev.rlhf.demo.task.Quality;
import dev.rlhf.demo.task.SimulatedLabeler;
import dev.rlhf.model.ValidationSplit;
import dev.rlhf.proto.v1.DataSource;
import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.JobKind;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.proto.v1.RewardModelConfig;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.RolloutServiceGrpc;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.SftConfig;
import dev.rlhf.proto.v1.StopRunRequest;
import dev.rlhf.proto.v1.SubmitJobRequest;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;

/**
 * {@code bin/rlhf demo [--quick] [--keep] [--attach] [--out DIR] [--seed N]}: the whole RLHF pipeline on
 * the bundled task ({@link DemoTask}), every step through the services' public APIs:
 * <ol>
 * <li>a base model: SFT from scratch on {@link DemoTask#pretrainingCorpus} (copying, names, sums), then
 * SFT from it on the task's demonstrations (mixed quality) with some of the corpus replayed, both via
 * {@code TrainerService.SubmitJob};
 * <li>the SFT policy answers the held-out prompts (the baseline) and samples two answers per
 * training prompt via {@code PolicyService.Generate} (each logged as an interaction);
 * <li>simulated labelers ({@link SimulatedLabeler}: the hidden {@link GoldJudge} plus
 * Bradley–Terry noise) compare each pair and post their choices to the feedback-gateway's
 * REST API, as a labeling tool would; trainer-service's normaliser turns them into
 * preferences;
 * <li>a reward model trained on those preferences (never on the gold judge), served by
 * reward-service;
 * <li>PPO: rollout-service samples from the current policy and scores with reward-service; the
 * PPO job trains and exports a version per iteration, which policy-service swaps in;
 * <li>evaluation: the final policy answers the held-out prompts; the gold judge compares.
 * </ol>
 * It prints each stage with its elapsed time and an estimate of the rest, writes
 * {@code report.txt} and {@code report.html} to the results folder, and stops the services
 * unless {@code --keep}. With {@code --attach} it uses the services of {@code bin/rlhf up}
 * (their broker, ports, model store and API key) and leaves them running.
 */
public final class Demo {

    /**
     * The size of a run: {@link #QUICK} for CI, {@link #DEFAULT} for a newcomer.
     *
     * @param expectedSeconds what such a run takes on the reference machine (2 cores): the basis
     *                        of the progress lines' estimate of the time left
     */
    public record Size(int pretrainEpochs, int sftEpochs, int labelPrompts, int rmEpochs, int ppoIterations,
            int ppoBatch, int evalPrompts, int expectedSeconds) {
    }

    public static final Size QUICK = new Size(2, 12, 600, 3, 6, 64, 40, 180);
    public static final Size DEFAULT = new Size(4, 20, 3000, 2, 80, 64, 65, 445);

    private static final double LABELER_TEMPERATURE = 0.1;
    private static final int PRETRAIN_COPIES = 3000;
    private static final int PRETRAIN_EXTRACTIONS = 3000;
    private static final int PRETRAIN_SUM_REPEATS = 10;
    /** Pretraining examples mixed into the SFT data. */
    private static final int SFT_REPLAY = 1200;

    /**
     * γ of PPO-ptx, on the SFT data (demonstrations and replayed corpus): chosen when helpful
     * was the demonstrations' most common kind: with it the final policy's gold score on the
     * held-out prompts (greedy answers) was 0.900 and 0.931 in two runs, 0.863–0.891 without;
     * γ 1.0 gave 0.844, the pretraining corpus as ptx data 0.894.
     */
    private static final double PTX_COEF = 0.5;

    /** Answers sampled per held-out prompt and policy for the sampled comparison (temperature 1). */
    static final int EVAL_SAMPLES = 8;

    /** Share of the labeled prompts the reward-model job holds out (its validation split). */
    private static final double RM_VALIDATION = 0.2;

    /**
     * What a run measured: the report's figures. {@code noiseCeiling} is the labelers' expected
     * agreement with the gold judge on the pairs the reward model is validated on (its
     * held-out prompts), the ceiling its held-out accuracy is compared with;
     * {@code noiseCeilingAll} on every labeled pair.
     */
    public record Outcome(double rmAccuracy, double noiseCeiling, double noiseCeilingAll, int labels,
            Comparison greedy, Comparison sampled, double meanKl, double maxKl, List<Double> proxyReward,
            List<Double> goldReward, List<Double> kl, Path results) {
    }

    /**
     * The final policy against SFT on the held-out prompts, by the gold judge: on each prompt the
     * policy with the higher score wins (a policy's score on a prompt is the gold score of its
     * greedy answer, or the mean over its sampled answers), equal scores tie;
     * {@code winRate} = (wins + ties / 2) / prompts. {@code sftPerfect} counts the prompts where SFT
     * already scores 1, the most the judge gives: there the final policy can at best tie.
     */
    public record Comparison(double winRate, int wins, int ties, int losses, int sftPerfect, double goldSft,
            double goldFinal) {

        static Comparison of(double[] sft, double[] fin) {
            int wins = 0;
            int ties = 0;
            int perfect = 0;
            double sumSft = 0;
            double sumFinal = 0;
            for (int i = 0; i < sft.length; i++) {
                wins += fin[i] > sft[i] ? 1 : 0;
                ties += fin[i] == sft[i] ? 1 : 0;
                perfect += sft[i] >= 1 ? 1 : 0;
                sumSft += sft[i];
                sumFinal += fin[i];
            }
            int n = sft.length;
            return new Comparison((wins + ties / 2.0) / n, wins, ties, n - wins - ties, perfect, sumSft / n,
                    sumFinal / n);
        }
    }

    private final Path root;
    private final Path out;
    private final Size size;
    private final long seed;
    private final long started = System.nanoTime();
    private final List<String> log = new ArrayList<>();

    public Demo(Path root, Path out, Size size, long seed) {
        this.root = root;
        this.out = out;
        this.size = size;
        this.seed = seed;
    }

    public static void main(String[] args) throws Exception {
        Size size = DEFAULT;
        boolean keep = false;
        boolean attach = false;
        long seed = 7;
        Path root = Path.of(System.getProperty("rlhf.root", "."));
        Path out = root.resolve("results").resolve("demo-" + LocalDateTime.now().format(
                DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> size = QUICK;
                case "--keep" -> keep = true;
                case "--attach" -> attach = true;
                case "--out" -> out = Path.of(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                default -> throw new IllegalArgumentException("usage: bin/rlhf demo [--quick] [--keep] [--attach]"
                        + " [--out DIR] [--seed N]; unknown option " + args[i]);
            }
        }
        Outcome o = new Demo(root, out, size, seed).run(keep, attach);
        System.out.println("report: " + o.results().resolve("report.html"));
    }

    private void stage(String name, String detail) {
        double elapsed = (System.nanoTime() - started) / 1e9;
        String line = String.format("[%5.0fs, about %.0fs left] %s: %s", elapsed,
                Math.max(0, size.expectedSeconds() - elapsed), name, detail);
        System.out.println(line);
        log.add(line);
    }

    /** Runs the pipeline; the services keep running afterwards when {@code keep}. */
    public Outcome run(boolean keep) throws Exception {
        return run(keep, false);
    }

    /**
     * Runs the pipeline; {@code attach}: against the services of {@code bin/rlhf up} (its broker,
     * ports, model store and API key) instead of starting its own.
     */
    public Outcome run(boolean keep, boolean attach) throws Exception {
        Files.createDirectories(out);
        DemoTask task = DemoTask.create(seed);
        GoldJudge gold = new GoldJudge();
        String bootstrap = System.getenv("KAFKA_BOOTSTRAP_SERVERS") != null ? System.getenv("KAFKA_BOOTSTRAP_SERVERS")
                : attach ? "127.0.0.1:" + System.getenv().getOrDefault("RLHF_KAFKA_PORT", "9092")
                        : KafkaTestBroker.shared().bootstrapServers();
        Instant since = Instant.now();
        String key = attach ? (System.getenv("RLHF_API_KEY") != null ? System.getenv("RLHF_API_KEY")
                : Files.readString(root.resolve(".rlhf/api-key")).trim())
                : "rlhf_demo_" + UUID.randomUUID().toString().replace("-", "");
        String keyHash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(key.getBytes(StandardCharsets.UTF_8)));
        Files.createDirectories(root.resolve(".rlhf/prompt-sets"));
        Stack stack = attach ? Stack.attach(root, bootstrap)
                : new Stack(root, out.resolve("work"), out.resolve("work/models"), bootstrap);
        try {
            stage("start", "kafka at " + bootstrap + "; starting trainer-service");
            stack.start("trainer-service", "1500m", List.of());
            TrainerServiceGrpc.TrainerServiceBlockingStub trainer = TrainerServiceGrpc.newBlockingStub(
                    stack.channel("trainer-service"));

            // 0. a base model: pretraining on general skills and knowledge (copying, names, single-digit
            //    sums), so that fine-tuning starts, as it does in practice, from a model that knows something
            Path corpus = out.resolve("pretraining.jsonl");
            List<String> corpusLines = DemoTask.pretrainingCorpus(seed, PRETRAIN_COPIES, PRETRAIN_EXTRACTIONS,
                    PRETRAIN_SUM_REPEATS).stream().map(d -> sftLine(d.prompt(), d.response())).toList();
            Files.write(corpus, corpusLines);
            stage("pretrain", corpusLines.size() + " examples, " + size.pretrainEpochs() + " epochs");
            JobEvent pretrained = await(trainer, trainer.submitJob(SubmitJobRequest.newBuilder()
                    .setKind(JobKind.JOB_KIND_SFT).setJobName("demo-pretrain").setSft(SftConfig.newBuilder()
                            .setData(DataSource.newBuilder().setPath(corpus.toAbsolutePath().toString()))
                            .setOutputName("base").setSkipReferenceExport(true).setEpochs(size.pretrainEpochs())
                            .setBatchSize(32).setValidationFraction(0.02).setSeed(seed)
                            .setOptimizer(OptimizerConfig.newBuilder().setLearningRate(3e-3).setWarmupSteps(20)))
                    .build()), "pretrain");
            long baseVersion = pretrained.getJob().getProducedModels(0).getVersion();

            // 1. SFT on the task's demonstrations and a second one per prompt of a kind drawn by the
            //    task's shares: the policy then answers a prompt in more than one way, which is what
            //    labelers compare
            Path demos = out.resolve("demonstrations.jsonl");
            List<String> lines = new ArrayList<>();
            java.util.Random draw = new java.util.Random(seed);
            for (Demonstration d : task.demonstrations()) {
                lines.add(sftLine(d.prompt(), d.response()));
                List<String> other = DemoTask.responses(d.prompt(), kind(draw.nextDouble()));
                lines.add(sftLine(d.prompt(), other.get(draw.nextInt(other.size()))));
            }
            // and some of the corpus replayed, so that fine-tuning keeps what the base model knows
            int demonstrations = lines.size();
            lines.addAll(corpusLines.subList(0, Math.min(SFT_REPLAY, corpusLines.size())));
            Files.write(demos, lines);
            stage("sft", demonstrations + " demonstrations and " + (lines.size() - demonstrations)
                    + " pretraining examples, " + size.sftEpochs() + " epochs");
            JobEvent sft = await(trainer, trainer.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_SFT)
                    .setJobName("demo-sft").setSft(SftConfig.newBuilder()
                            .setInit(ModelRef.newBuilder().setName("base").setVersion(baseVersion))
                            .setData(DataSource.newBuilder()
                            .setPath(demos.toAbsolutePath().toString())).setEpochs(size.sftEpochs()).setBatchSize(16)
                            .setValidationFraction(0.05).setSeed(seed).setOptimizer(OptimizerConfig.newBuilder()
                                    .setLearningRate(3e-3).setWarmupSteps(10)))
                    .build()), "sft");
            long sftVersion = sft.getJob().getProducedModels(0).getVersion();

            // 2. the SFT policy: baseline answers and pairs to label
            stage("serve", "policy v" + sftVersion + "; starting policy-service and feedback-gateway");
            stack.start("policy-service", "1g", List.of("-Drlhf.policy.max-batch=32"));
            stack.start("feedback-gateway", "512m", List.of("-Drlhf.gateway.auth.keys=demo:" + keyHash
                    + ":feedback.write"));
            PolicyServiceGrpc.PolicyServiceBlockingStub policy = PolicyServiceGrpc.newBlockingStub(
                    stack.channel("policy-service"));
            List<String> heldOut = task.heldOutPrompts().subList(0, Math.min(size.evalPrompts(),
                    task.heldOutPrompts().size()));
            awaitServed(policy, sftVersion);
            List<String> before = answers(policy, heldOut);
            double[] sampledBefore = sampledScores(policy, heldOut, gold);
            stage("label", size.labelPrompts() + " prompts x 2 samples, simulated labelers (temperature "
                    + LABELER_TEMPERATURE + ") posting to the feedback-gateway");
            SimulatedLabeler labeler = new SimulatedLabeler(gold, LABELER_TEMPERATURE, seed);
            List<SimulatedLabeler.Comparison> compared = new ArrayList<>();
            List<String> choices = new ArrayList<>(); // what the labelers chose, as preference JSONL
            List<String> events = new ArrayList<>();
            HttpClient http = HttpClient.newHttpClient();
            List<String> train = task.trainPrompts();
            for (int i = 0; i < size.labelPrompts(); i++) {
                String prompt = train.get(i % train.size());
                GenerateResponse g = policy.withDeadlineAfter(60, TimeUnit.SECONDS).generate(GenerateRequest
                        .newBuilder().setModel(ModelRef.newBuilder().setName("policy"))
                        .setPromptText(PpoLoop.render(prompt)).setUserId("demo-sampler")
                        .setSampling(SamplingParams.newBuilder().setN(2).setTemperature(1f).setMaxNewTokens(48)
                                .setSeed(seed * 7919 + i)).build());
                String a = g.getSamples(0).getText();
                String b = g.getSamples(1).getText();
                if (a.equals(b) || a.isBlank() || b.isBlank()) {
                    continue; // nothing to compare (the gateway refuses an empty response, rightly)
                }
                SimulatedLabeler.Choice c = labeler.choose(prompt, a, b);
                compared.add(new SimulatedLabeler.Comparison(prompt, a, b));
                choices.add("{\"prompt\":" + json(prompt) + ",\"chosen\":" + json(c.firstPreferred() ? a : b)
                        + ",\"rejected\":" + json(c.firstPreferred() ? b : a) + "}");
                events.add(pairwise(prompt, g, c.firstPreferred() ? "a" : "b", "labeler-" + (i % 5)));
                if (events.size() == 50 || i == size.labelPrompts() - 1) {
                    post(http, stack.port("feedback-gateway"), key, events);
                    events.clear();
                }
            }
            if (!events.isEmpty()) {
                post(http, stack.port("feedback-gateway"), key, events);
            }
            Files.write(out.resolve("preferences.jsonl"), choices);
            double ceilingAll = labeler.noiseCeiling(compared);
            // the reward model is validated on the pairs of its held-out prompts: their ceiling is its bar
            List<SimulatedLabeler.Comparison> rmHeldOut = compared.stream()
                    .filter(c -> ValidationSplit.heldOut(c.prompt(), seed, RM_VALIDATION)).toList();
            double ceiling = rmHeldOut.isEmpty() ? ceilingAll : labeler.noiseCeiling(rmHeldOut);
            int preferences = awaitPreferences(bootstrap, since, compared.size());
            stage("preferences", compared.size() + " choices posted, " + preferences + " preferences normalised;"
                    + String.format(" labelers' noise ceiling %.3f (%.3f on the reward model's held-out prompts)",
                            ceilingAll, ceiling));

            // 3. the reward model, served
            JobEvent rm = await(trainer, trainer.submitJob(SubmitJobRequest.newBuilder()
                    .setKind(JobKind.JOB_KIND_REWARD_MODEL).setJobName("demo-rm").setRewardModel(RewardModelConfig
                            .newBuilder().setData(DataSource.newBuilder().setTopic("rlhf.preferences.v1")
                                    .setSince(Timestamps.fromMillis(since.toEpochMilli())))
                            .setInitFrom(ModelRef.newBuilder().setName("policy").setVersion(sftVersion))
                            .setEpochs(size.rmEpochs()).setBatchSize(16).setValidationFraction(RM_VALIDATION)
                            .setSeed(seed).setRewardL2Coef(0.01)
                            .setOptimizer(OptimizerConfig.newBuilder().setLearningRate(1e-3)))
                    .build()), "reward model");
            double rmAccuracy = rm.getJob().getMetricsMap().getOrDefault("rm.validation_accuracy", Double.NaN);
            stage("reward model", String.format("held-out accuracy %.3f (noise ceiling %.3f); starting reward- and"
                    + " rollout-service", rmAccuracy, ceiling));
            stack.start("reward-service", "768m", List.of());
            stack.start("rollout-service", "512m", List.of());

            // 4. PPO, each version swapped into policy-service
            PpoLoop.writePromptSet(stack.promptSets(), "demo", train);
            String run = "demo-" + UUID.randomUUID();
            Job ppo = trainer.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_PPO).setJobName("demo-ppo")
                    .setPpo(PpoLoop.config(run, size.ppoBatch(), size.ppoIterations(), 2e-4).toBuilder().setSeed(seed)
                            .setPtxCoef(PTX_COEF).setPtxData(DataSource.newBuilder()
                                    .setPath(demos.toAbsolutePath().toString())))
                    .build());
            RolloutServiceGrpc.RolloutServiceBlockingStub rollouts = RolloutServiceGrpc.newBlockingStub(
                    stack.channel("rollout-service"));
            rollouts.startRun(PpoLoop.run(run, "demo", 4, 8, 48, size.ppoBatch()));
            stage("ppo", size.ppoIterations() + " iterations of " + size.ppoBatch() + " rollouts, run " + run);
            List<Double> proxy = new ArrayList<>();
            List<Double> kl = new ArrayList<>();
            JobEvent last;
            try {
                last = TrainerJobs.succeeded(trainer, ppo, "PPO", e -> {
                    if (e.getStage().equals("iteration")) {
                        proxy.add(e.getMetricsMap().get("ppo/mean_reward"));
                        kl.add(e.getMetricsMap().get("ppo/kl"));
                        stage("ppo", e.getMessage());
                    }
                });
            } finally {
                rollouts.stopRun(StopRunRequest.newBuilder().setRunId(run).setAbortInFlight(true).build());
            }
            List<Double> goldPerVersion = goldByVersion(bootstrap, run, gold);

            // 5. evaluation on held-out prompts, once policy-service serves PPO's last version
            long finalVersion = last.getJob().getProducedModels(last.getJob().getProducedModelsCount() - 1).getVersion();
            awaitServed(policy, finalVersion);
            List<String> after = answers(policy, heldOut);
            Comparison greedy = Comparison.of(scores(gold, heldOut, before), scores(gold, heldOut, after));
            Comparison sampled = Comparison.of(sampledBefore, sampledScores(policy, heldOut, gold));
            double meanKl = kl.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
            double maxKl = kl.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
            Outcome o = new Outcome(rmAccuracy, ceiling, ceilingAll, compared.size(), greedy, sampled, meanKl, maxKl,
                    proxy, goldPerVersion, kl, out);
            Report.write(o, heldOut, before, after, gold, log, PpoLoop.TARGET_KL);
            stage("done", String.format("win rate vs SFT %.2f greedy, %.2f sampled; gold %.3f -> %.3f greedy, %.3f"
                    + " -> %.3f sampled; RM accuracy %.3f (ceiling %.3f), mean KL %.2f", greedy.winRate(),
                    sampled.winRate(), greedy.goldSft(), greedy.goldFinal(), sampled.goldSft(), sampled.goldFinal(),
                    rmAccuracy, ceiling, meanKl));
            return o;
        } finally {
            if (keep) {
                System.out.println("--keep: the services keep running; their logs are in " + stack.work().resolve("logs"));
            } else {
                stack.close();
            }
        }
    }

    /** Waits (up to 60 s) until policy-service answers with {@code version} of "policy". */
    private static void awaitServed(PolicyServiceGrpc.PolicyServiceBlockingStub policy, long version)
            throws InterruptedException {
        long deadline = System.currentTimeMillis() + 60_000;
        long served = 0;
        while (System.currentTimeMillis() < deadline) {
            served = policy.withDeadlineAfter(30, TimeUnit.SECONDS).generate(unlogged("Greet Anna.",
                    SamplingParams.newBuilder().setTemperature(0).setMaxNewTokens(1))).getModel().getVersion();
            if (served >= version) {
                return;
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("policy-service still serves policy v" + served + ", not PPO's final v" + version);
    }

    /** The kind whose cumulative share first exceeds {@code u} in [0, 1). */
    private static Quality kind(double u) {
        double sum = 0;
        for (Quality q : Quality.values()) {
            sum += q.share();
            if (u < sum) {
                return q;
            }
        }
        return Quality.HELPFUL;
    }

    private static double[] scores(GoldJudge gold, List<String> prompts, List<String> answers) {
        double[] out = new double[prompts.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = gold.score(prompts.get(i), answers.get(i));
        }
        return out;
    }

    /**
     * Per prompt, the mean gold score of {@link #EVAL_SAMPLES} answers of the latest served policy
     * sampled at temperature 1 (the distribution PPO optimises and the labelers saw), the same
     * seed per prompt for every policy.
     */
    private double[] sampledScores(PolicyServiceGrpc.PolicyServiceBlockingStub policy, List<String> prompts,
            GoldJudge gold) {
        double[] out = new double[prompts.size()];
        for (int i = 0; i < out.length; i++) {
            GenerateResponse g = policy.withDeadlineAfter(60, TimeUnit.SECONDS).generate(unlogged(prompts.get(i),
                    SamplingParams.newBuilder().setN(EVAL_SAMPLES).setTemperature(1f).setMaxNewTokens(48)
                            .setSeed(seed * 104_729 + i)));
            for (var sample : g.getSamplesList()) {
                out[i] += gold.score(prompts.get(i), sample.getText()) / g.getSamplesCount();
            }
        }
        return out;
    }

    /** Greedy answers of the latest served policy. */
    private static List<String> answers(PolicyServiceGrpc.PolicyServiceBlockingStub policy, List<String> prompts) {
        List<String> out = new ArrayList<>();
        for (String p : prompts) {
            out.add(policy.withDeadlineAfter(60, TimeUnit.SECONDS).generate(unlogged(p, SamplingParams.newBuilder()
                    .setTemperature(0).setMaxNewTokens(48))).getSamples(0).getText());
        }
        return out;
    }

    /** A request to the served "policy" for {@code prompt}, rendered, that is not logged as an interaction. */
    private static GenerateRequest unlogged(String prompt, SamplingParams.Builder sampling) {
        return GenerateRequest.newBuilder().setModel(ModelRef.newBuilder().setName("policy"))
                .setPromptText(PpoLoop.render(prompt)).setSkipInteractionLog(true).setSampling(sampling).build();
    }

    private static String pairwise(String prompt, GenerateResponse g, String chosen, String user) {
        StringBuilder s = new StringBuilder("{\"type\":\"pairwise\",\"user_id\":" + json(user)
                + ",\"source\":\"demo-labelers\",\"pairwise\":{\"prompt\":" + json(prompt) + ",\"responses\":[");
        for (int k = 0; k < 2; k++) {
            var x = g.getSamples(k);
            s.append(k == 0 ? "" : ",").append("{\"response_id\":\"").append(k == 0 ? "a" : "b").append("\",\"text\":")
                    .append(json(x.getText())).append(",\"interaction_id\":").append(json(x.getInteractionId()))
                    .append(",\"model\":{\"name\":").append(json(g.getModel().getName())).append(",\"version\":")
                    .append(g.getModel().getVersion()).append("}}");
        }
        return s.append("],\"chosen_response_id\":\"").append(chosen).append("\"}}").toString();
    }

    private static void post(HttpClient http, int port, String key, List<String> events) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                + "/v1/feedback/batch")).header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"events\":[" + String.join(",", events) + "]}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) {
            throw new IllegalStateException("the feedback-gateway refused the labels: HTTP " + r.statusCode() + " "
                    + r.body());
        }
    }

    /** Waits (up to 60 s) until the normaliser has emitted most of the expected preferences. */
    private static int awaitPreferences(String bootstrap, Instant since, int expected) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        int n = 0;
        while (System.currentTimeMillis() < deadline) {
            n = 0;
            for (var r : TopicReader.readAll(bootstrap, "rlhf.preferences.v1")) {
                Preference p = Preference.parseFrom(r.value());
                if (Timestamps.toMillis(p.getCreatedAt()) >= since.toEpochMilli()) {
                    n++;
                }
            }
            if (n >= expected * 0.95) {
                return n;
            }
            Thread.sleep(2000);
        }
        return n;
    }

    /** The gold judge's mean score of the run's rollouts, per policy version, in version order. */
    private static List<Double> goldByVersion(String bootstrap, String run, GoldJudge gold) throws Exception {
        Map<Long, double[]> byVersion = new TreeMap<>();
        for (var r : TopicReader.readAll(bootstrap, "rlhf.rollouts.v1")) {
            Rollout x = Rollout.parseFrom(r.value());
            if (x.getRunId().equals(run)) {
                String prompt = x.getPromptText().replace("<s>", "").replace("<|user|>", "").replace("<|assistant|>", "");
                double[] s = byVersion.computeIfAbsent(x.getPolicy().getVersion(), v -> new double[2]);
                s[0] += gold.score(prompt, x.getResponseText());
                s[1]++;
            }
        }
        List<Double> out = new ArrayList<>();
        byVersion.values().forEach(s -> out.add(s[0] / s[1]));
        return out;
    }

    /** Follows a training job to its end, printing its step every 10 s. */
    private JobEvent await(TrainerServiceGrpc.TrainerServiceBlockingStub trainer, Job job, String what) {
        long[] lastPrint = {0};
        return TrainerJobs.succeeded(trainer, job, what, e -> {
            if (e.getStage().equals("train") && System.nanoTime() - lastPrint[0] > 10_000_000_000L) {
                stage(what, "step " + e.getJob().getProgress().getStep() + "/" + e.getJob().getProgress().getTotalSteps());
                lastPrint[0] = System.nanoTime();
            }
        });
    }

    /** One line of an SFT job's JSONL data. */
    private static String sftLine(String prompt, String response) {
        return "{\"prompt\":" + json(prompt) + ",\"response\":" + json(response) + "}";
    }

    /** {@code s} as a JSON string literal, quotes included. */
    static String json(String s) {
        return '"' + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + '"';
    }
}
