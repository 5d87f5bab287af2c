package dev.rlhf.policy;

import org.eclipse.microprofile.config.inject.ConfigProperty;

import dev.rlhf.kafka.support.ModelFollower;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

/**
 * Follows {@code rlhf.models.v1} and hot-swaps announced versions of the served names, with the
 * registry's start-up load ordered against the follower's start position
 * ({@link ModelFollower}). Unreadable announcements count in {@code rlhf.policy.announcements{outcome="unreadable"}}.
 */
@ApplicationScoped
public class ModelAnnouncements {

    private final ModelFollower follower;

    ModelAnnouncements(ModelRegistry registry, PolicyConfig config, MeterRegistry meters,
            @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrap) {
        this.follower = new ModelFollower(ModelAnnouncements.class, bootstrap, config.modelsTopic(), "policy-service",
                config.models()::contains, registry::loadLatest, registry::swap,
                () -> meters.counter("rlhf.policy.announcements", "outcome", "unreadable").increment());
    }

    void onStart(@Observes StartupEvent ignored) {
        follower.start();
    }

    void onStop(@Observes ShutdownEvent ignored) {
        follower.close();
    }
}
