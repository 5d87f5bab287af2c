package dev.rlhf.rollout.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import dev.rlhf.proto.v1.GenerateRequest;
import dev.rlhf.proto.v1.GeneratedSample;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.proto.v1.SamplingOverrides;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.ScorePair;
import dev.rlhf.proto.v1.ScoreRequest;
import dev.rlhf.proto.v1.TokenSequence;

/**
 * What rollout-service asks policy- and reward-service for one prompt: the prompt's checks,
 * its sampling plan (the run's parameters with the prompt's overrides, n = K, a derived seed
 * when none is given), and the Generate and Score requests.
 */
public final class RolloutRequests {

    /** Prompt.labels holds at most this many entries (events.proto). */
    public static final int MAX_LABELS = 32;
    /** Caller id sent as GenerateRequest.app_id. */
    public static final String APP_ID = "rollout-service";

    /**
     * The sampling of one prompt.
     *
     * @param k           samples to draw (n of the Generate call)
     * @param bestOfNKeep samples marked selected in BEST_OF_N mode, 1..k
     * @param sampling    what Generate is asked for: the run's parameters, the prompt's
     *                    overrides applied, n = k, the seed set (the given one or a derived one)
     */
    public record Plan(int k, int bestOfNKeep, SamplingParams sampling) {
    }

    private RolloutRequests() {
    }

    /** Why {@code p} cannot be sampled at all, or empty (events.proto's rules for Prompt). */
    public static Optional<String> problem(Prompt p) {
        if (p.getPromptId().isBlank()) {
            return Optional.of("prompt_id is required");
        }
        if (p.getText().isEmpty() && p.getPromptTokenIdsCount() == 0) {
            return Optional.of("prompt " + p.getPromptId() + ": text or prompt_token_ids is required");
        }
        if (p.getLabelsCount() > MAX_LABELS) {
            return Optional.of("prompt " + p.getPromptId() + ": at most " + MAX_LABELS + " labels, has "
                    + p.getLabelsCount());
        }
        return Optional.empty();
    }

    /**
     * Whether a run reading the prompts topic takes {@code p}: it is addressed to no run or to
     * {@code runId}, and it belongs to {@code promptSet} when the run filters on one.
     */
    public static boolean addressedTo(Prompt p, String runId, Optional<String> promptSet) {
        return (p.getRunId().isEmpty() || p.getRunId().equals(runId))
                && promptSet.map(s -> s.equals(p.getPromptSet())).orElse(true);
    }

    /**
     * The sampling plan of {@code p} in a run: 1. the run's parameters; 2. each override the
     * prompt carries; 3. n = K; 4. the seed, derived from (run, prompt, epoch) when neither
     * set one ({@link RolloutIds#seed}).
     *
     * @throws IllegalArgumentException naming the override that breaks a rule
     */
    public static Plan plan(Prompt p, RunSpecs.Effective spec, String runId, long epoch) {
        // 1. + 2.
        SamplingParams.Builder s = spec.sampling().toBuilder();
        int k = spec.samplesPerPrompt();
        if (p.hasSamplingOverrides()) {
            SamplingOverrides o = p.getSamplingOverrides();
            if (o.hasTemperature()) {
                s.setTemperature(o.getTemperature());
            }
            if (o.hasTopK()) {
                s.setTopK(o.getTopK());
            }
            if (o.hasTopP()) {
                s.setTopP(o.getTopP());
            }
            if (o.hasSeed()) {
                s.setSeed(o.getSeed());
            }
            if (o.hasMaxNewTokens()) {
                s.setMaxNewTokens(o.getMaxNewTokens());
            }
            if (o.getStopCount() > 0) {
                s.clearStop().addAllStop(o.getStopList());
            }
            if (o.getStopTokenIdsCount() > 0) {
                s.clearStopTokenIds().addAllStopTokenIds(o.getStopTokenIdsList());
            }
            if (o.hasSamplesPerPrompt()) {
                k = o.getSamplesPerPrompt();
            }
        }
        List<String> problems = new ArrayList<>(RunSpecs.samplingProblems("sampling_overrides", s.build()));
        if (k < 1 || k > RunSpecs.MAX_SAMPLES_PER_PROMPT) {
            problems.add("sampling_overrides.samples_per_prompt must be in 1.." + RunSpecs.MAX_SAMPLES_PER_PROMPT
                    + ", was " + k);
        } else if (spec.bestOfN() && k < 2) {
            problems.add("sampling_overrides.samples_per_prompt must be >= 2 in BEST_OF_N mode, was " + k);
        }
        if (s.getTemperature() == 0 && k > 1) {
            problems.add("temperature 0 (greedy) with " + k + " samples per prompt would draw " + k
                    + " equal samples: override temperature > 0 or samples_per_prompt = 1");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("prompt " + p.getPromptId() + ": " + String.join("; ", problems));
        }
        // 3. + 4.
        s.setN(k);
        if (!s.hasSeed()) {
            s.setSeed(RolloutIds.seed(runId, p.getPromptId(), epoch));
        }
        return new Plan(k, Math.min(spec.bestOfNKeep(), k), s.build());
    }

    /** The Generate call for {@code p}: token ids when given (they win over text), interactions not logged. */
    public static GenerateRequest generate(Prompt p, Plan plan, RunSpecs.Effective spec, String requestId) {
        GenerateRequest.Builder r = GenerateRequest.newBuilder()
                .setModel(spec.policy())
                .setSampling(plan.sampling())
                .setSkipInteractionLog(true)
                .setAppId(APP_ID)
                .setRequestId(requestId);
        if (p.getPromptTokenIdsCount() > 0) {
            r.setPromptTokenIds(TokenSequence.newBuilder().addAllIds(p.getPromptTokenIdsList()));
        } else {
            r.setPromptText(p.getText());
        }
        return r.build();
    }

    /**
     * The Score call for {@code samples} (texts only: the policy's tokenizer checksum is not
     * known here, so learned components tokenize the text themselves).
     *
     * @param promptText the prompt as the policy saw it (Prompt.text, or the policy's decoding of its ids)
     */
    public static ScoreRequest score(String promptText, List<GeneratedSample> samples, RunSpecs.Effective spec,
            String requestId) {
        ScoreRequest.Builder r = ScoreRequest.newBuilder().addAllComponents(spec.rewardComponents())
                .setRequestId(requestId);
        for (GeneratedSample s : samples) {
            r.addPairs(ScorePair.newBuilder().setPrompt(promptText).setResponse(s.getText()));
        }
        return r.build();
    }
}
