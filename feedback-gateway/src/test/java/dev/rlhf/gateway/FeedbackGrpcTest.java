package dev.rlhf.gateway;

import static dev.rlhf.gateway.GatewayTesting.stored;
import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.CandidateResponse;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.FeedbackServiceGrpc;
import dev.rlhf.proto.v1.PairwiseChoice;
import dev.rlhf.proto.v1.Rating;
import dev.rlhf.proto.v1.SubmitFeedbackBatchRequest;
import dev.rlhf.proto.v1.SubmitFeedbackBatchResponse;
import dev.rlhf.proto.v1.SubmitFeedbackRequest;
import dev.rlhf.proto.v1.SubmitFeedbackResponse;
import dev.rlhf.proto.v1.Thumbs;
import dev.rlhf.testkit.KafkaBrokerResource;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;

/** gRPC intake over a real channel: same meaning and the same error messages as REST. */
@QuarkusTest
@QuarkusTestResource(value = KafkaBrokerResource.class, restrictToAnnotatedClass = false)
class FeedbackGrpcTest {

    @GrpcClient("feedback")
    FeedbackServiceGrpc.FeedbackServiceBlockingStub stub;

    private FeedbackServiceGrpc.FeedbackServiceBlockingStub as(String authorization) {
        Metadata md = new Metadata();
        md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
    }

    private static FeedbackEvent thumbs(String interaction) {
        return FeedbackEvent.newBuilder().setInteractionId(interaction)
                .setThumbs(Thumbs.newBuilder().setDirection(Thumbs.Direction.DOWN)).build();
    }

    @Test
    void submitStoresTheEvent() {
        String interaction = "g-" + UUID.randomUUID();
        SubmitFeedbackResponse r = as(GatewayTesting.WRITER)
                .submit(SubmitFeedbackRequest.newBuilder().setEvent(thumbs(interaction)).build());
        assertFalse(r.getDuplicate());
        FeedbackEvent e = stored(r.getEventId()).get(0);
        assertEquals(interaction, e.getInteractionId());
        assertEquals(Thumbs.Direction.DOWN, e.getThumbs().getDirection());
    }

    @Test
    void invalidEventIsInvalidArgumentWithTheRestMessage() {
        FeedbackEvent bad = FeedbackEvent.newBuilder().setInteractionId("i-1")
                .setRating(Rating.newBuilder().setValue(7)).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> as(GatewayTesting.WRITER).submit(SubmitFeedbackRequest.newBuilder().setEvent(bad).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        String rest = given().contentType(ContentType.JSON).header("Authorization", GatewayTesting.WRITER)
                .body(GatewayTesting.rating("i-1", 7)).post("/v1/feedback").then().statusCode(400)
                .extract().path("message");
        assertEquals(rest, e.getStatus().getDescription());

        FeedbackEvent noKind = FeedbackEvent.newBuilder().setInteractionId("i-2").build();
        e = assertThrows(StatusRuntimeException.class,
                () -> as(GatewayTesting.WRITER).submit(SubmitFeedbackRequest.newBuilder().setEvent(noKind).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("type:"), e.getStatus().getDescription());

        FeedbackEvent badChoice = FeedbackEvent.newBuilder().setPairwise(PairwiseChoice.newBuilder().setPrompt("p")
                .addResponses(CandidateResponse.newBuilder().setResponseId("a").setText("x"))
                .addResponses(CandidateResponse.newBuilder().setResponseId("b").setText("y"))
                .setChosenResponseId("z")).build();
        e = assertThrows(StatusRuntimeException.class,
                () -> as(GatewayTesting.WRITER).submit(SubmitFeedbackRequest.newBuilder().setEvent(badChoice).build()));
        assertTrue(e.getStatus().getDescription().contains("pairwise.chosen_response_id"));
    }

    @Test
    void authIsChecked() {
        SubmitFeedbackRequest req = SubmitFeedbackRequest.newBuilder().setEvent(thumbs("i-auth")).build();
        assertEquals(Status.Code.UNAUTHENTICATED,
                assertThrows(StatusRuntimeException.class, () -> stub.submit(req)).getStatus().getCode());
        assertEquals(Status.Code.UNAUTHENTICATED, assertThrows(StatusRuntimeException.class,
                () -> as("Bearer wrong").submit(req)).getStatus().getCode());
        assertEquals(Status.Code.PERMISSION_DENIED, assertThrows(StatusRuntimeException.class,
                () -> as(GatewayTesting.READER).submit(req)).getStatus().getCode());
    }

    @Test
    void batchWithIdempotencyKeyIsStoredOnce() {
        String interaction = "gb-" + UUID.randomUUID();
        SubmitFeedbackBatchRequest req = SubmitFeedbackBatchRequest.newBuilder()
                .addEvents(thumbs(interaction)).addEvents(thumbs(interaction))
                .setIdempotencyKey("grpc-" + UUID.randomUUID()).build();
        SubmitFeedbackBatchResponse first = as(GatewayTesting.WRITER).submitBatch(req);
        SubmitFeedbackBatchResponse again = as(GatewayTesting.WRITER).submitBatch(req);
        assertEquals(2, first.getResultsCount());
        assertEquals(first.getResults(0).getEventId(), again.getResults(0).getEventId());
        assertTrue(again.getResults(0).getDuplicate() && again.getResults(1).getDuplicate());
        assertEquals(2, GatewayTesting.records().stream()
                .filter(r -> GatewayTesting.decode(r).getInteractionId().equals(interaction)).count());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> as(GatewayTesting.WRITER).submitBatch(SubmitFeedbackBatchRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    }
}
