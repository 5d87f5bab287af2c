package dev.rlhf.trainer.prefs;

import java.time.Duration;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * Configuration of the preference normaliser ({@code rlhf.normaliser.*}); checked at start-up
 * by {@link NormaliserService}. The rules are documented on {@link PreferenceRules}, the
 * delivery guarantees on {@link PreferenceNormaliser}.
 */
@ConfigMapping(prefix = "rlhf.normaliser")
public interface NormaliserConfig {

    /** Whether this trainer-service runs the normaliser (run one replica of it: see PreferenceNormaliser). */
    @WithDefault("true")
    boolean enabled();

    /** Consumer group whose committed offsets mark the feedback and interactions already normalised. */
    @WithDefault("rlhf-normaliser")
    String groupId();

    /** Topic names. */
    Topics topics();

    /** Longest wait for Kafka to acknowledge a preference or dead letter, at least 2 s. */
    @WithDefault("10s")
    Duration produceTimeout();

    /**
     * The consumer's max.poll.interval.ms, at least 10 s: the state is rebuilt inside the
     * rebalance callback, so this must exceed the time to read both topics up to the committed
     * offsets.
     */
    @WithDefault("15m")
    Duration maxPollInterval();

    /** Pause before starting over (from the committed offsets) after a failed batch. */
    @WithDefault("2s")
    Duration retryBackoff();

    /** Sample weights ({@code Preference.weight}), each > 0. */
    Weight weight();

    /** Margins ({@code Preference.margin}), each >= 0. */
    Margin margin();

    /** Prompts remembered for rating and thumbs pairing (least recently touched forgotten), >= 1. */
    @WithDefault("20000")
    int maxPrompts();

    /** Responses remembered per prompt (least recently touched forgotten), >= 2. */
    @WithDefault("16")
    int maxResponsesPerPrompt();

    /** Interactions remembered for the join (oldest forgotten), >= 1. */
    @WithDefault("100000")
    int maxInteractions();

    /** Feedback events that may wait for their interaction; beyond it the oldest is dead-lettered. >= 1. */
    @WithDefault("10000")
    int maxPending();

    /**
     * A feedback event waits for its interaction until the interactions topic's newest record
     * timestamp is this far past the feedback record's timestamp; then it is dead-lettered with
     * reason "unknown interaction". > 0.
     */
    @WithDefault("1h")
    Duration joinWindow();

    /** Feedback event ids remembered to drop repeats, >= 1. */
    @WithDefault("200000")
    int maxSeenEvents();

    /** Preference ids remembered to drop repeats, >= 1. */
    @WithDefault("200000")
    int maxSeenPreferences();

    interface Topics {
        /** FeedbackEvents in. */
        @WithDefault("rlhf.feedback.v1")
        String feedback();

        /** Interactions in (for the join). */
        @WithDefault("rlhf.interactions.v1")
        String interactions();

        /** Preferences out (key: prompt hash). */
        @WithDefault("rlhf.preferences.v1")
        String preferences();

        /** Unreadable or unusable records, and feedback whose interaction never came. */
        @WithDefault("rlhf.feedback.dlq.v1")
        String deadLetters();
    }

    interface Weight {
        /** Of PAIRWISE pairs. */
        @WithDefault("1.0")
        double pairwise();

        /** Of RATING_PAIR pairs. */
        @WithDefault("1.0")
        double rating();

        /** Of THUMBS_PAIR pairs: weaker evidence than a stated comparison. */
        @WithDefault("0.5")
        double thumbs();

        /** Of EDIT pairs. */
        @WithDefault("1.0")
        double edit();
    }

    interface Margin {
        /** Margin per step of PairwiseChoice.strength (1..3); 0 when no strength was asked. */
        @WithDefault("1.0")
        double perStrength();

        /** Margin per point of rating difference (1..4). */
        @WithDefault("1.0")
        double perRatingPoint();

        /** Margin of EDIT pairs. */
        @WithDefault("0.0")
        double edit();
    }

    /** The rules' settings; throws IllegalArgumentException naming the bad key. */
    default PreferenceRules.Settings rules() {
        return new PreferenceRules.Settings(weight().pairwise(), weight().rating(), weight().thumbs(), weight().edit(),
                margin().perStrength(), margin().perRatingPoint(), margin().edit(), maxPrompts(),
                maxResponsesPerPrompt(), maxInteractions(), maxPending(), joinWindow(), maxSeenEvents(),
                maxSeenPreferences());
    }
}
