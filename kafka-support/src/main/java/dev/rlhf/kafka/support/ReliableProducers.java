package dev.rlhf.kafka.support;

import java.time.Duration;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The one way this platform configures a producer for records it must not lose:
 * {@code acks=all}, idempotence on (retries cannot duplicate or reorder), and a bounded
 * delivery timeout so a caller learns of an unreachable broker within a known time instead
 * of waiting the client's default two minutes.
 */
public final class ReliableProducers {

    private ReliableProducers() {
    }

    /**
     * Producer settings for string keys and byte-array (serialized protobuf) values.
     *
     * @param bootstrapServers {@code host:port[,host:port]}
     * @param clientId         shows in broker logs and metrics
     * @param deliveryTimeout  upper bound from {@code send} to success or failure; at least 2 s
     */
    public static Properties properties(String bootstrapServers, String clientId, Duration deliveryTimeout) {
        return properties(bootstrapServers, clientId, deliveryTimeout, Duration.ofMillis(Math.min(deliveryTimeout.toMillis(), 2000)));
    }

    /**
     * As {@link #properties(String, String, Duration)}, with the longest time {@code send} may
     * block for metadata or buffer space ({@code max.block.ms}); callers on an event loop keep it short.
     */
    public static Properties properties(String bootstrapServers, String clientId, Duration deliveryTimeout,
            Duration maxBlock) {
        if (bootstrapServers == null || bootstrapServers.isBlank()) {
            throw new IllegalArgumentException("kafka.bootstrap.servers is empty; set it to host:port of the broker");
        }
        long delivery = deliveryTimeout.toMillis();
        if (delivery < 2000) {
            throw new IllegalArgumentException("delivery timeout must be at least 2s, got " + deliveryTimeout);
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(256 * 1024));
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        // delivery.timeout.ms >= linger.ms + request.timeout.ms is required by the client
        long request = Math.max(1000, delivery / 2);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(request));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(delivery));
        // send() blocks at most this long for metadata or buffer space
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(maxBlock.toMillis()));
        p.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "2000");
        // keep topic metadata of idle topics (default 5 min): a send after a quiet spell must not wait for it
        p.put(ProducerConfig.METADATA_MAX_IDLE_CONFIG, Long.toString(Duration.ofHours(24).toMillis()));
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return p;
    }

    /** A producer with {@link #properties(String, String, Duration)}. */
    public static KafkaProducer<String, byte[]> create(String bootstrapServers, String clientId,
            Duration deliveryTimeout) {
        return new KafkaProducer<>(properties(bootstrapServers, clientId, deliveryTimeout));
    }

    /** A producer with {@link #properties(String, String, Duration, Duration)}. */
    public static KafkaProducer<String, byte[]> create(String bootstrapServers, String clientId,
            Duration deliveryTimeout, Duration maxBlock) {
        return new KafkaProducer<>(properties(bootstrapServers, clientId, deliveryTimeout, maxBlock));
    }
}
