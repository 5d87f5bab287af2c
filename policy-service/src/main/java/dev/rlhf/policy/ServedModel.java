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
import dev.rlhf.policy.engine.Lanes;

/**
 * One loaded model version: its verified store folder, tokenizer, ONNX Runtime decoder (a
 * {@link SlotDecoder} per lane on the fused-attention graph, or an {@link OrtDecoder} on the
 * serving graph) and batchers ({@link Lanes}). Closed only when retired and idle, so
 * requests finish on the version they started on.
 */
public final class ServedModel implements AutoCloseable {

    private final StoredVersion version;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    /** The serving graph's decoder, or null when {@link #slots} (one per lane) are used. */
    private final OrtDecoder decoder;
    private final List<SlotDecoder> slots;
    private final Lanes batcher;
    private final int threadsPerLane;
    private final Instant loadedSince = Instant.now();
    private final OrtDecoder.Provider provider;
    private final List<io.micrometer.core.instrument.Meter> gauges = new java.util.ArrayList<>();

    ServedModel(StoredVersion version, ModelConfig config, Tokenizer tokenizer, OrtDecoder decoder,
            List<SlotDecoder> slots, Lanes batcher, int threadsPerLane, OrtDecoder.Provider provider) {
        this.version = version;
        this.config = config;
        this.tokenizer = tokenizer;
        this.decoder = decoder;
        this.slots = List.copyOf(slots);
        this.batcher = batcher;
        this.threadsPerLane = threadsPerLane;
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
        return decoder == null ? slots.get(0).logprobs(prompts, responses, temperature)
                : decoder.logprobs(prompts, responses, temperature);
    }

    /** How the model runs, for the logs. */
    public String engine() {
        if (decoder != null) {
            return "attention from standard ops, KV cache gathered per batch";
        }
        SlotDecoder first = slots.get(0);
        return String.format("fused attention; %d lane(s) of %d KV slots, %d ONNX Runtime thread(s) each; %d positions"
                + " per slot for now (%d MiB in all), up to %d", slots.size(), first.slots(), threadsPerLane,
                first.positions(), slots.stream().mapToLong(SlotDecoder::cacheBytes).sum() >> 20, first.capacity());
    }

    public Lanes batcher() {
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
     * Generates two warm-up tokens on each lane, a prefill and a decode step (the first runs
     * allocate ONNX Runtime's buffers).
     */
    void warmUp() throws Exception {
        for (ContinuousBatcher lane : batcher.lanes()) {
            warmUp(lane);
        }
    }

    private void warmUp(ContinuousBatcher lane) throws Exception {
        java.util.concurrent.CompletableFuture<OrtDecoder.Finish> done = new java.util.concurrent.CompletableFuture<>();
        lane.submit(new int[] {config.bosTokenId() >= 0 ? config.bosTokenId() : 0}, OrtDecoder.Sampling.greedy(2),
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
            for (SlotDecoder s : slots) {
                s.close();
            }
            if (decoder != null) {
                decoder.close();
            }
        } catch (Exception e) {
            // the session is gone either way
        }
        tokenizer.close();
    }
}
