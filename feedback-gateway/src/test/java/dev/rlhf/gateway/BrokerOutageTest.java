package dev.rlhf.gateway;

import static dev.rlhf.gateway.GatewayTesting.WRITER;
import static dev.rlhf.gateway.GatewayTesting.rating;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.rlhf.testkit.KafkaBrokerResource;
import dev.rlhf.testkit.KafkaTestBroker;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;

/**
 * With the broker stopped the gateway never answers 202: it answers 503 with Retry-After and
 * reports readiness DOWN; after the broker is back the client's retry (same Idempotency-Key)
 * lands exactly once.
 */
@QuarkusTest
@QuarkusTestResource(value = KafkaBrokerResource.class, restrictToAnnotatedClass = false)
class BrokerOutageTest {

    @Test
    void brokerDownMeans503AndTheRetryLandsOnce() throws InterruptedException {
        KafkaTestBroker broker = KafkaTestBroker.shared();
        assumeTrue(broker.isOwned(), "needs a broker of its own to stop (KAFKA_BOOTSTRAP_SERVERS is set)");
        String key = "outage-" + UUID.randomUUID();
        String interaction = "out-" + UUID.randomUUID();
        String body = rating(interaction, 3);
        broker.stop();
        try {
            given().contentType(ContentType.JSON).header("Authorization", WRITER).header("Idempotency-Key", key)
                    .body(body).post("/v1/feedback").then()
                    .statusCode(503).header("Retry-After", "2").body("error", equalTo("unavailable"));
            given().get("/q/health/ready").then().statusCode(503).body("status", equalTo("DOWN"));
        } finally {
            broker.start();
        }
        // a client retries with the same key, honouring Retry-After, until it gets 202
        String eventId = null;
        for (int attempt = 0; attempt < 15 && eventId == null; attempt++) {
            var response = given().contentType(ContentType.JSON).header("Authorization", WRITER)
                    .header("Idempotency-Key", key).body(body).post("/v1/feedback");
            if (response.statusCode() == 202) {
                eventId = response.path("event_id");
            } else {
                assertEquals(503, response.statusCode(), response.asString());
                Thread.sleep(1000L * Integer.parseInt(response.header("Retry-After")));
            }
        }
        assertNotNull(eventId, "the retry never succeeded after the broker came back");
        assertEquals(1, GatewayTesting.records().stream()
                .filter(r -> GatewayTesting.decode(r).getInteractionId().equals(interaction)).count(),
                "exactly one record after the outage and the retry");
        assertEquals(1, GatewayTesting.stored(eventId).size());
        given().get("/q/health/ready").then().statusCode(200);
    }
}
