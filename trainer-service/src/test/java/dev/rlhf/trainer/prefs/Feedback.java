package dev.rlhf.trainer.prefs;

import java.util.UUID;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.CandidateResponse;
import dev.rlhf.proto.v1.EditedAnswer;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.Interaction;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PairwiseChoice;
import dev.rlhf.proto.v1.Rating;
import dev.rlhf.proto.v1.Thumbs;

/** Hand-made events for the normaliser's tests. */
final class Feedback {

    private Feedback() {
    }

    static final ModelRef POLICY_3 = ModelRef.newBuilder().setName("policy").setVersion(3).build();

    static String id() {
        return UUID.randomUUID().toString();
    }

    static Interaction interaction(String id, String prompt, String response) {
        return Interaction.newBuilder().setInteractionId(id).setRequestId(id()).setModel(POLICY_3).setPrompt(prompt)
                .setPromptHash(PreferenceIds.promptHash(prompt)).setResponse(response).build();
    }

    static FeedbackEvent rating(String eventId, String interactionId, int value, long createdAtSeconds) {
        return base(eventId, interactionId, createdAtSeconds).setRating(Rating.newBuilder().setValue(value)).build();
    }

    static FeedbackEvent thumbs(String eventId, String interactionId, boolean up, long createdAtSeconds) {
        return base(eventId, interactionId, createdAtSeconds)
                .setThumbs(Thumbs.newBuilder().setDirection(up ? Thumbs.Direction.UP : Thumbs.Direction.DOWN)).build();
    }

    static FeedbackEvent pairwise(String eventId, String prompt, String chosen, String rejected, int strength) {
        return FeedbackEvent.newBuilder().setEventId(eventId).setUserId("annotator-1").setSource("labeling-ui")
                .putLabels("task", "test")
                .setPairwise(PairwiseChoice.newBuilder().setPrompt(prompt)
                        .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText(rejected)
                                .setInteractionId("ia"))
                        .addResponses(CandidateResponse.newBuilder().setResponseId("b").setText(chosen)
                                .setInteractionId("ib").setModel(POLICY_3))
                        .setChosenResponseId("b").setStrength(strength))
                .build();
    }

    static FeedbackEvent tie(String eventId, String prompt, String one, String other) {
        return FeedbackEvent.newBuilder().setEventId(eventId)
                .setPairwise(PairwiseChoice.newBuilder().setPrompt(prompt)
                        .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText(one))
                        .addResponses(CandidateResponse.newBuilder().setResponseId("b").setText(other))
                        .setTie(true))
                .build();
    }

    static FeedbackEvent edit(String eventId, String interactionId, String prompt, String original, String edited) {
        return FeedbackEvent.newBuilder().setEventId(eventId).setInteractionId(interactionId).setUserId("editor")
                .setEdit(EditedAnswer.newBuilder().setPrompt(prompt).setOriginalResponse(original)
                        .setEditedResponse(edited))
                .build();
    }

    private static FeedbackEvent.Builder base(String eventId, String interactionId, long createdAtSeconds) {
        return FeedbackEvent.newBuilder().setEventId(eventId).setInteractionId(interactionId)
                .setUserId("user-" + createdAtSeconds).putLabels("t", Long.toString(createdAtSeconds))
                .setCreatedAt(Timestamp.newBuilder().setSeconds(createdAtSeconds));
    }
}
