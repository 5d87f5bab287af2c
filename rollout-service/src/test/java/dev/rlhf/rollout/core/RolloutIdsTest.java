package dev.rlhf.rollout.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.ModelRef;

class RolloutIdsTest {

    @Test
    void rolloutIdsAreVersion5UuidsOfTheDocumentedName() {
        ModelRef v3 = ModelRef.newBuilder().setName("policy").setVersion(3).build();
        String id = RolloutIds.rolloutId("online", "p-1", 0, v3, 2);
        assertEquals(dev.rlhf.kafka.support.Uuids.v5(RolloutIds.NAMESPACE, "online\np-1\n0\npolicy\n3\n2").toString(), id);
        assertEquals(5, UUID.fromString(id).version());
        assertEquals(dev.rlhf.kafka.support.Uuids.v5(dev.rlhf.kafka.support.Uuids.NAMESPACE_URL, "urn:rlhf:v1:rollout"), RolloutIds.NAMESPACE);
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
