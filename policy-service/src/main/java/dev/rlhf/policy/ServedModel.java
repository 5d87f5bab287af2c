package dev.rlhf.policy;

import java.time.Instant;
import java.util.List;

import dev.rlhf.model.Leases;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.policy.engine.ContinuousBatcher;

/**
 * One loaded model version: its verified store folder, tokenizer, ONNX Runtime decoder and
 * batcher. Closed only when retired and idle, so requests finish on the version they
 * started on.
 */
public final class ServedModel implements AutoCloseable {

    private final StoredVersion version;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    private final OrtDecoder decoder;
    private final ContinuousBatcher batcher;
    private final Instant loadedSince = Instant.now();
    private final OrtDecoder.Provider provider;
    private final List<io.micrometer.core.instrument.Meter> gauges = new java.util.ArrayList<>();

    ServedModel(StoredVersion version, ModelConfig config, Tokenizer tokenizer, OrtDecoder decoder,
            ContinuousBatcher batcher, OrtDecoder.Provider provider) {
        this.version = version;
        this.config = config;
        this.tokenizer = tokenizer;
        this.decoder = decoder;
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

    public OrtDecoder decoder() {
        return decoder;
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

    /** Generates one warm-up token (the first run allocates ONNX Runtime's buffers). */
    void warmUp() throws Exception {
        decoder.generate(List.of(new int[] {config.bosTokenId() >= 0 ? config.bosTokenId() : 0}),
                OrtDecoder.Sampling.greedy(1));
    }

    @Override
    public void close() {
        batcher.close();
        try {
            decoder.close();
        } catch (Exception e) {
            // the session is gone either way
        }
        tokenizer.close();
    }
}
