package dev.rlhf.reward;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.jboss.logging.Logger;
import org.junit.jupiter.api.Test;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.OrtScorer;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PairScore;
import dev.rlhf.proto.v1.RewardComponent;
import dev.rlhf.proto.v1.RewardServiceGrpc;
import dev.rlhf.proto.v1.ScorePair;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;

/**
 * RewardService over a real gRPC channel, scoring with small reward models made by the model
 * core, and hot-swapping them on announcements from a real Kafka broker. The test profile
 * (application.properties) configures helpfulness (reward, raw), rule.no-urls, rule.length,
 * safety (safety, centred by its running mean) and rule.refuse-weapons.
 */
@QuarkusTest
@QuarkusTestResource(TinyRewardStore.class)
@QuarkusTestResource(value = dev.rlhf.testkit.KafkaBrokerResource.class, restrictToAnnotatedClass = false)
class RewardGrpcServiceTest {

    private static final Logger LOG = Logger.getLogger(RewardGrpcServiceTest.class);

    /** The test profile's components and weights, in configuration order. */
    static final List<String> NAMES = List.of("helpfulness", "rule.no-urls", "rule.length", "safety", "rule.refuse-weapons");
    static final double[] WEIGHTS = {1.0, 0.1, 0.1, 0.5, 2.0};

    @GrpcClient("reward")
    RewardServiceGrpc.RewardServiceBlockingStub stub;

    @GrpcClient("reward")
    io.grpc.Channel channel;

    @Inject
    MeterRegistry meters;

    @Inject
    ModelRegistry registry;

    static ScorePair pair(String prompt, String response) {
        return ScorePair.newBuilder().setPrompt(prompt).setResponse(response).build();
    }

    static ScoreRequest request(List<ScorePair> pairs, String... components) {
        return ScoreRequest.newBuilder().addAllPairs(pairs).addAllComponents(List.of(components)).build();
    }

    /** [B][K] the heads of a direct OrtScorer run of {@code ref} over {@code sequences}. */
    static float[][] direct(ModelRef ref, List<int[]> sequences) throws Exception {
        StoredVersion v = new ModelStore(TinyRewardStore.root).load(ref.getName(), ref.getVersion());
        try (OrtScorer s = OrtScorer.open(v.file("model.onnx"), ModelConfig.read(v.file("config.json")),
                OrtDecoder.Options.cpu(1), 64)) {
            return s.score(sequences);
        }
    }

    /** The pairs as {@code ref}'s chat template formats them. */
    static List<int[]> formatted(ModelRef ref, List<ScorePair> pairs) throws Exception {
        StoredVersion v = new ModelStore(TinyRewardStore.root).load(ref.getName(), ref.getVersion());
        try (Tokenizer tok = Tokenizer.load(v.file("tokenizer.json"))) {
            ChatTemplate t = new ChatTemplate(tok);
            return pairs.stream().map(p -> t.scoring(p.getPrompt(), p.getResponse()).ids()).toList();
        }
    }

    /** The oracle of a learned value: the plain mean of the heads. */
    static double mean(float[] heads) {
        double sum = 0;
        for (float h : heads) {
            sum += h;
        }
        return sum / heads.length;
    }

    /** The oracle of a learned uncertainty: the population standard deviation of the heads. */
    static double std(float[] heads) {
        double m = mean(heads);
        double sq = 0;
        for (float h : heads) {
            sq += (h - m) * (h - m);
        }
        return Math.sqrt(sq / heads.length);
    }

    static RewardComponent component(PairScore s, String name) {
        return s.getComponentsList().stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    private static final List<ScorePair> PAIRS = List.of(
            pair("Hello there, how are you today?", "The cat sat on the mat."),
            pair("What is one plus two?", "One plus two is three."),
            pair("<s><|user|>Say hi<|assistant|>", "Hi"),
            pair("Anything?", ""));

    @Test
    void learnedScoresEqualADirectRunOfTheRewardModel() throws Exception {
        ScoreResponse r = stub.score(request(PAIRS));
        assertEquals(PAIRS.size(), r.getScoresCount());
        ModelRef reward = component(r.getScores(0), "helpfulness").getModel();
        ModelRef safety = component(r.getScores(0), "safety").getModel();
        assertEquals("reward", reward.getName());
        assertEquals("safety", safety.getName());
        assertEquals(Set.of(reward, safety), Set.copyOf(r.getModelsList()), "every version used is listed");
        float[][] helpful = direct(reward, formatted(reward, PAIRS));
        float[][] safe = direct(safety, formatted(safety, PAIRS));
        for (int i = 0; i < PAIRS.size(); i++) {
            RewardComponent h = component(r.getScores(i), "helpfulness");
            assertEquals(mean(helpful[i]), h.getValue(), 1e-4, "pair " + i + ": the mean of the heads");
            assertEquals(std(helpful[i]), h.getUncertainty(), 1e-4, "pair " + i + ": the std of the heads");
            assertTrue(h.getUncertainty() > 1e-3, "three distinct heads disagree");
            // safety is centred by its running mean: one shift for the whole call, and no scaling yet
            RewardComponent s = component(r.getScores(i), "safety");
            assertEquals(mean(safe[i]) - mean(safe[0]),
                    s.getValue() - component(r.getScores(0), "safety").getValue(), 1e-4, "pair " + i);
            assertEquals(std(safe[i]), s.getUncertainty(), 1e-4, "pair " + i);
            assertFalse(r.getScores(i).getTruncated());
        }
    }

    @Test
    void rulesAndWeightsCombineIntoTheTotal() {
        List<ScorePair> pairs = List.of(
                pair("How do I build a bomb?", "Sorry, I can't help with that."),
                pair("How do I build a bomb?", "Step one: read http://example.org"),
                pair("Tell me a joke", ""));
        ScoreResponse r = stub.score(request(pairs));
        double[][] expectedRules = { // no-urls, length, refuse-weapons
            {1, 1, 1},
            {0, 1, 0},
            {1, 0, 1}};
        for (int i = 0; i < pairs.size(); i++) {
            PairScore s = r.getScores(i);
            assertEquals(NAMES, s.getComponentsList().stream().map(RewardComponent::getName).toList(),
                    "components in configuration order");
            assertEquals(expectedRules[i][0], component(s, "rule.no-urls").getValue(), 0, "pair " + i);
            assertEquals(expectedRules[i][1], component(s, "rule.length").getValue(), 0, "pair " + i);
            assertEquals(expectedRules[i][2], component(s, "rule.refuse-weapons").getValue(), 0, "pair " + i);
            double total = 0;
            double variance = 0;
            for (int c = 0; c < NAMES.size(); c++) {
                RewardComponent rc = s.getComponents(c);
                assertEquals(WEIGHTS[c], rc.getWeight(), 0, rc.getName());
                total += WEIGHTS[c] * rc.getValue();
                variance += Math.pow(WEIGHTS[c] * rc.getUncertainty(), 2);
                if (rc.getName().startsWith("rule.")) {
                    assertEquals(0, rc.getUncertainty(), 0);
                    assertFalse(rc.hasModel(), "rules name no model");
                }
            }
            assertEquals(total, s.getTotal(), 1e-9, "pair " + i);
            assertEquals(Math.sqrt(variance), s.getUncertainty(), 1e-9, "pair " + i);
        }
        assertEquals(12, r.getConfigVersion().length());
    }

    @Test
    void aComponentSubsetIsScoredAndSummedAlone() throws Exception {
        ScoreResponse r = stub.score(request(PAIRS.subList(0, 2), "rule.no-urls", "helpfulness"));
        ModelRef reward = r.getModels(0);
        assertEquals(List.of(reward), r.getModelsList(), "only the model the subset needs");
        float[][] direct = direct(reward, formatted(reward, PAIRS.subList(0, 2)));
        for (int i = 0; i < 2; i++) {
            PairScore s = r.getScores(i);
            assertEquals(List.of("helpfulness", "rule.no-urls"), s.getComponentsList().stream()
                    .map(RewardComponent::getName).toList());
            assertEquals(mean(direct[i]) + 0.1, s.getTotal(), 1e-4, "the total sums the listed components only");
        }
        // rules alone need no model, and see texts no reward model could take (over 128 tokens)
        ScoreResponse rules = stub.score(request(List.of(pair("Write a lot", "x".repeat(2001)),
                pair("Write a lot", "x".repeat(2000))), "rule.length"));
        assertEquals(List.of(), rules.getModelsList());
        assertEquals(0, rules.getScores(0).getTotal(), 0);
        assertEquals(0.1, rules.getScores(1).getTotal(), 1e-12);
    }

    @Test
    void tokenIdsAreUsedOnlyWhenTheTokenizerIsTheRewardModels() throws Exception {
        ModelRef reward = stub.score(request(PAIRS.subList(0, 1), "helpfulness")).getModels(0);
        StoredVersion v = new ModelStore(TinyRewardStore.root).load(reward.getName(), reward.getVersion());
        int[] promptIds;
        int[] responseIds;
        int eos;
        try (Tokenizer tok = Tokenizer.load(v.file("tokenizer.json"))) {
            ChatTemplate t = new ChatTemplate(tok);
            promptIds = t.promptIds("Hello there");
            responseIds = tok.encode("The cat sat");
            eos = t.eosId();
        }
        // the texts say something else: which of the two is scored shows in the value
        ScorePair.Builder p = pair("What is one plus two?", "Three.").toBuilder()
                .addAllPromptTokenIds(Arrays.stream(promptIds).boxed().toList())
                .addAllResponseTokenIds(Arrays.stream(responseIds).boxed().toList());
        int[] withEos = Arrays.copyOf(responseIds, responseIds.length + 1);
        withEos[responseIds.length] = eos;
        int[] idsSequence = new int[promptIds.length + withEos.length];
        System.arraycopy(promptIds, 0, idsSequence, 0, promptIds.length);
        System.arraycopy(withEos, 0, idsSequence, promptIds.length, withEos.length);
        float[][] expected = direct(reward, List.of(idsSequence, formatted(reward, List.of(p.build())).get(0)));

        String sha = v.files().get("tokenizer.json");
        ScoreRequest.Builder req = ScoreRequest.newBuilder().addPairs(p).addComponents("helpfulness");
        double viaIds = stub.score(req.setTokenizerSha256(sha).build()).getScores(0).getTotal();
        assertEquals(mean(expected[0]), viaIds, 1e-4, "same tokenizer: the ids, with EOS appended");
        double viaText = stub.score(req.setTokenizerSha256("0".repeat(64)).build()).getScores(0).getTotal();
        assertEquals(mean(expected[1]), viaText, 1e-4, "another tokenizer: the texts");
        // ids that already end with EOS get no second one
        ScorePair ended = p.clearResponseTokenIds().addAllResponseTokenIds(Arrays.stream(withEos).boxed().toList()).build();
        assertEquals(viaIds, stub.score(ScoreRequest.newBuilder().addPairs(ended).addComponents("helpfulness")
                .setTokenizerSha256(sha).build()).getScores(0).getTotal(), 1e-6);
    }

    @Test
    void badInputIsRefusedNamingTheField() {
        assertInvalid("pairs must hold 1..256 pairs, got 0", ScoreRequest.getDefaultInstance());
        assertInvalid("pairs must hold 1..256 pairs, got 257", request(Collections.nCopies(257, PAIRS.get(0))));
        assertInvalid("pairs[1].prompt must not be empty", request(List.of(PAIRS.get(0), pair("", "x"))));
        assertInvalid("pairs[0].prompt must be at most 65536 bytes", request(List.of(pair("é".repeat(32769), "x"))));
        assertInvalid("pairs[0].response must be at most 65536 bytes", request(List.of(pair("p", "x".repeat(65537)))));
        assertInvalid("components[1]: unknown component 'harmlessness'", request(PAIRS, "helpfulness", "harmlessness"));
        ScorePair withIds = PAIRS.get(0).toBuilder().addPromptTokenIds(1).addResponseTokenIds(7).build();
        assertInvalid("tokenizer_sha256 is required when pairs carry token ids", request(List.of(withIds)));
        assertInvalid("tokenizer_sha256 must be 64 lowercase hex digits",
                request(List.of(withIds)).toBuilder().setTokenizerSha256("ABC").build());
        assertInvalid("pairs[0].prompt_token_ids must be given with response_token_ids",
                request(List.of(PAIRS.get(0).toBuilder().addResponseTokenIds(7).build())).toBuilder()
                        .setTokenizerSha256("0".repeat(64)).build());
        String sha = rewardSha();
        assertInvalid("pairs[0].prompt_token_ids[1] must be in [0, 300)", request(List.of(PAIRS.get(0).toBuilder()
                .addPromptTokenIds(1).addPromptTokenIds(300).build())).toBuilder().setTokenizerSha256(sha).build());
        assertInvalid("pairs[1] is ", request(List.of(PAIRS.get(0), pair("word ".repeat(200), "ok"))));
        assertInvalid("pairs[0]: the response contains \"</s>\"", request(List.of(pair("Hi", "bye</s>"))));
    }

    private String rewardSha() {
        try {
            ModelRef reward = stub.score(request(PAIRS.subList(0, 1), "helpfulness")).getModels(0);
            return new ModelStore(TinyRewardStore.root).load(reward.getName(), reward.getVersion()).files()
                    .get("tokenizer.json");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    private void assertInvalid(String start, ScoreRequest r) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.score(r));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().startsWith(start), e.getStatus().getDescription());
    }

    @Test
    void overloadIsResourceExhaustedWithARetryHint() throws Exception {
        // max-inflight-pairs 300 (test profile): two calls of 200 pairs cannot run together
        List<ScorePair> big = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            big.add(pair("Hello there, how are you today? " + i, "The cat sat on the mat."));
        }
        List<CompletableFuture<Status>> calls = new ArrayList<>();
        List<Metadata> trailers = Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 6; i++) {
            CompletableFuture<Status> done = new CompletableFuture<>();
            calls.add(done);
            RewardServiceGrpc.newStub(channel).score(request(big), new StreamObserver<>() {
                @Override
                public void onNext(ScoreResponse value) {
                }

                @Override
                public void onError(Throwable t) {
                    Metadata m = Status.trailersFromThrowable(t);
                    if (m != null) {
                        trailers.add(m);
                    }
                    done.complete(Status.fromThrowable(t));
                }

                @Override
                public void onCompleted() {
                    done.complete(Status.OK);
                }
            });
        }
        int exhausted = 0;
        for (CompletableFuture<Status> c : calls) {
            Status s = c.get(60, TimeUnit.SECONDS);
            if (s.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                exhausted++;
                assertTrue(s.getDescription().contains("retry after 200 ms"), s.getDescription());
            } else {
                assertEquals(Status.Code.OK, s.getCode(), s.toString());
            }
        }
        assertTrue(exhausted >= 1, "six concurrent calls of 200 pairs with room for 300: refused " + exhausted);
        assertTrue(exhausted <= 5, "at least one call is admitted");
        assertTrue(trailers.stream().anyMatch(m -> "200".equals(m.get(RewardGrpcService.RETRY_AFTER_MS))), "trailer");
        // the permits came back: a call is admitted at once
        assertEquals(200, stub.score(request(big, "rule.length")).getScoresCount());
    }

    @Test
    void hotSwapOnARealAnnounceWhileCallsRunFailsNothing() throws Exception {
        long before = served("reward");
        AtomicBoolean stop = new AtomicBoolean();
        Set<Long> versionsSeen = ConcurrentHashMap.newKeySet();
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < 2; c++) {
            Thread t = new Thread(() -> {
                while (!stop.get()) {
                    try {
                        ScoreResponse r = stub.score(request(PAIRS));
                        long v = component(r.getScores(0), "helpfulness").getModel().getVersion();
                        for (PairScore s : r.getScoresList()) {
                            assertEquals(v, component(s, "helpfulness").getModel().getVersion(), "one version per call");
                        }
                        versionsSeen.add(v);
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }
            });
            t.start();
            clients.add(t);
        }
        // 1. a new version in the store, announced on the real broker
        long next = TinyRewardStore.write(TinyRewardStore.root, 42, "reward").version();
        awaitServed("reward", next);
        Thread.sleep(300);
        stop.set(true);
        for (Thread t : clients) {
            t.join(10_000);
        }
        assertEquals(List.of(), failures, "no call failed during the swap");
        assertTrue(versionsSeen.contains(next), "responses name the version that answered: " + versionsSeen);
        ScoreResponse r = stub.score(request(PAIRS, "helpfulness"));
        ModelRef v2 = ModelRef.newBuilder().setName("reward").setVersion(next).build();
        assertEquals(List.of(v2), r.getModelsList());
        float[][] direct = direct(v2, formatted(v2, PAIRS));
        for (int i = 0; i < PAIRS.size(); i++) {
            assertEquals(mean(direct[i]), r.getScores(i).getTotal(), 1e-4, "the new weights score pair " + i);
        }
        assertTrue(next > before);

        // 2. a corrupt version and a missing one are refused; the good one keeps serving
        StoredVersion corrupt = TinyRewardStore.write(TinyRewardStore.root, 43, "reward");
        Files.write(corrupt.file("model.onnx"), new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
        double refusedBefore = refused("reward");
        announce("reward", corrupt.version());
        announce("reward", corrupt.version() + 50);
        long deadline = System.currentTimeMillis() + 20_000;
        while (refused("reward") < refusedBefore + 2 && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(refusedBefore + 2, refused("reward"), 0, "both bad announcements refused");
        assertEquals(next, served("reward"));
        String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertTrue(metrics.contains("rlhf_reward_swaps_total{model=\"reward\",outcome=\"refused\"}"), metrics);
        assertTrue(metrics.contains("rlhf_reward_swaps_total{model=\"reward\",outcome=\"swapped\"}"), metrics);
        assertTrue(metrics.contains("rlhf_reward_model_version{model=\"reward\"} " + next + ".0"), metrics);
    }

    @Test
    void aSwapResetsTheRunningNormaliser() throws Exception {
        long next = TinyRewardStore.write(TinyRewardStore.root, 7, "safety").version();
        awaitServed("safety", next);
        ModelRef ref = ModelRef.newBuilder().setName("safety").setVersion(next).build();
        // 1. the first call after the swap is centred on its own mean
        List<ScorePair> first = PAIRS;
        List<ScorePair> second = List.of(pair("Reinforcement learning?", "From human feedback."), pair("Hi", "Hello"));
        ScoreResponse a = stub.score(request(first, "safety"));
        assertEquals(List.of(ref), a.getModelsList());
        float[][] rawA = direct(ref, formatted(ref, first));
        float[][] rawB = direct(ref, formatted(ref, second));
        double meanA = Arrays.stream(rawA).mapToDouble(RewardGrpcServiceTest::mean).average().orElseThrow();
        for (int i = 0; i < first.size(); i++) {
            assertEquals(mean(rawA[i]) - meanA, component(a.getScores(i), "safety").getValue(), 1e-4, "pair " + i);
        }
        // 2. the next call is centred on the running mean of both
        ScoreResponse b = stub.score(request(second, "safety"));
        double meanAll = (meanA * first.size() + Arrays.stream(rawB).mapToDouble(RewardGrpcServiceTest::mean).sum())
                / (first.size() + second.size());
        for (int i = 0; i < second.size(); i++) {
            assertEquals(mean(rawB[i]) - meanAll, component(b.getScores(i), "safety").getValue(), 1e-4,
                    "pair " + i);
        }
    }

    @Test
    void throughputAtBatch32IsLogged() throws Exception {
        List<ScorePair> batch = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            batch.add(PAIRS.get(i % PAIRS.size()));
        }
        ScoreResponse first = stub.score(request(batch));
        for (int i = 0; i < 2; i++) {
            stub.score(request(batch)); // warm
        }
        int calls = 10;
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            assertEquals(32, stub.score(request(batch)).getScoresCount());
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        double tokens = formatted(first.getModels(0), batch).stream().mapToInt(a -> a.length).average().orElseThrow();
        LOG.infof("throughput at batch 32: %.0f pairs/s (all components: 2 reward models of 2 layers, d 64, 3 heads;"
                + " %.1f tokens per pair; 1 ONNX Runtime thread each)", calls * 32 / seconds, tokens);
    }

    @Test
    void healthAndMetricsAreServed() {
        stub.score(request(PAIRS));
        given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
        given().get("/q/health/live").then().statusCode(200);
        String metrics = given().get("/q/metrics").then().statusCode(200).body(containsString("jvm_memory_used_bytes"))
                .extract().asString();
        for (String expected : List.of("rlhf_reward_component_value_count{component=\"helpfulness\"}",
                "rlhf_reward_component_value_count{component=\"rule.no-urls\"}", "rlhf_reward_total_count",
                "rlhf_reward_pairs_total", "rlhf_reward_score_latency_seconds_bucket")) {
            assertTrue(metrics.contains(expected), expected + " in\n" + metrics);
        }
    }

    // ---- swaps ----

    /** The version of {@code name} that answers now. */
    private long served(String name) {
        String component = name.equals("reward") ? "helpfulness" : "safety";
        return stub.score(request(PAIRS.subList(0, 1), component)).getModels(0).getVersion();
    }

    private double refused(String name) {
        var c = meters.find("rlhf.reward.swaps").tag("model", name).tag("outcome", "refused").counter();
        return c == null ? 0 : c.count();
    }

    private void awaitServed(String name, long version) throws Exception {
        awaitServed(registry, name, version);
    }

    /**
     * Announces {@code version} of {@code name} until the registry serves it (at start-up the
     * consumer may still be joining the topic). Polls the registry, not Score: a call would
     * feed the new version's normaliser.
     */
    static void awaitServed(ModelRegistry registry, String name, long version) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (servedBy(registry, name) != version && System.currentTimeMillis() < deadline) {
            announce(name, version);
            long retry = System.currentTimeMillis() + 2_000;
            while (servedBy(registry, name) != version && System.currentTimeMillis() < retry) {
                Thread.sleep(50);
            }
        }
        assertEquals(version, servedBy(registry, name), "the announced version of " + name + " is served");
    }

    private static long servedBy(ModelRegistry registry, String name) {
        return registry.get(name).map(ServedRewardModel::versionNumber).orElse(0L);
    }

    static void announce(String name, long version) throws Exception {
        try (var producer = dev.rlhf.kafka.support.ReliableProducers.create(
                dev.rlhf.testkit.KafkaTestBroker.shared().bootstrapServers(), "announcer", java.time.Duration.ofSeconds(10))) {
            producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>("rlhf.models.v1", name,
                    dev.rlhf.proto.v1.ModelVersion.newBuilder().setName(name).setVersion(version)
                            .setKind(dev.rlhf.proto.v1.ModelKind.MODEL_KIND_REWARD).build().toByteArray())).get();
        }
    }
}
