package dev.rlhf.policy;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.proto.v1.FinishReason;
import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GenerateStreamChunk;
import dev.rlhf.proto.v1.ListModelsRequest;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.ScoreLogprobsItem;
import dev.rlhf.proto.v1.ScoreLogprobsRequest;
import dev.rlhf.proto.v1.ScoredSequence;
import dev.rlhf.proto.v1.TokenSequence;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;

/** PolicyService over a real gRPC channel, serving a small model made by the model core. */
@QuarkusTest
@QuarkusTestResource(TinyModelStore.class)
@QuarkusTestResource(value = dev.rlhf.testkit.KafkaBrokerResource.class, restrictToAnnotatedClass = false)
class PolicyGrpcServiceTest {

    @GrpcClient("policy")
    PolicyServiceGrpc.PolicyServiceBlockingStub stub;

    @GrpcClient("policy")
    io.grpc.Channel channel;

    private static final String PROMPT = "Hello there, how are";

    private static GenerateRequest.Builder request(SamplingParams.Builder sampling) {
        return GenerateRequest.newBuilder().setPromptText(PROMPT).setSampling(sampling);
    }

    @Test
    void greedyOutputEqualsADirectRunOfTheModelCore() throws Exception {
        GenerateResponse r = stub.generate(request(SamplingParams.newBuilder().setMaxNewTokens(12)).build());
        StoredVersion v = new ModelStore(TinyModelStore.root).load("policy", r.getModel().getVersion());
        try (Tokenizer tok = Tokenizer.load(v.file("tokenizer.json"));
                OrtDecoder d = OrtDecoder.open(v.file("model.onnx"), ModelConfig.read(v.file("config.json")),
                        OrtDecoder.Options.cpu(1))) {
            int[] prompt = tok.encode(PROMPT);
            OrtDecoder.Generation direct = d.generate(List.of(prompt), OrtDecoder.Sampling.greedy(12)).get(0);
            assertArrayEquals(direct.tokens(), r.getSamples(0).getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
            assertEquals(prompt.length, r.getPromptTokenCount());
            // what the model consumed, as rollout-service copies it into Rollout.prompt_token_ids
            assertArrayEquals(prompt, r.getPromptTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
            assertEquals(PROMPT, r.getPromptText());
        }
        assertEquals("policy", r.getModel().getName());
        assertTrue(!r.getSamples(0).getInteractionId().isEmpty());
    }

    @Test
    void generatedLogprobsEqualScoreLogprobs() {
        GenerateResponse r = stub.generate(request(SamplingParams.newBuilder().setMaxNewTokens(10).setTemperature(1f)
                .setSeed(9).setN(3)).build());
        assertEquals(3, r.getSamplesCount());
        ScoreLogprobsRequest.Builder score = ScoreLogprobsRequest.newBuilder().setTemperature(1f);
        for (var s : r.getSamplesList()) {
            score.addItems(ScoreLogprobsItem.newBuilder().setPromptText(PROMPT)
                    .setResponseTokenIds(TokenSequence.newBuilder().addAllIds(s.getTokenIdsList())));
        }
        List<ScoredSequence> scored = stub.scoreLogprobs(score.build()).getResultsList();
        for (int i = 0; i < 3; i++) {
            List<Float> generated = r.getSamples(i).getLogprobsList();
            for (int t = 0; t < generated.size(); t++) {
                assertEquals(generated.get(t), scored.get(i).getLogprobs(t), 1e-4, "sample " + i + " token " + t);
            }
        }
        // the reference is served too, and scores the same tokens under its own weights
        assertEquals("reference", stub.scoreLogprobs(score.setModel(ModelRef.newBuilder().setName("reference")).build())
                .getModel().getName());
    }

    @Test
    void streamDeliversEveryTokenInOrderThenTheFinish() {
        GenerateRequest req = request(SamplingParams.newBuilder().setMaxNewTokens(9).setTemperature(0.9f).setSeed(4))
                .setRequestId("stream-1").build();
        List<Integer> streamed = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        List<GenerateStreamChunk> chunks = new ArrayList<>();
        Iterator<GenerateStreamChunk> it = stub.withDeadlineAfter(30, TimeUnit.SECONDS).generateStream(req);
        while (it.hasNext()) {
            GenerateStreamChunk c = it.next();
            chunks.add(c);
            streamed.addAll(c.getTokenIdsList());
            text.append(c.getText());
        }
        GenerateStreamChunk first = chunks.get(0);
        GenerateStreamChunk last = chunks.get(chunks.size() - 1);
        // the first chunk already says which version answers
        assertTrue(first.getModel().getVersion() >= 1);
        assertEquals("stream-1", first.getRequestId());
        assertTrue(first.getPromptTokenCount() > 0);
        assertTrue(chunks.subList(0, chunks.size() - 1).stream()
                .allMatch(c -> c.getFinishReason() == FinishReason.FINISH_REASON_UNSPECIFIED), "only the last chunk ends");
        assertTrue(last.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED);
        assertEquals(first.getModel(), last.getModel());
        assertTrue(!last.getInteractionId().isEmpty());
        assertEquals(streamed.size(), last.getUsage().getCompletionTokens());
        GenerateResponse unary = stub.generate(req);
        assertEquals(unary.getSamples(0).getTokenIdsList(), streamed, "same seed, same tokens");
        assertEquals(unary.getSamples(0).getText(), text.toString(), "the chunks' text adds up to the response text");
    }

    @Test
    void badInputIsRefusedNamingTheField() {
        assertField("prompt_text or prompt_token_ids", GenerateRequest.newBuilder().build());
        assertField("the prompt is", GenerateRequest.newBuilder().setPromptTokenIds(TokenSequence.newBuilder()
                .addAllIds(java.util.Collections.nCopies(200, 5))).build());
        assertField("sampling.max_new_tokens", request(SamplingParams.newBuilder().setMaxNewTokens(65)).build());
        assertField("sampling.temperature", request(SamplingParams.newBuilder().setTemperature(-0.5f)).build());
        assertField("sampling.top_p", request(SamplingParams.newBuilder().setTopP(1.5f)).build());
        assertField("sampling.n", request(SamplingParams.newBuilder().setN(5)).build());
        assertField("prompt_token_ids[1]", GenerateRequest.newBuilder().setPromptTokenIds(TokenSequence.newBuilder()
                .addIds(3).addIds(9999)).build());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.generate(
                request(SamplingParams.newBuilder()).setModel(ModelRef.newBuilder().setName("nope")).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class, () -> stub.scoreLogprobs(ScoreLogprobsRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    }

    private void assertField(String field, GenerateRequest r) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.generate(r));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().startsWith(field), e.getStatus().getDescription());
    }

    @Test
    void listModelsShowsPolicyAndReference() {
        var models = stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsList();
        assertEquals(List.of("policy", "reference", "slow"), models.stream().map(m -> m.getModel().getName()).sorted().toList());
        assertTrue(models.stream().allMatch(m -> m.getArchitecture().getParameterCount() > 0 && m.hasLoadedSince()));
    }

    @Test
    void listModelsFiltersByNameAndALongPollWaitsForANewerVersionOrItsWaitMax() {
        var reference = stub.listModels(ListModelsRequest.newBuilder().setName("reference").build()).getModelsList();
        assertEquals(List.of("reference"), reference.stream().map(m -> m.getModel().getName()).toList());
        long v = reference.get(0).getModel().getVersion();
        // newer than the one before: answered at once
        long start = System.nanoTime();
        assertEquals(v, stub.listModels(ListModelsRequest.newBuilder().setName("reference").setNewerThan(v - 1)
                .setWaitMax(com.google.protobuf.Duration.newBuilder().setSeconds(20)).build()).getModels(0).getModel()
                .getVersion());
        assertTrue(System.nanoTime() - start < 5_000_000_000L, "not held for the wait");
        // newer than the served one: held for wait_max, then answered with what is served
        start = System.nanoTime();
        assertEquals(v, stub.listModels(ListModelsRequest.newBuilder().setName("reference").setNewerThan(v)
                .setWaitMax(com.google.protobuf.Duration.newBuilder().setNanos(300_000_000)).build()).getModels(0)
                .getModel().getVersion());
        assertTrue(System.nanoTime() - start >= 290_000_000L, "held until wait_max");
        for (var bad : List.of(ListModelsRequest.newBuilder().setNewerThan(1).build(),
                ListModelsRequest.newBuilder().setName("reference").setNewerThan(1).setWaitMax(
                        com.google.protobuf.Duration.newBuilder().setSeconds(31)).build(),
                ListModelsRequest.newBuilder().setName("reference").setWaitMax(
                        com.google.protobuf.Duration.newBuilder().setSeconds(1)).build())) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.listModels(bad));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().getDescription());
        }
    }

    @Test
    void overloadIsResourceExhaustedWithARetryHint() throws Exception {
        // max batch 4 + max queue 4 (test profile): 16 long generations cannot all be taken
        List<CompletableFuture<Status>> calls = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            CompletableFuture<Status> done = new CompletableFuture<>();
            calls.add(done);
            PolicyServiceGrpc.newStub(channel).generateStream(request(SamplingParams.newBuilder().setMaxNewTokens(64).setTemperature(1f)
                    .setSeed(1)).build(), new StreamObserver<>() {
                        @Override
                        public void onNext(GenerateStreamChunk value) {
                        }

                        @Override
                        public void onError(Throwable t) {
                            done.complete(Status.fromThrowable(t));
                        }

                        @Override
                        public void onCompleted() {
                            done.complete(Status.OK);
                        }
                    });
        }
        long exhausted = 0;
        for (CompletableFuture<Status> c : calls) {
            Status s = c.get(30, TimeUnit.SECONDS);
            if (s.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                exhausted++;
                assertTrue(s.getDescription().contains("retry after"), s.getDescription());
            }
        }
        assertTrue(exhausted >= 4, "refused " + exhausted);
        assertTrue(calls.stream().filter(c -> c.join().isOk()).count() >= 4, "the admitted calls complete");
        // the finished calls freed their rows: a new request is served at once
        GenerateResponse r = stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                .generate(request(SamplingParams.newBuilder().setMaxNewTokens(3)).build());
        assertEquals(3, r.getSamples(0).getTokenIdsCount());
        given().get("/q/health/ready").then().statusCode(200);
    }

    @jakarta.inject.Inject
    ModelRegistry registry;

    @jakarta.inject.Inject
    io.micrometer.core.instrument.MeterRegistry meters;

    private double outputTokens(String model) {
        return meters.find("rlhf.policy.output.tokens").tag("model", model).counters().stream()
                .mapToDouble(io.micrometer.core.instrument.Counter::count).sum();
    }

    /** A request for the {@code slow} model: milliseconds per step, so a cancel arrives midway. */
    private static GenerateRequest slow(SamplingParams.Builder sampling) {
        return request(sampling).setModel(ModelRef.newBuilder().setName("slow")).build();
    }

    private int slowRows() {
        return registry.get("slow", 0).orElseThrow().batcher().batchSize();
    }

    /** Waits until the slow model's batch is empty, then a little longer for a late step's tokens. */
    private void awaitSlowBatchEmpty() throws InterruptedException {
        long deadline = System.currentTimeMillis() + 5_000;
        while (slowRows() > 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, slowRows(), "the rows left the batch");
        Thread.sleep(100);
    }

    @Test
    void cancellingAStreamFreesItsRowAtOnce() throws Exception {
        GenerateRequest request = slow(SamplingParams.newBuilder().setMaxNewTokens(64).setTemperature(1f).setSeed(1));
        // what the same seeded request decodes when nothing stops it (and a warm-up)
        int uncut = stub.generate(request).getSamples(0).getTokenIdsCount();
        assertTrue(uncut >= 48, "the uncut generation is long enough to cut: " + uncut);
        double before = outputTokens("slow");
        CompletableFuture<Status> ended = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicInteger received = new java.util.concurrent.atomic.AtomicInteger();
        io.grpc.Context.CancellableContext call = io.grpc.Context.current().withCancellation();
        call.run(() -> PolicyServiceGrpc.newStub(channel).generateStream(request, new StreamObserver<>() {
            @Override
            public void onNext(GenerateStreamChunk value) {
                if (received.incrementAndGet() == 2) {
                    call.cancel(null);
                }
            }

            @Override
            public void onError(Throwable t) {
                ended.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                ended.complete(Status.OK);
            }
        }));
        assertEquals(Status.Code.CANCELLED, ended.get(30, TimeUnit.SECONDS).getCode());
        awaitSlowBatchEmpty();
        double decoded = outputTokens("slow") - before;
        assertTrue(decoded < uncut / 2.0, "decoding stopped soon after the cancel, not after " + uncut + " tokens: "
                + decoded);
        // the connection survives the cancellation: the next call is served
        assertEquals(3, stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                .generate(request(SamplingParams.newBuilder().setMaxNewTokens(3)).build())
                .getSamples(0).getTokenIdsCount());
    }

    @Test
    void anExpiredDeadlineFreesTheRowsOfAUnaryCall() throws Exception {
        GenerateRequest request = slow(SamplingParams.newBuilder().setMaxNewTokens(64).setN(4).setTemperature(1f)
                .setSeed(1));
        // warm, and measure: what the seeded call decodes when nothing stops it, and its fastest time
        long fastestMs = Long.MAX_VALUE;
        int uncut = 0;
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            uncut = stub.generate(request).getUsage().getCompletionTokens();
            fastestMs = Math.min(fastestMs, (System.nanoTime() - t0) / 1_000_000);
        }
        assertTrue(uncut >= 4 * 48, "the uncut generation is long enough to cut: " + uncut);
        // the deadline passes a quarter of the way through: the server checks it before every step
        long deadlineMs = Math.max(5, fastestMs / 4);
        double before = outputTokens("slow");
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> stub.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS).generate(request));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
        awaitSlowBatchEmpty();
        double decoded = outputTokens("slow") - before;
        assertTrue(decoded < uncut * 0.75, "decoding stopped at the " + deadlineMs + " ms deadline (uncut: " + uncut
                + " tokens in " + fastestMs + " ms), decoded " + decoded);
    }

    @Test
    void servedGenerationsAreLoggedAsInteractions() throws Exception {
        String requestId = "req-" + java.util.UUID.randomUUID();
        GenerateResponse r = stub.generate(request(SamplingParams.newBuilder().setMaxNewTokens(5).setN(2))
                .setRequestId(requestId).setUserId("u-9").build());
        stub.generate(request(SamplingParams.newBuilder().setMaxNewTokens(5)).setRequestId(requestId + "-skip")
                .setSkipInteractionLog(true).build());
        String bootstrap = dev.rlhf.testkit.KafkaTestBroker.shared().bootstrapServers();
        List<dev.rlhf.proto.v1.Interaction> logged = List.of();
        for (int attempt = 0; attempt < 50 && logged.size() < 2; attempt++) {
            logged = dev.rlhf.testkit.TopicReader.readAll(bootstrap, "rlhf.interactions.v1").stream()
                    .map(rec -> parse(rec.value())).filter(i -> i.getRequestId().startsWith(requestId)).toList();
            Thread.sleep(100);
        }
        assertEquals(2, logged.size(), "two samples logged, the skipped request not at all");
        for (var sample : r.getSamplesList()) {
            var i = logged.stream().filter(x -> x.getInteractionId().equals(sample.getInteractionId())).findFirst()
                    .orElseThrow();
            assertEquals(sample.getTokenIdsList(), i.getResponseTokenIdsList());
            assertEquals(PROMPT, i.getPrompt());
            assertEquals("u-9", i.getUserId());
            assertEquals(r.getModel(), i.getModel());
        }
    }

    private static dev.rlhf.proto.v1.Interaction parse(byte[] b) {
        try {
            return dev.rlhf.proto.v1.Interaction.parseFrom(b);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void hotSwapOnARealAnnounceWhileRequestsRunFailsNothing() throws Exception {
        long before = stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsList().stream()
                .filter(m -> m.getModel().getName().equals("policy")).findFirst().orElseThrow().getModel().getVersion();
        // load: requests keep running through the swap
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.Set<Long> versionsSeen = java.util.concurrent.ConcurrentHashMap.newKeySet();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < 3; c++) {
            Thread t = new Thread(() -> {
                while (!stop.get()) {
                    try {
                        versionsSeen.add(stub.generate(request(SamplingParams.newBuilder().setMaxNewTokens(8)).build())
                                .getModel().getVersion());
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }
            });
            t.start();
            clients.add(t);
        }
        // a long poll for the next version, answered by the swap
        var nextServed = PolicyServiceGrpc.newFutureStub(channel).listModels(ListModelsRequest.newBuilder()
                .setName("policy").setNewerThan(before).setWaitMax(com.google.protobuf.Duration.newBuilder()
                        .setSeconds(30)).build());
        // a new version in the store, announced on the real broker
        TinyModelStore.write(TinyModelStore.root, 42, "policy");
        long next = new ModelStore(TinyModelStore.root).latest("policy").getAsLong();
        announce("policy", next);
        long deadline = System.currentTimeMillis() + 20_000;
        long served = before;
        while (served != next && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
            served = stub.listModels(ListModelsRequest.getDefaultInstance()).getModelsList().stream()
                    .filter(m -> m.getModel().getName().equals("policy")).findFirst().orElseThrow().getModel().getVersion();
        }
        Thread.sleep(300);
        stop.set(true);
        for (Thread t : clients) {
            t.join(10_000);
        }
        assertEquals(next, served, "the announced version is served");
        assertEquals(next, nextServed.get(5, java.util.concurrent.TimeUnit.SECONDS).getModels(0).getModel().getVersion(),
                "the long poll answered with the swapped-in version");
        assertEquals(List.of(), failures, "no request failed during the swap");
        assertTrue(versionsSeen.contains(next), "responses name the version that answered: " + versionsSeen);

        // a bad announcement (no such version) is refused; the new version keeps serving
        announce("policy", next + 50);
        Thread.sleep(1500);
        assertEquals(next, stub.generate(request(SamplingParams.newBuilder().setMaxNewTokens(2)).build())
                .getModel().getVersion());
        String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertTrue(metrics.contains("rlhf_policy_swaps_total{model=\"policy\",outcome=\"refused\"}"), metrics);
        assertTrue(metrics.contains("rlhf_policy_output_tokens_total{model=\"policy\",version=\"" + next + "\"}"), metrics);
        assertTrue(metrics.contains("rlhf_policy_time_to_first_token_seconds_bucket"), metrics);
        assertTrue(metrics.contains("rlhf_policy_batch_occupancy{model=\"policy\",version=\"" + next + "\"}"), metrics);
        assertTrue(!metrics.contains("rlhf_policy_queue_depth{model=\"policy\",version=\"" + before + "\"}")
                || before == next, "the retired version's gauges are gone");
    }

    private static void announce(String name, long version) throws Exception {
        try (var producer = dev.rlhf.kafka.support.ReliableProducers.create(
                dev.rlhf.testkit.KafkaTestBroker.shared().bootstrapServers(), "announcer", java.time.Duration.ofSeconds(10))) {
            producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>("rlhf.models.v1", name,
                    dev.rlhf.proto.v1.ModelVersion.newBuilder().setName(name).setVersion(version)
                            .setKind(dev.rlhf.proto.v1.ModelKind.MODEL_KIND_POLICY).build().toByteArray())).get();
        }
    }
}
