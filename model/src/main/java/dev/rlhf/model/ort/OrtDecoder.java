package dev.rlhf.model.ort;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.rlhf.model.ModelConfig;

/**
 * A causal-LM decoder graph ({@code dev.rlhf.model.onnx.DecoderGraph}) on ONNX Runtime:
 * forward passes with a KV cache, batched generation with left padding, and teacher-forced
 * log-probabilities.
 *
 * <p>Not thread-safe: one caller at a time (the session itself is, but a generation's cache
 * is not).
 */
public final class OrtDecoder implements AutoCloseable {

    /** Where the graph runs. */
    public enum Provider {
        CPU, CUDA
    }

    /**
     * @param provider      CPU, or CUDA (fails at open when this ONNX Runtime build has no CUDA)
     * @param cudaDevice    GPU index for CUDA
     * @param intraOpThreads 0 = ONNX Runtime's default
     */
    public record Options(Provider provider, int cudaDevice, int intraOpThreads) {
        public static Options cpu(int threads) {
            return new Options(Provider.CPU, 0, threads);
        }
    }

    /** Why a generation ended. */
    public enum Finish {
        /** EOS or a stop token was produced (and is the last token). */
        STOP,
        /** max new tokens reached. */
        LENGTH
    }

    /**
     * Sampling settings of one generation call.
     *
     * @param temperature 0 = greedy
     * @param topK        0 = off
     * @param topP        (0, 1]; 1 = off
     * @param seed        row r samples with a generator seeded by (seed, r)
     * @param stopTokens  tokens that end a row besides the config's EOS ids
     */
    public record Sampling(int maxNewTokens, float temperature, int topK, float topP, long seed, Set<Integer> stopTokens) {
        public Sampling {
            if (maxNewTokens < 1) {
                throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
            }
            if (temperature < 0 || Float.isNaN(temperature)) {
                throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
            }
            if (!(topP > 0 && topP <= 1)) {
                throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
            }
            if (topK < 0) {
                throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
            }
            stopTokens = Set.copyOf(stopTokens);
        }

        public static Sampling greedy(int maxNewTokens) {
            return new Sampling(maxNewTokens, 0f, 0, 1f, 0L, Set.of());
        }
    }

    /** One row's output: the new tokens, the log-probability of each, why it ended. */
    public record Generation(int[] tokens, float[] logprobs, Finish finish) {
    }

    /** The outputs of one forward pass; holds the present KV tensors until closed. */
    public final class Forward implements AutoCloseable {
        private final OrtSession.Result result;
        private final long[] logitsShape;

        Forward(OrtSession.Result result) throws OrtException {
            this.result = result;
            this.logitsShape = ((OnnxTensor) result.get("logits").orElseThrow()).getInfo().getShape();
        }

        /** All logits, [B, T, V] row-major. */
        public float[] logits() throws OrtException {
            FloatBuffer fb = ((OnnxTensor) result.get("logits").orElseThrow()).getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return out;
        }

        /** The logits of the last position of each row, [B][V]. */
        public float[][] lastLogits() throws OrtException {
            FloatBuffer fb = ((OnnxTensor) result.get("logits").orElseThrow()).getFloatBuffer();
            int b = (int) logitsShape[0];
            int t = (int) logitsShape[1];
            int v = (int) logitsShape[2];
            float[][] out = new float[b][v];
            for (int r = 0; r < b; r++) {
                fb.position((r * t + t - 1) * v);
                fb.get(out[r]);
            }
            return out;
        }

        OnnxTensor present(int layer, String kind) {
            return (OnnxTensor) result.get("present." + layer + "." + kind).orElseThrow();
        }

        /** The present key/values as the next pass's past (valid while this Forward is open). */
        public Cache cache() {
            int layers = config.numHiddenLayers();
            OnnxTensor[] k = new OnnxTensor[layers];
            OnnxTensor[] v = new OnnxTensor[layers];
            for (int i = 0; i < layers; i++) {
                k[i] = present(i, "key");
                v[i] = present(i, "value");
            }
            long[] shape = k[0].getInfo().getShape();
            return new Cache(k, v, (int) shape[0], (int) shape[2], false);
        }

        @Override
        public void close() {
            result.close();
        }
    }

    /**
     * Past key/values of a batch: per layer, key and value [B, KV, S, hd]. Each row's valid
     * entries are right-aligned (left padding), as the attention mask says.
     */
    public static final class Cache implements AutoCloseable {
        private final OnnxTensor[] keys;
        private final OnnxTensor[] values;
        private final int batch;
        private final int length;
        private final boolean owned;

        Cache(OnnxTensor[] keys, OnnxTensor[] values, int batch, int length, boolean owned) {
            this.keys = keys;
            this.values = values;
            this.batch = batch;
            this.length = length;
            this.owned = owned;
        }

        public int batch() {
            return batch;
        }

        /** S: entries per row, padding included. */
        public int length() {
            return length;
        }

        /** Frees the tensors when this cache owns them (a gathered one); views are freed with their Forward. */
        @Override
        public void close() {
            if (owned) {
                for (int i = 0; i < keys.length; i++) {
                    keys[i].close();
                    values[i].close();
                }
            }
        }
    }

    /** A row of a new cache: the last {@code valid} entries of row {@code row} of {@code source}. */
    public record RowRef(Cache source, int row, int valid) {
    }

    /**
     * A new cache of the given rows, in order, each right-aligned in a common length (the
     * longest valid); the sources stay as they are. Used when rows join or leave a running
     * batch (continuous batching).
     */
    public Cache gather(List<RowRef> rows) throws OrtException {
        int kv = config.numKeyValueHeads();
        int hd = config.headDim();
        int length = rows.stream().mapToInt(RowRef::valid).max().orElse(0);
        int layers = config.numHiddenLayers();
        OnnxTensor[] k = new OnnxTensor[layers];
        OnnxTensor[] v = new OnnxTensor[layers];
        Map<Cache, float[][]> read = new HashMap<>(); // per source: [2·layer + kind] → data
        for (RowRef r : rows) {
            read.computeIfAbsent(r.source(), c -> new float[2 * layers][]);
        }
        for (int layer = 0; layer < layers; layer++) {
            for (int kind = 0; kind < 2; kind++) {
                float[] out = new float[rows.size() * kv * length * hd];
                for (int r = 0; r < rows.size(); r++) {
                    RowRef ref = rows.get(r);
                    float[][] src = read.get(ref.source());
                    if (src[2 * layer + kind] == null) {
                        FloatBuffer fb = (kind == 0 ? ref.source().keys[layer] : ref.source().values[layer]).getFloatBuffer();
                        src[2 * layer + kind] = new float[fb.remaining()];
                        fb.get(src[2 * layer + kind]);
                    }
                    float[] data = src[2 * layer + kind];
                    int sl = ref.source().length;
                    for (int h = 0; h < kv; h++) {
                        int from = ((ref.row() * kv + h) * sl + (sl - ref.valid())) * hd;
                        int to = ((r * kv + h) * length + (length - ref.valid())) * hd;
                        System.arraycopy(data, from, out, to, ref.valid() * hd);
                    }
                }
                OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(out), new long[] {rows.size(), kv, length, hd});
                if (kind == 0) {
                    k[layer] = t;
                } else {
                    v[layer] = t;
                }
            }
        }
        return new Cache(k, v, rows.size(), length, true);
    }

    private final OrtEnvironment env;
    private final OrtSession session;
    private final ModelConfig config;

    private OrtDecoder(OrtEnvironment env, OrtSession session, ModelConfig config) {
        this.env = env;
        this.session = session;
        this.config = config;
    }

    /**
     * Opens {@code onnxFile} (a causal-LM {@code DecoderGraph} of {@code config}).
     *
     * @throws IllegalStateException when CUDA is asked for and this build or host has none
     */
    public static OrtDecoder open(Path onnxFile, ModelConfig config, Options options) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession session;
        try (OrtSession.SessionOptions so = sessionOptions(options)) {
            session = env.createSession(onnxFile.toString(), so);
        }
        return new OrtDecoder(env, session, config);
    }

    /**
     * The session settings of every graph this package opens ({@link OrtScorer} too): full
     * graph optimisation, {@code options}' intra-op threads, no spin-waiting, and the
     * provider. The caller closes them once the session is created.
     *
     * @throws IllegalStateException when CUDA is asked for and this build or host has none
     */
    public static OrtSession.SessionOptions sessionOptions(Options options) throws OrtException {
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (options.intraOpThreads() > 0) {
            so.setIntraOpNumThreads(options.intraOpThreads());
        }
        // no spin-waiting between ops: a server shares its cores with gRPC, Kafka and a second
        // session during a swap, and spinning threads starve them (32 clients on 2 cores: 634
        // tokens/s spinning, 823 not)
        so.addConfigEntry("session.intra_op.allow_spinning", "0");
        // a diagnostic: -Drlhf.ort.profile=PREFIX writes ONNX Runtime's per-node profile (JSON)
        String profile = System.getProperty("rlhf.ort.profile");
        if (profile != null) {
            so.enableProfiling(profile);
        }
        if (options.provider() == Provider.CUDA) {
            try {
                so.addCUDA(options.cudaDevice());
            } catch (OrtException | RuntimeException e) {
                so.close();
                throw new IllegalStateException("the CUDA execution provider was demanded but is not available ("
                        + e.getMessage() + "): use the onnxruntime_gpu build with CUDA 12 libraries on the host,"
                        + " or select the CPU provider", e);
            }
        }
        return so;
    }

    public ModelConfig config() {
        return config;
    }

    /**
     * One forward pass.
     *
     * @param ids       [B][T] token ids
     * @param mask      [B][P+T] 1 = token, 0 = padding
     * @param positions [B][T]
     * @param past      the previous pass (its present KV becomes this pass's past), or null
     */
    public Forward forward(long[][] ids, long[][] mask, long[][] positions, Forward past) throws OrtException {
        return step(ids, mask, positions, past == null ? null : past.cache());
    }

    /**
     * One forward pass over an explicit cache ({@link Forward#cache()} or {@link #gather}).
     *
     * @param past [B, KV, P, hd] per layer, or null for P = 0
     */
    public Forward step(long[][] ids, long[][] mask, long[][] positions, Cache past) throws OrtException {
        int b = ids.length;
        int kv = config.numKeyValueHeads();
        int hd = config.headDim();
        Map<String, OnnxTensor> inputs = new HashMap<>();
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            owned.add(put(inputs, "input_ids", ids));
            owned.add(put(inputs, "attention_mask", mask));
            owned.add(put(inputs, "position_ids", positions));
            for (int i = 0; i < config.numHiddenLayers(); i++) {
                for (String kind : List.of("key", "value")) {
                    String name = "past_key_values." + i + "." + kind;
                    if (past == null) {
                        OnnxTensor empty = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), new long[] {b, kv, 0, hd});
                        owned.add(empty);
                        inputs.put(name, empty);
                    } else {
                        inputs.put(name, kind.equals("key") ? past.keys[i] : past.values[i]);
                    }
                }
            }
            return new Forward(session.run(inputs));
        } finally {
            owned.forEach(OnnxValue::close);
        }
    }

    private OnnxTensor put(Map<String, OnnxTensor> inputs, String name, long[][] rows) throws OrtException {
        int cols = rows.length == 0 ? 0 : rows[0].length;
        LongBuffer buf = LongBuffer.allocate(rows.length * cols);
        for (long[] row : rows) {
            if (row.length != cols) {
                throw new IllegalArgumentException(name + " rows must have equal length (pad them)");
            }
            buf.put(row);
        }
        buf.flip();
        OnnxTensor t = OnnxTensor.createTensor(env, buf, new long[] {rows.length, cols});
        inputs.put(name, t);
        return t;
    }

    /**
     * Generates a continuation of every prompt, batched: prompts are left-padded, prefilled
     * together, then decoded one token per step with the KV cache until every row stopped.
     */
    public List<Generation> generate(List<int[]> prompts, Sampling s) throws OrtException {
        int b = prompts.size();
        int longest = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
        checkLength(prompts, longest + s.maxNewTokens());
        // 1. prefill: left padding, positions count real tokens only
        Padded in = Padded.left(prompts, config.padTokenId() < 0 ? 0 : config.padTokenId());
        Set<Integer> stops = new java.util.HashSet<>(s.stopTokens());
        stops.addAll(config.eosTokenIds());
        SplittableRandom[] rngs = new SplittableRandom[b];
        for (int r = 0; r < b; r++) {
            rngs[r] = new SplittableRandom(s.seed() * 0x9E3779B97F4A7C15L + r);
        }
        int[][] tokens = new int[b][s.maxNewTokens()];
        float[][] logprobs = new float[b][s.maxNewTokens()];
        int[] produced = new int[b];
        Finish[] finish = new Finish[b];
        long[][] mask = in.mask();
        long[] nextPosition = in.nextPositions();
        Forward step = forward(in.ids(), mask, in.positions(), null);
        try {
            for (int t = 0; t < s.maxNewTokens(); t++) {
                // 2. pick each live row's next token from the last logits
                float[][] last = step.lastLogits();
                long[][] ids = new long[b][1];
                boolean anyLive = false;
                for (int r = 0; r < b; r++) {
                    if (finish[r] != null) {
                        ids[r][0] = in.pad();
                        continue;
                    }
                    Sampler.Choice c = Sampler.pick(last[r], s.temperature(), s.topK(), s.topP(), rngs[r]);
                    tokens[r][produced[r]] = c.token();
                    logprobs[r][produced[r]++] = c.logprob();
                    ids[r][0] = c.token();
                    if (stops.contains(c.token())) {
                        finish[r] = Finish.STOP;
                    } else if (produced[r] == s.maxNewTokens()) {
                        finish[r] = Finish.LENGTH;
                    } else {
                        anyLive = true;
                    }
                }
                if (!anyLive) {
                    break;
                }
                // 3. one decode step: the new tokens attend to the cache
                mask = appendColumn(mask, 1);
                long[][] positions = new long[b][1];
                for (int r = 0; r < b; r++) {
                    positions[r][0] = nextPosition[r]++;
                }
                Forward next = forward(ids, mask, positions, step);
                step.close();
                step = next;
            }
        } finally {
            step.close();
        }
        List<Generation> out = new ArrayList<>(b);
        for (int r = 0; r < b; r++) {
            out.add(new Generation(Arrays.copyOf(tokens[r], produced[r]), Arrays.copyOf(logprobs[r], produced[r]),
                    finish[r] == null ? Finish.LENGTH : finish[r]));
        }
        return out;
    }

    /**
     * Teacher-forced log-probabilities: for each (prompt, response) pair, log p(response_i |
     * prompt, response_&lt;i) under softmax(logits / temperature), one batched forward pass.
     */
    public List<float[]> logprobs(List<int[]> prompts, List<int[]> responses, float temperature) throws OrtException {
        int longest = checkPairs(prompts, responses, temperature, config.maxPositionEmbeddings());
        List<int[]> joined = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int[] seq = Arrays.copyOf(prompts.get(i), prompts.get(i).length + responses.get(i).length);
            System.arraycopy(responses.get(i), 0, seq, prompts.get(i).length, responses.get(i).length);
            joined.add(seq);
        }
        Padded in = Padded.left(joined, config.padTokenId() < 0 ? 0 : config.padTokenId());
        int v = config.vocabSize();
        try (Forward f = forward(in.ids(), in.mask(), in.positions(), null)) {
            float[] logits = f.logits();
            List<float[]> out = new ArrayList<>();
            for (int r = 0; r < joined.size(); r++) {
                int[] resp = responses.get(r);
                float[] lp = new float[resp.length];
                // the logits at position j predict token j + 1; the response occupies the last resp.length slots
                int firstPredictor = longest - resp.length - 1;
                for (int i = 0; i < resp.length; i++) {
                    float[] row = Arrays.copyOfRange(logits, (r * longest + firstPredictor + i) * v,
                            (r * longest + firstPredictor + i + 1) * v);
                    lp[i] = Sampler.logSoftmax(row, temperature)[resp[i]];
                }
                out.add(lp);
            }
            return out;
        }
    }

    /**
     * Checks the arguments of a log-probability call ({@link #logprobs}, {@link
     * SlotDecoder#logprobs}); returns the longest prompt + response.
     */
    static int checkPairs(List<int[]> prompts, List<int[]> responses, float temperature, int contextWindow) {
        if (prompts.size() != responses.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts but " + responses.size() + " responses");
        }
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("temperature must be > 0 for log-probabilities, got " + temperature);
        }
        int longest = 0;
        for (int i = 0; i < prompts.size(); i++) {
            if (prompts.get(i).length == 0 || responses.get(i).length == 0) {
                throw new IllegalArgumentException("pair " + i + ": prompt and response must be non-empty");
            }
            longest = Math.max(longest, prompts.get(i).length + responses.get(i).length);
        }
        if (longest > contextWindow) {
            throw new IllegalArgumentException("needs " + longest + " positions but the context window"
                    + " (max_position_embeddings) is " + contextWindow);
        }
        return longest;
    }

    private void checkLength(List<int[]> seqs, int needed) {
        for (int i = 0; i < seqs.size(); i++) {
            if (seqs.get(i).length == 0) {
                throw new IllegalArgumentException("sequence " + i + " is empty");
            }
        }
        if (needed > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("needs " + needed + " positions but the context window"
                    + " (max_position_embeddings) is " + config.maxPositionEmbeddings());
        }
    }

    private static long[][] appendColumn(long[][] m, long value) {
        long[][] out = new long[m.length][];
        for (int r = 0; r < m.length; r++) {
            out[r] = Arrays.copyOf(m[r], m[r].length + 1);
            out[r][m[r].length] = value;
        }
        return out;
    }

    /**
     * A batch left-padded to its longest sequence: ids, attention mask (1 = token), positions
     * counting real tokens only, and each row's next position.
     */
    public record Padded(long[][] ids, long[][] mask, long[][] positions, long[] nextPositions, long pad) {
        public static Padded left(List<int[]> seqs, long pad) {
            int b = seqs.size();
            int len = seqs.stream().mapToInt(a -> a.length).max().orElse(0);
            long[][] ids = new long[b][len];
            long[][] mask = new long[b][len];
            long[][] pos = new long[b][len];
            long[] next = new long[b];
            for (int r = 0; r < b; r++) {
                int[] s = seqs.get(r);
                int offset = len - s.length;
                Arrays.fill(ids[r], 0, offset, pad);
                for (int i = 0; i < s.length; i++) {
                    ids[r][offset + i] = s[i];
                    mask[r][offset + i] = 1;
                    pos[r][offset + i] = i;
                }
                next[r] = s.length;
            }
            return new Padded(ids, mask, pos, next, pad);
        }
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
