package dev.rlhf.trainer;

import dev.rlhf.proto.v1.GetJobRequest;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.SubmitJobRequest;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.proto.v1.WatchJobRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;

/**
 * TrainerService of trainer-service. The service starts, reports health and metrics, and answers every
 * RPC with UNIMPLEMENTED until its work is built (issue 3 (SFT), 5 (reward model) and 6 (PPO)): nothing pretends to work.
 */
@GrpcService
public class TrainerGrpcService extends TrainerServiceGrpc.TrainerServiceImplBase {

    @Override
    public void submitJob(SubmitJobRequest request, StreamObserver<Job> out) {
        out.onError(notBuilt("SubmitJob"));
    }

    @Override
    public void getJob(GetJobRequest request, StreamObserver<Job> out) {
        out.onError(notBuilt("GetJob"));
    }

    @Override
    public void watchJob(WatchJobRequest request, StreamObserver<JobEvent> out) {
        out.onError(notBuilt("WatchJob"));
    }

    private static StatusRuntimeException notBuilt(String rpc) {
        return Status.UNIMPLEMENTED
                .withDescription("TrainerService." + rpc + " is not implemented yet in trainer-service; it arrives with issue 3 (SFT), 5 (reward model) and 6 (PPO)")
                .asRuntimeException();
    }
}
