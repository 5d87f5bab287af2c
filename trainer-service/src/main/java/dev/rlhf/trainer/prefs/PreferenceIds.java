package dev.rlhf.trainer.prefs;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collection;
import java.util.HexFormat;
import java.util.UUID;

import dev.rlhf.kafka.support.Uuids;
import dev.rlhf.proto.v1.PreferenceRule;

/**
 * The deterministic ids and hashes of {@code rlhf.preferences.v1} (events.proto).
 *
 * <p>{@code Preference.preference_id} = UUID v5 (RFC 9562 §5.5, SHA-1 name-based) in the
 * namespace {@link #NAMESPACE} of the name
 * <pre>  rule enum name + "\n" + sorted(source_event_ids) joined by "\n"</pre>
 * e.g. {@code "PREFERENCE_RULE_RATING_PAIR\n<id a>\n<id b>"} with the ids sorted by their
 * UTF-16 code units ({@link String#compareTo}). The same rule over the same feedback events
 * gives the same id whatever the order the events arrived in, so a replay after a crash
 * re-emits the same id and consumers drop the repeat by it.
 */
public final class PreferenceIds {

    /** RFC 9562's namespace for URLs (and URNs), {@code 6ba7b811-9dad-11d1-80b4-00c04fd430c8}. */

    /**
     * Namespace of preference ids: UUID v5 of {@code "urn:rlhf:v1:preference"} in the URL
     * namespace, i.e. {@code 3355fe18-fb8c-5808-a071-61adffc42f85}.
     */
    public static final UUID NAMESPACE = Uuids.v5(Uuids.NAMESPACE_URL, "urn:rlhf:v1:preference");

    private PreferenceIds() {
    }

    /** The {@code preference_id} of a pair made by {@code rule} from {@code sourceEventIds} (any order). */
    public static String preferenceId(PreferenceRule rule, Collection<String> sourceEventIds) {
        if (rule == null || rule == PreferenceRule.PREFERENCE_RULE_UNSPECIFIED || rule == PreferenceRule.UNRECOGNIZED) {
            throw new IllegalArgumentException("a preference id needs a rule, got " + rule);
        }
        if (sourceEventIds.isEmpty()) {
            throw new IllegalArgumentException("a preference id needs at least one source event id");
        }
        StringBuilder name = new StringBuilder(rule.name());
        sourceEventIds.stream().sorted().forEach(id -> name.append('\n').append(id));
        return Uuids.v5(NAMESPACE, name.toString()).toString();
    }

    /** The prompt hash of events.proto: lowercase hex SHA-256 of the prompt's UTF-8 bytes, as given. */
    public static String promptHash(String prompt) {
        return HexFormat.of().formatHex(digest("SHA-256").digest(prompt.getBytes(StandardCharsets.UTF_8)));
    }

    private static MessageDigest digest(String algorithm) {
        try {
            return MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(algorithm + " is required of every Java platform", e);
        }
    }
}
