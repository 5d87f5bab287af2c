package dev.rlhf.policy;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.PolicyServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;

/** The not-yet-built service is honest: healthy, and UNIMPLEMENTED over a real gRPC channel. */
@QuarkusTest
class PolicyGrpcServiceTest {

    @GrpcClient("policy")
    PolicyServiceGrpc.PolicyServiceBlockingStub stub;

    @Test
    void rpcsAnswerUnimplementedWithAReason() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.generate(GenerateRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("Generate"), e.getStatus().getDescription());
    }

    @Test
    void healthAndMetricsAreServed() {
        given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
        given().get("/q/health/live").then().statusCode(200);
        given().get("/q/metrics").then().statusCode(200).body(containsString("jvm_memory_used_bytes"));
    }
}
