package dev.rlhf.gateway;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.regex.Pattern;

import org.jboss.logging.Logger;

import com.google.protobuf.Timestamp;

import dev.rlhf.gateway.ApiKeys.ApiKey;
import dev.rlhf.proto.v1.FeedbackEvent;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * The intake shared by REST and gRPC: validate, stamp, deduplicate by idempotency key,
 * produce, and answer when Kafka acknowledged.
 *
 * <p>Batches: validation is all-or-nothing (one bad event rejects the batch, nothing is
 * written); storage is per event (on UNAVAILABLE some events may be stored; a retry with the
 * same idempotency key writes only the rest, because event i has key {@code <key>#<i>}).
 */
@ApplicationScoped
public class FeedbackIntake {

    private static final Logger LOG = Logger.getLogger(FeedbackIntake.class);
    private static final Pattern IDEMPOTENCY_KEY = Pattern.compile("[\\x21-\\x7e]{1,255}");

    /** One stored event. */
    public record Result(String eventId, boolean duplicate) {
    }

    private final GatewayConfig config;
    private final FeedbackValidator validator;
    private final FeedbackPublisher publisher;
    private final IdempotencyStore idempotency;
    private final MeterRegistry registry;
    private final Timer produceLatency;
    private final Counter duplicates;
    private final java.util.Map<FeedbackEvent.KindCase, Counter> accepted = new java.util.EnumMap<>(FeedbackEvent.KindCase.class);

    FeedbackIntake(GatewayConfig config, FeedbackPublisher publisher, MeterRegistry registry) {
        this.config = config;
        this.validator = new FeedbackValidator(config.maxTextBytes(), config.maxLabels());
        this.publisher = publisher;
        this.idempotency = new IdempotencyStore(config.idempotency().window(), config.idempotency().maxKeys(),
                System::nanoTime);
        this.registry = registry;
        this.produceLatency = Timer.builder("rlhf.feedback.produce")
                .description("Time from send to Kafka acknowledgement (acks=all) of one feedback event")
                .publishPercentileHistogram()
                .register(registry);
        this.duplicates = Counter.builder("rlhf.feedback.duplicates")
                .description("Events not written again because their idempotency key was already stored")
                .register(registry);
        for (FeedbackEvent.KindCase kind : FeedbackEvent.KindCase.values()) {
            accepted.put(kind, Counter.builder("rlhf.feedback.accepted")
                    .description("Feedback events stored (acknowledged by Kafka), by type")
                    .tag("type", kind.name().toLowerCase())
                    .register(registry));
        }
    }

    /**
     * Stores {@code events} (one, or a batch).
     *
     * @param idempotencyKey  optional; null or empty for none
     * @param idempotencyField how the caller names the key in errors (header or field)
     * @return one result per event, completing when all were acknowledged; fails with
     *         {@link FeedbackRejected} (UNAVAILABLE, CONFLICT)
     * @throws FeedbackRejected (INVALID) before anything is written
     */
    public CompletionStage<List<Result>> submit(ApiKey key, List<FeedbackEvent> events, boolean batch,
            String idempotencyKey, String idempotencyField) {
        // 1. validate everything first: all or nothing
        List<Violation> violations = new ArrayList<>();
        boolean hasKey = idempotencyKey != null && !idempotencyKey.isEmpty();
        if (hasKey && !IDEMPOTENCY_KEY.matcher(idempotencyKey).matches()) {
            violations.add(new Violation(idempotencyField, "format",
                    "must be 1..255 printable ASCII characters without spaces"));
        }
        if (batch && (events.isEmpty() || events.size() > config.maxBatchSize())) {
            violations.add(new Violation("events", "count",
                    "must hold 1.." + config.maxBatchSize() + " events, got " + events.size()));
        }
        for (int i = 0; i < events.size() && violations.size() < 100; i++) {
            violations.addAll(validator.validate(events.get(i), batch ? "events[" + i + "]." : ""));
        }
        if (!violations.isEmpty()) {
            throw new FeedbackRejected(FeedbackRejected.Kind.INVALID, violations);
        }
        // 2. stamp and produce each event
        Timestamp now = now();
        List<CompletableFuture<Result>> results = new ArrayList<>(events.size());
        for (int i = 0; i < events.size(); i++) {
            String itemKey = !hasKey ? null : batch ? idempotencyKey + "#" + i : idempotencyKey;
            results.add(store(key, events.get(i), itemKey, now));
        }
        // 3. answer when all are acknowledged
        return CompletableFuture.allOf(results.toArray(CompletableFuture[]::new))
                .handle((ignored, error) -> {
                    if (error != null) {
                        throw new CompletionException(unwrapRejection(error, results));
                    }
                    return results.stream().map(CompletableFuture::join).toList();
                });
    }

    private CompletableFuture<Result> store(ApiKey apiKey, FeedbackEvent event, String itemKey, Timestamp now) {
        if (itemKey == null) {
            return produce(stamp(event, randomUuid(), apiKey, now));
        }
        String scoped = apiKey.id() + "\n" + itemKey;
        String eventId = UUID.nameUUIDFromBytes(scoped.getBytes(StandardCharsets.UTF_8)).toString();
        IdempotencyStore.Claim claim = idempotency.claim(scoped, digest(event));
        if (claim instanceof IdempotencyStore.Conflict) {
            return CompletableFuture.failedFuture(new FeedbackRejected(FeedbackRejected.Kind.CONFLICT,
                    new Violation("idempotency_key", "conflict", "key '" + itemKey
                            + "' was already used for a different event; use a new key for new feedback")));
        }
        if (claim instanceof IdempotencyStore.Existing existing) {
            return existing.eventId().thenApply(id -> {
                duplicates.increment();
                return new Result(id, true);
            });
        }
        IdempotencyStore.Entry entry = ((IdempotencyStore.Owner) claim).entry();
        return produce(stamp(event, eventId, apiKey, now)).whenComplete((r, e) -> {
            if (e != null) {
                idempotency.failed(entry, e);
            } else {
                idempotency.succeeded(entry, r.eventId());
            }
        });
    }

    private CompletableFuture<Result> produce(FeedbackEvent event) {
        long start = System.nanoTime();
        return publisher.publish(recordKey(event), event).handle((meta, e) -> {
            if (e != null) {
                throw new CompletionException(e);
            }
            produceLatency.record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
            accepted.get(event.getKindCase()).increment();
            return new Result(event.getEventId(), false);
        });
    }

    private static FeedbackEvent stamp(FeedbackEvent event, String eventId, ApiKey key, Timestamp now) {
        FeedbackEvent.Builder b = event.toBuilder()
                .setEventId(eventId)
                .setReceivedAt(now)
                .setSubmittedBy(key.id());
        if (!event.hasCreatedAt()) {
            b.setCreatedAt(now);
        }
        return b.build();
    }

    /**
     * The Kafka key: the interaction id, so all feedback on one generation lands in one
     * partition (next to its interaction); without one, a hash of the prompt, so that
     * feedback on the same prompt meets in one partition for pairing.
     */
    static String recordKey(FeedbackEvent e) {
        if (!e.getInteractionId().isEmpty()) {
            return e.getInteractionId();
        }
        String prompt = e.hasPairwise() ? e.getPairwise().getPrompt() : e.getEdit().getPrompt();
        return "prompt:" + sha256Hex(prompt.getBytes(StandardCharsets.UTF_8)).substring(0, 32);
    }

    /**
     * A random (version 4) UUID from a thread-local generator: event ids must be unique, not
     * unguessable, and {@link UUID#randomUUID()}'s shared SecureRandom is a point of
     * contention at tens of thousands of events per second.
     */
    static String randomUuid() {
        var rnd = java.util.concurrent.ThreadLocalRandom.current();
        long msb = (rnd.nextLong() & ~0xF000L) | 0x4000L;
        long lsb = (rnd.nextLong() & ~(0xC000L << 48)) | (0x8000L << 48);
        return new UUID(msb, lsb).toString();
    }

    /** Digest of what the client sent (deterministic even with labels), to detect key reuse. */
    private static String digest(FeedbackEvent e) {
        try {
            var out = new java.io.ByteArrayOutputStream(e.getSerializedSize());
            var coded = com.google.protobuf.CodedOutputStream.newInstance(out);
            coded.useDeterministicSerialization();
            e.writeTo(coded);
            coded.flush();
            return sha256Hex(out.toByteArray());
        } catch (java.io.IOException ex) {
            throw new IllegalStateException(ex);
        }
    }

    private static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private FeedbackRejected unwrapRejection(Throwable error, List<CompletableFuture<Result>> results) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof FeedbackRejected rejected) {
            return rejected;
        }
        long stored = results.stream().filter(f -> f.isDone() && !f.isCompletedExceptionally()).count();
        LOG.warnf("Kafka did not acknowledge feedback (%d of %d events stored): %s", stored, results.size(),
                cause.toString());
        return new FeedbackRejected(FeedbackRejected.Kind.UNAVAILABLE, new Violation("kafka", "unavailable",
                "the event store (Kafka) did not acknowledge " + (results.size() - stored) + " of " + results.size()
                        + " events in " + config.produceTimeout().toSeconds() + "s; retry after " + config.retryAfterSeconds()
                        + "s with the same idempotency key (events already stored are not written twice)"));
    }

    private static Timestamp now() {
        Instant now = Instant.now();
        return Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()).build();
    }

    /** Counts a refused request under its reason (the rejected-requests metric). */
    public void rejected(String reason, String channel) {
        registry.counter("rlhf.feedback.rejected", "reason", reason, "channel", channel).increment();
    }
}
