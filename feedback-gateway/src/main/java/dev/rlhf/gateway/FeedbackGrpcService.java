package dev.rlhf.gateway;

import java.util.List;
import java.util.concurrent.CompletionException;

import dev.rlhf.gateway.ApiKeys.ApiKey;
import dev.rlhf.proto.v1.FeedbackServiceGrpc;
import dev.rlhf.proto.v1.SubmitFeedbackBatchRequest;
import dev.rlhf.proto.v1.SubmitFeedbackBatchResponse;
import dev.rlhf.proto.v1.SubmitFeedbackRequest;
import dev.rlhf.proto.v1.SubmitFeedbackResponse;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.quarkus.grpc.RegisterInterceptor;
import io.smallrye.common.annotation.Blocking;

/**
 * gRPC intake with the meaning of the REST endpoints: {@code authorization: Bearer <key>}
 * metadata, INVALID_ARGUMENT with the same messages, UNAVAILABLE (with a
 * {@code retry-after} trailer) when Kafka did not acknowledge.
 */
@GrpcService
@RegisterInterceptor(AuthorizationHeader.class)
public class FeedbackGrpcService extends FeedbackServiceGrpc.FeedbackServiceImplBase {

    private static final String CHANNEL = "grpc";
    static final Metadata.Key<String> RETRY_AFTER = Metadata.Key.of("retry-after", Metadata.ASCII_STRING_MARSHALLER);

    private final FeedbackIntake intake;
    private final ApiKeys keys;
    private final GatewayConfig config;

    FeedbackGrpcService(FeedbackIntake intake, ApiKeys keys, GatewayConfig config) {
        this.intake = intake;
        this.keys = keys;
        this.config = config;
    }

    @Override
    @Blocking
    public void submit(SubmitFeedbackRequest request, StreamObserver<SubmitFeedbackResponse> out) {
        try {
            ApiKey key = authorize();
            if (!request.hasEvent()) {
                throw FeedbackRejected.invalid("event", "required", "the request has no event");
            }
            intake.submit(key, List.of(request.getEvent()), false, request.getIdempotencyKey(), "idempotency_key")
                    .whenComplete((results, e) -> {
                        if (e != null) {
                            out.onError(status(e));
                        } else {
                            out.onNext(response(results.get(0)));
                            out.onCompleted();
                        }
                    });
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    @Override
    @Blocking
    public void submitBatch(SubmitFeedbackBatchRequest request, StreamObserver<SubmitFeedbackBatchResponse> out) {
        try {
            ApiKey key = authorize();
            intake.submit(key, request.getEventsList(), true, request.getIdempotencyKey(), "idempotency_key")
                    .whenComplete((results, e) -> {
                        if (e != null) {
                            out.onError(status(e));
                        } else {
                            SubmitFeedbackBatchResponse.Builder b = SubmitFeedbackBatchResponse.newBuilder();
                            results.forEach(r -> b.addResults(response(r)));
                            out.onNext(b.build());
                            out.onCompleted();
                        }
                    });
        } catch (RuntimeException e) {
            out.onError(status(e));
        }
    }

    private ApiKey authorize() {
        ApiKey key = keys.authenticate(AuthorizationHeader.VALUE.get());
        ApiKeys.require(key, ApiKeys.WRITE);
        return key;
    }

    private static SubmitFeedbackResponse response(FeedbackIntake.Result r) {
        return SubmitFeedbackResponse.newBuilder().setEventId(r.eventId()).setDuplicate(r.duplicate()).build();
    }

    private RuntimeException status(Throwable t) {
        Throwable e = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        if (e instanceof ApiKeys.AuthException auth) {
            intake.rejected(auth.forbidden() ? "forbidden" : "unauthenticated", CHANNEL);
            return (auth.forbidden() ? Status.PERMISSION_DENIED : Status.UNAUTHENTICATED)
                    .withDescription(auth.getMessage()).asRuntimeException();
        }
        if (e instanceof FeedbackRejected r) {
            intake.rejected(r.reason(), CHANNEL);
            return switch (r.kind()) {
                case INVALID, TOO_LARGE -> Status.INVALID_ARGUMENT.withDescription(r.getMessage()).asRuntimeException();
                case CONFLICT -> Status.FAILED_PRECONDITION.withDescription(r.getMessage()).asRuntimeException();
                case UNAVAILABLE -> {
                    Metadata trailers = new Metadata();
                    trailers.put(RETRY_AFTER, Integer.toString(config.retryAfterSeconds()));
                    yield Status.UNAVAILABLE.withDescription(r.getMessage()).asRuntimeException(trailers);
                }
            };
        }
        return Status.INTERNAL.withDescription("unexpected error: " + e).withCause(e).asRuntimeException();
    }
}
