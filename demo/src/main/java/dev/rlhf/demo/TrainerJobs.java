package dev.rlhf.demo;

import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.proto.v1.WatchJobRequest;

/** A trainer job followed to its end over {@code WatchJob}. */
final class TrainerJobs {

    private TrainerJobs() {
    }

    /**
     * Passes every event of {@code job} to {@code each}, the last one included, and returns the
     * last (the stream ends with the job; {@code seconds} bounds the whole wait).
     */
    static JobEvent follow(TrainerServiceGrpc.TrainerServiceBlockingStub trainer, Job job, int seconds,
            Consumer<JobEvent> each) {
        Iterator<JobEvent> it = trainer.withDeadlineAfter(seconds, TimeUnit.SECONDS).watchJob(WatchJobRequest
                .newBuilder().setJobId(job.getJobId()).build());
        JobEvent last = null;
        while (it.hasNext()) {
            last = it.next();
            each.accept(last);
        }
        if (last == null) {
            throw new IllegalStateException("job " + job.getJobId() + " sent no events");
        }
        return last;
    }

    /**
     * As {@link #follow}, up to 30 minutes.
     *
     * @throws IllegalStateException naming {@code what} and the job's error unless it SUCCEEDED
     */
    static JobEvent succeeded(TrainerServiceGrpc.TrainerServiceBlockingStub trainer, Job job, String what,
            Consumer<JobEvent> each) {
        JobEvent last = follow(trainer, job, 1800, each);
        if (last.getState() != JobState.JOB_STATE_SUCCEEDED) {
            throw new IllegalStateException(what + " job ended " + last.getState() + ": " + last.getJob().getError());
        }
        return last;
    }
}
