package dev.rlhf.reward;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * Configuration of reward-service ({@code rlhf.reward.*}). Checked at start-up by
 * {@link Components#from} and {@link ScoringLimits#from} (and the provider by
 * {@link ModelRegistry}): a bad value fails start-up with a message naming its key.
 */
@ConfigMapping(prefix = "rlhf.reward")
public interface RewardConfig {

    /** Root of the versioned model store (shared with the trainer). */
    @WithDefault(".rlhf/models")
    Path modelStore();

    /** Topic of model announcements (compacted, key = model name). */
    @WithDefault("rlhf.models.v1")
    String modelsTopic();

    /** ONNX Runtime execution provider: cpu or cuda (start-up fails when cuda is demanded and missing). */
    @WithDefault("cpu")
    String provider();

    /** ONNX Runtime intra-op threads per reward model (0 = its default). */
    @WithDefault("0")
    int threads();

    /** Most sequences in one ONNX Runtime run; a call's pairs are scored in runs of this size. */
    @WithDefault("32")
    int batchSize();

    /** Most pairs in one Score call. */
    @WithDefault("256")
    int maxPairs();

    /** Most pairs being scored at once over all calls; a call beyond gets RESOURCE_EXHAUSTED. */
    @WithDefault("1024")
    int maxInflightPairs();

    /** The retry hint (trailer retry-after-ms) sent with RESOURCE_EXHAUSTED. */
    @WithDefault("200")
    int retryAfterMs();

    /**
     * A pair longer than a reward model's context: {@code reject} (INVALID_ARGUMENT naming the
     * pair) or {@code truncate-left} (drop tokens from the left, mark the score truncated).
     */
    @WithDefault("reject")
    String truncation();

    /** Running normalisation of learned components (see {@code RunningNormalizer}). */
    Normalisation normalisation();

    /**
     * The reward's components, in the order responses report them:
     * {@code rlhf.reward.components[i].*}. At least one.
     */
    List<Component> components();

    /** {@code rlhf.reward.normalisation.*}. */
    interface Normalisation {

        /** Scores a model's normaliser sees before it divides by their σ (until then it only centres). */
        @WithDefault("128")
        long warmUp();

        /** Lower bound of the σ divided by. */
        @WithDefault("1e-6")
        double epsilon();
    }

    /**
     * One component, {@code rlhf.reward.components[i].*}. Which keys apply depends on the
     * kind; a key set for a kind that does not use it fails start-up.
     */
    interface Component {

        /** Reported name, e.g. helpfulness or rule.no-urls: lower-case letters, digits, '.', '_', '-'. */
        Optional<String> name();

        /** learned, regex-must, regex-must-not, length or refusal. */
        Optional<String> kind();

        /** Weight in the total (finite; 0 reports the component without counting it). */
        @WithDefault("1.0")
        double weight();

        /** learned: the stored model name whose latest version scores the pair. */
        Optional<String> model();

        /** learned: normalise the ensemble mean with the model's running statistics (default true). */
        Optional<Boolean> normalise();

        /** regex-must, regex-must-not: the regex searched in the response. */
        Optional<String> pattern();

        /** length: fewest characters (code points) of the response (default 0). */
        Optional<Integer> minChars();

        /** length: most characters (code points) of the response (default unbounded). */
        Optional<Integer> maxChars();

        /** refusal: the regex that marks a prompt that must be refused. */
        Optional<String> promptPattern();

        /** refusal: the regex a refusing response contains. */
        Optional<String> refusalPattern();
    }
}
