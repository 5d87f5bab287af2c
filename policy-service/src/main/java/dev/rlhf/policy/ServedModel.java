package dev.rlhf.policy;

import java.time.Instant;
import java.util.List;

import dev.rlhf.model.Leases;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.SlotDecoder;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.policy.engine.ContinuousBatcher;

/**
 * One loaded model version: its verified store folder, tokenizer, ONNX Runtime decoder (a
 * {@link SlotDecoder} on the fused-attention graph, or an {@link OrtDecoder} on the serving
 * graph) and batcher. Closed only when retired and idle, so requests finish on the version
 * they started on.
 */
public final class ServedModel implements AutoCloseable {

    private final StoredVersion version;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    /** One of the two is null. */
    private final OrtDecoder decoder;
    private final SlotDecoder slots;
    private final ContinuousBatcher batcher;
    private final Instant loadedSince = Instant.now();
    private final OrtDecoder.Provider provider;
    private final List<io.micrometer.core.instrument.Meter> gauges = new java.util.ArrayList<>();

    ServedModel(StoredVersion version, ModelConfig config, Tokenizer tokenizer, OrtDecoder decoder, SlotDecoder slots,
            ContinuousBatcher batcher, OrtDecoder.Provider provider) {
        this.version = version;
        this.config = config;
        this.tokenizer = tokenizer;
        this.decoder = decoder;
        this.slots = slots;
        this.batcher = batcher;
        this.provider = provider;
    }

    public String name() {
        return version.name();
    }

    public long versionNumber() {
        return version.version();
    }

    public StoredVersion version() {
        return version;
    }

    public ModelConfig config() {
        return config;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** Teacher-forced log-probabilities of (prompt, response) pairs ({@link OrtDecoder#logprobs}). */
    public List<float[]> logprobs(List<int[]> prompts, List<int[]> responses, float temperature) throws Exception {
        return slots != null ? slots.logprobs(prompts, responses, temperature)
                : decoder.logprobs(prompts, responses, temperature);
    }

    /** How the model runs, for the logs. */
    public String engine() {
        return slots != null ? String.format("fused attention, %d KV slots of %d positions for now (%d MiB), up to %d",
                slots.slots(), slots.positions(), slots.cacheBytes() >> 20, slots.capacity())
                : "attention from standard ops, KV cache gathered per batch";
    }

    public ContinuousBatcher batcher() {
        return batcher;
    }

    public Instant loadedSince() {
        return loadedSince;
    }

    public OrtDecoder.Provider provider() {
        return provider;
    }

    /** This version's gauges, removed when it retires. */
    List<io.micrometer.core.instrument.Meter> gauges() {
        return gauges;
    }

    /** Callers between choosing this version and handing their work to its batcher (or scoring on it). */
    private final Leases leases = new Leases();

    /** Leases this version for one call (see {@link Leases}); false once it is closing. */
    boolean acquire() {
        return leases.acquire();
    }

    public void release() {
        leases.release();
    }

    Leases leases() {
        return leases;
    }

    /** Whether nothing is queued or decoding on this version. */
    public boolean idle() {
        return batcher.idle();
    }

    /**
     * Generates two warm-up tokens through the batcher, a prefill and a decode step (the first
     * runs allocate ONNX Runtime's buffers).
     */
    void warmUp() throws Exception {
        java.util.concurrent.CompletableFuture<OrtDecoder.Finish> done = new java.util.concurrent.CompletableFuture<>();
        batcher.submit(new int[] {config.bosTokenId() >= 0 ? config.bosTokenId() : 0}, OrtDecoder.Sampling.greedy(2),
                new ContinuousBatcher.Sink() {
                    @Override
                    public void token(int token, float logprob) {
                    }

                    @Override
                    public void finished(OrtDecoder.Finish finish) {
                        done.complete(finish);
                    }

                    @Override
                    public void failed(Throwable error) {
                        done.completeExceptionally(error);
                    }

                    @Override
                    public boolean cancelled() {
                        return false;
                    }
                });
        done.get(60, java.util.concurrent.TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        batcher.close();
        try {
            if (slots != null) {
                slots.close();
            } else {
                decoder.close();
            }
        } catch (Exception e) {
            // the session is gone either way
        }
        tokenizer.close();
    }
}
