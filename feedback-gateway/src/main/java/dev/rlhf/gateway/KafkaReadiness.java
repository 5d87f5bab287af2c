package dev.rlhf.gateway;

import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;
import org.jboss.logging.Logger;

import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * Readiness is DOWN while the broker does not answer (the gateway then answers 503 to
 * feedback). At start-up an unreachable broker is logged once, clearly; the service keeps
 * running and becomes ready when the broker appears — no crash loop.
 */
@Readiness
@ApplicationScoped
public class KafkaReadiness implements HealthCheck {

    private static final Logger LOG = Logger.getLogger(KafkaReadiness.class);
    private static final long TIMEOUT_MS = 2000;

    private final String bootstrap;
    private final String topic;
    private final Admin admin;

    private final FeedbackPublisher publisher;
    private volatile boolean stopping;

    KafkaReadiness(@ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap, GatewayConfig config,
            FeedbackPublisher publisher) {
        this.bootstrap = bootstrap;
        this.publisher = publisher;
        this.topic = config.topic();
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "feedback-gateway-health");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(TIMEOUT_MS));
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(TIMEOUT_MS));
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "2000");
        this.admin = Admin.create(p);
    }

    void onStart(@Observes StartupEvent ignored) {
        Thread check = new Thread(() -> {
            String problem = problem();
            if (problem != null) {
                LOG.errorf("Kafka at %s (kafka.bootstrap.servers) is unreachable: %s. Readiness is DOWN and feedback"
                        + " is answered 503 until the broker answers; start it with 'bin/rlhf kafka start' or fix"
                        + " KAFKA_BOOTSTRAP_SERVERS.", bootstrap, problem);
            }
            // the producer's metadata, so that the first request does not wait for it
            while (!stopping && !publisher.warmUp()) {
                sleep(500);
            }
            if (problem == null) {
                LOG.infof("Kafka at %s is reachable; feedback goes to %s", bootstrap, topic);
            } else if (!stopping) {
                LOG.infof("Kafka at %s answers now; feedback goes to %s", bootstrap, topic);
            }
        }, "kafka-startup-check");
        check.setDaemon(true);
        check.start();
    }

    @Override
    public HealthCheckResponse call() {
        String problem = problem();
        var b = HealthCheckResponse.named("kafka").withData("bootstrap.servers", bootstrap).withData("topic", topic);
        return problem == null ? b.up().build() : b.down().withData("error", problem).build();
    }

    /** Why the broker or the topic is not usable, or null when both are. */
    private String problem() {
        try {
            admin.describeCluster(new DescribeClusterOptions().timeoutMs((int) TIMEOUT_MS)).nodes()
                    .get(TIMEOUT_MS + 500, TimeUnit.MILLISECONDS);
            if (!admin.listTopics().names().get(TIMEOUT_MS + 500, TimeUnit.MILLISECONDS).contains(topic)) {
                return "topic " + topic + " does not exist";
            }
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        } catch (Exception e) {
            return e.getCause() != null ? e.getCause().toString() : e.toString();
        }
    }

    private void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            stopping = true;
            Thread.currentThread().interrupt();
        }
    }

    @PreDestroy
    void close() {
        stopping = true;
        admin.close(java.time.Duration.ofSeconds(2));
    }
}
