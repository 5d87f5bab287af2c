package dev.rlhf.reward;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

import dev.rlhf.model.ModelStore;
import dev.rlhf.reward.core.Rule;
import dev.rlhf.reward.core.RunningNormalizer;

/**
 * The reward's components as configured ({@code rlhf.reward.components[i].*}), checked: the
 * learned ones (a stored reward model's ensemble mean, optionally normalised) and the rules,
 * in configuration order, plus the normalisation settings and the short hash that names this
 * combination ({@code ScoreResponse.config_version}).
 *
 * <p>{@link #from} refuses a configuration with no component, a duplicate or malformed name,
 * an unknown kind, a weight that is not finite, a missing or unparsable regex, a bad length
 * range, or a key set for a kind that does not use it; each message names the key.
 */
public final class Components {

    /** A configured component. */
    public sealed interface Component permits Learned, RuleBased {
        /** The reported name. */
        String name();

        /** Its weight in the total. */
        double weight();
    }

    /** A learned component: {@code model}'s ensemble mean, normalised when {@code normalise}. */
    public record Learned(String name, double weight, String model, boolean normalise) implements Component {
    }

    /** A rule-based component. */
    public record RuleBased(String name, double weight, Rule rule) implements Component {
    }

    /** Component names: as model names, lower-case letters, digits, '.', '_', '-'. */
    static final Pattern NAME = ModelStore.NAME;

    /** Each kind and the keys (besides name, kind, weight) it uses. */
    private static final Map<String, Set<String>> KINDS = new LinkedHashMap<>();

    static {
        KINDS.put("learned", Set.of("model", "normalise"));
        KINDS.put("regex-must", Set.of("pattern"));
        KINDS.put("regex-must-not", Set.of("pattern"));
        KINDS.put("length", Set.of("min-chars", "max-chars"));
        KINDS.put("refusal", Set.of("prompt-pattern", "refusal-pattern"));
    }

    private static final String PREFIX = "rlhf.reward.components";

    private final List<Component> all;
    private final long warmUp;
    private final double epsilon;
    private final String version;

    private Components(List<Component> all, long warmUp, double epsilon, String version) {
        this.all = List.copyOf(all);
        this.warmUp = warmUp;
        this.epsilon = epsilon;
        this.version = version;
    }

    /**
     * Checks and reads the components and the normalisation settings.
     *
     * @throws IllegalArgumentException naming the bad key, its value and the fix
     */
    public static Components from(RewardConfig config) {
        long warmUp = config.normalisation().warmUp();
        double epsilon = config.normalisation().epsilon();
        if (warmUp < 0) {
            throw new IllegalArgumentException("rlhf.reward.normalisation.warm-up must be >= 0, got " + warmUp);
        }
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException("rlhf.reward.normalisation.epsilon must be a finite number > 0, got "
                    + epsilon);
        }
        List<RewardConfig.Component> raw = config.components();
        if (raw.isEmpty()) {
            throw new IllegalArgumentException(PREFIX + " is empty: configure at least one component, e.g. "
                    + PREFIX + "[0].name=helpfulness, " + PREFIX + "[0].kind=learned, " + PREFIX + "[0].model=reward");
        }
        List<Component> all = new ArrayList<>();
        Set<String> names = new HashSet<>();
        StringBuilder canonical = new StringBuilder();
        for (int i = 0; i < raw.size(); i++) {
            Component c = component(PREFIX + "[" + i + "].", raw.get(i), canonical);
            if (!names.add(c.name())) {
                throw new IllegalArgumentException(PREFIX + "[" + i + "].name: " + c.name()
                        + " is configured twice; component names must be unique");
            }
            all.add(c);
        }
        canonical.append("normalisation.warm-up=").append(warmUp).append(";normalisation.epsilon=").append(epsilon);
        return new Components(all, warmUp, epsilon, shortHash(canonical.toString()));
    }

    /** One component from the keys under {@code key} (e.g. "rlhf.reward.components[2]."). */
    private static Component component(String key, RewardConfig.Component c, StringBuilder canonical) {
        // 1. name, kind, weight: every kind has them
        String name = c.name().orElseThrow(() -> new IllegalArgumentException(key + "name is missing: give each"
                + " component a name, e.g. helpfulness or rule.no-urls"));
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(key + "name '" + name + "' is not a valid component name: use"
                    + " lower-case letters, digits, '.', '_' and '-', at most 64 characters");
        }
        String kind = c.kind().orElseThrow(() -> new IllegalArgumentException(key + "kind is missing: use one of "
                + KINDS.keySet()));
        Set<String> uses = KINDS.get(kind);
        if (uses == null) {
            throw new IllegalArgumentException(key + "kind '" + kind + "' is unknown: use one of " + KINDS.keySet());
        }
        if (!Double.isFinite(c.weight())) {
            throw new IllegalArgumentException(key + "weight must be a finite number, got " + c.weight());
        }
        // 2. no key of another kind: a typo or a wrong kind would otherwise be silently ignored
        Map<String, Optional<?>> optional = new LinkedHashMap<>();
        optional.put("model", c.model());
        optional.put("normalise", c.normalise());
        optional.put("pattern", c.pattern());
        optional.put("min-chars", c.minChars());
        optional.put("max-chars", c.maxChars());
        optional.put("prompt-pattern", c.promptPattern());
        optional.put("refusal-pattern", c.refusalPattern());
        for (Map.Entry<String, Optional<?>> e : optional.entrySet()) {
            if (e.getValue().isPresent() && !uses.contains(e.getKey())) {
                throw new IllegalArgumentException(key + e.getKey() + " does not apply to kind " + kind
                        + " (it uses " + uses + "); remove it or fix the kind");
            }
        }
        canonical.append("name=").append(name).append(";kind=").append(kind).append(";weight=").append(c.weight());
        optional.forEach((k, v) -> v.ifPresent(x -> canonical.append(';').append(k).append('=').append(x)));
        canonical.append('\n');
        // 3. the kind's own keys
        return switch (kind) {
            case "learned" -> {
                String model = c.model().orElseThrow(() -> new IllegalArgumentException(key + "model is missing: name"
                        + " the stored reward model that scores " + name));
                if (!ModelStore.NAME.matcher(model).matches()) {
                    throw new IllegalArgumentException(key + "model '" + model + "' is not a valid model name: use"
                            + " lower-case letters, digits, '.', '_' and '-', at most 64 characters");
                }
                yield new Learned(name, c.weight(), model, c.normalise().orElse(true));
            }
            case "regex-must" -> new RuleBased(name, c.weight(), new Rule.RegexMust(regex(key + "pattern", c.pattern())));
            case "regex-must-not" -> new RuleBased(name, c.weight(),
                    new Rule.RegexMustNot(regex(key + "pattern", c.pattern())));
            case "length" -> new RuleBased(name, c.weight(), length(key, c));
            case "refusal" -> new RuleBased(name, c.weight(), new Rule.Refusal(regex(key + "prompt-pattern",
                    c.promptPattern()), regex(key + "refusal-pattern", c.refusalPattern())));
            default -> throw new IllegalStateException("kind " + kind + " is listed but not built");
        };
    }

    private static Pattern regex(String key, Optional<String> value) {
        String regex = value.orElseThrow(() -> new IllegalArgumentException(key + " is missing: give the regex"));
        if (regex.isEmpty()) {
            throw new IllegalArgumentException(key + " is empty: an empty regex matches every text");
        }
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException(key + " is not a valid Java regex (" + e.getDescription() + " near index "
                    + e.getIndex() + " of '" + regex + "')", e);
        }
    }

    private static Rule length(String key, RewardConfig.Component c) {
        if (c.minChars().isEmpty() && c.maxChars().isEmpty()) {
            throw new IllegalArgumentException(key + "min-chars and " + key + "max-chars are both missing: a length"
                    + " rule needs at least one bound");
        }
        int min = c.minChars().orElse(0);
        int max = c.maxChars().orElse(Integer.MAX_VALUE);
        if (min < 0) {
            throw new IllegalArgumentException(key + "min-chars must be >= 0, got " + min);
        }
        if (max < min) {
            throw new IllegalArgumentException(key + "max-chars (" + max + ") must be >= min-chars (" + min + ")");
        }
        return new Rule.Length(min, max);
    }

    /** First 12 hex digits of the SHA-256 of {@code text}. */
    private static String shortHash(String text) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest).substring(0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** Every component, in configuration order. */
    public List<Component> all() {
        return all;
    }

    /**
     * The components a request asks for, in configuration order; all of them for none.
     *
     * @param names ScoreRequest.components
     * @throws IllegalArgumentException naming the first unknown name and its index
     */
    public List<Component> select(List<String> names) {
        if (names.isEmpty()) {
            return all;
        }
        Set<String> wanted = new HashSet<>();
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            if (all.stream().noneMatch(c -> c.name().equals(n))) {
                throw new IllegalArgumentException("components[" + i + "]: unknown component '" + n + "'; configured: "
                        + all.stream().map(Component::name).toList());
            }
            wanted.add(n);
        }
        return all.stream().filter(c -> wanted.contains(c.name())).toList();
    }

    /** The stored model names the learned components use, in configuration order. */
    public Set<String> models() {
        Set<String> models = new LinkedHashSet<>();
        for (Component c : all) {
            if (c instanceof Learned l) {
                models.add(l.model());
            }
        }
        return models;
    }

    /** A fresh normaliser with the configured warm-up and ε (one per served model version). */
    public RunningNormalizer newNormalizer() {
        return new RunningNormalizer(warmUp, epsilon);
    }

    /** Short hash of the component list, weights and normalisations; changes whenever they do. */
    public String version() {
        return version;
    }
}
