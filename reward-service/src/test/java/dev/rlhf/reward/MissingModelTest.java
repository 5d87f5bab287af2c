package dev.rlhf.reward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.RewardServiceGrpc;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;

/**
 * A learned component whose reward model is not in the store: calls that need it answer
 * UNAVAILABLE naming it, the others are served, and it serves once a version is announced.
 */
@QuarkusTest
@TestProfile(MissingModelTest.WithAMissingModel.class)
class MissingModelTest {

    /** The test configuration plus {@code coherence}, a learned component on a model not yet stored. */
    public static class WithAMissingModel implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("rlhf.reward.components[5].name", "coherence", "rlhf.reward.components[5].kind", "learned",
                    "rlhf.reward.components[5].model", "coherence", "rlhf.reward.components[5].weight", "0.3");
        }
    }

    @GrpcClient("reward")
    RewardServiceGrpc.RewardServiceBlockingStub stub;

    @Inject
    ModelRegistry registry;

    private static final List<dev.rlhf.proto.v1.ScorePair> PAIRS = List.of(
            RewardGrpcServiceTest.pair("Hello there", "How are you today?"));

    @Test
    void aComponentWithoutItsModelIsUnavailableUntilOneIsAnnounced() throws Exception {
        // 1. every component, coherence included: UNAVAILABLE naming it
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> stub.score(RewardGrpcServiceTest.request(PAIRS)));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("component coherence needs reward model coherence, which is"
                + " not loaded yet"), e.getStatus().getDescription());
        // 2. calls that do not need it are served
        assertEquals(2, stub.score(RewardGrpcServiceTest.request(PAIRS, "helpfulness", "rule.length")).getScores(0)
                .getComponentsCount());
        // 3. a version is stored and announced: now every component answers
        long v = TinyRewardStore.write(TinyRewardStore.root, 5, "coherence").version();
        RewardGrpcServiceTest.awaitServed(registry, "coherence", v);
        ScoreResponse r = stub.score(ScoreRequest.newBuilder().addAllPairs(PAIRS).build());
        assertTrue(r.getModelsList().contains(ModelRef.newBuilder().setName("coherence").setVersion(v).build()),
                r.getModelsList().toString());
        assertEquals("coherence", r.getScores(0).getComponents(5).getName());
        assertEquals(0.3, r.getScores(0).getComponents(5).getWeight(), 0);
    }
}
