package dev.rlhf.policy;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

import org.jboss.logging.Logger;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.SlotDecoder;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.policy.engine.ContinuousBatcher;
import dev.rlhf.policy.engine.Lanes;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * The served models by name. A swap loads the new version from the store (checksums
 * verified), warms it up, then replaces the current one atomically; the old one keeps
 * serving what it started and is closed once idle. A version that fails to load is refused
 * (log line and metric) and the old one keeps serving.
 */
@io.quarkus.runtime.Startup
@ApplicationScoped
public class ModelRegistry {

    private static final Logger LOG = Logger.getLogger(ModelRegistry.class);

    private final PolicyConfig config;
    private final MeterRegistry meters;
    private final ModelStore store;
    private final Map<String, ServedModel> current = new ConcurrentHashMap<>();
    /** Long polls of ListModels: per name, what waits for a version newer than its key. */
    private final Map<String, Map<CompletableFuture<Void>, Long>> waiting = new ConcurrentHashMap<>();

    ModelRegistry(PolicyConfig config, MeterRegistry meters) {
        this.config = config;
        this.meters = meters;
        this.store = new ModelStore(config.modelStore());
        if (!List.of("cpu", "cuda").contains(config.provider())) {
            throw new IllegalStateException("rlhf.policy.provider must be cpu or cuda, got '" + config.provider() + "'");
        }
        if (config.provider().equals("cuda")
                && !ai.onnxruntime.OrtEnvironment.getAvailableProviders().contains(ai.onnxruntime.OrtProvider.CUDA)) {
            throw new IllegalStateException("rlhf.policy.provider=cuda but this ONNX Runtime build has no CUDA execution"
                    + " provider (available: " + ai.onnxruntime.OrtEnvironment.getAvailableProviders()
                    + "); deploy the onnxruntime_gpu build with CUDA 12 libraries, or set rlhf.policy.provider=cpu");
        }
        if (!List.of("fused", "standard").contains(config.attention())) {
            throw new IllegalStateException("rlhf.policy.attention must be fused or standard, got '"
                    + config.attention() + "'");
        }
        if (config.lanes() < 0) {
            throw new IllegalStateException("rlhf.policy.lanes must be >= 0 (0: one per 8 rows of the batch, at most"
                    + " one per core), got " + config.lanes());
        }
    }

    /**
     * Serves the latest stored version of each name. Called once at start-up by
     * {@link ModelAnnouncements#onStart}, between positioning its follower and starting it, so
     * that no announcement is missed.
     */
    void loadLatest() {
        for (String name : config.models()) {
            try {
                java.util.OptionalLong latest = store.latest(name);
                if (latest.isEmpty()) {
                    LOG.warnf("no version of %s in the model store %s yet; it is served once one is announced", name,
                            store.root().toAbsolutePath());
                    continue;
                }
                swap(name, latest.getAsLong());
            } catch (IOException e) {
                LOG.errorf("cannot read the model store %s: %s", store.root().toAbsolutePath(), e.getMessage());
            }
        }
    }

    /** The version served as {@code name}: the current one for version 0. */
    public Optional<ServedModel> get(String name, long version) {
        ServedModel m = current.get(name);
        if (m == null || (version != 0 && m.versionNumber() != version)) {
            return Optional.empty();
        }
        return Optional.of(m);
    }

    /**
     * The version served as {@code name} (the current one for version 0), leased: the caller
     * calls {@link ServedModel#release} once its work is handed to the batcher or done.
     */
    public Optional<ServedModel> lease(String name, long version) {
        while (true) {
            Optional<ServedModel> m = get(name, version);
            if (m.isEmpty() || m.get().acquire()) {
                return m;
            }
            // retired between the lookup and the lease: the map holds its successor by now
            Thread.onSpinWait();
        }
    }

    public List<ServedModel> all() {
        return List.copyOf(current.values());
    }

    /**
     * Completes once a version of {@code name} newer than {@code version} is served (at once
     * if one is); the caller bounds the wait (e.g. {@code completeOnTimeout}) and may cancel it.
     */
    public CompletableFuture<Void> newerThan(String name, long version) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        Map<CompletableFuture<Void>, Long> waiters = waiting.computeIfAbsent(name, k -> new ConcurrentHashMap<>());
        waiters.put(f, version);
        f.whenComplete((x, e) -> waiters.remove(f));
        ServedModel m = current.get(name);
        if (m != null && m.versionNumber() > version) {
            f.complete(null); // served already (or swapped in while registering)
        }
        return f;
    }

    /**
     * Loads, verifies, warms up and serves {@code name} version {@code version}.
     *
     * @return whether the version is now served (false: refused, the old one still serves)
     */
    public synchronized boolean swap(String name, long version) {
        ServedModel old = current.get(name);
        if (old != null && old.versionNumber() == version) {
            return true;
        }
        ServedModel loaded;
        long start = System.nanoTime();
        long warm;
        try {
            loaded = load(name, version);
            warm = System.nanoTime();
            loaded.warmUp();
        } catch (Exception | Error e) {
            meters.counter("rlhf.policy.swaps", "model", name, "outcome", "refused").increment();
            LOG.errorf("refused %s v%d: %s; %s", name, version, e.getMessage(),
                    old == null ? "nothing is served under this name" : "v" + old.versionNumber() + " keeps serving");
            return false;
        }
        current.put(name, loaded);
        registerGauges(loaded);
        meters.counter("rlhf.policy.swaps", "model", name, "outcome", "swapped").increment();
        LOG.infof("serving %s v%d (%s; %s)%s; verified and loaded in %d ms, warmed up in %d ms", name, version,
                loaded.version().dir(), loaded.engine(), old == null ? "" : ", replacing v" + old.versionNumber(),
                (warm - start) / 1_000_000, (System.nanoTime() - warm) / 1_000_000);
        waiting.getOrDefault(name, Map.of()).forEach((f, newerThan) -> {
            if (version > newerThan) {
                f.complete(null);
            }
        });
        if (old != null) {
            retire(old);
        }
        return true;
    }

    /** The files a served version is read from; only these are hashed. */
    private static final java.util.Set<String> SERVED_FILES = java.util.Set.of("config.json", "tokenizer.json", "model.onnx");

    /** The decoders of a version: a {@link SlotDecoder} per lane, or one {@link OrtDecoder}. */
    private record Opened(OrtDecoder decoder, List<SlotDecoder> slots, int threadsPerLane) implements AutoCloseable {
        @Override
        public void close() throws Exception {
            for (SlotDecoder s : slots) {
                s.close();
            }
            if (decoder != null) {
                decoder.close();
            }
        }
    }

    /**
     * Opens the version's ONNX Runtime session while its files are hashed (both take about a
     * second on a 25M-parameter model); the session is used only if every checksum matches.
     * On CPU with {@code attention=fused} (the default), the model file's graph is rebuilt
     * around ONNX Runtime's fused attention and served from KV slots, in lanes.
     */
    private ServedModel load(String name, long version) throws Exception {
        java.nio.file.Path dir = store.versionDir(name, version);
        OrtDecoder.Provider provider = config.provider().equals("cuda") ? OrtDecoder.Provider.CUDA : OrtDecoder.Provider.CPU;
        java.util.concurrent.CompletableFuture<Opened> opening = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return open(name, version, dir, provider);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        StoredVersion v;
        try {
            long start = System.nanoTime();
            v = store.load(name, version, SERVED_FILES);
            LOG.debugf("%s v%d verified in %d ms", name, version, (System.nanoTime() - start) / 1_000_000);
        } catch (Exception | Error e) {
            opening.handle((d, ignored) -> {
                closeQuietly(d);
                return null;
            });
            throw e;
        }
        Opened decoder;
        try {
            decoder = opening.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
        List<ContinuousBatcher> lanes = new java.util.ArrayList<>();
        try {
            ModelConfig c = ModelConfig.read(v.file("config.json"));
            Tokenizer tok = Tokenizer.load(v.file("tokenizer.json"));
            if (decoder.decoder() != null) {
                lanes.add(new ContinuousBatcher(decoder.decoder(), new ContinuousBatcher.Options(config.maxBatch(),
                        config.maxQueue(), config.tokenBudget()), name + "-v" + version));
            } else {
                int n = decoder.slots().size();
                for (int i = 0; i < n; i++) {
                    SlotDecoder slots = decoder.slots().get(i);
                    // each lane's queue takes max-queue, so that the n samples of one request (which
                    // stay in one lane) always fit; the service bounds the lanes' sum by max-queue
                    lanes.add(new ContinuousBatcher(slots, new ContinuousBatcher.Options(slots.slots(),
                            config.maxQueue(), Math.max(1, config.tokenBudget() / n)),
                            name + "-v" + version + "-lane" + i));
                }
            }
            return new ServedModel(v, c, tok, decoder.decoder(), decoder.slots(), new Lanes(lanes),
                    decoder.threadsPerLane(), provider);
        } catch (Exception | Error e) {
            lanes.forEach(ContinuousBatcher::close);
            closeQuietly(decoder);
            throw e;
        }
    }

    /**
     * The decoders of a version: on CPU with fused attention, lanes (rlhf.policy.lanes, or by
     * default one per 8 rows of the batch, at most one per core) of max-batch / lanes slots
     * each on one session, whose ONNX Runtime threads are the cores / lanes; else the serving
     * graph's decoder.
     */
    private Opened open(String name, long version, java.nio.file.Path dir, OrtDecoder.Provider provider)
            throws Exception {
        ModelConfig c = ModelConfig.read(dir.resolve("config.json"));
        if (provider == OrtDecoder.Provider.CPU && config.attention().equals("fused")) {
            if (SlotDecoder.supports(c)) {
                int cores = config.threads() > 0 ? config.threads() : Runtime.getRuntime().availableProcessors();
                int lanes = Math.min(config.maxBatch(), config.lanes() > 0 ? config.lanes()
                        : Math.max(1, Math.min(cores, config.maxBatch() / 8)));
                int threads = Math.max(1, cores / lanes);
                int perLane = ceilDiv(config.maxBatch(), lanes);
                List<SlotDecoder> slots = new java.util.ArrayList<>();
                try {
                    slots.add(SlotDecoder.open(dir.resolve("model.onnx"), c,
                            new OrtDecoder.Options(provider, 0, threads), perLane));
                    while (slots.size() < lanes) {
                        slots.add(slots.get(0).sibling(perLane));
                    }
                    return new Opened(null, slots, threads);
                } catch (IllegalArgumentException e) {
                    // a model file this version's graph rebuild cannot read: the file's own graph serves
                    closeQuietly(new Opened(null, slots, threads));
                    LOG.warnf("%s v%d: fused attention cannot be built from its model file (%s); serving it with"
                            + " standard attention", name, version, e.getMessage());
                } catch (Exception | Error e) {
                    closeQuietly(new Opened(null, slots, threads));
                    throw e;
                }
            } else {
                LOG.warnf("%s v%d: head width %d is not a multiple of 16, which fused attention needs; serving it"
                        + " with standard attention", name, version, c.headDim());
            }
        }
        return new Opened(OrtDecoder.open(dir.resolve("model.onnx"), c, new OrtDecoder.Options(provider, 0,
                config.threads())), List.of(), config.threads());
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static void closeQuietly(AutoCloseable d) {
        if (d != null) {
            try {
                d.close();
            } catch (Exception e) {
                // closing a half-loaded version; nothing else to do
            }
        }
    }

    private void registerGauges(ServedModel m) {
        var tags = io.micrometer.core.instrument.Tags.of("model", m.name(), "version", Long.toString(m.versionNumber()));
        m.gauges().add(io.micrometer.core.instrument.Gauge.builder("rlhf.policy.batch.occupancy", m,
                s -> s.batcher().batchSize()).tags(tags).description("Rows decoding now").register(meters));
        m.gauges().add(io.micrometer.core.instrument.Gauge.builder("rlhf.policy.queue.depth", m,
                s -> s.batcher().queueDepth()).tags(tags).description("Requests waiting to join the batch")
                .register(meters));
    }

    /** Closes {@code old} once its leases are released and its requests done (at most 10 minutes). */
    private void retire(ServedModel old) {
        old.gauges().forEach(meters::remove);
        old.leases().retire("retire-" + old.name() + "-v" + old.versionNumber(), old::idle, Duration.ofMinutes(10),
                old::close);
    }

    @PreDestroy
    void close() {
        current.values().forEach(ServedModel::close);
    }
}
