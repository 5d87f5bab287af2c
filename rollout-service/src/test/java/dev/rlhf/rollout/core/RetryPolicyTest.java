package dev.rlhf.rollout.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.OptionalLong;

import org.junit.jupiter.api.Test;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** Which failures are retried, after how long, and which fail the prompt or the run. */
class RetryPolicyTest {

    /** No jitter draw: u = 0.5 puts the jittered backoff exactly on its base. */
    private final RetryPolicy policy = new RetryPolicy(Duration.ofMillis(100), Duration.ofSeconds(1), 2.0, 0.2,
            Duration.ofSeconds(5), () -> 0.5);

    private static StatusRuntimeException error(Status.Code code, String retryAfterMs) {
        Metadata trailers = new Metadata();
        if (retryAfterMs != null) {
            trailers.put(RetryPolicy.RETRY_AFTER_MS, retryAfterMs);
        }
        return Status.fromCode(code).withDescription("why").asRuntimeException(trailers);
    }

    @Test
    void onlyUnavailableResourceExhaustedAndDeadlineExceededAreRetried() {
        for (Status.Code code : Status.Code.values()) {
            RetryPolicy.Kind kind = RetryPolicy.classify(code);
            boolean retriable = code == Status.Code.UNAVAILABLE || code == Status.Code.RESOURCE_EXHAUSTED
                    || code == Status.Code.DEADLINE_EXCEEDED;
            assertEquals(retriable, kind == RetryPolicy.Kind.RETRY, code.name());
        }
        assertEquals(RetryPolicy.Kind.FAIL_PROMPT, RetryPolicy.classify(Status.Code.INVALID_ARGUMENT));
        assertEquals(RetryPolicy.Kind.FAIL_PROMPT, RetryPolicy.classify(Status.Code.INTERNAL));
        assertEquals(RetryPolicy.Kind.FAIL_RUN, RetryPolicy.classify(Status.Code.NOT_FOUND));
        assertEquals(RetryPolicy.Kind.FAIL_RUN, RetryPolicy.classify(Status.Code.UNIMPLEMENTED));
    }

    @Test
    void invalidArgumentFailsThePromptAtOnceWithTheReason() {
        RetryPolicy.Decision d = policy.decide("policy-service Generate", error(Status.Code.INVALID_ARGUMENT, null), 1, 5);
        assertEquals(RetryPolicy.Kind.FAIL_PROMPT, d.kind());
        assertEquals("policy-service Generate failed with INVALID_ARGUMENT: why", d.reason());
    }

    @Test
    void retriableErrorsBackOffExponentiallyUpToTheCapThenGiveUp() {
        StatusRuntimeException e = error(Status.Code.UNAVAILABLE, null);
        assertEquals(100, policy.decide("c", e, 1, 9).delayMs());
        assertEquals(200, policy.decide("c", e, 2, 9).delayMs());
        assertEquals(400, policy.decide("c", e, 3, 9).delayMs());
        assertEquals(1000, policy.decide("c", e, 5, 9).delayMs(), "capped at max-backoff");
        RetryPolicy.Decision last = policy.decide("c", e, 3, 3);
        assertEquals(RetryPolicy.Kind.FAIL_PROMPT, last.kind());
        assertTrue(last.reason().startsWith("gave up after 3 attempts; last: c failed with UNAVAILABLE"), last.reason());
    }

    @Test
    void jitterStaysWithinItsBand() {
        RetryPolicy low = new RetryPolicy(Duration.ofMillis(100), Duration.ofSeconds(1), 2.0, 0.2, Duration.ofSeconds(5),
                () -> 0.0);
        RetryPolicy high = new RetryPolicy(Duration.ofMillis(100), Duration.ofSeconds(1), 2.0, 0.2, Duration.ofSeconds(5),
                () -> 0.999999);
        assertEquals(80, low.backoffMs(1));
        assertEquals(120, high.backoffMs(1));
    }

    @Test
    void retryAfterTrailerIsHonouredNeverShortenedAndCapped() {
        RetryPolicy.Decision d = policy.decide("c", error(Status.Code.RESOURCE_EXHAUSTED, "750"), 1, 3);
        assertEquals(RetryPolicy.Kind.RETRY, d.kind());
        assertTrue(d.delayMs() >= 750 && d.delayMs() <= 750 * 1.2, "waits at least the hint: " + d.delayMs());
        RetryPolicy noJitter = new RetryPolicy(Duration.ofMillis(100), Duration.ofSeconds(1), 2.0, 0.2,
                Duration.ofSeconds(5), () -> 0.0);
        assertEquals(750, noJitter.decide("c", error(Status.Code.RESOURCE_EXHAUSTED, "750"), 1, 3).delayMs());
        assertEquals(5000, noJitter.decide("c", error(Status.Code.RESOURCE_EXHAUSTED, "600000"), 1, 3).delayMs(),
                "capped at max-retry-after");
        assertEquals(noJitter.backoffMs(1), noJitter.decide("c", error(Status.Code.RESOURCE_EXHAUSTED, "soon"), 1, 3)
                .delayMs(), "an unreadable hint falls back to the backoff");
        assertEquals(OptionalLong.of(42), RetryPolicy.retryAfterMs(new RuntimeException(error(Status.Code.UNAVAILABLE, "42"))));
    }

    @Test
    void badSettingsNameTheirKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RetryPolicy(
                Duration.ofMillis(100), Duration.ofMillis(10), 2, 0.2, Duration.ZERO, () -> 0.5));
        assertTrue(e.getMessage().startsWith("rlhf.rollout.retry.max-backoff"), e.getMessage());
    }
}
