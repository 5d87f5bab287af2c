package dev.rlhf.reward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

import dev.rlhf.reward.core.Rule;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfigBuilder;

/** The component configuration as SmallRye Config maps it: checked, each error naming its key. */
class ComponentsTest {

    private static final String C = "rlhf.reward.components";

    /** The shipped defaults: helpfulness (learned), rule.no-urls, rule.length. */
    private static Map<String, String> defaults() {
        Map<String, String> p = new HashMap<>();
        p.put(C + "[0].name", "helpfulness");
        p.put(C + "[0].kind", "learned");
        p.put(C + "[0].model", "reward");
        p.put(C + "[1].name", "rule.no-urls");
        p.put(C + "[1].kind", "regex-must-not");
        p.put(C + "[1].pattern", "https?://");
        p.put(C + "[1].weight", "0.1");
        p.put(C + "[2].name", "rule.length");
        p.put(C + "[2].kind", "length");
        p.put(C + "[2].min-chars", "1");
        p.put(C + "[2].max-chars", "2000");
        p.put(C + "[2].weight", "0.1");
        return p;
    }

    static RewardConfig config(Map<String, String> properties) {
        return new SmallRyeConfigBuilder().withSources(new PropertiesConfigSource(properties, "test", 100))
                .withConverter(Path.class, 100, Path::of).withMapping(RewardConfig.class).build()
                .getConfigMapping(RewardConfig.class);
    }

    private static String failure(Map<String, String> properties) {
        return assertThrows(IllegalArgumentException.class, () -> Components.from(config(properties))).getMessage();
    }

    @Test
    void theDefaultsAreReadInConfigurationOrder() {
        Components c = Components.from(config(defaults()));
        assertEquals(List.of("helpfulness", "rule.no-urls", "rule.length"),
                c.all().stream().map(Components.Component::name).toList());
        Components.Learned learned = assertInstanceOf(Components.Learned.class, c.all().get(0));
        assertEquals("reward", learned.model());
        assertEquals(1.0, learned.weight());
        assertTrue(learned.normalise(), "normalised unless switched off");
        Rule.Length length = assertInstanceOf(Rule.Length.class, ((Components.RuleBased) c.all().get(2)).rule());
        assertEquals(new Rule.Length(1, 2000), length);
        assertEquals(Set.of("reward"), c.models());
        assertEquals(12, c.version().length());
    }

    @Test
    void theConfigVersionChangesWithWeightsAndNormalisationOnly() {
        String base = Components.from(config(defaults())).version();
        assertEquals(base, Components.from(config(defaults())).version(), "stable");
        Map<String, String> p = defaults();
        p.put(C + "[1].weight", "0.2");
        assertNotEquals(base, Components.from(config(p)).version());
        p = defaults();
        p.put(C + "[0].normalise", "false");
        assertNotEquals(base, Components.from(config(p)).version());
        p = defaults();
        p.put("rlhf.reward.normalisation.warm-up", "7");
        assertNotEquals(base, Components.from(config(p)).version());
        p = defaults();
        p.put("rlhf.reward.max-pairs", "8"); // a limit, not the combination
        assertEquals(base, Components.from(config(p)).version());
    }

    @Test
    void aBadRegexNamesItsKey() {
        Map<String, String> p = defaults();
        p.put(C + "[1].pattern", "https?://(");
        String m = failure(p);
        assertTrue(m.startsWith(C + "[1].pattern is not a valid Java regex"), m);
        p = defaults();
        p.put(C + "[3].name", "rule.refuse");
        p.put(C + "[3].kind", "refusal");
        p.put(C + "[3].prompt-pattern", "bomb");
        p.put(C + "[3].refusal-pattern", "[cannot");
        m = failure(p);
        assertTrue(m.startsWith(C + "[3].refusal-pattern is not a valid Java regex"), m);
    }

    @Test
    void anUnknownKindNamesItsKeyAndTheKnownOnes() {
        Map<String, String> p = defaults();
        p.put(C + "[2].kind", "lenght");
        String m = failure(p);
        assertTrue(m.startsWith(C + "[2].kind 'lenght' is unknown"), m);
        assertTrue(m.contains("learned, regex-must, regex-must-not, length, refusal"), m);
    }

    @Test
    void everyOtherMistakeNamesItsKey() {
        Map<String, String> p = defaults();
        p.put(C + "[0].weight", "NaN");
        assertTrue(failure(p).startsWith(C + "[0].weight must be a finite number"));
        p = defaults();
        p.put(C + "[1].weight", "Infinity");
        assertTrue(failure(p).startsWith(C + "[1].weight must be a finite number"));
        p = defaults();
        p.put(C + "[2].name", "rule.no-urls");
        assertTrue(failure(p).startsWith(C + "[2].name: rule.no-urls is configured twice"));
        p = defaults();
        p.remove(C + "[0].model");
        assertTrue(failure(p).startsWith(C + "[0].model is missing"));
        p = defaults();
        p.remove(C + "[1].pattern");
        assertTrue(failure(p).startsWith(C + "[1].pattern is missing"));
        p = defaults();
        p.put(C + "[1].model", "reward");
        assertTrue(failure(p).startsWith(C + "[1].model does not apply to kind regex-must-not"));
        p = defaults();
        p.put(C + "[2].max-chars", "0");
        assertTrue(failure(p).startsWith(C + "[2].max-chars (0) must be >= min-chars (1)"));
        p = defaults();
        p.put(C + "[1].name", "No URLs");
        assertTrue(failure(p).startsWith(C + "[1].name 'No URLs' is not a valid component name"));
        p = defaults();
        p.put("rlhf.reward.normalisation.epsilon", "0");
        assertTrue(failure(p).startsWith("rlhf.reward.normalisation.epsilon must be a finite number > 0"));
    }

    @Test
    void noComponentsIsRefused() {
        String m = failure(Map.of("rlhf.reward.provider", "cpu"));
        assertTrue(m.startsWith(C + " is empty: configure at least one component"), m);
    }

    @Test
    void aRequestSelectsComponentsByNameInConfigurationOrder() {
        Components c = Components.from(config(defaults()));
        assertEquals(List.of("helpfulness", "rule.length"), c.select(List.of("rule.length", "helpfulness", "rule.length"))
                .stream().map(Components.Component::name).toList());
        assertEquals(c.all(), c.select(List.of()));
        var e = assertThrows(IllegalArgumentException.class, () -> c.select(List.of("helpfulness", "harmlessness")));
        assertTrue(e.getMessage().startsWith("components[1]: unknown component 'harmlessness'"), e.getMessage());
    }

    @Test
    void limitsAreCheckedNamingTheirKey() {
        Map<String, String> p = defaults();
        assertEquals(new ScoringLimits(32, 256, 1024, 200, ScoringLimits.Truncation.REJECT), ScoringLimits.from(config(p)));
        p.put("rlhf.reward.truncation", "truncate-left");
        assertEquals(ScoringLimits.Truncation.TRUNCATE_LEFT, ScoringLimits.from(config(p)).truncation());
        p.put("rlhf.reward.truncation", "truncate-right");
        var e = assertThrows(IllegalArgumentException.class, () -> ScoringLimits.from(config(p)));
        assertTrue(e.getMessage().startsWith("rlhf.reward.truncation must be reject or truncate-left"), e.getMessage());
        Map<String, String> q = defaults();
        q.put("rlhf.reward.max-inflight-pairs", "100");
        e = assertThrows(IllegalArgumentException.class, () -> ScoringLimits.from(config(q)));
        assertTrue(e.getMessage().startsWith("rlhf.reward.max-inflight-pairs (100) must be >= rlhf.reward.max-pairs"),
                e.getMessage());
    }
}
