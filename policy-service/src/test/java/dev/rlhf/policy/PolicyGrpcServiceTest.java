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
        StoredVersion v = new ModelStore(TinyModelStore.root).load("policy", 1);
        try (Tokenizer tok = Tokenizer.load(v.file("tokenizer.json"));
                OrtDecoder d = OrtDecoder.open(v.file("model.onnx"), ModelConfig.read(v.file("config.json")),
                        OrtDecoder.Options.cpu(1))) {
            int[] prompt = tok.encode(PROMPT);
            OrtDecoder.Generation direct = d.generate(List.of(prompt), OrtDecoder.Sampling.greedy(12)).get(0);
            assertArrayEquals(direct.tokens(), r.getSamples(0).getTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
            assertEquals(prompt.length, r.getPromptTokenCount());
        }
        assertEquals(ModelRef.newBuilder().setName("policy").setVersion(1).build(), r.getModel());
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
        GenerateRequest req = request(SamplingParams.newBuilder().setMaxNewTokens(9).setTemperature(0.9f).setSeed(4)).build();
        List<Integer> streamed = new ArrayList<>();
        FinishReason finish = null;
        Iterator<GenerateStreamChunk> it = stub.withDeadlineAfter(30, TimeUnit.SECONDS).generateStream(req);
        while (it.hasNext()) {
            GenerateStreamChunk c = it.next();
            streamed.addAll(c.getTokenIdsList());
            if (c.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                finish = c.getFinishReason();
                assertEquals(1, c.getModel().getVersion());
                assertTrue(!c.getInteractionId().isEmpty());
            }
        }
        assertNotNull(finish);
        assertEquals(stub.generate(req).getSamples(0).getTokenIdsList(), streamed, "same seed, same tokens");
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
        assertEquals(List.of("policy", "reference"), models.stream().map(m -> m.getModel().getName()).sorted().toList());
        assertTrue(models.stream().allMatch(m -> m.getArchitecture().getParameterCount() > 0 && m.hasLoadedSince()));
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
}
