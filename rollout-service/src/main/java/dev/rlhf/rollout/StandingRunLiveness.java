package dev.rlhf.rollout;

import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;

import dev.rlhf.proto.v1.RolloutRun;
import dev.rlhf.proto.v1.RolloutRunState;
import dev.rlhf.rollout.run.PromptConsumer;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Liveness is DOWN once the standing run has FAILED (e.g. policy-service answers NOT_FOUND
 * for the configured policy, or too many prompts in a row were given up): a restart resumes
 * it from the committed offsets, and the orchestrator's restart backoff paces the retries.
 * A standing run stopped by StopRun is an operator's choice and stays UP.
 */
@Liveness
@ApplicationScoped
public class StandingRunLiveness implements HealthCheck {

    private final RolloutService service;

    StandingRunLiveness(RolloutService service) {
        this.service = service;
    }

    @Override
    public HealthCheckResponse call() {
        PromptConsumer standing = service.standing();
        if (standing == null) {
            return HealthCheckResponse.up("standing-run");
        }
        RolloutRun run = standing.run().snapshot();
        return HealthCheckResponse.named("standing-run")
                .status(run.getState() != RolloutRunState.ROLLOUT_RUN_STATE_FAILED)
                .withData("run", run.getRunId())
                .withData("state", run.getState().name())
                .withData("error", run.getError())
                .build();
    }
}
