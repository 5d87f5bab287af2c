package dev.rlhf.gateway;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Content;
import org.eclipse.microprofile.openapi.annotations.media.Schema;
import org.eclipse.microprofile.openapi.annotations.parameters.Parameter;
import org.eclipse.microprofile.openapi.annotations.parameters.RequestBody;
import org.eclipse.microprofile.openapi.annotations.responses.APIResponse;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;

import dev.rlhf.gateway.ApiKeys.ApiKey;
import dev.rlhf.proto.v1.FeedbackEvent;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.common.annotation.NonBlocking;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.NotFoundException;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/**
 * REST intake: {@code POST /v1/feedback} (one event) and {@code POST /v1/feedback/batch}
 * (1..1000 events). 202 means Kafka acknowledged every event. Errors are JSON
 * ({@link ErrorBody}) naming the field and the rule.
 */
@Path("/v1")
@Produces(MediaType.APPLICATION_JSON)
public class FeedbackResource {

    static final String IDEMPOTENCY_HEADER = "Idempotency-Key";
    private static final String CHANNEL = "rest";

    /** Error response body. */
    @Schema(name = "Error")
    public record ErrorBody(int status, String error, String message, List<Violation> violations) {
    }

    /** Body of 202 for one event. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @Schema(name = "Accepted")
    public record Accepted(String eventId, boolean duplicate) {
    }

    /** Body of 202 for a batch: one result per event, in request order. */
    @Schema(name = "BatchAccepted")
    public record BatchAccepted(int accepted, int duplicates, List<Accepted> results) {
    }

    private final FeedbackIntake intake;
    private final ApiKeys keys;
    private final GatewayConfig config;
    private final ObjectMapper json;

    FeedbackResource(FeedbackIntake intake, ApiKeys keys, GatewayConfig config, ObjectMapper mapper) {
        this.intake = intake;
        this.keys = keys;
        this.config = config;
        this.json = mapper.copy()
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }

    @POST
    @Path("/feedback")
    @Consumes(MediaType.APPLICATION_JSON)
    @NonBlocking
    @Operation(summary = "Submit one feedback event", description = "Answers 202 only after Kafka acknowledged the event.")
    @RequestBody(required = true, content = @Content(schema = @Schema(implementation = FeedbackJson.Event.class)))
    @APIResponse(responseCode = "202", description = "stored", content = @Content(schema = @Schema(implementation = Accepted.class)))
    @APIResponse(responseCode = "400", description = "invalid; nothing stored", content = @Content(schema = @Schema(implementation = ErrorBody.class)))
    @APIResponse(responseCode = "401", description = "no or unknown API key")
    @APIResponse(responseCode = "403", description = "the key lacks scope feedback.write")
    @APIResponse(responseCode = "409", description = "Idempotency-Key reused with a different event")
    @APIResponse(responseCode = "413", description = "body larger than rlhf.gateway.max-body-bytes")
    @APIResponse(responseCode = "503", description = "Kafka did not acknowledge; retry after Retry-After seconds")
    public CompletionStage<Response> submit(byte[] body,
            @HeaderParam(HttpHeaders.AUTHORIZATION) String authorization,
            @Parameter(description = "Optional; retries with the same key store the event once")
            @HeaderParam(IDEMPOTENCY_HEADER) String idempotencyKey) {
        try {
            ApiKey key = authorize(authorization);
            FeedbackJson.Event event = parse(body, FeedbackJson.Event.class);
            FeedbackEvent proto = FeedbackJson.toProto(event, "");
            return intake.submit(key, List.of(proto), false, idempotencyKey, IDEMPOTENCY_HEADER)
                    .thenApply(r -> Response.accepted(new Accepted(r.get(0).eventId(), r.get(0).duplicate())).build())
                    .exceptionally(this::error);
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(error(e));
        }
    }

    @POST
    @Path("/feedback/batch")
    @Consumes(MediaType.APPLICATION_JSON)
    @Blocking
    @Operation(summary = "Submit 1..1000 feedback events",
            description = "Validation is all-or-nothing: one invalid event rejects the batch and nothing is stored."
                    + " 202 after Kafka acknowledged every event. On 503 some events may be stored: retry with the same"
                    + " Idempotency-Key and only the others are written (event i has key <key>#<i>).")
    @RequestBody(required = true, content = @Content(schema = @Schema(implementation = FeedbackJson.Batch.class)))
    @APIResponse(responseCode = "202", description = "all stored", content = @Content(schema = @Schema(implementation = BatchAccepted.class)))
    @APIResponse(responseCode = "400", description = "invalid; nothing stored", content = @Content(schema = @Schema(implementation = ErrorBody.class)))
    public CompletionStage<Response> submitBatch(byte[] body,
            @HeaderParam(HttpHeaders.AUTHORIZATION) String authorization,
            @HeaderParam(IDEMPOTENCY_HEADER) String idempotencyKey) {
        try {
            ApiKey key = authorize(authorization);
            FeedbackJson.Batch batch = parse(body, FeedbackJson.Batch.class);
            if (batch == null || batch.events() == null) {
                throw FeedbackRejected.invalid("events", "required", "must be an array of 1.." + config.maxBatchSize()
                        + " events");
            }
            if (batch.events().size() > config.maxBatchSize()) {
                throw FeedbackRejected.invalid("events", "count", "must hold 1.." + config.maxBatchSize()
                        + " events, got " + batch.events().size());
            }
            List<FeedbackEvent> events = new ArrayList<>(batch.events().size());
            for (int i = 0; i < batch.events().size(); i++) {
                events.add(FeedbackJson.toProto(batch.events().get(i), "events[" + i + "]."));
            }
            return intake.submit(key, events, true, idempotencyKey, IDEMPOTENCY_HEADER)
                    .thenApply(results -> {
                        List<Accepted> out = results.stream().map(r -> new Accepted(r.eventId(), r.duplicate())).toList();
                        int dups = (int) out.stream().filter(Accepted::duplicate).count();
                        return Response.accepted(new BatchAccepted(out.size() - dups, dups, out)).build();
                    })
                    .exceptionally(this::error);
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(error(e));
        }
    }

    /**
     * The HTTP ceiling for the benchmark: same server, same auth, no parsing, no Kafka.
     * Served only with {@code rlhf.gateway.bench.noop-enabled=true}.
     */
    @POST
    @Path("/bench/noop")
    @NonBlocking
    @Operation(hidden = true)
    public Response noop(byte[] body, @HeaderParam(HttpHeaders.AUTHORIZATION) String authorization) {
        if (!config.bench().noopEnabled()) {
            throw new NotFoundException();
        }
        try {
            authorize(authorization);
            return Response.accepted(new Accepted("noop", false)).build();
        } catch (RuntimeException e) {
            return error(e);
        }
    }

    private ApiKey authorize(String authorization) {
        ApiKey key = keys.authenticate(authorization);
        ApiKeys.require(key, ApiKeys.WRITE);
        return key;
    }

    private <T> T parse(byte[] body, Class<T> type) {
        if (body == null || body.length == 0) {
            throw FeedbackRejected.invalid("body", "required", "the request body is empty; send a JSON object");
        }
        if (body.length > config.maxBodyBytes()) {
            throw new FeedbackRejected(FeedbackRejected.Kind.TOO_LARGE, new Violation("body", "max_size",
                    "is " + body.length + " bytes; at most " + config.maxBodyBytes()
                            + " (rlhf.gateway.max-body-bytes) are accepted; split the batch"));
        }
        checkUtf8(body);
        try {
            return json.readValue(body, type);
        } catch (JsonProcessingException e) {
            throw jsonError(e);
        } catch (java.io.IOException e) {
            throw FeedbackRejected.invalid("body", "malformed_json", e.getMessage());
        }
    }

    private static void checkUtf8(byte[] body) {
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(body);
        try {
            decoder.decode(in);
        } catch (CharacterCodingException e) {
            throw FeedbackRejected.invalid("body", "utf8",
                    "is not valid UTF-8 (bad byte sequence at or after byte offset " + in.position() + ")");
        }
    }

    private static FeedbackRejected jsonError(JsonProcessingException e) {
        String location = e.getLocation() == null ? ""
                : " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
        if (e instanceof JsonParseException) {
            return FeedbackRejected.invalid("body", "malformed_json", "is not valid JSON" + location + ": "
                    + e.getOriginalMessage());
        }
        String field = e instanceof JsonMappingException m ? path(m) : "body";
        if (e instanceof UnrecognizedPropertyException u) {
            return FeedbackRejected.invalid(field, "unknown_field", "'" + u.getPropertyName()
                    + "' is not a field here; known: " + u.getKnownPropertyIds());
        }
        return FeedbackRejected.invalid(field, "type", "has the wrong JSON type" + location + ": "
                + e.getOriginalMessage());
    }

    /** {@code events[3].rating.value} from Jackson's reference path. */
    private static String path(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                if (!sb.isEmpty()) {
                    sb.append('.');
                }
                sb.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.isEmpty() ? "body" : sb.toString();
    }

    private Response error(Throwable t) {
        Throwable e = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        if (e instanceof ApiKeys.AuthException auth) {
            intake.rejected(auth.forbidden() ? "forbidden" : "unauthenticated", CHANNEL);
            int status = auth.forbidden() ? 403 : 401;
            Response.ResponseBuilder b = Response.status(status)
                    .entity(new ErrorBody(status, auth.forbidden() ? "forbidden" : "unauthenticated", auth.getMessage(),
                            List.of()))
                    .type(MediaType.APPLICATION_JSON);
            if (!auth.forbidden()) {
                b.header(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
            }
            return b.build();
        }
        if (e instanceof FeedbackRejected r) {
            intake.rejected(r.reason(), CHANNEL);
            int status = r.kind().httpStatus();
            Response.ResponseBuilder b = Response.status(status)
                    .entity(new ErrorBody(status, r.kind().code(), r.getMessage(), r.violations()))
                    .type(MediaType.APPLICATION_JSON);
            if (r.kind() == FeedbackRejected.Kind.UNAVAILABLE) {
                b.header(HttpHeaders.RETRY_AFTER, config.retryAfterSeconds());
            }
            return b.build();
        }
        if (e instanceof NotFoundException nf) {
            throw nf;
        }
        throw e instanceof RuntimeException re ? re : new CompletionException(e);
    }
}
