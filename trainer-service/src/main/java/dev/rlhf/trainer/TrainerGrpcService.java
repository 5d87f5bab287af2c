package dev.rlhf.trainer;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import dev.rlhf.proto.v1.GetJobRequest;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.JobKind;
import dev.rlhf.proto.v1.SubmitJobRequest;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.proto.v1.WatchJobRequest;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;

/**
 * TrainerService: SFT ({@link SftJobRunner}), reward-model ({@link RewardModelJobRunner}), PPO
 * ({@link PpoJobRunner}) and best-of-N ({@link BestOfNJobRunner}) jobs run; DPO answers
 * UNIMPLEMENTED. {@code WatchJob} replays a job's events after the
 * given sequence and follows it until it ends (a live tail: clients set a deadline).
 */
@GrpcService
public class TrainerGrpcService extends TrainerServiceGrpc.TrainerServiceImplBase {

    private final JobRegistry registry;
    private final SftJobRunner sft;
    private final RewardModelJobRunner rewardModel;
    private final PpoJobRunner ppo;
    private final BestOfNJobRunner bestOfN;

    TrainerGrpcService(JobRegistry registry, SftJobRunner sft, RewardModelJobRunner rewardModel, PpoJobRunner ppo,
            BestOfNJobRunner bestOfN) {
        this.registry = registry;
        this.sft = sft;
        this.rewardModel = rewardModel;
        this.ppo = ppo;
        this.bestOfN = bestOfN;
    }

    @Override
    public void submitJob(SubmitJobRequest request, StreamObserver<Job> out) {
        String problem = switch (request.getKind()) {
            case JOB_KIND_SFT -> request.hasSft() ? null : "sft: a JOB_KIND_SFT job needs the sft config";
            case JOB_KIND_REWARD_MODEL -> request.hasRewardModel() ? null
                    : "reward_model: a JOB_KIND_REWARD_MODEL job needs the reward_model config";
            case JOB_KIND_PPO -> request.hasPpo() ? null : "ppo: a JOB_KIND_PPO job needs the ppo config";
            case JOB_KIND_BEST_OF_N -> request.hasBestOfN() ? null
                    : "best_of_n: a JOB_KIND_BEST_OF_N job needs the best_of_n config";
            case JOB_KIND_UNSPECIFIED, UNRECOGNIZED -> "kind is required (JOB_KIND_SFT, JOB_KIND_REWARD_MODEL, ...)";
            default -> "";
        };
        if (problem != null && problem.isEmpty()) {
            out.onError(Status.UNIMPLEMENTED.withDescription(request.getKind() + " jobs are not built yet")
                    .asRuntimeException());
            return;
        }
        if (problem != null) {
            out.onError(Status.INVALID_ARGUMENT.withDescription(problem).asRuntimeException());
            return;
        }
        if ((request.getKind() == JobKind.JOB_KIND_PPO || !request.getJobName().isEmpty())
                && !request.getJobName().matches("[A-Za-z0-9._-]{1,64}")) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("job_name must be 1..64 chars of [A-Za-z0-9._-], got \""
                    + request.getJobName() + "\"").asRuntimeException());
            return;
        }
        if (request.getResumeFromCheckpoint() && request.getKind() != JobKind.JOB_KIND_PPO) {
            out.onError(Status.UNIMPLEMENTED.withDescription("resume_from_checkpoint is built for PPO jobs only, not "
                    + request.getKind()).asRuntimeException());
            return;
        }
        JobRegistry.Submitted submitted;
        try {
            submitted = registry.create(request);
        } catch (IllegalStateException e) {
            out.onError(Status.ALREADY_EXISTS.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        Job job = submitted.job();
        if (submitted.created()) {
            try {
                switch (request.getKind()) {
                    case JOB_KIND_SFT -> sft.submit(job, request.getSft());
                    case JOB_KIND_REWARD_MODEL -> rewardModel.submit(job, request.getRewardModel());
                    case JOB_KIND_PPO -> ppo.submit(job, request.getPpo(), request.getResumeFromCheckpoint());
                    default -> bestOfN.submit(job, request.getBestOfN());
                }
            } catch (IllegalArgumentException e) {
                registry.update(job.getJobId(), b -> b.setState(dev.rlhf.proto.v1.JobState.JOB_STATE_FAILED)
                        .setError(e.getMessage()), "rejected", e.getMessage(), java.util.Map.of());
                out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                return;
            }
        }
        out.onNext(registry.get(job.getJobId()).orElseThrow());
        out.onCompleted();
    }

    @Override
    public void getJob(GetJobRequest request, StreamObserver<Job> out) {
        registry.get(request.getJobId()).ifPresentOrElse(job -> {
            out.onNext(job);
            out.onCompleted();
        }, () -> out.onError(notFound(request.getJobId())));
    }

    @Override
    public void watchJob(WatchJobRequest request, StreamObserver<JobEvent> out) {
        if (registry.get(request.getJobId()).isEmpty()) {
            out.onError(notFound(request.getJobId()));
            return;
        }
        ServerCallStreamObserver<JobEvent> call = (ServerCallStreamObserver<JobEvent>) out;
        AtomicReference<Runnable> unwatch = new AtomicReference<>(() -> { });
        AtomicBoolean done = new AtomicBoolean();
        call.setOnCancelHandler(() -> {
            done.set(true);
            unwatch.get().run();
        });
        unwatch.set(registry.watch(request.getJobId(), request.getAfterSequence(), event -> {
            synchronized (done) {
                if (done.get() || call.isCancelled()) {
                    return;
                }
                call.onNext(event);
                if (JobRegistry.terminal(event.getState())) {
                    done.set(true);
                    call.onCompleted();
                    unwatch.get().run();
                }
            }
        }));
        if (done.get()) {
            unwatch.get().run();
        }
    }

    private static RuntimeException notFound(String id) {
        return Status.NOT_FOUND.withDescription("no job " + id + " on this trainer").asRuntimeException();
    }
}
