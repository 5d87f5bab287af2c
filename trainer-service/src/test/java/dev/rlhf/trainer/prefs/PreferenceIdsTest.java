package dev.rlhf.trainer.prefs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.PreferenceRule;

/** UUID v5 preference ids and prompt hashes, checked against values computed elsewhere (Python's uuid, sha256sum). */
class PreferenceIdsTest {

    @Test
    void preferenceIdsAreV5OfRuleAndSortedSourceIdsInTheDocumentedNamespace() {
        // ns = uuid5(NAMESPACE_URL, 'urn:rlhf:v1:preference'); uuid5(ns, 'PREFERENCE_RULE_RATING_PAIR\na\nb')
        assertEquals("3355fe18-fb8c-5808-a071-61adffc42f85", PreferenceIds.NAMESPACE.toString());
        assertEquals("cebdfdf4-3391-5a78-8d22-ec4ba0f500d8",
                PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_RATING_PAIR, List.of("b", "a")));
        assertEquals(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_RATING_PAIR, List.of("a", "b")),
                PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_RATING_PAIR, List.of("b", "a")));
        assertNotEquals(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_RATING_PAIR, List.of("a", "b")),
                PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_THUMBS_PAIR, List.of("a", "b")));
    }

    @Test
    void promptHashIsSha256HexOfTheUtf8Bytes() {
        // printf 'abc' | sha256sum
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", PreferenceIds.promptHash("abc"));
    }
}
