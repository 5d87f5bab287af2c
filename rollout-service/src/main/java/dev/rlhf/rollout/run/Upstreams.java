package dev.rlhf.rollout.run;

import java.time.Duration;

import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;

/**
 * The two calls a rollout needs: PolicyService.Generate and RewardService.Score. Each has a
 * deadline and is cancelled (gRPC CANCELLED) when {@code cancellation} fires; failures are
 * {@link io.grpc.StatusRuntimeException}s, judged by {@link dev.rlhf.rollout.core.RetryPolicy}.
 */
public interface Upstreams {

    /** PolicyService.Generate with a deadline of {@code deadline} from now. */
    GenerateResponse generate(GenerateRequest request, Duration deadline, Cancellation cancellation);

    /** RewardService.Score with a deadline of {@code deadline} from now. */
    ScoreResponse score(ScoreRequest request, Duration deadline, Cancellation cancellation);

    /**
     * The newest version of {@code model} that policy-service serves (PolicyService.ListModels),
     * or -1 when the call fails or the model is not served. With {@code newerThan} >= 0 a long
     * poll: the answer comes once a newer version is served, or after {@code wait} with the
     * version served then.
     */
    long servedVersion(String model, long newerThan, Duration wait);
}
