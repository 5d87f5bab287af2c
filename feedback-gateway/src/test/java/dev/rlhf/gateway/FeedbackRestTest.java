package dev.rlhf.gateway;

import static dev.rlhf.gateway.GatewayTesting.READER;
import static dev.rlhf.gateway.GatewayTesting.WRITER;
import static dev.rlhf.gateway.GatewayTesting.pairwise;
import static dev.rlhf.gateway.GatewayTesting.rating;
import static dev.rlhf.gateway.GatewayTesting.stored;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.hasSize;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.testkit.KafkaBrokerResource;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.ValidatableResponse;

/** REST intake against a real broker: what is accepted is on the topic; what is refused says why. */
@QuarkusTest
@QuarkusTestResource(value = KafkaBrokerResource.class, restrictToAnnotatedClass = false)
class FeedbackRestTest {

    private static ValidatableResponse post(String path, String body, String auth) {
        var req = given().contentType(ContentType.JSON).body(body);
        if (auth != null) {
            req = req.header("Authorization", auth);
        }
        return req.post(path).then();
    }

    @Test
    void acceptedEventIsOnTheTopicAndDecodesWithTheProto() {
        String interaction = "int-" + UUID.randomUUID();
        String eventId = post("/v1/feedback", rating(interaction, 4), WRITER)
                .statusCode(202).body("duplicate", equalTo(false)).extract().path("event_id");

        List<FeedbackEvent> events = stored(eventId);
        assertEquals(1, events.size());
        FeedbackEvent e = events.get(0);
        assertEquals(interaction, e.getInteractionId());
        assertEquals(4, e.getRating().getValue());
        assertEquals("u-1", e.getUserId());
        assertEquals("writer", e.getSubmittedBy());
        assertTrue(e.hasReceivedAt() && e.hasCreatedAt());
        ConsumerRecord<String, byte[]> record = GatewayTesting.records().stream()
                .filter(r -> GatewayTesting.decode(r).getEventId().equals(eventId)).findFirst().orElseThrow();
        assertEquals(interaction, record.key(), "keyed by interaction id");
        assertEquals("rlhf.v1.FeedbackEvent",
                new String(record.headers().lastHeader(FeedbackPublisher.TYPE_HEADER).value(), StandardCharsets.UTF_8));
    }

    @Test
    void pairwiseWithoutInteractionIsKeyedByPromptHash() {
        String eventId = post("/v1/feedback", pairwise("a"), WRITER).statusCode(202).extract().path("event_id");
        FeedbackEvent e = stored(eventId).get(0);
        assertEquals("a", e.getPairwise().getChosenResponseId());
        assertEquals(2, e.getPairwise().getStrength());
        assertEquals(FeedbackIntake.recordKey(e), GatewayTesting.records().stream()
                .filter(r -> GatewayTesting.decode(r).getEventId().equals(eventId)).findFirst().orElseThrow().key());
        assertTrue(FeedbackIntake.recordKey(e).startsWith("prompt:"));
    }

    @Test
    void malformedInputGets400NamingTheFieldAndTheRule() {
        post("/v1/feedback", "{\"type\":\"rating\",", WRITER).statusCode(400)
                .body("error", equalTo("invalid_request"))
                .body("violations[0].rule", equalTo("malformed_json"));
        post("/v1/feedback", "{\"type\":\"stars\",\"interaction_id\":\"i\"}", WRITER).statusCode(400)
                .body("violations[0].field", equalTo("type")).body("violations[0].rule", equalTo("unknown_type"));
        post("/v1/feedback", "{\"type\":\"rating\",\"rating\":{\"value\":3}}", WRITER).statusCode(400)
                .body("violations[0].field", equalTo("interaction_id")).body("violations[0].rule", equalTo("required"));
        post("/v1/feedback", rating("i-1", 7), WRITER).statusCode(400)
                .body("violations[0].field", equalTo("rating.value")).body("violations[0].rule", equalTo("range"))
                .body("message", containsString("1..5"));
        post("/v1/feedback", pairwise("c"), WRITER).statusCode(400)
                .body("violations[0].field", equalTo("pairwise.chosen_response_id"))
                .body("violations[0].rule", equalTo("unknown_response"));
        post("/v1/feedback", "{\"type\":\"comment\",\"interaction_id\":\"i\",\"comment\":{\"text\":\"  \"}}", WRITER)
                .statusCode(400).body("violations[0].field", equalTo("comment.text"))
                .body("violations[0].rule", equalTo("required"));
        String longText = "x".repeat(1025); // test profile: max-text-bytes=1024
        post("/v1/feedback", "{\"type\":\"comment\",\"interaction_id\":\"i\",\"comment\":{\"text\":\"" + longText + "\"}}",
                WRITER).statusCode(400).body("violations[0].rule", equalTo("too_long"));
        post("/v1/feedback", "{\"type\":\"rating\",\"interaction_id\":\"i\",\"rating\":{\"value\":\"five\"}}", WRITER)
                .statusCode(400).body("violations[0].field", equalTo("rating.value"))
                .body("violations[0].rule", equalTo("type"));
        post("/v1/feedback", "{\"type\":\"rating\",\"interaction_id\":\"i\",\"rating\":{\"value\":5},\"stars\":1}", WRITER)
                .statusCode(400).body("violations[0].field", equalTo("stars"))
                .body("violations[0].rule", equalTo("unknown_field"));
        post("/v1/feedback", "{\"type\":\"thumbs\",\"interaction_id\":\"i\",\"rating\":{\"value\":5}}", WRITER)
                .statusCode(400).body("violations[0].field", equalTo("thumbs"));
    }

    @Test
    void invalidUtf8IsRefused() {
        byte[] body = rating("i-utf8", 3).replace("u-1", "u-\u00e9").getBytes(StandardCharsets.UTF_8);
        int at = new String(body, StandardCharsets.ISO_8859_1).indexOf("u-") + 2;
        body[at] = (byte) 0xC3;
        body[at + 1] = (byte) 0x28; // 0xC3 0x28: a lead byte without its continuation
        given().contentType(ContentType.JSON).header("Authorization", WRITER).body(body).post("/v1/feedback").then()
                .statusCode(400).body("violations[0].field", equalTo("body")).body("violations[0].rule", equalTo("utf8"));
    }

    @Test
    void tooLargeBodyGets413() {
        String big = "{\"events\":[" + ("{\"type\":\"comment\",\"interaction_id\":\"i\",\"comment\":{\"text\":\""
                + "y".repeat(1000) + "\"}},").repeat(1100) + "]}";
        post("/v1/feedback/batch", big, WRITER).statusCode(413)
                .body("error", equalTo("body_too_large")).body("violations[0].rule", equalTo("max_size"));
    }

    @Test
    void authIsRequiredAndScoped() {
        post("/v1/feedback", rating("i-auth", 5), null).statusCode(401)
                .header("WWW-Authenticate", "Bearer").body("error", equalTo("unauthenticated"));
        post("/v1/feedback", rating("i-auth", 5), "Bearer not-a-key").statusCode(401);
        post("/v1/feedback", rating("i-auth", 5), "Basic dXNlcjpwYXNz").statusCode(401);
        post("/v1/feedback", rating("i-auth", 5), READER).statusCode(403).body("error", equalTo("forbidden"));
        // health, metrics and the API description stay open
        given().get("/q/health/ready").then().statusCode(200);
        given().get("/q/metrics").then().statusCode(200);
        given().get("/q/openapi").then().statusCode(200).body(containsString("/v1/feedback/batch"));
    }

    @Test
    void sameIdempotencyKeyYieldsOneRecord() {
        String key = "retry-" + UUID.randomUUID();
        String interaction = "int-" + UUID.randomUUID();
        String first = given().contentType(ContentType.JSON).header("Authorization", WRITER)
                .header("Idempotency-Key", key).body(rating(interaction, 2)).post("/v1/feedback").then()
                .statusCode(202).body("duplicate", equalTo(false)).extract().path("event_id");
        String second = given().contentType(ContentType.JSON).header("Authorization", WRITER)
                .header("Idempotency-Key", key).body(rating(interaction, 2)).post("/v1/feedback").then()
                .statusCode(202).body("duplicate", equalTo(true)).extract().path("event_id");
        assertEquals(first, second);
        assertEquals(1, stored(first).size());
        assertEquals(1, GatewayTesting.records().stream()
                .filter(r -> GatewayTesting.decode(r).getInteractionId().equals(interaction)).count());
        // the same key with another event is a conflict, not a silent duplicate
        given().contentType(ContentType.JSON).header("Authorization", WRITER).header("Idempotency-Key", key)
                .body(rating(interaction, 5)).post("/v1/feedback").then()
                .statusCode(409).body("error", equalTo("idempotency_conflict"));
    }

    @Test
    void batchIsAllOrNothingOnValidation() {
        String interaction = "batch-" + UUID.randomUUID();
        String bad = "{\"events\":[" + rating(interaction, 1) + "," + rating(interaction, 9) + "]}";
        post("/v1/feedback/batch", bad, WRITER).statusCode(400)
                .body("violations[0].field", equalTo("events[1].rating.value"));
        assertEquals(0, GatewayTesting.records().stream()
                .filter(r -> GatewayTesting.decode(r).getInteractionId().equals(interaction)).count(),
                "nothing of a rejected batch is written");

        String good = "{\"events\":[" + rating(interaction, 1) + "," + rating(interaction, 5) + "," + pairwise("b") + "]}";
        List<String> ids = post("/v1/feedback/batch", good, WRITER).statusCode(202)
                .body("accepted", equalTo(3)).body("results", hasSize(3)).extract().path("results.event_id");
        for (String id : ids) {
            assertEquals(1, stored(id).size());
        }
        post("/v1/feedback/batch", "{\"events\":[]}", WRITER).statusCode(400)
                .body("violations[0].rule", equalTo("count"));
        String tooMany = "{\"events\":[" + (rating("i", 3) + ",").repeat(1000) + rating("i", 3) + "]}";
        post("/v1/feedback/batch", tooMany, WRITER).statusCode(400)
                .body("violations[0].field", equalTo("events")).body("violations[0].rule", equalTo("count"));
    }

    @Test
    void batchRetryWithTheSameKeyWritesNothingTwice() {
        String key = "batch-retry-" + UUID.randomUUID();
        String interaction = "bint-" + UUID.randomUUID();
        String body = "{\"events\":[" + rating(interaction, 1) + "," + rating(interaction, 2) + "]}";
        List<String> first = given().contentType(ContentType.JSON).header("Authorization", WRITER)
                .header("Idempotency-Key", key).body(body).post("/v1/feedback/batch").then().statusCode(202)
                .body("duplicates", equalTo(0)).extract().path("results.event_id");
        List<String> second = given().contentType(ContentType.JSON).header("Authorization", WRITER)
                .header("Idempotency-Key", key).body(body).post("/v1/feedback/batch").then().statusCode(202)
                .body("duplicates", equalTo(2)).extract().path("results.event_id");
        assertEquals(first, second);
        assertEquals(2, GatewayTesting.records().stream()
                .filter(r -> GatewayTesting.decode(r).getInteractionId().equals(interaction)).count());
    }

    @Test
    void metricsCountAcceptedRejectedAndProduceLatency() {
        post("/v1/feedback", rating("i-metrics", 5), WRITER).statusCode(202);
        post("/v1/feedback", rating("i-metrics", 0), WRITER).statusCode(400);
        String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertTrue(metrics.contains("rlhf_feedback_accepted_total{type=\"rating\"}"), metrics);
        assertTrue(metrics.contains("rlhf_feedback_rejected_total{channel=\"rest\",reason=\"range\"}"), metrics);
        assertTrue(metrics.contains("rlhf_feedback_produce_seconds_bucket"), metrics);
        given().get("/q/health/ready").then().statusCode(200)
                .body("checks.name", hasItem("kafka"));
    }
}
