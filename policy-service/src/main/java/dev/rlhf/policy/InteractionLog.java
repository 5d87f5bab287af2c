package dev.rlhf.policy;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.proto.v1.Interaction;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Writes each served generation to {@code rlhf.interactions.v1} (key: interaction id) so
 * feedback can be joined to it. Asynchronous: an answer never waits for Kafka; a failed
 * write is logged and counted ({@code rlhf_policy_interactions_total{outcome="failed"}}).
 */
@ApplicationScoped
public class InteractionLog {

    private static final Logger LOG = Logger.getLogger(InteractionLog.class);

    private final KafkaProducer<String, byte[]> producer;
    private final String topic;
    private final Counter written;
    private final Counter failed;

    InteractionLog(PolicyConfig config, MeterRegistry meters, @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        this.topic = config.interactionsTopic();
        this.producer = ReliableProducers.create(bootstrap, "policy-service-interactions", Duration.ofSeconds(30),
                Duration.ofMillis(200));
        this.written = meters.counter("rlhf.policy.interactions", "outcome", "written");
        this.failed = meters.counter("rlhf.policy.interactions", "outcome", "failed");
    }

    public void log(Interaction interaction) {
        try {
            producer.send(new ProducerRecord<>(topic, interaction.getInteractionId(), interaction.toByteArray()),
                    (meta, e) -> {
                        if (e == null) {
                            written.increment();
                        } else {
                            failed.increment();
                            LOG.warnf("interaction %s not logged: %s", interaction.getInteractionId(), e.toString());
                        }
                    });
        } catch (RuntimeException e) {
            failed.increment();
            LOG.warnf("interaction %s not logged: %s", interaction.getInteractionId(), e.toString());
        }
    }

    /** Lowercase hex SHA-256 of the prompt text (events.proto's prompt hash). */
    static String promptHash(String prompt) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(prompt.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @PreDestroy
    void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
