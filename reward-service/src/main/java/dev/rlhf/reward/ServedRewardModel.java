package dev.rlhf.reward;

import java.util.List;

import dev.rlhf.model.Leases;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtScorer;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.ScorePair;
import dev.rlhf.reward.core.RunningNormalizer;

/**
 * One loaded reward model version: its verified store folder, tokenizer and chat template,
 * ONNX Runtime scorer, and the running statistics its scores are normalised with (fresh per
 * version). Leased by each call that scores on it; closed only when retired and unleased, so
 * a call finishes on the version it started on.
 */
public final class ServedRewardModel implements AutoCloseable {

    private final StoredVersion version;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    private final OrtScorer scorer;
    private final PairEncoder encoder;
    private final RunningNormalizer normalizer;
    private final String tokenizerSha256;

    /** Calls that hold this version (from lookup until their scores are read). */
    private final Leases leases = new Leases();

    ServedRewardModel(StoredVersion version, ModelConfig config, Tokenizer tokenizer, OrtScorer scorer,
            ScoringLimits.Truncation truncation, RunningNormalizer normalizer) {
        this.version = version;
        this.config = config;
        this.tokenizer = tokenizer;
        this.scorer = scorer;
        this.normalizer = normalizer;
        this.tokenizerSha256 = version.files().get("tokenizer.json");
        this.encoder = new PairEncoder(version.name() + " v" + version.version(), new ChatTemplate(tokenizer), config,
                truncation);
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

    /** This version as reported in responses. */
    public ModelRef ref() {
        return ModelRef.newBuilder().setName(name()).setVersion(versionNumber()).build();
    }

    public ModelConfig config() {
        return config;
    }

    public OrtScorer scorer() {
        return scorer;
    }

    PairEncoder encoder() {
        return encoder;
    }

    public RunningNormalizer normalizer() {
        return normalizer;
    }

    /** Lower-case hex SHA-256 of this version's tokenizer.json, as its manifest records it. */
    public String tokenizerSha256() {
        return tokenizerSha256;
    }

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

    /** Scores one short pair (the first run allocates ONNX Runtime's buffers). */
    void warmUp() throws Exception {
        scorer.score(List.of(encoder.encode(0, ScorePair.newBuilder().setPrompt("Hello").setResponse("Hi").build(),
                false).ids()));
    }

    @Override
    public void close() {
        try {
            scorer.close();
        } catch (Exception e) {
            // the session is gone either way
        }
        tokenizer.close();
    }
}
