package dev.rlhf.gateway;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.CandidateResponse;
import dev.rlhf.proto.v1.Comment;
import dev.rlhf.proto.v1.EditedAnswer;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PairwiseChoice;
import dev.rlhf.proto.v1.Rating;
import dev.rlhf.proto.v1.Thumbs;

import org.eclipse.microprofile.openapi.annotations.media.Schema;

/**
 * The REST (JSON) form of {@link FeedbackEvent}: the proto's fields and names (snake_case)
 * plus a {@code type} that says which kind of feedback the event holds. Only that kind's
 * object may be present.
 */
public final class FeedbackJson {

    private FeedbackJson() {
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @Schema(name = "FeedbackEvent", description = "One piece of human feedback; `type` names the one kind object that is set.")
    public record Event(
            @Schema(required = true, enumeration = { "thumbs", "rating", "pairwise", "edit", "comment" }) String type,
            @Schema(description = "The generation this feedback is about (required for thumbs, rating, comment)") String interactionId,
            String userId,
            String source,
            @Schema(description = "ISO-8601 instant, e.g. 2026-11-26T10:15:30Z; defaults to the time of receipt") String createdAt,
            Map<String, String> labels,
            ThumbsJson thumbs,
            RatingJson rating,
            PairwiseJson pairwise,
            EditJson edit,
            CommentJson comment) {
    }

    @Schema(name = "Thumbs")
    public record ThumbsJson(@Schema(enumeration = { "up", "down" }) String direction) {
    }

    @Schema(name = "Rating")
    public record RatingJson(@Schema(description = "1..5") Integer value) {
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @Schema(name = "PairwiseChoice")
    public record PairwiseJson(String prompt, List<CandidateJson> responses, String chosenResponseId, Boolean tie,
            Integer strength, String rationale) {
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @Schema(name = "CandidateResponse")
    public record CandidateJson(String responseId, String text, String interactionId, ModelJson model) {
    }

    @Schema(name = "ModelRef")
    public record ModelJson(String name, Long version) {
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @Schema(name = "EditedAnswer")
    public record EditJson(String prompt, String originalResponse, String editedResponse) {
    }

    @Schema(name = "Comment")
    public record CommentJson(String text) {
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @Schema(name = "FeedbackBatch")
    public record Batch(@Schema(description = "1..1000 events") List<Event> events) {
    }

    /**
     * The proto of {@code e}; checks what only the JSON form can get wrong ({@code type} and
     * the presence of its object). The rest is {@link FeedbackValidator}'s.
     *
     * @param prefix field-name prefix for errors, e.g. {@code "events[2]."}
     * @throws FeedbackRejected (INVALID)
     */
    static FeedbackEvent toProto(Event e, String prefix) {
        if (e == null) {
            throw FeedbackRejected.invalid(prefix.isEmpty() ? "body" : prefix.substring(0, prefix.length() - 1),
                    "required", "must be a JSON object");
        }
        String type = e.type();
        if (type == null || type.isEmpty()) {
            throw FeedbackRejected.invalid(prefix + "type", "required",
                    "is required; one of " + FeedbackValidator.TYPES);
        }
        if (!FeedbackValidator.TYPES.contains(type)) {
            throw FeedbackRejected.invalid(prefix + "type", "unknown_type",
                    "unknown feedback type '" + clip(type) + "'; expected one of " + FeedbackValidator.TYPES);
        }
        Map<String, Object> kinds = new java.util.LinkedHashMap<>();
        kinds.put("thumbs", e.thumbs());
        kinds.put("rating", e.rating());
        kinds.put("pairwise", e.pairwise());
        kinds.put("edit", e.edit());
        kinds.put("comment", e.comment());
        for (Map.Entry<String, Object> k : kinds.entrySet()) {
            boolean present = k.getValue() != null;
            if (k.getKey().equals(type) && !present) {
                throw FeedbackRejected.invalid(prefix + type, "required", "is required when type is '" + type + "'");
            }
            if (!k.getKey().equals(type) && present) {
                throw FeedbackRejected.invalid(prefix + k.getKey(), "type_mismatch",
                        "must be absent when type is '" + type + "'");
            }
        }
        FeedbackEvent.Builder b = FeedbackEvent.newBuilder()
                .setInteractionId(nz(e.interactionId()))
                .setUserId(nz(e.userId()))
                .setSource(nz(e.source()));
        if (e.createdAt() != null) {
            b.setCreatedAt(timestamp(e.createdAt(), prefix + "created_at"));
        }
        if (e.labels() != null) {
            for (Map.Entry<String, String> l : e.labels().entrySet()) {
                if (l.getValue() == null) {
                    throw FeedbackRejected.invalid(prefix + "labels." + l.getKey(), "required", "must be a string");
                }
                b.putLabels(l.getKey(), l.getValue());
            }
        }
        switch (type) {
            case "thumbs" -> b.setThumbs(Thumbs.newBuilder().setDirection(direction(e.thumbs().direction(), prefix)));
            case "rating" -> b.setRating(Rating.newBuilder()
                    .setValue(e.rating().value() == null ? 0 : e.rating().value()));
            case "pairwise" -> b.setPairwise(pairwise(e.pairwise(), prefix));
            case "edit" -> b.setEdit(EditedAnswer.newBuilder()
                    .setPrompt(nz(e.edit().prompt()))
                    .setOriginalResponse(nz(e.edit().originalResponse()))
                    .setEditedResponse(nz(e.edit().editedResponse())));
            case "comment" -> b.setComment(Comment.newBuilder().setText(nz(e.comment().text())));
            default -> throw new IllegalStateException(type);
        }
        return b.build();
    }

    private static PairwiseChoice pairwise(PairwiseJson p, String prefix) {
        PairwiseChoice.Builder b = PairwiseChoice.newBuilder()
                .setPrompt(nz(p.prompt()))
                .setChosenResponseId(nz(p.chosenResponseId()))
                .setTie(p.tie() != null && p.tie())
                .setStrength(p.strength() == null ? 0 : p.strength())
                .setRationale(nz(p.rationale()));
        if (p.responses() != null) {
            for (int i = 0; i < p.responses().size(); i++) {
                CandidateJson c = p.responses().get(i);
                if (c == null) {
                    throw FeedbackRejected.invalid(prefix + "pairwise.responses[" + i + "]", "required",
                            "must be an object with response_id and text");
                }
                CandidateResponse.Builder cb = CandidateResponse.newBuilder()
                        .setResponseId(nz(c.responseId()))
                        .setText(nz(c.text()))
                        .setInteractionId(nz(c.interactionId()));
                if (c.model() != null) {
                    cb.setModel(ModelRef.newBuilder().setName(nz(c.model().name()))
                            .setVersion(c.model().version() == null ? 0 : c.model().version()));
                }
                b.addResponses(cb);
            }
        }
        return b.build();
    }

    private static Thumbs.Direction direction(String d, String prefix) {
        if ("up".equalsIgnoreCase(d)) {
            return Thumbs.Direction.UP;
        }
        if ("down".equalsIgnoreCase(d)) {
            return Thumbs.Direction.DOWN;
        }
        throw FeedbackRejected.invalid(prefix + "thumbs.direction", d == null ? "required" : "enum",
                "must be 'up' or 'down'" + (d == null ? "" : ", got '" + clip(d) + "'"));
    }

    private static Timestamp timestamp(String s, String field) {
        try {
            Instant t = Instant.parse(s);
            return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
        } catch (DateTimeParseException e) {
            throw FeedbackRejected.invalid(field, "timestamp",
                    "must be an ISO-8601 instant such as 2026-11-26T10:15:30Z, got '" + clip(s) + "'");
        }
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }

    private static String clip(String s) {
        return s.length() <= 64 ? s : s.substring(0, 64) + "…";
    }
}
