package dev.rlhf.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import com.google.protobuf.Timestamp;
import com.google.protobuf.UnknownFieldSet;

import dev.rlhf.proto.v1.CandidateResponse;
import dev.rlhf.proto.v1.Comment;
import dev.rlhf.proto.v1.EditedAnswer;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.PairwiseChoice;
import dev.rlhf.proto.v1.Rating;
import dev.rlhf.proto.v1.Thumbs;

class FeedbackValidatorTest {

    private final FeedbackValidator validator = new FeedbackValidator(16, 2);

    private List<String> rules(FeedbackEvent e) {
        return validator.validate(e, "").stream().map(v -> v.field() + ":" + v.rule()).toList();
    }

    private static PairwiseChoice.Builder pair() {
        return PairwiseChoice.newBuilder().setPrompt("p")
                .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText("x"))
                .addResponses(CandidateResponse.newBuilder().setResponseId("b").setText("y"));
    }

    @Test
    void validEventsPass() {
        assertEquals(List.of(), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setRating(Rating.newBuilder().setValue(5)).build()));
        assertEquals(List.of(), rules(FeedbackEvent.newBuilder()
                .setPairwise(pair().setChosenResponseId("b")).build()));
        assertEquals(List.of(), rules(FeedbackEvent.newBuilder()
                .setPairwise(pair().setTie(true)).build()));
        assertEquals(List.of(), rules(FeedbackEvent.newBuilder()
                .setEdit(EditedAnswer.newBuilder().setPrompt("p").setEditedResponse("better")).build()));
    }

    @Test
    void ratingRangeIsInclusive() {
        for (int v : new int[] {0, 6, -1}) {
            assertEquals(List.of("rating.value:range"), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                    .setRating(Rating.newBuilder().setValue(v)).build()));
        }
        assertEquals(List.of(), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setRating(Rating.newBuilder().setValue(1)).build()));
    }

    @Test
    void idsAreRequiredWhereFeedbackNamesAGeneration() {
        assertEquals(List.of("interaction_id:required"), rules(FeedbackEvent.newBuilder()
                .setThumbs(Thumbs.newBuilder().setDirection(Thumbs.Direction.UP)).build()));
        assertEquals(List.of("thumbs.direction:required"), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setThumbs(Thumbs.getDefaultInstance()).build()));
        assertEquals(List.of("edit.prompt:required"), rules(FeedbackEvent.newBuilder()
                .setEdit(EditedAnswer.newBuilder().setEditedResponse("x")).build()));
        assertEquals(List.of("interaction_id:format"), rules(FeedbackEvent.newBuilder().setInteractionId("a b")
                .setRating(Rating.newBuilder().setValue(3)).build()));
    }

    @Test
    void pairwiseRules() {
        assertEquals(List.of("pairwise.chosen_response_id:unknown_response"),
                rules(FeedbackEvent.newBuilder().setPairwise(pair().setChosenResponseId("c")).build()));
        assertEquals(List.of("pairwise.chosen_response_id:required"),
                rules(FeedbackEvent.newBuilder().setPairwise(pair()).build()));
        assertEquals(List.of("pairwise.chosen_response_id:tie"),
                rules(FeedbackEvent.newBuilder().setPairwise(pair().setTie(true).setChosenResponseId("a")).build()));
        assertEquals(List.of("pairwise.responses:count", "pairwise.chosen_response_id:unknown_response"),
                rules(FeedbackEvent.newBuilder().setPairwise(PairwiseChoice.newBuilder().setPrompt("p")
                        .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText("x"))
                        .setChosenResponseId("b")).build()));
        assertEquals(List.of("pairwise.responses[1].response_id:duplicate"),
                rules(FeedbackEvent.newBuilder().setPairwise(PairwiseChoice.newBuilder().setPrompt("p")
                        .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText("x"))
                        .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText("y"))
                        .setChosenResponseId("a")).build()));
        assertEquals(List.of("pairwise.strength:range"),
                rules(FeedbackEvent.newBuilder().setPairwise(pair().setChosenResponseId("a").setStrength(4)).build()));
    }

    @Test
    void textsMustBePresentValidAndShortEnough() {
        assertEquals(List.of("comment.text:required"), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setComment(Comment.newBuilder().setText(" \n")).build()));
        // limit 16 UTF-8 bytes: 8 two-byte characters fit, 9 do not
        assertEquals(List.of(), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setComment(Comment.newBuilder().setText("é".repeat(8))).build()));
        assertEquals(List.of("comment.text:too_long"), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setComment(Comment.newBuilder().setText("é".repeat(9))).build()));
        assertEquals(List.of("comment.text:utf8"), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setComment(Comment.newBuilder().setText("ok\ud800")).build()));
    }

    @Test
    void kindMustBeSetAndUnknownKindsAreNamed() {
        assertEquals(List.of("type:required"), rules(FeedbackEvent.newBuilder().setInteractionId("i").build()));
        FeedbackEvent fromNewerClient = FeedbackEvent.newBuilder().setInteractionId("i")
                .setUnknownFields(UnknownFieldSet.newBuilder()
                        .addField(15, UnknownFieldSet.Field.newBuilder().addVarint(1).build()).build())
                .build();
        var v = validator.validate(fromNewerClient, "");
        assertEquals("unknown_type", v.get(0).rule());
        assertTrue(v.get(0).message().contains("15"), v.get(0).message());
    }

    @Test
    void labelsAndTimestampsAreBounded() {
        assertEquals(List.of("labels:count"), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setRating(Rating.newBuilder().setValue(3))
                .putLabels("a", "1").putLabels("b", "2").putLabels("c", "3").build()));
        long farFuture = java.time.Instant.now().getEpochSecond() + 3 * 24 * 3600;
        assertEquals(List.of("created_at:timestamp"), rules(FeedbackEvent.newBuilder().setInteractionId("i")
                .setRating(Rating.newBuilder().setValue(3))
                .setCreatedAt(Timestamp.newBuilder().setSeconds(farFuture)).build()));
    }

    @Test
    void prefixNamesTheBatchItem() {
        var v = validator.validate(FeedbackEvent.newBuilder().setInteractionId("i")
                .setRating(Rating.newBuilder().setValue(9)).build(), "events[4].");
        assertEquals("events[4].rating.value", v.get(0).field());
    }

    @Test
    void utf8LengthMatchesTheEncoder() {
        for (String s : new String[] {"", "abc", "é", "€", "😀", "a😀é€"}) {
            assertEquals(s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, FeedbackValidator.utf8Length(s), s);
        }
    }
}
