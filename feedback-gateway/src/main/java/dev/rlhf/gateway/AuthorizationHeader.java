package dev.rlhf.gateway;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import jakarta.enterprise.context.ApplicationScoped;

/** Carries the gRPC {@code authorization} metadata into the call's context for {@link FeedbackGrpcService}. */
@ApplicationScoped
public class AuthorizationHeader implements ServerInterceptor {

    static final Context.Key<String> VALUE = Context.key("rlhf-authorization");
    private static final Metadata.Key<String> HEADER = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        return Contexts.interceptCall(Context.current().withValue(VALUE, headers.get(HEADER)), call, headers, next);
    }
}
