package dev.rlhf.trainer;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import com.google.protobuf.Timestamp;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.proto.v1.ModelArchitecture;
import dev.rlhf.proto.v1.ModelKind;
import dev.rlhf.proto.v1.ModelVersion;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Announces stored versions on {@code rlhf.models.v1} (keyed by name, acks=all), after the
 * store has renamed them into place: policy- and reward-service then load and swap.
 */
@ApplicationScoped
public class ModelAnnouncer implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(ModelAnnouncer.class);

    private final String bootstrap;
    private final String topic;
    private KafkaProducer<String, byte[]> producer;

    public ModelAnnouncer(@ConfigProperty(name = "kafka.bootstrap.servers", defaultValue = "127.0.0.1:9092") String bootstrap,
            @ConfigProperty(name = "rlhf.trainer.models-topic", defaultValue = "rlhf.models.v1") String topic) {
        this.bootstrap = bootstrap;
        this.topic = topic;
    }

    /**
     * Announces {@code v}; returns once the broker acknowledged it.
     *
     * @throws IllegalStateException when the broker does not acknowledge within 30 s (the
     *                               version stays in the store; announcing it again is safe)
     */
    public synchronized void announce(StoredVersion v, String jobId) {
        if (producer == null) {
            producer = ReliableProducers.create(bootstrap, "trainer-announcer", Duration.ofSeconds(30));
        }
        ModelVersion.Builder m = ModelVersion.newBuilder().setName(v.name()).setVersion(v.version()).setKind(kind(v))
                .setStorePath(v.name() + "/" + v.version()).putAllFiles(v.files()).setTrainingJobId(jobId)
                .putAllMetrics(v.metrics())
                .setCreatedAt(Timestamp.newBuilder().setSeconds(v.createdAt().getEpochSecond()).setNanos(v.createdAt().getNano()));
        try {
            ModelConfig c = ModelConfig.read(v.file("config.json"));
            m.setArchitecture(ModelArchitecture.newBuilder().setModelType(c.modelType()).setVocabSize(c.vocabSize())
                    .setContextLength(c.maxPositionEmbeddings()).setNumLayers(c.numHiddenLayers())
                    .setHiddenSize(c.hiddenSize()).setNumAttentionHeads(c.numAttentionHeads())
                    .setNumKeyValueHeads(c.numKeyValueHeads()));
        } catch (java.io.IOException | RuntimeException e) {
            LOG.warnf("announcing %s v%d without its architecture: %s", v.name(), v.version(), e.getMessage());
        }
        try {
            producer.send(new ProducerRecord<>(topic, v.name(), m.build().toByteArray())).get(30, TimeUnit.SECONDS);
            LOG.infof("announced %s v%d on %s", v.name(), v.version(), topic);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("stored " + v.name() + " v" + v.version() + " but could not announce it on "
                    + topic + " at " + bootstrap + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while announcing " + v.name() + " v" + v.version(), e);
        }
    }

    private static ModelKind kind(StoredVersion v) {
        return switch (v.kind()) {
            case POLICY -> ModelKind.MODEL_KIND_POLICY;
            case REFERENCE -> ModelKind.MODEL_KIND_REFERENCE;
            case REWARD -> ModelKind.MODEL_KIND_REWARD;
            default -> ModelKind.MODEL_KIND_UNSPECIFIED;
        };
    }

    @PreDestroy
    @Override
    public synchronized void close() {
        if (producer != null) {
            producer.close(Duration.ofSeconds(5));
        }
    }
}
