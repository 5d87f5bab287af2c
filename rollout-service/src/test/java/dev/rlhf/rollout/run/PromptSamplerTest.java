package dev.rlhf.rollout.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.FinishReason;
import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GenerateResponse;
import dev.rlhf.proto.v1.GeneratedSample;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PairScore;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.ScoreResponse;
import dev.rlhf.rollout.core.RetryPolicy;
import dev.rlhf.rollout.core.RunSpecs;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** The attempt loop: what is retried (as a whole), how long it waits, and when it gives up or fails the run. */
class PromptSamplerTest {

    static final ModelRef V5 = ModelRef.newBuilder().setName("policy").setVersion(5).build();

    /** Scripted upstreams: each call takes the next answer of its queue (an answer or an exception). */
    static final class Script implements Upstreams {
        final Deque<Supplier<GenerateResponse>> generate = new ArrayDeque<>();
        final Deque<Supplier<ScoreResponse>> score = new ArrayDeque<>();
        final List<GenerateRequest> generateCalls = new ArrayList<>();
        final List<Long> generateAt = new ArrayList<>();
        final List<Duration> deadlines = new ArrayList<>();

        @Override
        public GenerateResponse generate(GenerateRequest request, Duration deadline, Cancellation cancellation) {
            generateCalls.add(request);
            generateAt.add(System.nanoTime());
            deadlines.add(deadline);
            return generate.isEmpty() ? ok(request) : generate.poll().get();
        }

        @Override
        public long servedVersion(String model, long newerThan, Duration wait) {
            return V5.getVersion();
        }

        @Override
        public ScoreResponse score(ScoreRequest request, Duration deadline, Cancellation cancellation) {
            deadlines.add(deadline);
            if (!score.isEmpty()) {
                return score.poll().get();
            }
            ScoreResponse.Builder s = ScoreResponse.newBuilder().setConfigVersion("cfg");
            request.getPairsList().forEach(p -> s.addScores(PairScore.newBuilder().setTotal(p.getResponse().length())));
            return s.build();
        }

        static GenerateResponse ok(GenerateRequest r) {
            GenerateResponse.Builder g = GenerateResponse.newBuilder().setModel(V5).addPromptTokenIds(1)
                    .setSampling(r.getSampling());
            for (int i = 0; i < r.getSampling().getN(); i++) {
                g.addSamples(GeneratedSample.newBuilder().setSampleIndex(i).setText("x".repeat(i + 1)).addTokenIds(7)
                        .addLogprobs(-0.25f).setFinishReason(FinishReason.FINISH_REASON_STOP));
            }
            return g.build();
        }
    }

    static StatusRuntimeException status(Status.Code code, String retryAfterMs) {
        Metadata m = new Metadata();
        if (retryAfterMs != null) {
            m.put(RetryPolicy.RETRY_AFTER_MS, retryAfterMs);
        }
        return Status.fromCode(code).withDescription("scripted").asRuntimeException(m);
    }

    static Supplier<GenerateResponse> failGenerate(Status.Code code, String retryAfterMs) {
        return () -> {
            throw status(code, retryAfterMs);
        };
    }

    final Script script = new Script();
    final List<String> decisions = new ArrayList<>();
    final PromptSampler sampler = new PromptSampler(script,
            new RetryPolicy(Duration.ofMillis(10), Duration.ofMillis(40), 2, 0, Duration.ofSeconds(2), () -> 0.5),
            Clock.fixed(Instant.parse("2025-01-01T00:00:00Z"), ZoneOffset.UTC), Set.of(),
            (call, code, d) -> decisions.add(call + " " + code + " " + d.kind()));

    static PromptSampler.Job job(int maxAttempts) {
        RunSpecs.Effective spec = new RunSpecs.Effective(new RunSpecs.Topic(Optional.empty(), false), 3,
                SamplingParams.newBuilder().setTemperature(1f).build(), RolloutMode.ROLLOUT_MODE_PPO, 1,
                ModelRef.newBuilder().setName("policy").build(), List.of("helpfulness"), 4, Duration.ofSeconds(7),
                maxAttempts, Optional.empty(), 0, 0);
        return new PromptSampler.Job("run-1", spec, 0, 0);
    }

    static final Prompt PROMPT = Prompt.newBuilder().setPromptId("p-1").setText("Hello").build();

    @Test
    void unavailableTwiceThenRecoversWithOneGroup() {
        script.generate.add(failGenerate(Status.Code.UNAVAILABLE, null));
        script.generate.add(failGenerate(Status.Code.UNAVAILABLE, null));
        PromptSampler.Result r = sampler.sample(PROMPT, job(3), new Cancellation());
        PromptSampler.Sampled s = assertInstanceOf(PromptSampler.Sampled.class, r);
        assertEquals(3, s.rollouts().size());
        assertEquals(3, script.generateCalls.size());
        assertEquals(List.of("policy-service Generate UNAVAILABLE RETRY", "policy-service Generate UNAVAILABLE RETRY"),
                decisions);
        GenerateRequest first = script.generateCalls.get(0);
        assertTrue(first.getSkipInteractionLog());
        assertEquals(3, first.getSampling().getN());
        assertEquals(first.getSampling(), script.generateCalls.get(2).getSampling(), "a retry asks for the same samples");
        assertTrue(script.deadlines.stream().allMatch(d -> d.equals(Duration.ofSeconds(7))), "every call has the deadline");
        assertEquals(List.of(1.0, 2.0, 3.0), s.rollouts().stream().map(x -> x.getReward()).toList());
    }

    @Test
    void retryAfterTrailerIsWaitedFor() {
        script.generate.add(failGenerate(Status.Code.RESOURCE_EXHAUSTED, "300"));
        assertInstanceOf(PromptSampler.Sampled.class, sampler.sample(PROMPT, job(3), new Cancellation()));
        long gapMs = (script.generateAt.get(1) - script.generateAt.get(0)) / 1_000_000;
        assertTrue(gapMs >= 300, "waited " + gapMs + " ms, the server asked for 300");
    }

    @Test
    void invalidArgumentIsNotRetried() {
        script.generate.add(failGenerate(Status.Code.INVALID_ARGUMENT, null));
        PromptSampler.GaveUp g = assertInstanceOf(PromptSampler.GaveUp.class,
                sampler.sample(PROMPT, job(3), new Cancellation()));
        assertEquals("policy-service Generate failed with INVALID_ARGUMENT: scripted", g.reason());
        assertEquals(1, script.generateCalls.size());
    }

    @Test
    void aScoreFailureRetriesTheWholeAttemptAndRunsOutOfAttempts() {
        for (int i = 0; i < 2; i++) {
            script.score.add(() -> {
                throw status(Status.Code.DEADLINE_EXCEEDED, null);
            });
        }
        PromptSampler.GaveUp g = assertInstanceOf(PromptSampler.GaveUp.class,
                sampler.sample(PROMPT, job(2), new Cancellation()));
        assertEquals(2, script.generateCalls.size(), "sampling and scoring are retried together");
        assertTrue(g.reason().startsWith("gave up after 2 attempts; last: reward-service Score failed with DEADLINE_EXCEEDED"),
                g.reason());
    }

    @Test
    void notFoundFailsTheRun() {
        script.generate.add(failGenerate(Status.Code.NOT_FOUND, null));
        assertInstanceOf(PromptSampler.RunFatal.class, sampler.sample(PROMPT, job(3), new Cancellation()));
    }

    @Test
    void cancellationStopsTheBackoff() throws Exception {
        PromptSampler slow = new PromptSampler(script,
                new RetryPolicy(Duration.ofSeconds(30), Duration.ofSeconds(30), 2, 0, Duration.ofSeconds(30), () -> 0.5),
                Clock.systemUTC(), Set.of(), (call, code, d) -> { });
        script.generate.add(failGenerate(Status.Code.UNAVAILABLE, null));
        Cancellation cancel = new Cancellation();
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                return;
            }
            cancel.cancel();
        });
        t.start();
        long start = System.nanoTime();
        assertInstanceOf(PromptSampler.Cancelled.class, slow.sample(PROMPT, job(3), cancel));
        assertTrue((System.nanoTime() - start) / 1_000_000 < 5_000, "woken by the cancellation");
        t.join();
    }

    @Test
    void anOverrideThatBreaksARuleGivesThePromptUpWithoutACall() {
        Prompt greedy = PROMPT.toBuilder().setSamplingOverrides(dev.rlhf.proto.v1.SamplingOverrides.newBuilder()
                .setTemperature(0)).build();
        assertInstanceOf(PromptSampler.GaveUp.class, sampler.sample(greedy, job(3), new Cancellation()));
        assertEquals(0, script.generateCalls.size());
    }
}
