package dev.rlhf.gateway;

import java.util.List;
import java.util.stream.Collectors;

/**
 * A request the gateway refuses; {@link Kind} says what the caller should do and maps to
 * the HTTP status and gRPC code. Nothing of a rejected request was written.
 */
public final class FeedbackRejected extends RuntimeException {

    /** Why, and so what the caller does next. */
    public enum Kind {
        /** Fix the request (400 / INVALID_ARGUMENT). */
        INVALID(400, "invalid_request"),
        /** Send a smaller body (413 / INVALID_ARGUMENT). */
        TOO_LARGE(413, "body_too_large"),
        /** Idempotency key reused with a different event: use a new key (409 / FAILED_PRECONDITION). */
        CONFLICT(409, "idempotency_conflict"),
        /** Kafka did not acknowledge in time: retry later with the same idempotency key (503 / UNAVAILABLE). */
        UNAVAILABLE(503, "unavailable");

        final int httpStatus;
        final String code;

        Kind(int httpStatus, String code) {
            this.httpStatus = httpStatus;
            this.code = code;
        }

        public int httpStatus() {
            return httpStatus;
        }

        public String code() {
            return code;
        }
    }

    private final Kind kind;
    private final List<Violation> violations;

    public FeedbackRejected(Kind kind, List<Violation> violations) {
        super(violations.stream().map(Violation::toString).collect(Collectors.joining("; ")));
        this.kind = kind;
        this.violations = List.copyOf(violations);
    }

    public FeedbackRejected(Kind kind, Violation violation) {
        this(kind, List.of(violation));
    }

    public static FeedbackRejected invalid(String field, String rule, String message) {
        return new FeedbackRejected(Kind.INVALID, new Violation(field, rule, message));
    }

    public Kind kind() {
        return kind;
    }

    public List<Violation> violations() {
        return violations;
    }

    /** The rule of the first violation: the reason label of the rejected-requests metric. */
    public String reason() {
        return violations.isEmpty() ? kind.code : violations.get(0).rule();
    }
}
