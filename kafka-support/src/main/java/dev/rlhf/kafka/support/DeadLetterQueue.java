package dev.rlhf.kafka.support;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;

/**
 * Consumer-side handling of records that cannot be read: they go, unchanged, to a
 * dead-letter topic (e.g. {@code rlhf.feedback.dlq.v1}) with headers that say why and where
 * they came from, so an operator can inspect and replay them and the consumer can move on.
 *
 * <p>Nothing is lost: {@link #decodeOrDeadLetter} returns only after the dead-letter write
 * was acknowledged, so the caller may commit the source offset afterwards. If the
 * dead-letter write fails, it throws, and the caller must not commit.
 *
 * <p>Headers added (UTF-8 strings): {@value #REASON}, {@value #EXCEPTION}, {@value #TOPIC},
 * {@value #PARTITION}, {@value #OFFSET}, {@value #CONSUMER}; the record's own headers are
 * kept.
 */
public final class DeadLetterQueue {

    /** Why the record was dead-lettered, for people: e.g. "not a rlhf.v1.FeedbackEvent: ...". */
    public static final String REASON = "rlhf.dlq.reason";
    /** The class of the exception that made the record unreadable. */
    public static final String EXCEPTION = "rlhf.dlq.exception";
    /** Source topic of the record. */
    public static final String TOPIC = "rlhf.dlq.topic";
    /** Source partition of the record. */
    public static final String PARTITION = "rlhf.dlq.partition";
    /** Source offset of the record. */
    public static final String OFFSET = "rlhf.dlq.offset";
    /** Which consumer dead-lettered it (e.g. the consumer group). */
    public static final String CONSUMER = "rlhf.dlq.consumer";

    /** A check of a decoded message; returns the reason it is unusable, or empty when fine. */
    @FunctionalInterface
    public interface Check<T> {
        Optional<String> problem(T message);
    }

    private final Producer<String, byte[]> producer;
    private final String topic;
    private final String consumer;
    private final long timeoutMs;

    /**
     * @param producer a producer with {@link ReliableProducers} settings; not closed here
     * @param topic    the dead-letter topic
     * @param consumer who is dead-lettering (e.g. the consumer group id)
     * @param timeoutMs how long to wait for the dead-letter write to be acknowledged
     */
    public DeadLetterQueue(Producer<String, byte[]> producer, String topic, String consumer, long timeoutMs) {
        this.producer = Objects.requireNonNull(producer, "producer");
        if (topic == null || topic.isBlank()) {
            throw new IllegalArgumentException("dead-letter topic must be set");
        }
        this.topic = topic;
        this.consumer = consumer == null ? "" : consumer;
        this.timeoutMs = timeoutMs;
    }

    /**
     * Decodes a record's value as {@code parser}'s message and applies {@code check}; an
     * unreadable or unusable record is dead-lettered (and acknowledged) before this returns
     * empty.
     *
     * @throws DeadLetterException when the dead-letter write failed: do not commit the offset
     */
    public <T extends Message> Optional<T> decodeOrDeadLetter(ConsumerRecord<String, byte[]> record, Parser<T> parser,
            Check<T> check) {
        T message;
        if (record.value() == null) {
            deadLetter(record, "empty value (a tombstone) where a message was expected", null);
            return Optional.empty();
        }
        try {
            message = parser.parseFrom(record.value());
        } catch (InvalidProtocolBufferException e) {
            deadLetter(record, "value is not a valid protobuf message: " + e.getMessage(), e);
            return Optional.empty();
        }
        Optional<String> problem = check.problem(message);
        if (problem.isPresent()) {
            deadLetter(record, problem.get(), null);
            return Optional.empty();
        }
        return Optional.of(message);
    }

    /**
     * Writes {@code record} to the dead-letter topic with the reason and waits for the
     * acknowledgement.
     *
     * @throws DeadLetterException when it was not acknowledged in time
     */
    public RecordMetadata deadLetter(ConsumerRecord<String, byte[]> record, String reason, Throwable error) {
        try {
            return send(record, reason, error).get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DeadLetterException("interrupted while dead-lettering " + coordinates(record), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new DeadLetterException("dead-lettering " + coordinates(record) + " to " + topic
                    + " failed; do not commit its offset, retry later", e);
        }
    }

    /** Asynchronous form of {@link #deadLetter}. */
    public CompletableFuture<RecordMetadata> send(ConsumerRecord<String, byte[]> record, String reason,
            Throwable error) {
        Headers headers = new RecordHeaders();
        for (Header h : record.headers()) {
            headers.add(h);
        }
        header(headers, REASON, reason);
        header(headers, EXCEPTION, error == null ? "" : error.getClass().getName());
        header(headers, TOPIC, record.topic());
        header(headers, PARTITION, Integer.toString(record.partition()));
        header(headers, OFFSET, Long.toString(record.offset()));
        header(headers, CONSUMER, consumer);
        CompletableFuture<RecordMetadata> result = new CompletableFuture<>();
        producer.send(new ProducerRecord<>(topic, null, record.key(), record.value(), headers), (meta, e) -> {
            if (e != null) {
                result.completeExceptionally(e);
            } else {
                result.complete(meta);
            }
        });
        return result;
    }

    private static void header(Headers headers, String name, String value) {
        headers.remove(name);
        headers.add(name, value.getBytes(StandardCharsets.UTF_8));
    }

    private static String coordinates(ConsumerRecord<?, ?> r) {
        return r.topic() + "-" + r.partition() + "@" + r.offset();
    }

    /** The dead-letter write failed; the source record is not safe to skip. Retry. */
    public static final class DeadLetterException extends RuntimeException {
        DeadLetterException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
