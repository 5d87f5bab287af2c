package dev.rlhf.rollout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * Configuration of rollout-service ({@code rlhf.rollout.*}); every key has a default and is
 * checked at start-up by {@link RolloutService} (a bad value fails start-up naming the key).
 * The hosts of policy- and reward-service are the gRPC clients {@code policy} and
 * {@code reward} ({@code quarkus.grpc.clients.*}, application.properties).
 */
@ConfigMapping(prefix = "rlhf.rollout")
public interface RolloutConfig {

    /** Topic names. */
    Topics topics();

    /** Folder of the named prompt sets ({@code <name>.jsonl} or {@code <name>.pb}) that StartRun can run. */
    @WithDefault(".rlhf/prompt-sets")
    Path promptSets();

    /** Longest wait for Kafka to acknowledge a rollout group or a dead letter, at least 2 s. */
    @WithDefault("10s")
    Duration produceTimeout();

    /** Runs started by StartRun that may be active (not final) at once, >= 1; more get RESOURCE_EXHAUSTED. */
    @WithDefault("4")
    int maxActiveRuns();

    /** Finished runs kept for GetRun (oldest forgotten), >= 0. */
    @WithDefault("100")
    int finishedRunsKept();

    /** A run FAILS after this many prompts in a row were given up (a systematic problem), >= 0; 0 = never. */
    @WithDefault("20")
    int maxConsecutiveFailures();

    /**
     * The policy's EOS token ids, to set Rollout.ended_with_eos exactly. Optional: without it,
     * a STOP not on a stop token or stop string counts as EOS.
     */
    Optional<List<Integer>> eosTokenIds();

    /** Defaults of the run fields whose 0 / absent value means "the service default". */
    Defaults defaults();

    /** Backoff of retried calls (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED). */
    Retry retry();

    /** The consumer of the standing run. */
    Consumer consumer();

    interface Topics {
        /** Prompts in (key: prompt id). */
        @WithDefault("rlhf.prompts.v1")
        String prompts();

        /** Rollouts out (key: prompt id). */
        @WithDefault("rlhf.rollouts.v1")
        String rollouts();

        /** Unreadable prompts and prompts given up, with the reason in header rlhf.dlq.reason. */
        @WithDefault("rlhf.prompts.dlq.v1")
        String deadLetters();
    }

    interface Defaults {
        /** Prompts in flight per run when its spec says 0 (rollout.proto: 8 unless changed), >= 1. */
        @WithDefault("8")
        int maxConcurrency();

        /** Largest max_concurrency a run may ask for, >= max-concurrency. */
        @WithDefault("64")
        int maxConcurrencyLimit();

        /** Deadline of each Generate and Score call when the spec has none, > 0. */
        @WithDefault("120s")
        Duration callTimeout();

        /** Attempts per prompt when the spec says 0 (rollout.proto: 3), >= 1. */
        @WithDefault("3")
        int maxAttempts();
    }

    interface Retry {
        /** Delay before the first retry, > 0. */
        @WithDefault("200ms")
        Duration initialBackoff();

        /** Longest delay between attempts, >= initial-backoff. */
        @WithDefault("10s")
        Duration maxBackoff();

        /** Growth of the delay per attempt, >= 1. */
        @WithDefault("2.0")
        double multiplier();

        /** Relative spread of each delay, in [0, 1). */
        @WithDefault("0.2")
        double jitter();

        /** Cap on a server's retry-after-ms hint, >= 0. */
        @WithDefault("30s")
        Duration maxRetryAfter();
    }

    /**
     * The standing run: a consumer in group {@code group-id} on the prompts topic that runs as
     * long as the service does. Every instance runs one; they share the partitions.
     */
    interface Consumer {
        /** Whether this instance consumes the prompts topic. */
        @WithDefault("true")
        boolean enabled();

        /** The consumer group whose committed offsets mark the prompts done. */
        @WithDefault("rlhf-rollouts")
        String groupId();

        /** Rollout.run_id of its rollouts; prompts addressed to other runs are skipped. [A-Za-z0-9._-]{1,64}. */
        @WithDefault("online")
        String runId();

        /** Only prompts of this prompt set. Optional: absent = every prompt. */
        Optional<String> promptSet();

        /** When the group has no committed offset: true = the earliest retained prompt, false = those written from now. */
        @WithDefault("true")
        boolean fromEarliest();

        /** K, samples per prompt, 1..64. */
        @WithDefault("4")
        int samplesPerPrompt();

        /** ppo or best-of-n. */
        @WithDefault("ppo")
        String mode();

        /** best-of-n: samples marked selected per group, 1..K. */
        @WithDefault("1")
        int bestOfNKeep();

        /** The policy's model name. */
        @WithDefault("policy")
        String policy();

        /** Pinned policy version; 0 = always the current one (hot swaps picked up). */
        @WithDefault("0")
        long policyVersion();

        /** Reward components to compute. Optional: absent = all of reward-service's. */
        Optional<List<String>> rewardComponents();

        /** Sampling temperature, (0, 2] when K > 1; 1.0 keeps behaviour logprobs those of the policy itself. */
        @WithDefault("1.0")
        float temperature();

        /** Nucleus sampling, (0, 1]. */
        @WithDefault("1.0")
        float topP();

        /** Top-k, 0 = off. */
        @WithDefault("0")
        int topK();

        /** Most tokens per sample; 0 = the policy's default. */
        @WithDefault("0")
        int maxNewTokens();

        /** Prompts in flight; 0 = defaults.max-concurrency. */
        @WithDefault("0")
        int maxConcurrency();

        /** Attempts per prompt; 0 = defaults.max-attempts. */
        @WithDefault("0")
        int maxAttempts();

        /** Deadline of each call. Optional: absent = defaults.call-timeout. */
        Optional<Duration> callTimeout();

        /** Rollout.iteration grows by one every this many completed prompts; 0 = stays 0. */
        @WithDefault("0")
        long promptsPerIteration();

        /** How long a revoked partition's prompts in flight may take to finish before they are cancelled, >= 0. */
        @WithDefault("5s")
        Duration revokeGrace();

        /** Pause before reopening the consumer after Kafka failed, > 0. */
        @WithDefault("2s")
        Duration restartBackoff();

        /** At shutdown, how long the prompts in flight may take to finish before they are cancelled, >= 0. */
        @WithDefault("10s")
        Duration stopGrace();
    }
}
