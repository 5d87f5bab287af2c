package dev.rlhf.rollout.core;

import java.time.Duration;
import java.util.OptionalLong;
import java.util.function.DoubleSupplier;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;

/**
 * What to do when a Generate or Score call fails, by its gRPC status (policy.proto and
 * reward.proto list the codes the services answer):
 * <ul>
 * <li><b>retry</b> — UNAVAILABLE (starting, warming up, shutting down), RESOURCE_EXHAUSTED
 * (overloaded: wait the {@code retry-after-ms} trailer) and DEADLINE_EXCEEDED. The attempt
 * is retried as a whole (sampling and scoring, rollout.proto {@code max_attempts}) until
 * {@code maxAttempts}; then the prompt is given up.
 * <li><b>fail the run</b> — NOT_FOUND (unknown model name, an unloaded pinned version),
 * UNIMPLEMENTED, UNAUTHENTICATED, PERMISSION_DENIED: wrong configuration, which every other
 * prompt would hit too. The prompt is not given up (a topic consumer leaves its offset
 * uncommitted, so it is replayed once the configuration is fixed).
 * <li><b>give the prompt up</b> — every other code (INVALID_ARGUMENT, FAILED_PRECONDITION,
 * INTERNAL, ...): retrying the same request cannot help; the prompt goes to the dead-letter
 * topic with the status as reason.
 * </ul>
 *
 * <p>Delay before retry {@code n} (1-based, the attempt that failed): the server's
 * {@code retry-after-ms} when present, capped at {@code maxRetryAfter} and stretched by up to
 * {@code jitter} (never shortened: the server knows its queue); otherwise exponential
 * backoff {@code min(maxBackoff, initial · multiplier^(n-1))} scaled by a factor drawn in
 * {@code [1 - jitter, 1 + jitter]} so that many callers do not retry in lock step.
 */
public final class RetryPolicy {

    /** The trailer policy- and reward-service send with RESOURCE_EXHAUSTED: decimal milliseconds. */
    public static final Metadata.Key<String> RETRY_AFTER_MS = Metadata.Key.of("retry-after-ms",
            Metadata.ASCII_STRING_MARSHALLER);

    /** The three things a failure can lead to. */
    public enum Kind {
        RETRY, FAIL_PROMPT, FAIL_RUN
    }

    /**
     * @param kind    what to do
     * @param delayMs for RETRY: how long to wait first
     * @param reason  for people: the call, the status and its description
     */
    public record Decision(Kind kind, long delayMs, String reason) {
    }

    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final double multiplier;
    private final double jitter;
    private final Duration maxRetryAfter;
    private final DoubleSupplier random;

    /**
     * @param random uniform draws in [0, 1) for the jitter (tests pass a constant)
     * @throws IllegalArgumentException naming the bad setting
     */
    public RetryPolicy(Duration initialBackoff, Duration maxBackoff, double multiplier, double jitter,
            Duration maxRetryAfter, DoubleSupplier random) {
        if (initialBackoff.isNegative() || initialBackoff.isZero()) {
            throw new IllegalArgumentException("rlhf.rollout.retry.initial-backoff must be positive, got " + initialBackoff);
        }
        if (maxBackoff.compareTo(initialBackoff) < 0) {
            throw new IllegalArgumentException("rlhf.rollout.retry.max-backoff must be >= initial-backoff ("
                    + initialBackoff + "), got " + maxBackoff);
        }
        if (!(multiplier >= 1.0)) {
            throw new IllegalArgumentException("rlhf.rollout.retry.multiplier must be >= 1, got " + multiplier);
        }
        if (!(jitter >= 0 && jitter < 1)) {
            throw new IllegalArgumentException("rlhf.rollout.retry.jitter must be in [0, 1), got " + jitter);
        }
        if (maxRetryAfter.isNegative()) {
            throw new IllegalArgumentException("rlhf.rollout.retry.max-retry-after must be >= 0, got " + maxRetryAfter);
        }
        this.initialBackoff = initialBackoff;
        this.maxBackoff = maxBackoff;
        this.multiplier = multiplier;
        this.jitter = jitter;
        this.maxRetryAfter = maxRetryAfter;
        this.random = random;
    }

    /** The kind of a status code (see the class comment). */
    public static Kind classify(Status.Code code) {
        switch (code) {
            case UNAVAILABLE:
            case RESOURCE_EXHAUSTED:
            case DEADLINE_EXCEEDED:
                return Kind.RETRY;
            case NOT_FOUND:
            case UNIMPLEMENTED:
            case UNAUTHENTICATED:
            case PERMISSION_DENIED:
                return Kind.FAIL_RUN;
            default:
                return Kind.FAIL_PROMPT;
        }
    }

    /**
     * The decision after attempt {@code attempt} (1-based) of at most {@code maxAttempts}
     * failed with {@code error} in {@code call} (e.g. "policy-service Generate").
     */
    public Decision decide(String call, Throwable error, int attempt, int maxAttempts) {
        Status status = Status.fromThrowable(error);
        String reason = call + " failed with " + status.getCode()
                + (status.getDescription() == null ? "" : ": " + status.getDescription());
        Kind kind = classify(status.getCode());
        if (kind != Kind.RETRY) {
            return new Decision(kind, 0, reason);
        }
        if (attempt >= maxAttempts) {
            return new Decision(Kind.FAIL_PROMPT, 0, "gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s")
                    + "; last: " + reason);
        }
        OptionalLong hint = retryAfterMs(error);
        long delay = hint.isPresent() ? afterHint(hint.getAsLong()) : backoffMs(attempt);
        return new Decision(Kind.RETRY, delay, reason);
    }

    /** Exponential backoff with jitter before retry number {@code attempt} (1-based). */
    public long backoffMs(int attempt) {
        double base = initialBackoff.toMillis() * Math.pow(multiplier, Math.max(0, attempt - 1));
        base = Math.min(base, maxBackoff.toMillis());
        double factor = 1 - jitter + 2 * jitter * random.getAsDouble();
        return Math.max(1, Math.round(base * factor));
    }

    private long afterHint(long hintMs) {
        long capped = Math.min(Math.max(0, hintMs), maxRetryAfter.toMillis());
        return Math.round(capped * (1 + jitter * random.getAsDouble()));
    }

    /** The {@code retry-after-ms} trailer of a failed call, when present and a number. */
    public static OptionalLong retryAfterMs(Throwable error) {
        Metadata trailers = null;
        for (Throwable t = error; t != null && trailers == null; t = t.getCause()) {
            if (t instanceof StatusRuntimeException s) {
                trailers = s.getTrailers();
            } else if (t instanceof StatusException s) {
                trailers = s.getTrailers();
            }
        }
        if (trailers == null) {
            return OptionalLong.empty();
        }
        String v = trailers.get(RETRY_AFTER_MS);
        if (v == null) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(v.trim()));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }
}
