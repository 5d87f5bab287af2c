package dev.rlhf.gateway;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.CandidateResponse;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.PairwiseChoice;
import dev.rlhf.proto.v1.Thumbs;

/**
 * The rules a {@link FeedbackEvent} must meet to be stored; one implementation for REST and
 * gRPC. Field names in violations are the proto names (snake_case), which the REST JSON uses
 * too. Plain logic: no Kafka, no Quarkus.
 */
public final class FeedbackValidator {

    /** The kinds of feedback, as REST's {@code type} and the proto's oneof names them. */
    public static final List<String> TYPES = List.of("thumbs", "rating", "pairwise", "edit", "comment");

    private static final int MAX_ID_CHARS = 128;
    private static final int MAX_LABEL_KEY_CHARS = 128;
    /** created_at may lead the gateway's clock by this much (client clock skew). */
    private static final long MAX_FUTURE_SECONDS = 24 * 3600;

    private final int maxTextBytes;
    private final int maxLabels;

    public FeedbackValidator(int maxTextBytes, int maxLabels) {
        if (maxTextBytes < 1) {
            throw new IllegalArgumentException("maxTextBytes must be >= 1, got " + maxTextBytes);
        }
        this.maxTextBytes = maxTextBytes;
        this.maxLabels = maxLabels;
    }

    /**
     * All violations of {@code e}; empty when it may be stored.
     *
     * @param prefix prepended to field names, e.g. {@code "events[3]."} or {@code ""}
     */
    public List<Violation> validate(FeedbackEvent e, String prefix) {
        List<Violation> v = new ArrayList<>();
        Rules r = new Rules(prefix, v);
        r.optionalId("user_id", e.getUserId());
        r.optionalId("source", e.getSource());
        r.optionalId("interaction_id", e.getInteractionId());
        if (e.hasCreatedAt()) {
            r.timestamp("created_at", e.getCreatedAt());
        }
        r.labels(e.getLabelsMap());
        switch (e.getKindCase()) {
            case THUMBS -> {
                r.present("interaction_id", e.getInteractionId(), "thumbs");
                if (e.getThumbs().getDirection() != Thumbs.Direction.UP
                        && e.getThumbs().getDirection() != Thumbs.Direction.DOWN) {
                    r.add("thumbs.direction", "required", "must be UP or DOWN");
                }
            }
            case RATING -> {
                r.present("interaction_id", e.getInteractionId(), "rating");
                int value = e.getRating().getValue();
                if (value < 1 || value > 5) {
                    r.add("rating.value", "range", "must be in 1..5, got " + value);
                }
            }
            case PAIRWISE -> pairwise(r, e.getPairwise());
            case EDIT -> {
                if (e.getInteractionId().isEmpty() && e.getEdit().getPrompt().isEmpty()) {
                    r.add("edit.prompt", "required", "an edit needs interaction_id or edit.prompt");
                }
                r.optionalText("edit.prompt", e.getEdit().getPrompt());
                r.optionalText("edit.original_response", e.getEdit().getOriginalResponse());
                r.requiredText("edit.edited_response", e.getEdit().getEditedResponse());
            }
            case COMMENT -> {
                r.present("interaction_id", e.getInteractionId(), "comment");
                r.requiredText("comment.text", e.getComment().getText());
            }
            case KIND_NOT_SET -> r.add("type", e.getUnknownFields().asMap().isEmpty() ? "required" : "unknown_type",
                    "exactly one of " + String.join(", ", TYPES) + " must be set"
                            + (e.getUnknownFields().asMap().isEmpty() ? ""
                                    : " (the event carries unknown field numbers "
                                            + e.getUnknownFields().asMap().keySet() + ")"));
        }
        return v;
    }

    private void pairwise(Rules r, PairwiseChoice p) {
        r.requiredText("pairwise.prompt", p.getPrompt());
        if (p.getResponsesCount() != 2) {
            r.add("pairwise.responses", "count", "must hold exactly 2 responses, got " + p.getResponsesCount());
        }
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < p.getResponsesCount(); i++) {
            CandidateResponse c = p.getResponses(i);
            String at = "pairwise.responses[" + i + "].";
            if (r.requiredId(at + "response_id", c.getResponseId(), "a candidate") && !ids.add(c.getResponseId())) {
                r.add(at + "response_id", "duplicate", "'" + c.getResponseId() + "' is used by two responses");
            }
            r.requiredText(at + "text", c.getText());
            r.optionalId(at + "interaction_id", c.getInteractionId());
            if (c.hasModel() && c.getModel().getVersion() < 0) {
                r.add(at + "model.version", "range", "must be >= 0, got " + c.getModel().getVersion());
            }
        }
        String chosen = p.getChosenResponseId();
        if (p.getTie()) {
            if (!chosen.isEmpty()) {
                r.add("pairwise.chosen_response_id", "tie", "must be empty when tie is true, got '" + chosen + "'");
            }
        } else if (chosen.isEmpty()) {
            r.add("pairwise.chosen_response_id", "required", "must name one of the responses (or set tie=true)");
        } else if (!ids.contains(chosen)) {
            r.add("pairwise.chosen_response_id", "unknown_response",
                    "'" + clip(chosen) + "' is not the response_id of a response in this event; expected one of " + ids);
        }
        if (p.getStrength() < 0 || p.getStrength() > 3) {
            r.add("pairwise.strength", "range", "must be in 0..3 (0 = not asked), got " + p.getStrength());
        }
        r.optionalText("pairwise.rationale", p.getRationale());
    }

    private static String clip(String s) {
        return s.length() <= 64 ? s : s.substring(0, 64) + "…";
    }

    /** Collects violations under one field-name prefix. */
    private final class Rules {
        private final String prefix;
        private final List<Violation> out;

        Rules(String prefix, List<Violation> out) {
            this.prefix = prefix;
            this.out = out;
        }

        void add(String field, String rule, String message) {
            out.add(new Violation(prefix + field, rule, message));
        }

        /** Presence only: the field's format is checked elsewhere. */
        void present(String field, String value, String what) {
            if (value.isEmpty()) {
                add(field, "required", "is required for " + what);
            }
        }

        /** @return whether the id is present and well-formed */
        boolean requiredId(String field, String value, String what) {
            if (value.isEmpty()) {
                add(field, "required", "is required for " + what);
                return false;
            }
            return optionalId(field, value);
        }

        boolean optionalId(String field, String value) {
            if (value.length() > MAX_ID_CHARS) {
                add(field, "too_long", "must be at most " + MAX_ID_CHARS + " characters, got " + value.length());
                return false;
            }
            for (int i = 0; i < value.length(); i++) {
                char ch = value.charAt(i);
                if (ch <= 0x20 || ch == 0x7f || Character.isSurrogate(ch)) {
                    add(field, "format", "must not contain spaces or control characters (at index " + i + ")");
                    return false;
                }
            }
            return true;
        }

        void requiredText(String field, String value) {
            if (value.isBlank()) {
                add(field, "required", "must be a non-empty text");
                return;
            }
            optionalText(field, value);
        }

        void optionalText(String field, String value) {
            int bad = unpairedSurrogate(value);
            if (bad >= 0) {
                add(field, "utf8", "is not valid Unicode text (unpaired surrogate at index " + bad + ")");
                return;
            }
            int bytes = utf8Length(value);
            if (bytes > maxTextBytes) {
                add(field, "too_long", "must be at most " + maxTextBytes + " UTF-8 bytes, got " + bytes);
            }
        }

        void timestamp(String field, Timestamp t) {
            if (t.getNanos() < 0 || t.getNanos() > 999_999_999 || t.getSeconds() < 0) {
                add(field, "timestamp", "is not a valid time after 1970-01-01");
                return;
            }
            if (t.getSeconds() > Instant.now().getEpochSecond() + MAX_FUTURE_SECONDS) {
                add(field, "timestamp", "lies more than a day in the future: "
                        + Instant.ofEpochSecond(t.getSeconds(), t.getNanos()));
            }
        }

        void labels(Map<String, String> labels) {
            if (labels.size() > maxLabels) {
                add("labels", "count", "must hold at most " + maxLabels + " entries, got " + labels.size());
                return;
            }
            for (Map.Entry<String, String> l : labels.entrySet()) {
                if (l.getKey().isEmpty() || l.getKey().length() > MAX_LABEL_KEY_CHARS) {
                    add("labels", "format", "label keys must have 1.." + MAX_LABEL_KEY_CHARS + " characters");
                } else {
                    optionalText("labels." + l.getKey(), l.getValue());
                }
            }
        }
    }

    /** UTF-8 length of a Java string without allocating. */
    static int utf8Length(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c)) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }

    /** Index of the first unpaired surrogate, or -1. Such a string has no UTF-8 form. */
    static int unpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                } else {
                    return i;
                }
            } else if (Character.isLowSurrogate(c)) {
                return i;
            }
        }
        return -1;
    }
}
