package dev.rlhf.rollout.run;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;

import dev.rlhf.proto.v1.Rollout;

/**
 * Writes a prompt's group to rlhf.rollouts.v1 (key: prompt id, so the group lands in one
 * partition in sample order) with a producer of {@code ReliableProducers} settings, and
 * waits until Kafka acknowledged every record ({@code acks=all}).
 */
public final class RolloutPublisher {

    /** Header naming the value's protobuf type, as the platform's other producers write it. */
    public static final String TYPE_HEADER = "rlhf.type";
    private static final byte[] TYPE = Rollout.getDescriptor().getFullName().getBytes(StandardCharsets.UTF_8);

    private final Producer<String, byte[]> producer;
    private final String topic;
    private final Duration timeout;

    /**
     * @param timeout longest wait for the acknowledgements (the producer's delivery timeout plus a margin)
     */
    public RolloutPublisher(Producer<String, byte[]> producer, String topic, Duration timeout) {
        this.producer = producer;
        this.topic = topic;
        this.timeout = timeout;
    }

    /**
     * Sends the group and waits for every acknowledgement.
     *
     * @throws PublishFailedException when one was not acknowledged in time: the group is not
     *                                durable and its prompt must not count as done
     */
    public void publish(List<Rollout> group) {
        List<CompletableFuture<Void>> acks = new ArrayList<>(group.size());
        for (Rollout r : group) {
            ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, r.getPromptId(), r.toByteArray());
            record.headers().add(TYPE_HEADER, TYPE);
            CompletableFuture<Void> ack = new CompletableFuture<>();
            try {
                producer.send(record, (meta, e) -> {
                    if (e != null) {
                        ack.completeExceptionally(e);
                    } else {
                        ack.complete(null);
                    }
                });
            } catch (RuntimeException e) {
                ack.completeExceptionally(e);
            }
            acks.add(ack);
        }
        try {
            CompletableFuture.allOf(acks.toArray(CompletableFuture[]::new)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PublishFailedException("interrupted while waiting for the acknowledgement of " + topic, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new PublishFailedException("rollouts of prompt " + (group.isEmpty() ? "?" : group.get(0).getPromptId())
                    + " were not all acknowledged by " + topic + " within " + timeout + ": "
                    + (e.getCause() != null ? e.getCause() : e), e);
        }
    }

    /** The group was not (fully) acknowledged: retry from the last commit; do not count the prompt done. */
    public static final class PublishFailedException extends RuntimeException {
        PublishFailedException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
