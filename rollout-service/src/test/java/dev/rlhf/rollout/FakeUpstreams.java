package dev.rlhf.rollout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import dev.rlhf.proto.v1.FinishReason;
import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GeneratedSample;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PairScore;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import dev.rlhf.proto.v1.RewardComponent;
import dev.rlhf.proto.v1.RewardServiceGrpc;
import dev.rlhf.proto.v1.ScorePair;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;
import dev.rlhf.rollout.core.RetryPolicy;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;

/**
 * Stand-ins for policy-service and reward-service: real gRPC servers (Netty) on the test
 * ports of application.properties, so rollout-service talks to them over real channels. The
 * real services are tested in their own modules; these answer by rules a test can predict,
 * chosen by the prompt text's prefix:
 * <ul>
 * <li>{@code flaky:} — UNAVAILABLE on the first two Generate calls of that text, then normal;
 * <li>{@code busy:} — RESOURCE_EXHAUSTED with {@code retry-after-ms: 300} once, then normal;
 * <li>{@code invalid:} — always INVALID_ARGUMENT;
 * <li>{@code gated:} — answers only after {@link #gate} opens;
 * <li>anything else — normal: sample i is tokens [100+i, 101+i, 2] (2 = EOS) with logprobs
 * [-0.1(i+1), -0.2, -0.3], text "answer i", by policy v3; its reward is {@link #reward}(i).
 * </ul>
 */
final class FakeUpstreams {

    static final int POLICY_PORT = 18093;
    static final int REWARD_PORT = 18094;
    static final ModelRef POLICY_V3 = ModelRef.newBuilder().setName("policy").setVersion(3).build();
    static final ModelRef REWARD_V2 = ModelRef.newBuilder().setName("reward").setVersion(2).build();

    private static FakeUpstreams shared;

    /** Every Generate call: (prompt text or "#ids", nanoTime, request). */
    record Call(String text, long atNanos, GenerateRequest request) {
    }

    final ConcurrentLinkedQueue<Call> generateCalls = new ConcurrentLinkedQueue<>();
    final Map<String, AtomicInteger> callsByText = new ConcurrentHashMap<>();
    volatile CountDownLatch gate = new CountDownLatch(1);
    private final List<Server> servers;

    private FakeUpstreams() {
        try {
            servers = List.of(
                    NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", POLICY_PORT))
                            .addService(ServerServiceDefinition.builder(PolicyServiceGrpc.SERVICE_NAME)
                                    .addMethod(PolicyServiceGrpc.getGenerateMethod(), ServerCalls.asyncUnaryCall(this::generate))
                                    .build())
                            .build().start(),
                    NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", REWARD_PORT))
                            .addService(ServerServiceDefinition.builder(RewardServiceGrpc.SERVICE_NAME)
                                    .addMethod(RewardServiceGrpc.getScoreMethod(), ServerCalls.asyncUnaryCall(FakeUpstreams::score))
                                    .build())
                            .build().start());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve the fake policy/reward services on ports " + POLICY_PORT + "/"
                    + REWARD_PORT, e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> servers.forEach(Server::shutdownNow)));
    }

    /** The servers of this test JVM, started on first use. */
    static synchronized FakeUpstreams shared() {
        if (shared == null) {
            shared = new FakeUpstreams();
        }
        return shared;
    }

    /** The helpfulness value of sample i: distinct for i in 0..4. */
    static double reward(int i) {
        return ((i * 7) % 5) / 4.0 - 0.5;
    }

    /** Generate calls seen for a prompt text. */
    int calls(String text) {
        AtomicInteger n = callsByText.get(text);
        return n == null ? 0 : n.get();
    }

    // The handlers are bound by hand, only the two methods rollout-service calls.

    private void generate(GenerateRequest r, StreamObserver<GenerateResponse> out) {
        String text = r.hasPromptTokenIds() ? "#ids" + r.getPromptTokenIds().getIdsList() : r.getPromptText();
        generateCalls.add(new Call(text, System.nanoTime(), r));
        int n = callsByText.computeIfAbsent(text, k -> new AtomicInteger()).incrementAndGet();
        if (text.startsWith("flaky:") && n <= 2) {
            out.onError(Status.UNAVAILABLE.withDescription("warming up").asRuntimeException());
            return;
        }
        if (text.startsWith("busy:") && n == 1) {
            Metadata trailers = new Metadata();
            trailers.put(RetryPolicy.RETRY_AFTER_MS, "300");
            out.onError(Status.RESOURCE_EXHAUSTED.withDescription("queue full").asRuntimeException(trailers));
            return;
        }
        if (text.startsWith("invalid:")) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("sampling.top_p must be in (0, 1], was 1.5")
                    .asRuntimeException());
            return;
        }
        if (text.startsWith("gated:")) {
            try {
                if (!gate.await(30, TimeUnit.SECONDS)) {
                    out.onError(Status.INTERNAL.withDescription("gate never opened").asRuntimeException());
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                out.onError(Status.CANCELLED.asRuntimeException());
                return;
            }
        }
        int k = r.getSampling().getN() == 0 ? 1 : r.getSampling().getN();
        GenerateResponse.Builder g = GenerateResponse.newBuilder().setModel(POLICY_V3)
                .setPromptText(r.hasPromptTokenIds() ? "decoded " + r.getPromptTokenIds().getIdsList() : text)
                .addAllPromptTokenIds(r.hasPromptTokenIds() ? r.getPromptTokenIds().getIdsList() : List.of(1, text.length()))
                .setSampling(r.getSampling().toBuilder().setTopP(r.getSampling().getTopP() == 0 ? 1f
                        : r.getSampling().getTopP()).setMaxNewTokens(r.getSampling().getMaxNewTokens() == 0 ? 256
                        : r.getSampling().getMaxNewTokens()))
                .setRequestId(r.getRequestId());
        g.setPromptTokenCount(g.getPromptTokenIdsCount());
        for (int i = 0; i < k; i++) {
            g.addSamples(GeneratedSample.newBuilder().setSampleIndex(i).setText("answer " + i)
                    .addAllTokenIds(List.of(100 + i, 101 + i, 2))
                    .addAllLogprobs(List.of(-0.1f * (i + 1), -0.2f, -0.3f))
                    .setFinishReason(FinishReason.FINISH_REASON_STOP));
        }
        out.onNext(g.build());
        out.onCompleted();
    }

    private static void score(ScoreRequest r, StreamObserver<ScoreResponse> out) {
        ScoreResponse.Builder s = ScoreResponse.newBuilder().setConfigVersion("cfg-test").addModels(REWARD_V2);
        for (ScorePair p : r.getPairsList()) {
            int i = Integer.parseInt(p.getResponse().substring("answer ".length()));
            double v = reward(i);
            s.addScores(PairScore.newBuilder().setTotal(v + 0.1).setUncertainty(0.05)
                    .addComponents(RewardComponent.newBuilder().setName("helpfulness").setValue(v).setWeight(1.0)
                            .setUncertainty(0.05).setModel(REWARD_V2))
                    .addComponents(RewardComponent.newBuilder().setName("rule.length").setValue(1).setWeight(0.1)));
        }
        out.onNext(s.build());
        out.onCompleted();
    }
}
