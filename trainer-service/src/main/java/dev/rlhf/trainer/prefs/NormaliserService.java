package dev.rlhf.trainer.prefs;

import java.time.Clock;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * Runs the {@link PreferenceNormaliser} inside trainer-service when
 * {@code rlhf.normaliser.enabled} (the default); a bad {@code rlhf.normaliser.*} value fails
 * start-up with a message naming the key.
 */
@ApplicationScoped
public class NormaliserService {

    private static final Logger LOG = Logger.getLogger(NormaliserService.class);

    private final NormaliserConfig config;
    private final MeterRegistry meters;
    private final String bootstrap;
    private PreferenceNormaliser normaliser;

    NormaliserService(NormaliserConfig config, MeterRegistry meters,
            @ConfigProperty(name = "kafka.bootstrap.servers", defaultValue = "127.0.0.1:9092") String bootstrap) {
        this.config = config;
        this.meters = meters;
        this.bootstrap = bootstrap;
    }

    void onStart(@Observes StartupEvent ignored) {
        if (!config.enabled()) {
            LOG.info("preference normaliser disabled (rlhf.normaliser.enabled=false)");
            return;
        }
        PreferenceRules.Settings rules = config.rules();
        PreferenceNormaliser.Wiring wiring = new PreferenceNormaliser.Wiring(bootstrap, config.groupId(),
                config.topics().feedback(), config.topics().interactions(), config.topics().preferences(),
                config.topics().deadLetters(), config.produceTimeout(), config.maxPollInterval(),
                config.retryBackoff());
        normaliser = new PreferenceNormaliser(wiring, rules, meters, Clock.systemUTC());
        normaliser.start();
    }

    void onStop(@Observes ShutdownEvent ignored) {
        if (normaliser != null) {
            normaliser.close();
        }
    }
}
