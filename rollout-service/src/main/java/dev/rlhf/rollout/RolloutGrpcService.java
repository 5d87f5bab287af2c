package dev.rlhf.rollout;

import java.util.function.Supplier;

import dev.rlhf.proto.v1.GetRunRequest;
import dev.rlhf.proto.v1.RolloutRun;
import dev.rlhf.proto.v1.RolloutServiceGrpc;
import dev.rlhf.proto.v1.StartRunRequest;
import dev.rlhf.proto.v1.StopRunRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;

/**
 * RolloutService (rollout.proto) over gRPC: StartRun, StopRun and GetRun of the runs of
 * {@link RolloutService}. Errors are the statuses rollout.proto lists: INVALID_ARGUMENT
 * naming the field, NOT_FOUND, ALREADY_EXISTS, RESOURCE_EXHAUSTED.
 */
@GrpcService
public class RolloutGrpcService extends RolloutServiceGrpc.RolloutServiceImplBase {

    private final RolloutService runs;

    RolloutGrpcService(RolloutService runs) {
        this.runs = runs;
    }

    @Override
    @Blocking
    public void startRun(StartRunRequest request, StreamObserver<RolloutRun> out) {
        answer(out, () -> runs.start(request));
    }

    @Override
    public void stopRun(StopRunRequest request, StreamObserver<RolloutRun> out) {
        answer(out, () -> runs.stop(request));
    }

    @Override
    public void getRun(GetRunRequest request, StreamObserver<RolloutRun> out) {
        answer(out, () -> runs.get(request));
    }

    private static void answer(StreamObserver<RolloutRun> out, Supplier<RolloutRun> call) {
        RolloutRun run;
        try {
            run = call.get();
        } catch (StatusRuntimeException e) {
            out.onError(e);
            return;
        } catch (RuntimeException e) {
            out.onError(Status.INTERNAL.withDescription(e.toString()).withCause(e).asRuntimeException());
            return;
        }
        out.onNext(run);
        out.onCompleted();
    }
}
