package dev.rlhf.rollout.run;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Set;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GeneratedSample;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.ScoreResponse;
import dev.rlhf.rollout.core.RetryPolicy;
import dev.rlhf.rollout.core.RolloutAssembler;
import dev.rlhf.rollout.core.RolloutRequests;
import dev.rlhf.rollout.core.RunSpecs;
import io.grpc.Status;

/**
 * Samples and scores one prompt: one attempt is 1. Generate with n = K (behaviour logprobs,
 * interactions not logged), 2. Score the finished samples, 3. assemble the group. A failed
 * attempt is retried as a whole (rollout.proto {@code max_attempts}) when
 * {@link RetryPolicy} says so, after its delay; each call has the run's deadline.
 */
public final class PromptSampler {

    /** What became of a prompt. */
    public sealed interface Result permits Sampled, GaveUp, RunFatal, Cancelled {
    }

    /** The group, ready to publish. */
    public record Sampled(List<Rollout> rollouts) implements Result {
    }

    /** The prompt cannot be sampled (invalid, not retriable, or out of attempts). */
    public record GaveUp(String reason) implements Result {
    }

    /** The run's configuration is wrong (e.g. NOT_FOUND for the policy): the run must fail. */
    public record RunFatal(String reason) implements Result {
    }

    /** Cancelled before the group was ready. */
    public record Cancelled() implements Result {
    }

    /**
     * One prompt's place in a run.
     *
     * @param runId     Rollout.run_id
     * @param spec      the run's effective spec
     * @param epoch     pass over a prompt set (0 for the topic)
     * @param iteration the run's iteration when the prompt was started
     */
    public record Job(String runId, RunSpecs.Effective spec, long epoch, long iteration) {
    }

    /** Called for every failed call, with what was decided. */
    public interface Listener {
        void callFailed(String call, Status.Code code, RetryPolicy.Decision decision);
    }

    static final String GENERATE = "policy-service Generate";
    static final String SCORE = "reward-service Score";

    private final Upstreams upstreams;
    private final RetryPolicy retry;
    private final Clock clock;
    private final Set<Integer> eosTokenIds;
    private final Listener listener;

    public PromptSampler(Upstreams upstreams, RetryPolicy retry, Clock clock, Set<Integer> eosTokenIds, Listener listener) {
        this.upstreams = upstreams;
        this.retry = retry;
        this.clock = clock;
        this.eosTokenIds = Set.copyOf(eosTokenIds);
        this.listener = listener;
    }

    /** Samples, scores and assembles {@code prompt}'s group, retrying as the policy says. */
    public Result sample(Prompt prompt, Job job, Cancellation cancel) {
        RolloutRequests.Plan plan;
        try {
            plan = RolloutRequests.plan(prompt, job.spec(), job.runId(), job.epoch());
        } catch (IllegalArgumentException e) {
            return new GaveUp(e.getMessage());
        }
        int maxAttempts = job.spec().maxAttempts();
        for (int attempt = 1; ; attempt++) {
            if (cancel.cancelled()) {
                return new Cancelled();
            }
            String call = GENERATE;
            try {
                // 1. sample
                String requestId = requestId(job, prompt, attempt);
                GenerateResponse g = upstreams.generate(RolloutRequests.generate(prompt, plan, job.spec(), requestId),
                        job.spec().callTimeout(), cancel);
                var broken = RolloutAssembler.problem(g, plan.k());
                if (broken.isPresent()) {
                    return new GaveUp(broken.get());
                }
                List<GeneratedSample> samples = RolloutAssembler.publishable(g);
                if (samples.isEmpty()) {
                    // every sample was cancelled or failed mid-generation: the engine's trouble, not the prompt's
                    throw Status.UNAVAILABLE.withDescription("no sample of " + plan.k() + " finished (finish reasons "
                            + g.getSamplesList().stream().map(s -> s.getFinishReason().name()).toList() + ")")
                            .asRuntimeException();
                }
                // 2. score
                call = SCORE;
                String promptText = prompt.getText().isEmpty() ? g.getPromptText() : prompt.getText();
                ScoreResponse s = upstreams.score(RolloutRequests.score(promptText, samples, job.spec(), requestId),
                        job.spec().callTimeout(), cancel);
                // 3. assemble
                try {
                    return new Sampled(RolloutAssembler.assemble(new RolloutAssembler.Group(job.runId(), job.epoch(),
                            job.iteration(), prompt, plan, job.spec().bestOfN(), g, samples, s, eosTokenIds, now())));
                } catch (IllegalArgumentException e) {
                    return new GaveUp(e.getMessage());
                }
            } catch (RuntimeException e) {
                if (cancel.cancelled()) {
                    return new Cancelled();
                }
                RetryPolicy.Decision d = retry.decide(call, e, attempt, maxAttempts);
                listener.callFailed(call, Status.fromThrowable(e).getCode(), d);
                switch (d.kind()) {
                    case RETRY:
                        if (!cancel.sleep(d.delayMs())) {
                            return new Cancelled();
                        }
                        break;
                    case FAIL_RUN:
                        return new RunFatal(d.reason());
                    default:
                        return new GaveUp(d.reason());
                }
            }
        }
    }

    /** For tracing: run/prompt/epoch/attempt, printable ASCII, at most 128 chars (policy.proto). */
    static String requestId(Job job, Prompt prompt, int attempt) {
        String raw = job.runId() + "/" + prompt.getPromptId() + "/" + job.epoch() + "/" + attempt;
        byte[] b = raw.getBytes(StandardCharsets.US_ASCII);
        StringBuilder out = new StringBuilder();
        for (byte c : b) {
            out.append(c >= 0x21 && c <= 0x7e ? (char) c : '_');
        }
        return out.length() <= 128 ? out.toString() : out.substring(out.length() - 128);
    }

    private Timestamp now() {
        Instant t = clock.instant();
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }
}
