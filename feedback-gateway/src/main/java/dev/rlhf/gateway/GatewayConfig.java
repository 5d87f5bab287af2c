package dev.rlhf.gateway;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import io.smallrye.config.WithName;

/** Configuration of the feedback intake ({@code rlhf.gateway.*}); checked at start-up by {@link GatewayConfigCheck}. */
@ConfigMapping(prefix = "rlhf.gateway")
public interface GatewayConfig {

    /** Kafka topic the accepted events go to. */
    @WithDefault("rlhf.feedback.v1")
    String topic();

    /** Maximum size of one text field (prompt, response, comment, ...) in UTF-8 bytes. */
    @WithDefault("32768")
    int maxTextBytes();

    /** Maximum number of events in one batch request. */
    @WithDefault("1000")
    int maxBatchSize();

    /** Maximum request body in bytes; larger bodies get 413 with a JSON error. */
    @WithDefault("16777216")
    long maxBodyBytes();

    /** Maximum number of labels on one event. */
    @WithDefault("32")
    int maxLabels();

    /**
     * How long to wait for Kafka to acknowledge a record before answering 503. Bounds the
     * producer's delivery timeout; at least 2 s.
     */
    @WithDefault("5s")
    Duration produceTimeout();

    /**
     * Longest time a request may wait for Kafka metadata or producer buffer space before it
     * is answered 503. Single events are handled on the HTTP event loop: keep it short.
     */
    @WithDefault("200ms")
    Duration maxBlock();

    /**
     * The producer's {@code linger.ms}: how long a record may wait for others to share its
     * request to the broker. Each request waits for its acknowledgement, so this adds to
     * every answer's latency; under load records batch anyway while requests are in flight.
     */
    @WithDefault("2ms")
    Duration linger();

    /** The producer's {@code compression.type}: none, gzip, snappy, lz4 or zstd. */
    @WithDefault("lz4")
    String compression();

    /** The {@code Retry-After} (seconds) sent with 503 when Kafka is unavailable. */
    @WithDefault("2")
    int retryAfterSeconds();

    /** Idempotency-Key handling. */
    Idempotency idempotency();

    /** API-key authentication. */
    Auth auth();

    /** Benchmark support. */
    Bench bench();

    interface Idempotency {
        /** How long an Idempotency-Key is remembered after its event was stored. */
        @WithDefault("24h")
        Duration window();

        /** Most keys remembered at once (per gateway instance); the oldest are forgotten first. */
        @WithDefault("500000")
        int maxKeys();
    }

    interface Auth {
        /** Whether /v1/* and gRPC calls need an API key. Health, metrics and OpenAPI stay open. */
        @WithDefault("true")
        boolean enabled();

        /**
         * API keys, each {@code <id>:<sha256 hex of the key>:<scope>[+<scope>]} with scopes
         * {@code feedback.write} and {@code feedback.read}. Only hashes are configured.
         */
        Optional<List<String>> keys();

        /** A file with one key per line in the format of {@code keys}; '#' starts a comment. */
        @WithName("keys-file")
        Optional<Path> keysFile();
    }

    interface Bench {
        /** Serves {@code POST /v1/bench/noop} (same auth, no parsing, no Kafka): the HTTP ceiling for benchmarks. */
        @WithDefault("false")
        boolean noopEnabled();
    }
}
