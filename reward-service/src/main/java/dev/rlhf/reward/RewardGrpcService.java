package dev.rlhf.reward;

import dev.rlhf.proto.v1.RewardServiceGrpc;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;

/**
 * RewardService of reward-service. The service starts, reports health and metrics, and answers every
 * RPC with UNIMPLEMENTED until its work is built (issue 5 (reward)): nothing pretends to work.
 */
@GrpcService
public class RewardGrpcService extends RewardServiceGrpc.RewardServiceImplBase {

    @Override
    public void score(ScoreRequest request, StreamObserver<ScoreResponse> out) {
        out.onError(notBuilt("Score"));
    }

    private static StatusRuntimeException notBuilt(String rpc) {
        return Status.UNIMPLEMENTED
                .withDescription("RewardService." + rpc + " is not implemented yet in reward-service; it arrives with issue 5 (reward)")
                .asRuntimeException();
    }
}
