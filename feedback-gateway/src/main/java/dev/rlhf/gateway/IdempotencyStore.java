package dev.rlhf.gateway;

import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;

/**
 * Remembers idempotency keys for a window so that a retried submit yields one Kafka record.
 *
 * <p>A key is claimed before its event is produced. A second request with the same key
 * while the first is in flight waits for the first's outcome; after the first was
 * acknowledged it gets the stored event id at once ({@code duplicate}). If the first
 * failed, the key is released and the next retry produces again. The same key with a
 * different event is a conflict.
 *
 * <p>Bounded: at most {@code maxKeys} keys (oldest forgotten first), each for
 * {@code window} after it was claimed. In memory, per gateway instance.
 */
final class IdempotencyStore {

    /** The outcome of {@link #claim}. */
    sealed interface Claim permits Owner, Existing, Conflict {
    }

    /** This caller must produce the event and then {@link #succeeded} or {@link #failed}. */
    record Owner(Entry entry) implements Claim {
    }

    /** An earlier request with this key: its event id once stored (or its failure). */
    record Existing(CompletableFuture<String> eventId) implements Claim {
    }

    /** The key was used for a different event. */
    record Conflict() implements Claim {
    }

    static final class Entry {
        final String key;
        final String requestHash;
        final long claimedAtNanos;
        final CompletableFuture<String> eventId = new CompletableFuture<>();

        Entry(String key, String requestHash, long claimedAtNanos) {
            this.key = key;
            this.requestHash = requestHash;
            this.claimedAtNanos = claimedAtNanos;
        }
    }

    private final long windowNanos;
    private final int maxKeys;
    private final LongSupplier clock;
    // insertion order = claim order, so the head is always the oldest entry
    private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>();

    IdempotencyStore(Duration window, int maxKeys, LongSupplier nanoClock) {
        this.windowNanos = window.toNanos();
        this.maxKeys = maxKeys;
        this.clock = nanoClock;
    }

    /**
     * @param key         the idempotency key, already scoped by API key
     * @param requestHash a digest of the event, to detect reuse with a different event
     */
    synchronized Claim claim(String key, String requestHash) {
        long now = clock.getAsLong();
        evictExpired(now);
        Entry existing = entries.get(key);
        if (existing != null) {
            if (!existing.requestHash.equals(requestHash)) {
                return new Conflict();
            }
            return new Existing(existing.eventId);
        }
        Entry entry = new Entry(key, requestHash, now);
        entries.put(key, entry);
        while (entries.size() > maxKeys) {
            Iterator<Entry> it = entries.values().iterator();
            it.next();
            it.remove();
        }
        return new Owner(entry);
    }

    /** The owner's event was acknowledged by Kafka. */
    void succeeded(Entry entry, String eventId) {
        entry.eventId.complete(eventId);
    }

    /** The owner's event was not stored: forget the key so that a retry produces again. */
    void failed(Entry entry, Throwable cause) {
        synchronized (this) {
            entries.remove(entry.key, entry);
        }
        entry.eventId.completeExceptionally(cause);
    }

    synchronized int size() {
        return entries.size();
    }

    private void evictExpired(long now) {
        Iterator<Map.Entry<String, Entry>> it = entries.entrySet().iterator();
        while (it.hasNext()) {
            Entry e = it.next().getValue();
            if (now - e.claimedAtNanos < windowNanos) {
                return;
            }
            it.remove();
        }
    }
}
