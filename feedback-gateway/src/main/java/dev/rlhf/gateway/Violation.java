package dev.rlhf.gateway;

/**
 * One broken rule of one field of a request.
 *
 * @param field   the field in proto/JSON naming, e.g. {@code events[3].rating.value}
 * @param rule    machine-readable rule id, e.g. {@code range}, {@code required}, {@code too_long}
 * @param message what was wrong, for people, naming the bad value and the accepted ones
 */
public record Violation(String field, String rule, String message) {

    @Override
    public String toString() {
        return field + ": " + message + " [" + rule + "]";
    }
}
