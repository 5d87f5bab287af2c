package dev.rlhf.reward;

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.proto.v1.ModelVersion;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * Follows {@code rlhf.models.v1} and hot-swaps announced versions of the reward models the
 * learned components use. Every replica must see every announcement, so partitions are
 * assigned, not shared by a group; the consumer starts at the end (at start-up the registry
 * already loaded the latest stored versions). Unreadable announcements are logged and
 * counted, never fatal.
 */
@ApplicationScoped
public class ModelAnnouncements {

    private static final Logger LOG = Logger.getLogger(ModelAnnouncements.class);

    private final ModelRegistry registry;
    private final RewardConfig config;
    private final MeterRegistry meters;
    private final String bootstrap;
    private volatile boolean running = true;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private Thread thread;

    ModelAnnouncements(ModelRegistry registry, RewardConfig config, MeterRegistry meters,
            @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        this.registry = registry;
        this.config = config;
        this.meters = meters;
        this.bootstrap = bootstrap;
    }

    void onStart(@Observes StartupEvent ignored) {
        thread = new Thread(this::follow, "model-announcements");
        thread.setDaemon(true);
        thread.start();
    }

    void onStop(@Observes ShutdownEvent ignored) {
        running = false;
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup(); // the polling thread leaves with a WakeupException and closes it
        }
    }

    private void follow() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "reward-service-models-" + UUID.randomUUID());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        while (running) {
            try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p)) {
                this.consumer = consumer;
                List<TopicPartition> partitions = consumer.partitionsFor(config.modelsTopic(), Duration.ofSeconds(10))
                        .stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
                consumer.assign(partitions);
                consumer.seekToEnd(partitions);
                partitions.forEach(consumer::position); // resolve "end" now, before any announce
                LOG.infof("following %s for %s", config.modelsTopic(), registry.names());
                while (running) {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                        handle(r);
                    }
                }
            } catch (org.apache.kafka.common.errors.WakeupException | org.apache.kafka.common.errors.InterruptException e) {
                return;
            } catch (RuntimeException e) {
                if (!running) {
                    return;
                }
                LOG.warnf("following %s at %s failed (%s); retrying in 2 s", config.modelsTopic(), bootstrap, e.toString());
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        ModelVersion v;
        try {
            v = ModelVersion.parseFrom(r.value() == null ? new byte[0] : r.value());
        } catch (InvalidProtocolBufferException e) {
            meters.counter("rlhf.reward.announcements", "outcome", "unreadable").increment();
            LOG.errorf("unreadable announcement at %s-%d@%d: %s", r.topic(), r.partition(), r.offset(), e.getMessage());
            return;
        }
        if (!registry.names().contains(v.getName()) || v.getRetired()) {
            return;
        }
        LOG.infof("announced %s v%d", v.getName(), v.getVersion());
        registry.swap(v.getName(), v.getVersion());
    }
}
