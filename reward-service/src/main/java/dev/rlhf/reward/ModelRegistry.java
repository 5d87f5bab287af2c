package dev.rlhf.reward;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;

import org.jboss.logging.Logger;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.OrtScorer;
import dev.rlhf.model.text.Tokenizer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * The served reward models by stored name (those the learned components use). A swap loads
 * the new version from the store (checksums verified), warms it up, then replaces the current
 * one atomically; calls that hold the old one finish on it, and it is closed once unleased. A
 * version that fails to load (missing, corrupt, not a reward model) is refused — log line and
 * {@code rlhf.reward.swaps{outcome=refused}} — and the old one keeps serving.
 */
@io.quarkus.runtime.Startup
@ApplicationScoped
public class ModelRegistry {

    private static final Logger LOG = Logger.getLogger(ModelRegistry.class);

    /** The files a served version is read from; only these are hashed. */
    private static final Set<String> SERVED_FILES = Set.of("config.json", "tokenizer.json", "model.onnx");

    private final RewardConfig config;
    private final Components components;
    private final ScoringLimits limits;
    private final MeterRegistry meters;
    private final ModelStore store;
    private final OrtDecoder.Provider provider;
    private final Map<String, ServedRewardModel> current = new ConcurrentHashMap<>();

    ModelRegistry(RewardConfig config, Components components, ScoringLimits limits, MeterRegistry meters) {
        this.config = config;
        this.components = components;
        this.limits = limits;
        this.meters = meters;
        this.store = new ModelStore(config.modelStore());
        this.provider = provider(config.provider());
        if (config.threads() < 0) {
            throw new IllegalStateException("rlhf.reward.threads must be >= 0 (0 = ONNX Runtime's default), got "
                    + config.threads());
        }
    }

    private static OrtDecoder.Provider provider(String provider) {
        switch (provider) {
            case "cpu":
                return OrtDecoder.Provider.CPU;
            case "cuda":
                if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
                    throw new IllegalStateException("rlhf.reward.provider=cuda but this ONNX Runtime build has no CUDA"
                            + " execution provider (available: " + OrtEnvironment.getAvailableProviders()
                            + "); deploy the onnxruntime_gpu build with CUDA 12 libraries, or set"
                            + " rlhf.reward.provider=cpu");
                }
                return OrtDecoder.Provider.CUDA;
            default:
                throw new IllegalStateException("rlhf.reward.provider must be cpu or cuda, got '" + provider + "'");
        }
    }

    /**
     * Registers the version gauges and serves the latest stored version of each name. Called
     * once at start-up by {@link ModelAnnouncements#onStart}, between positioning its follower
     * and starting it, so that no announcement is missed.
     */
    void loadLatest() {
        for (String name : components.models()) {
            Gauge.builder("rlhf.reward.model.version", current, m -> m.containsKey(name) ? m.get(name).versionNumber() : 0)
                    .tag("model", name).description("Version served (0: none loaded)").register(meters);
            try {
                OptionalLong latest = store.latest(name);
                if (latest.isEmpty()) {
                    LOG.warnf("no version of %s in the model store %s yet; components using it answer UNAVAILABLE"
                            + " until one is announced", name, store.root().toAbsolutePath());
                    continue;
                }
                swap(name, latest.getAsLong());
            } catch (IOException e) {
                LOG.errorf("cannot read the model store %s: %s", store.root().toAbsolutePath(), e.getMessage());
            }
        }
    }

    /** The stored names served (those the learned components use). */
    public Set<String> names() {
        return components.models();
    }

    /** The version served as {@code name}, if any. */
    public Optional<ServedRewardModel> get(String name) {
        return Optional.ofNullable(current.get(name));
    }

    /**
     * The version served as {@code name}, leased: the caller calls
     * {@link ServedRewardModel#release} once its scores are read.
     */
    public Optional<ServedRewardModel> lease(String name) {
        while (true) {
            Optional<ServedRewardModel> m = get(name);
            if (m.isEmpty() || m.get().acquire()) {
                return m;
            }
            // retired between the lookup and the lease: the map holds its successor by now
            Thread.onSpinWait();
        }
    }

    /**
     * Loads, verifies, warms up and serves {@code name} version {@code version}.
     *
     * @return whether the version is now served (false: refused, the old one still serves)
     */
    public synchronized boolean swap(String name, long version) {
        ServedRewardModel old = current.get(name);
        if (old != null && old.versionNumber() == version) {
            return true;
        }
        ServedRewardModel loaded;
        long start = System.nanoTime();
        long warm;
        try {
            loaded = load(name, version);
            warm = System.nanoTime();
            try {
                loaded.warmUp();
            } catch (Exception | Error e) {
                loaded.close();
                throw e;
            }
        } catch (Exception | Error e) {
            meters.counter("rlhf.reward.swaps", "model", name, "outcome", "refused").increment();
            LOG.errorf("refused %s v%d: %s; %s", name, version, e.getMessage(),
                    old == null ? "nothing is served under this name" : "v" + old.versionNumber() + " keeps serving");
            return false;
        }
        current.put(name, loaded);
        meters.counter("rlhf.reward.swaps", "model", name, "outcome", "swapped").increment();
        LOG.infof("serving %s v%d (%s, %d heads)%s; verified and loaded in %d ms, warmed up in %d ms", name, version,
                loaded.version().dir(), loaded.scorer().heads(), old == null ? "" : ", replacing v" + old.versionNumber(),
                (warm - start) / 1_000_000, (System.nanoTime() - warm) / 1_000_000);
        if (old != null) {
            retire(old);
        }
        return true;
    }

    /**
     * Opens the version's ONNX Runtime session while its files are hashed; the session is used
     * only if every checksum matches and the version is a reward model.
     */
    private ServedRewardModel load(String name, long version) throws Exception {
        Path dir = store.versionDir(name, version);
        CompletableFuture<OrtScorer> opening = CompletableFuture.supplyAsync(() -> {
            try {
                return OrtScorer.open(dir.resolve("model.onnx"), ModelConfig.read(dir.resolve("config.json")),
                        new OrtDecoder.Options(provider, 0, config.threads()), limits.batchSize());
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        });
        StoredVersion v;
        try {
            v = store.load(name, version, SERVED_FILES);
            if (v.kind() != ModelKind.REWARD) {
                throw new IllegalArgumentException("its manifest says kind " + v.kind() + ", not REWARD; reward-service"
                        + " scores with reward models only");
            }
        } catch (Exception | Error e) {
            opening.handle((s, ignored) -> {
                closeQuietly(s);
                return null;
            });
            throw e;
        }
        OrtScorer scorer;
        try {
            scorer = opening.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
        Tokenizer tok = null;
        try {
            ModelConfig c = ModelConfig.read(v.file("config.json"));
            tok = Tokenizer.load(v.file("tokenizer.json"));
            if (tok.vocabSize() > c.vocabSize()) {
                throw new IllegalArgumentException("its tokenizer has " + tok.vocabSize() + " tokens but config.json"
                        + " vocab_size is " + c.vocabSize());
            }
            return new ServedRewardModel(v, c, tok, scorer, limits.truncation(), components.newNormalizer());
        } catch (Exception | Error e) {
            closeQuietly(scorer);
            if (tok != null) {
                tok.close();
            }
            throw e;
        }
    }

    private static void closeQuietly(OrtScorer s) {
        if (s != null) {
            try {
                s.close();
            } catch (Exception e) {
                // closing a half-loaded version; nothing else to do
            }
        }
    }

    /** Closes {@code old} once its leases are released (at most 10 minutes). */
    private void retire(ServedRewardModel old) {
        old.leases().retire("retire-" + old.name() + "-v" + old.versionNumber(), () -> true, Duration.ofMinutes(10),
                old::close);
    }

    @PreDestroy
    void close() {
        current.values().forEach(ServedRewardModel::close);
    }
}
