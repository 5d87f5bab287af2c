package dev.rlhf.trainer;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.SubmitJobRequest;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * The jobs this trainer knows, with the ordered events of each (for {@code WatchJob}, which
 * replays from a sequence number and then follows). In memory: a restart forgets finished
 * jobs; their models stay in the store.
 */
@ApplicationScoped
public class JobRegistry {

    private final Map<String, Job> jobs = new ConcurrentHashMap<>();
    private final Map<String, List<JobEvent>> events = new ConcurrentHashMap<>();
    private final Map<String, List<Consumer<JobEvent>>> watchers = new ConcurrentHashMap<>();
    private final Map<String, String> byClientRequestId = new ConcurrentHashMap<>();

    /** A job and whether this call created it (false: a retry with a known client_request_id). */
    public record Submitted(Job job, boolean created) {
    }

    /**
     * A new QUEUED job for {@code request}, or the existing one with the same client_request_id.
     *
     * @throws IllegalStateException when a job of the same (non-empty) name is QUEUED or RUNNING
     */
    public synchronized Submitted create(SubmitJobRequest request) {
        if (!request.getClientRequestId().isEmpty() && byClientRequestId.containsKey(request.getClientRequestId())) {
            return new Submitted(jobs.get(byClientRequestId.get(request.getClientRequestId())), false);
        }
        if (!request.getJobName().isEmpty()) {
            jobs.values().stream().filter(j -> j.getJobName().equals(request.getJobName()) && !terminal(j.getState()))
                    .findFirst().ifPresent(j -> {
                        throw new IllegalStateException("job " + j.getJobId() + " named " + request.getJobName()
                                + " is " + j.getState() + "; one job per name at a time");
                    });
        }
        String id = UUID.randomUUID().toString();
        Timestamp now = now();
        Job job = Job.newBuilder().setJobId(id).setJobName(request.getJobName()).setKind(request.getKind())
                .setState(JobState.JOB_STATE_QUEUED).setCreatedAt(now).setUpdatedAt(now).setRequest(request).build();
        jobs.put(id, job);
        events.put(id, new ArrayList<>());
        if (!request.getClientRequestId().isEmpty()) {
            byClientRequestId.put(request.getClientRequestId(), id);
        }
        emit(id, "queued", "job queued", Map.of());
        return new Submitted(job, true);
    }

    public Optional<Job> get(String id) {
        return Optional.ofNullable(jobs.get(id));
    }

    /** Applies {@code change} to the job and records an event with the new state. */
    public synchronized Job update(String id, UnaryOperator<Job.Builder> change, String stage, String message,
            Map<String, Double> metrics) {
        Job job = change.apply(jobs.get(id).toBuilder()).setUpdatedAt(now()).build();
        jobs.put(id, job);
        emit(id, stage, message, metrics);
        return job;
    }

    /**
     * Sends events after {@code afterSequence} to {@code watcher}, then every new one, until
     * the returned handle is run (or the job ended and the caller stops).
     */
    public synchronized Runnable watch(String id, long afterSequence, Consumer<JobEvent> watcher) {
        for (JobEvent e : events.get(id)) {
            if (e.getSequence() > afterSequence) {
                watcher.accept(e);
            }
        }
        watchers.computeIfAbsent(id, k -> new java.util.concurrent.CopyOnWriteArrayList<>()).add(watcher);
        return () -> watchers.getOrDefault(id, List.of()).remove(watcher);
    }

    private void emit(String id, String stage, String message, Map<String, Double> metrics) {
        Job job = jobs.get(id);
        List<JobEvent> list = events.get(id);
        JobEvent e = JobEvent.newBuilder().setJobId(id).setSequence(list.size() + 1L).setTime(now())
                .setState(job.getState()).setStep(job.getProgress().getStep()).setStage(stage).setMessage(message)
                .putAllMetrics(metrics).setJob(job).build();
        list.add(e);
        for (Consumer<JobEvent> w : watchers.getOrDefault(id, List.of())) {
            w.accept(e);
        }
    }

    static boolean terminal(JobState s) {
        return s == JobState.JOB_STATE_SUCCEEDED || s == JobState.JOB_STATE_FAILED || s == JobState.JOB_STATE_CANCELLED;
    }

    static Timestamp now() {
        Instant t = Instant.now();
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }
}
