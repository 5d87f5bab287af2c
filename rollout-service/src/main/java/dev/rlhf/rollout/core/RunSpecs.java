package dev.rlhf.rollout.core;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.RolloutRunSpec;
import dev.rlhf.proto.v1.SamplingParams;

/**
 * Checks a {@link RolloutRunSpec} against the rules of rollout.proto and fills in its
 * defaults. {@link #problems} names the field and the rule of every violation (the messages
 * of INVALID_ARGUMENT); {@link #effective} turns a valid spec into {@link Effective}.
 */
public final class RunSpecs {

    /** Largest K (rollout.proto: 1..64). */
    public static final int MAX_SAMPLES_PER_PROMPT = 64;
    /** Most allowances a paced run may draw ahead of the served version (rollout.proto versions_ahead). */
    public static final int MAX_VERSIONS_AHEAD = 4;
    /** Run ids: 1..64 chars of [A-Za-z0-9._-]. */
    public static final Pattern RUN_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    /** Prompt-set names: file names without extension, 1..128 chars of [A-Za-z0-9._-], not starting with a dot. */
    public static final Pattern PROMPT_SET = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

    /**
     * Service defaults for the fields whose zero value means "the service default".
     *
     * @param maxConcurrency      default prompts in flight (rollout.proto: 8 unless changed)
     * @param maxConcurrencyLimit the most a run may ask for
     * @param callTimeout         default deadline of each Generate and Score call (120 s unless changed)
     * @param maxAttempts         default attempts per prompt (3)
     */
    public record Defaults(int maxConcurrency, int maxConcurrencyLimit, Duration callTimeout, int maxAttempts) {
    }

    /** Where a run's prompts come from. */
    public sealed interface Source permits PromptSet, Topic {
    }

    /** A named prompt set, read {@code epochs} times. */
    public record PromptSet(String name, int epochs) implements Source {
    }

    /**
     * The prompts topic.
     *
     * @param promptSet    only prompts of this set; empty = every prompt
     * @param fromEarliest start at the earliest offset, else at the run's start
     */
    public record Topic(Optional<String> promptSet, boolean fromEarliest) implements Source {
    }

    /**
     * A spec with every default filled in.
     *
     * @param samplesPerPrompt    K, 1..64
     * @param sampling            the run's sampling parameters (n unset: it is K per prompt)
     * @param policy              the policy to sample (name never empty; version 0 = current)
     * @param maxDuration         empty = no limit
     * @param maxPrompts          0 = no limit
     * @param promptsPerIteration 0 = one iteration
     */
    public record Effective(Source source, int samplesPerPrompt, SamplingParams sampling, RolloutMode mode,
            int bestOfNKeep, ModelRef policy, List<String> rewardComponents, int maxConcurrency, Duration callTimeout,
            int maxAttempts, Optional<Duration> maxDuration, long maxPrompts, long promptsPerIteration) {

        /** Whether samples are ranked within their group (BEST_OF_N). */
        public boolean bestOfN() {
            return mode == RolloutMode.ROLLOUT_MODE_BEST_OF_N;
        }
    }

    private RunSpecs() {
    }

    /** Every violation of rollout.proto's rules in {@code spec}, each naming its field; empty when valid. */
    public static List<String> problems(RolloutRunSpec spec, Defaults defaults) {
        List<String> p = new ArrayList<>();
        switch (spec.getPromptSourceCase()) {
            case PROMPT_SET -> {
                if (!PROMPT_SET.matcher(spec.getPromptSet()).matches()) {
                    p.add("spec.prompt_set must be 1..128 characters of [A-Za-z0-9._-] not starting with '.', was '"
                            + spec.getPromptSet() + "'");
                }
            }
            case PROMPTS_TOPIC -> {
                // an empty prompt_set filter means every prompt
            }
            default -> p.add("spec.prompt_source is required: set prompt_set or prompts_topic");
        }
        int k = spec.getSamplesPerPrompt() == 0 ? 1 : spec.getSamplesPerPrompt();
        if (spec.getSamplesPerPrompt() < 0 || spec.getSamplesPerPrompt() > MAX_SAMPLES_PER_PROMPT) {
            p.add("spec.samples_per_prompt must be in 1.." + MAX_SAMPLES_PER_PROMPT + " (0 = 1), was "
                    + spec.getSamplesPerPrompt());
        }
        SamplingParams s = spec.getSampling();
        if (s.getN() != 0 && s.getN() != k) {
            p.add("spec.sampling.n must be 0 or equal spec.samples_per_prompt (" + k + "), was " + s.getN());
        }
        p.addAll(samplingProblems("spec.sampling", s));
        if (s.getTemperature() == 0 && k > 1) {
            p.add("spec.sampling.temperature 0 (greedy) with spec.samples_per_prompt " + k
                    + " would draw " + k + " equal samples: set a temperature > 0 (PPO uses 1.0) or K = 1");
        }
        if (spec.getMode() != RolloutMode.ROLLOUT_MODE_PPO && spec.getMode() != RolloutMode.ROLLOUT_MODE_BEST_OF_N) {
            p.add("spec.mode is required: ROLLOUT_MODE_PPO or ROLLOUT_MODE_BEST_OF_N");
        }
        if (spec.getMode() == RolloutMode.ROLLOUT_MODE_BEST_OF_N) {
            if (k < 2) {
                p.add("spec.samples_per_prompt must be >= 2 in BEST_OF_N mode, was " + spec.getSamplesPerPrompt());
            }
            if (spec.getBestOfNKeep() < 0 || spec.getBestOfNKeep() > k) {
                p.add("spec.best_of_n_keep must be in 1..samples_per_prompt (" + k + ") (0 = 1), was "
                        + spec.getBestOfNKeep());
            }
        }
        if (spec.getPolicy().getVersion() < 0) {
            p.add("spec.policy.version must be >= 0 (0 = the current version), was " + spec.getPolicy().getVersion());
        }
        for (int i = 0; i < spec.getRewardComponentsCount(); i++) {
            if (spec.getRewardComponents(i).isBlank()) {
                p.add("spec.reward_components[" + i + "] must not be empty");
            }
        }
        if (spec.getMaxConcurrency() < 0 || spec.getMaxConcurrency() > defaults.maxConcurrencyLimit()) {
            p.add("spec.max_concurrency must be in 1.." + defaults.maxConcurrencyLimit()
                    + " (0 = the service default " + defaults.maxConcurrency() + "), was " + spec.getMaxConcurrency());
        }
        if (spec.hasCallTimeout() && !positive(spec.getCallTimeout())) {
            p.add("spec.call_timeout must be positive when set, was " + seconds(spec.getCallTimeout()));
        }
        if (spec.getMaxAttempts() < 0) {
            p.add("spec.max_attempts must be >= 1 (0 = 3), was " + spec.getMaxAttempts());
        }
        if (spec.hasMaxDuration() && !positive(spec.getMaxDuration())) {
            p.add("spec.max_duration must be positive when set, was " + seconds(spec.getMaxDuration()));
        }
        if (spec.getMaxPrompts() < 0) {
            p.add("spec.max_prompts must be >= 0 (0 = no limit), was " + spec.getMaxPrompts());
        }
        if (spec.getEpochs() < 0) {
            p.add("spec.epochs must be >= 1 (0 = 1), was " + spec.getEpochs());
        }
        if (spec.getPromptsPerIteration() < 0) {
            p.add("spec.prompts_per_iteration must be >= 0, was " + spec.getPromptsPerIteration());
        }
        long paced = spec.getSamplesPerPolicyVersion();
        if (paced != 0) {
            if (paced < k) {
                p.add("spec.samples_per_policy_version must be 0 (no pacing) or >= samples_per_prompt (" + k
                        + "), was " + paced);
            }
            if (spec.hasPromptsTopic()) {
                p.add("spec.samples_per_policy_version paces prompt-set runs only; this run follows the prompts topic");
            }
            if (spec.getPolicy().getVersion() != 0) {
                p.add("spec.samples_per_policy_version waits for newer versions, so spec.policy.version must be 0"
                        + " (the current version), was " + spec.getPolicy().getVersion());
            }
        }
        if (spec.getVersionsAhead() < 0 || spec.getVersionsAhead() > MAX_VERSIONS_AHEAD) {
            p.add("spec.versions_ahead must be in 0.." + MAX_VERSIONS_AHEAD + ", was " + spec.getVersionsAhead());
        } else if (spec.getVersionsAhead() > 0 && paced == 0) {
            p.add("spec.versions_ahead needs spec.samples_per_policy_version (the allowance it counts in)");
        }
        return p;
    }

    /** Range checks of sampling parameters that do not depend on the served model (policy.proto). */
    public static List<String> samplingProblems(String field, SamplingParams s) {
        List<String> p = new ArrayList<>();
        if (!(s.getTemperature() >= 0 && s.getTemperature() <= 2)) {
            p.add(field + ".temperature must be in [0, 2], was " + s.getTemperature());
        }
        if (!(s.getTopP() >= 0 && s.getTopP() <= 1)) {
            p.add(field + ".top_p must be in (0, 1] (0 = 1), was " + s.getTopP());
        }
        if (s.getTopK() < 0) {
            p.add(field + ".top_k must be >= 0 (0 = off), was " + s.getTopK());
        }
        if (s.getMaxNewTokens() < 0) {
            p.add(field + ".max_new_tokens must be >= 1 (0 = the policy's default), was " + s.getMaxNewTokens());
        }
        return p;
    }

    /**
     * {@code spec} with its defaults filled in.
     *
     * @throws IllegalArgumentException listing the problems when it is not valid
     */
    public static Effective effective(RolloutRunSpec spec, Defaults defaults) {
        List<String> problems = problems(spec, defaults);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
        Source source = spec.hasPromptsTopic()
                ? new Topic(spec.getPromptsTopic().getPromptSet().isEmpty() ? Optional.empty()
                        : Optional.of(spec.getPromptsTopic().getPromptSet()), spec.getPromptsTopic().getFromEarliest())
                : new PromptSet(spec.getPromptSet(), spec.getEpochs() == 0 ? 1 : spec.getEpochs());
        int k = spec.getSamplesPerPrompt() == 0 ? 1 : spec.getSamplesPerPrompt();
        ModelRef policy = spec.getPolicy().getName().isEmpty()
                ? spec.getPolicy().toBuilder().setName("policy").build() : spec.getPolicy();
        return new Effective(source, k, spec.getSampling().toBuilder().clearN().build(), spec.getMode(),
                spec.getBestOfNKeep() == 0 ? 1 : spec.getBestOfNKeep(), policy, List.copyOf(spec.getRewardComponentsList()),
                spec.getMaxConcurrency() == 0 ? defaults.maxConcurrency() : spec.getMaxConcurrency(),
                spec.hasCallTimeout() ? duration(spec.getCallTimeout()) : defaults.callTimeout(),
                spec.getMaxAttempts() == 0 ? defaults.maxAttempts() : spec.getMaxAttempts(),
                spec.hasMaxDuration() ? Optional.of(duration(spec.getMaxDuration())) : Optional.empty(),
                spec.getMaxPrompts(), spec.getPromptsPerIteration());
    }

    static Duration duration(com.google.protobuf.Duration d) {
        return Duration.ofSeconds(d.getSeconds(), d.getNanos());
    }

    private static boolean positive(com.google.protobuf.Duration d) {
        return d.getSeconds() > 0 || (d.getSeconds() == 0 && d.getNanos() > 0);
    }

    private static String seconds(com.google.protobuf.Duration d) {
        return duration(d).toString();
    }
}
