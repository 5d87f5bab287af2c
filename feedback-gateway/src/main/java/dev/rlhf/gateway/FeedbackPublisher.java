package dev.rlhf.gateway;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.proto.v1.FeedbackEvent;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Writes feedback events to Kafka and completes only when the broker acknowledged them
 * ({@code acks=all}, idempotent producer; {@link ReliableProducers}).
 *
 * <p>A plain {@link KafkaProducer} rather than a Reactive Messaging emitter: the gateway
 * needs the per-record acknowledgement, a bounded delivery timeout that it turns into 503,
 * and a {@code send} that never buffers a record it cannot answer for.
 */
@ApplicationScoped
public class FeedbackPublisher {

    /** Header naming the value's protobuf type, for operators and the dead-letter tooling. */
    public static final String TYPE_HEADER = "rlhf.type";
    private static final byte[] TYPE = FeedbackEvent.getDescriptor().getFullName().getBytes(StandardCharsets.UTF_8);

    private final KafkaProducer<String, byte[]> producer;
    private final String topic;

    FeedbackPublisher(GatewayConfig config, @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        this.topic = config.topic();
        Properties props = ReliableProducers.properties(bootstrap, "feedback-gateway", config.produceTimeout(),
                config.maxBlock());
        props.put(ProducerConfig.LINGER_MS_CONFIG, Long.toString(config.linger().toMillis()));
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, config.compression());
        this.producer = new KafkaProducer<>(props);
    }

    /**
     * Fetches the topic's metadata so that {@code send} never waits for it on the event loop.
     *
     * @return whether the metadata is there (false: broker unreachable within max-block)
     */
    public boolean warmUp() {
        try {
            return !producer.partitionsFor(topic).isEmpty();
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Produces {@code event} under {@code key}; the future fails when Kafka did not acknowledge it. */
    public CompletableFuture<RecordMetadata> publish(String key, FeedbackEvent event) {
        CompletableFuture<RecordMetadata> acked = new CompletableFuture<>();
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, key, event.toByteArray());
        record.headers().add(TYPE_HEADER, TYPE);
        try {
            producer.send(record, (meta, e) -> {
                if (e != null) {
                    acked.completeExceptionally(e);
                } else {
                    acked.complete(meta);
                }
            });
        } catch (RuntimeException e) {
            // metadata or buffer space not available within max.block.ms: the broker is away
            acked.completeExceptionally(e);
        }
        return acked;
    }

    @PreDestroy
    void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
