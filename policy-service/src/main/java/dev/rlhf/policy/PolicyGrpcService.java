package dev.rlhf.policy;

import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GenerateStreamChunk;
import dev.rlhf.proto.v1.ListModelsRequest;
import dev.rlhf.proto.v1.ListModelsResponse;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import dev.rlhf.proto.v1.ScoreLogprobsRequest;
import dev.rlhf.proto.v1.ScoreLogprobsResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;

/**
 * PolicyService of policy-service. The service starts, reports health and metrics, and answers every
 * RPC with UNIMPLEMENTED until its work is built (issue 4 (policy-service)): nothing pretends to work.
 */
@GrpcService
public class PolicyGrpcService extends PolicyServiceGrpc.PolicyServiceImplBase {

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateResponse> out) {
        out.onError(notBuilt("Generate"));
    }

    @Override
    public void generateStream(GenerateRequest request, StreamObserver<GenerateStreamChunk> out) {
        out.onError(notBuilt("GenerateStream"));
    }

    @Override
    public void scoreLogprobs(ScoreLogprobsRequest request, StreamObserver<ScoreLogprobsResponse> out) {
        out.onError(notBuilt("ScoreLogprobs"));
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> out) {
        out.onError(notBuilt("ListModels"));
    }

    private static StatusRuntimeException notBuilt(String rpc) {
        return Status.UNIMPLEMENTED
                .withDescription("PolicyService." + rpc + " is not implemented yet in policy-service; it arrives with issue 4 (policy-service)")
                .asRuntimeException();
    }
}
