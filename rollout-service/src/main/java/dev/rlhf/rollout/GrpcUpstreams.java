package dev.rlhf.rollout;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.ListModelsRequest;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import dev.rlhf.proto.v1.RewardServiceGrpc;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;
import dev.rlhf.rollout.run.Cancellation;
import dev.rlhf.rollout.run.Upstreams;
import io.grpc.Context;
import io.grpc.Status;
import io.quarkus.grpc.GrpcClient;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * policy-service and reward-service over gRPC (clients {@code policy} and {@code reward},
 * application.properties). Each call runs in a cancellable gRPC context tied to the prompt's
 * {@link Cancellation}, so a stop with abort or a revoked partition cancels it at once.
 */
@ApplicationScoped
public class GrpcUpstreams implements Upstreams {

    @GrpcClient("policy")
    PolicyServiceGrpc.PolicyServiceBlockingStub policy;

    @GrpcClient("reward")
    RewardServiceGrpc.RewardServiceBlockingStub reward;

    @Override
    public GenerateResponse generate(GenerateRequest request, Duration deadline, Cancellation cancellation) {
        return call(cancellation, () -> policy.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                .generate(request));
    }

    @Override
    public ScoreResponse score(ScoreRequest request, Duration deadline, Cancellation cancellation) {
        return call(cancellation, () -> reward.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                .score(request));
    }

    @Override
    public long servedVersion(String model, long newerThan, Duration wait) {
        ListModelsRequest.Builder request = ListModelsRequest.newBuilder().setName(model);
        if (newerThan >= 0) {
            request.setNewerThan(newerThan).setWaitMax(com.google.protobuf.Duration.newBuilder()
                    .setSeconds(wait.getSeconds()).setNanos(wait.getNano()));
        }
        try {
            return policy.withDeadlineAfter(5_000 + (newerThan >= 0 ? wait.toMillis() : 0), TimeUnit.MILLISECONDS)
                    .listModels(request.build()).getModelsList().stream()
                    .filter(m -> m.getModel().getName().equals(model))
                    .mapToLong(m -> m.getModel().getVersion()).max().orElse(-1);
        } catch (io.grpc.StatusRuntimeException e) {
            return -1;
        }
    }

    private static <T> T call(Cancellation cancellation, Supplier<T> call) {
        Context.CancellableContext context = Context.current().withCancellation();
        Runnable hook = () -> context.cancel(Status.CANCELLED.withDescription("rollout cancelled").asRuntimeException());
        if (!cancellation.onCancel(hook)) {
            throw Status.CANCELLED.withDescription("rollout cancelled").asRuntimeException();
        }
        Context previous = context.attach();
        try {
            return call.get();
        } finally {
            context.detach(previous);
            cancellation.removeHook(hook);
            context.cancel(null);
        }
    }
}
