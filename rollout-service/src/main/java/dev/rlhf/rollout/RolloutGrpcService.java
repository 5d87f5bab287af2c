package dev.rlhf.rollout;

import dev.rlhf.proto.v1.GetRunRequest;
import dev.rlhf.proto.v1.RolloutRun;
import dev.rlhf.proto.v1.RolloutServiceGrpc;
import dev.rlhf.proto.v1.StartRunRequest;
import dev.rlhf.proto.v1.StopRunRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;

/**
 * RolloutService of rollout-service. The service starts, reports health and metrics, and answers every
 * RPC with UNIMPLEMENTED until its work is built (issue 6 (PPO, online)): nothing pretends to work.
 */
@GrpcService
public class RolloutGrpcService extends RolloutServiceGrpc.RolloutServiceImplBase {

    @Override
    public void startRun(StartRunRequest request, StreamObserver<RolloutRun> out) {
        out.onError(notBuilt("StartRun"));
    }

    @Override
    public void stopRun(StopRunRequest request, StreamObserver<RolloutRun> out) {
        out.onError(notBuilt("StopRun"));
    }

    @Override
    public void getRun(GetRunRequest request, StreamObserver<RolloutRun> out) {
        out.onError(notBuilt("GetRun"));
    }

    private static StatusRuntimeException notBuilt(String rpc) {
        return Status.UNIMPLEMENTED
                .withDescription("RolloutService." + rpc + " is not implemented yet in rollout-service; it arrives with issue 6 (PPO, online)")
                .asRuntimeException();
    }
}
