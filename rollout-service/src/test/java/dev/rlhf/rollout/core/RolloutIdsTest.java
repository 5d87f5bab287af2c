package dev.rlhf.rollout.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.ModelRef;

class RolloutIdsTest {

    @Test
    void uuidV5MatchesTheRfcExample() {
        UUID dns = UUID.fromString("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
        assertEquals("2ed6657d-e927-568b-95e1-2665a8aea6a2", RolloutIds.uuidV5(dns, "www.example.com").toString());
    }

    @Test
    void rolloutIdsAreVersion5UuidsOfTheDocumentedName() {
        ModelRef v3 = ModelRef.newBuilder().setName("policy").setVersion(3).build();
        String id = RolloutIds.rolloutId("online", "p-1", 0, v3, 2);
        assertEquals(RolloutIds.uuidV5(RolloutIds.NAMESPACE, "online\np-1\n0\npolicy\n3\n2").toString(), id);
        assertEquals(5, UUID.fromString(id).version());
        assertEquals(RolloutIds.uuidV5(RolloutIds.NAMESPACE_URL, "urn:rlhf:v1:rollout"), RolloutIds.NAMESPACE);
    }

    @Test
    void derivedSeedsAreStableNonNegativeAndPerPromptAndEpoch() {
        long s = RolloutIds.seed("online", "p-1", 0);
        assertEquals(s, RolloutIds.seed("online", "p-1", 0));
        assertTrue(s >= 0);
        assertNotEquals(s, RolloutIds.seed("online", "p-1", 1));
        assertNotEquals(s, RolloutIds.seed("online", "p-2", 0));
    }
}
