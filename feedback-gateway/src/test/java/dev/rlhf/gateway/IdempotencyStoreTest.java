package dev.rlhf.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class IdempotencyStoreTest {

    private final AtomicLong now = new AtomicLong();
    private final IdempotencyStore store = new IdempotencyStore(Duration.ofSeconds(10), 3, now::get);

    @Test
    void secondClaimSeesTheFirstOutcome() {
        var owner = assertInstanceOf(IdempotencyStore.Owner.class, store.claim("k", "h"));
        var waiting = assertInstanceOf(IdempotencyStore.Existing.class, store.claim("k", "h"));
        assertTrue(!waiting.eventId().isDone(), "in flight: the retry waits for the first request");
        store.succeeded(owner.entry(), "e-1");
        assertEquals("e-1", waiting.eventId().join());
        var later = assertInstanceOf(IdempotencyStore.Existing.class, store.claim("k", "h"));
        assertEquals("e-1", later.eventId().join());
    }

    @Test
    void differentEventUnderTheSameKeyConflicts() {
        store.claim("k", "h1");
        assertInstanceOf(IdempotencyStore.Conflict.class, store.claim("k", "h2"));
    }

    @Test
    void failureReleasesTheKeyForARetry() {
        var owner = assertInstanceOf(IdempotencyStore.Owner.class, store.claim("k", "h"));
        var waiting = assertInstanceOf(IdempotencyStore.Existing.class, store.claim("k", "h"));
        store.failed(owner.entry(), new RuntimeException("broker down"));
        assertTrue(waiting.eventId().isCompletedExceptionally());
        assertInstanceOf(IdempotencyStore.Owner.class, store.claim("k", "h"));
    }

    @Test
    void keysExpireAfterTheWindowAndTheOldestGoFirst() {
        store.succeeded(((IdempotencyStore.Owner) store.claim("a", "h")).entry(), "e-a");
        now.set(Duration.ofSeconds(9).toNanos());
        assertInstanceOf(IdempotencyStore.Existing.class, store.claim("a", "h"));
        now.set(Duration.ofSeconds(10).toNanos());
        assertInstanceOf(IdempotencyStore.Owner.class, store.claim("a", "h"), "expired after the window");
        store.claim("b", "h");
        store.claim("c", "h");
        store.claim("d", "h");
        assertEquals(3, store.size());
        assertInstanceOf(IdempotencyStore.Owner.class, store.claim("a", "h"), "the oldest was evicted at capacity");
    }
}
