package dev.rlhf.testkit;

import java.util.Map;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

/**
 * Gives a {@code @QuarkusTest} the shared real broker of {@link KafkaTestBroker} as
 * {@code kafka.bootstrap.servers}. The broker outlives the application (one per test JVM),
 * so {@link #stop()} leaves it running.
 */
public class KafkaBrokerResource implements QuarkusTestResourceLifecycleManager {

    @Override
    public Map<String, String> start() {
        return Map.of("kafka.bootstrap.servers", KafkaTestBroker.shared().bootstrapServers());
    }

    @Override
    public void stop() {
        // the shared broker stops with the test JVM
    }
}
