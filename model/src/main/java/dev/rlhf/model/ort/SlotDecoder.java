package dev.rlhf.model.ort;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;

/**
 * A causal LM on its fused-attention graph ({@link DecoderGraph#withFusedAttention}) with a
 * KV cache of fixed slots: one buffer per layer and kind, [slots, KV, positions, hd], each
 * slot one sequence's entries from position 0. ONNX Runtime's
 * GroupQueryAttention writes a pass's new entries into the slots in place (past and present
 * bound to the same memory), so joining a batch is a prefill into free slots and leaving it
 * a copy of the last slot into the hole: no pass ever copies the whole cache.
 *
 * <p>Memory: slots × positions × KV × hd × 2 × layers floats. Positions start at
 * {@value #INITIAL_POSITIONS} and double (each slot's entries copied once into the larger
 * buffers) when a sequence needs more, up to the context window: short conversations do not
 * pay for the longest one the model could hold.
 *
 * <p>{@link #prefill}, {@link #decode} and {@link #move} belong to one caller at a time (the
 * batcher's thread); {@link #logprobs} uses no slot and may run from any thread beside them.
 * {@link #sibling} gives another set of slots on the same session (one copy of the weights)
 * for another thread: ONNX Runtime runs a session from several threads at once.
 */
public final class SlotDecoder implements AutoCloseable {

    /** Positions per slot at open (or the context window, when shorter). */
    static final int INITIAL_POSITIONS = 64;

    private final OrtEnvironment env;
    private final OrtSession session;
    /** Decoders open on {@link #session} (this one and its siblings); the last to close closes it. */
    private final java.util.concurrent.atomic.AtomicInteger open;
    private final ModelConfig config;
    private final int slots;
    /** The context window: the most positions a slot can grow to. */
    private final int capacity;
    /** Positions per slot now. */
    private int positions;
    /** Floats per slot in one buffer: KV × positions × hd. */
    private int slotFloats;
    /** Per layer: the key buffer at 2·layer, the value buffer at 2·layer + 1. */
    private FloatBuffer[] buffers;
    /** Tokens cached per slot. */
    private final int[] lengths;
    private boolean closed;

    private SlotDecoder(OrtEnvironment env, OrtSession session, java.util.concurrent.atomic.AtomicInteger open,
            ModelConfig config, int slots) {
        if (slots < 1) {
            throw new IllegalArgumentException("need at least one slot, got " + slots);
        }
        this.env = env;
        this.session = session;
        this.open = open;
        this.config = config;
        this.slots = slots;
        this.capacity = config.maxPositionEmbeddings();
        this.lengths = new int[slots];
        allocate(Math.min(INITIAL_POSITIONS, capacity));
    }

    /** New buffers of {@code n} positions per slot, each slot's entries copied over. */
    private void allocate(int n) {
        int kv = config.numKeyValueHeads();
        int hd = config.headDim();
        int floats = kv * n * hd;
        FloatBuffer[] grown = new FloatBuffer[2 * config.numHiddenLayers()];
        for (int i = 0; i < grown.length; i++) {
            grown[i] = ByteBuffer.allocateDirect(Math.multiplyExact(Math.multiplyExact(slots, floats), 4))
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
            for (int slot = 0; buffers != null && slot < slots; slot++) {
                for (int h = 0; h < kv; h++) {
                    grown[i].put(slot * floats + h * n * hd, buffers[i], slot * slotFloats + h * positions * hd,
                            lengths[slot] * hd);
                }
            }
        }
        buffers = grown;
        positions = n;
        slotFloats = floats;
    }

    /** Grows the slots (doubling) until they hold {@code needed} positions. */
    private void ensure(int needed) {
        if (needed > positions) {
            int n = positions;
            while (n < needed) {
                n *= 2;
            }
            allocate(Math.min(n, capacity));
        }
    }

    /** Whether {@code config} can be served by this decoder ({@link DecoderGraph#fusedAttentionSupports}). */
    public static boolean supports(ModelConfig config) {
        return DecoderGraph.fusedAttentionSupports(config);
    }

    /**
     * Opens the fused-attention graph of {@code servingOnnx} (a causal-LM model written by
     * {@link OnnxExport#write}) with {@code slots} slots.
     *
     * @throws IllegalArgumentException when the model is not {@link #supports supported}
     * @throws IllegalStateException    when CUDA is asked for and this build or host has none
     */
    public static SlotDecoder open(Path servingOnnx, ModelConfig config, OrtDecoder.Options options, int slots)
            throws OrtException {
        if (slots < 1) {
            throw new IllegalArgumentException("need at least one slot, got " + slots);
        }
        byte[] model = OnnxExport.fusedAttention(servingOnnx, config).toByteArray();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession session;
        try (OrtSession.SessionOptions so = OrtDecoder.sessionOptions(options)) {
            // the graph comes from memory, its weights from where they lie: in the serving file
            // or its external data file, both in this folder
            Path folder = servingOnnx.toAbsolutePath().getParent();
            so.addConfigEntry("session.model_external_initializers_file_folder_path", folder.toString());
            session = env.createSession(model, so);
        }
        return new SlotDecoder(env, session, new java.util.concurrent.atomic.AtomicInteger(1), config, slots);
    }

    /** Another {@code slots} slots on this decoder's session, for another thread; close each. */
    public SlotDecoder sibling(int slots) {
        if (open.getAndIncrement() == 0) {
            open.decrementAndGet();
            throw new IllegalStateException("this decoder's session is closed");
        }
        try {
            return new SlotDecoder(env, session, open, config, slots);
        } catch (RuntimeException e) {
            open.decrementAndGet();
            throw e;
        }
    }

    public ModelConfig config() {
        return config;
    }

    public int slots() {
        return slots;
    }

    /** The most positions a slot holds: the context window. */
    public int capacity() {
        return capacity;
    }

    /** Positions per slot now (they grow up to {@link #capacity()}). */
    public int positions() {
        return positions;
    }

    /** Tokens cached in {@code slot}. */
    public int length(int slot) {
        return lengths[slot];
    }

    /** Bytes of the KV slots now. */
    public long cacheBytes() {
        return 4L * slotFloats * slots * buffers.length;
    }

    /**
     * Runs {@code prompts} (right-padded, one pass) into slots {@code first}, {@code first + 1},
     * …, replacing what they held.
     *
     * @return the logits of each prompt's last token, [prompts][V]
     */
    public float[][] prefill(List<int[]> prompts, int first) throws OrtException {
        int b = prompts.size();
        if (b == 0 || first < 0 || first + b > slots) {
            throw new IllegalArgumentException(b + " prompts do not fit slots " + first + ".." + (first + b - 1)
                    + " of " + slots);
        }
        int longest = 0;
        for (int r = 0; r < b; r++) {
            int n = prompts.get(r).length;
            if (n == 0 || n > capacity) {
                throw new IllegalArgumentException("prompt " + r + " has " + n + " tokens; need 1.." + capacity);
            }
            longest = Math.max(longest, n);
        }
        ensure(longest);
        float[][] last = new float[b][];
        int v = config.vocabSize();
        try (OrtSession.Result out = prompt(prompts, longest, first)) {
            FloatBuffer logits = ((OnnxTensor) out.get("logits").orElseThrow()).getFloatBuffer();
            for (int r = 0; r < b; r++) {
                last[r] = new float[v];
                logits.position((r * longest + prompts.get(r).length - 1) * v);
                logits.get(last[r]);
                lengths[first + r] = prompts.get(r).length;
            }
        }
        return last;
    }

    /**
     * One decode step for slots 0 … {@code tokens.length − 1}: slot r takes {@code tokens[r]}
     * as its next token.
     *
     * @return the next-token logits of each slot, [rows][V]
     * @throws IllegalStateException when a slot is empty or full
     */
    public float[][] decode(int[] tokens) throws OrtException {
        int b = tokens.length;
        if (b == 0 || b > slots) {
            throw new IllegalArgumentException("a decode step needs 1.." + slots + " rows, got " + b);
        }
        long[] ids = new long[b];
        int[] seqlens = new int[b];
        int total = 0;
        for (int r = 0; r < b; r++) {
            if (lengths[r] == 0 || lengths[r] >= capacity) {
                throw new IllegalStateException("slot " + r + " holds " + lengths[r] + " of " + capacity
                        + " positions: it cannot take a token");
            }
            ids[r] = tokens[r];
            seqlens[r] = lengths[r];
            total = Math.max(total, lengths[r] + 1);
        }
        ensure(total);
        float[][] next = new float[b][config.vocabSize()];
        try (OrtSession.Result out = run(ids, 1, seqlens, total, 0)) {
            FloatBuffer logits = ((OnnxTensor) out.get("logits").orElseThrow()).getFloatBuffer();
            for (int r = 0; r < b; r++) {
                logits.get(next[r]);
                lengths[r]++;
            }
        }
        return next;
    }

    /** Copies slot {@code from}'s entries into slot {@code to} (a row moving to fill a hole). */
    public void move(int from, int to) {
        if (from == to) {
            return;
        }
        int kv = config.numKeyValueHeads();
        int hd = config.headDim();
        int n = lengths[from] * hd;
        for (FloatBuffer buffer : buffers) {
            for (int h = 0; h < kv; h++) {
                int head = h * positions * hd;
                buffer.put(to * slotFloats + head, buffer, from * slotFloats + head, n);
            }
        }
        lengths[to] = lengths[from];
    }

    /** Marks {@code slot} empty. */
    public void clear(int slot) {
        lengths[slot] = 0;
    }

    /** Keeps the first {@code length} entries of {@code slot} (the next token goes to position {@code length}). */
    public void truncate(int slot, int length) {
        if (length < 0 || length > lengths[slot]) {
            throw new IllegalArgumentException("slot " + slot + " holds " + lengths[slot] + " entries, cannot keep "
                    + length);
        }
        lengths[slot] = length;
    }

    /**
     * A prompt pass: {@code seqs} right-padded to {@code longest}, each with an empty cache,
     * into slots {@code first}, … (or, with {@code first} &lt; 0, a cache of the pass's own).
     */
    private OrtSession.Result prompt(List<int[]> seqs, int longest, int first) throws OrtException {
        long[] ids = new long[seqs.size() * longest];
        int[] seqlens = new int[seqs.size()];
        for (int r = 0; r < seqs.size(); r++) {
            int[] s = seqs.get(r);
            for (int i = 0; i < s.length; i++) {
                ids[r * longest + i] = s[i];
            }
            seqlens[r] = s.length - 1;
        }
        return run(ids, longest, seqlens, longest, first);
    }

    /**
     * A pass over {@code seqlens.length} rows: [rows, t] {@code ids}. With {@code first} &gt;= 0
     * the rows are slots {@code first}, …, their buffers bound as past and present; else an
     * empty past, and ONNX Runtime allocates the present.
     */
    private OrtSession.Result run(long[] ids, int t, int[] seqlens, int total, int first) throws OrtException {
        int rows = seqlens.length;
        Map<String, OnnxTensor> inputs = new HashMap<>();
        Map<String, OnnxValue> pinned = new HashMap<>();
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            owned.add(put(inputs, "input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {rows, t})));
            owned.add(put(inputs, "seqlens_k", OnnxTensor.createTensor(env, IntBuffer.wrap(seqlens), new long[] {rows})));
            owned.add(put(inputs, "total_sequence_length",
                    OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {total}), new long[] {})));
            long[] shape = {rows, config.numKeyValueHeads(), first < 0 ? 0 : positions, config.headDim()};
            for (int layer = 0; layer < config.numHiddenLayers(); layer++) {
                for (int kind = 0; kind < 2; kind++) {
                    String suffix = layer + (kind == 0 ? ".key" : ".value");
                    // the rows' slots: a view that wraps the direct memory, no copy (or an empty past)
                    FloatBuffer view = first < 0 ? FloatBuffer.allocate(0)
                            : buffers[2 * layer + kind].slice(first * slotFloats, rows * slotFloats);
                    OnnxTensor tensor = put(inputs, "past_key_values." + suffix, OnnxTensor.createTensor(env, view, shape));
                    owned.add(tensor);
                    if (first >= 0) {
                        pinned.put("present." + suffix, tensor);
                    }
                }
            }
            return session.run(inputs, Set.of("logits"), pinned);
        } finally {
            owned.forEach(OnnxValue::close);
        }
    }

    private static OnnxTensor put(Map<String, OnnxTensor> inputs, String name, OnnxTensor t) {
        inputs.put(name, t);
        return t;
    }

    /**
     * Teacher-forced log-probabilities, as {@link OrtDecoder#logprobs}: for each (prompt,
     * response) pair, log p(response_i | prompt, response_&lt;i) under softmax(logits /
     * temperature), one right-padded pass with a cache of its own (no slot is touched).
     */
    public List<float[]> logprobs(List<int[]> prompts, List<int[]> responses, float temperature) throws OrtException {
        int longest = OrtDecoder.checkPairs(prompts, responses, temperature, capacity);
        List<int[]> joined = new ArrayList<>();
        for (int r = 0; r < prompts.size(); r++) {
            int[] seq = Arrays.copyOf(prompts.get(r), prompts.get(r).length + responses.get(r).length);
            System.arraycopy(responses.get(r), 0, seq, prompts.get(r).length, responses.get(r).length);
            joined.add(seq);
        }
        int v = config.vocabSize();
        try (OrtSession.Result out = prompt(joined, longest, -1)) {
            FloatBuffer logits = ((OnnxTensor) out.get("logits").orElseThrow()).getFloatBuffer();
            List<float[]> result = new ArrayList<>(joined.size());
            float[] row = new float[v];
            for (int r = 0; r < joined.size(); r++) {
                int[] resp = responses.get(r);
                float[] lp = new float[resp.length];
                // the logits at position j predict token j + 1; the response starts after the prompt
                for (int i = 0; i < resp.length; i++) {
                    logits.position((r * longest + prompts.get(r).length - 1 + i) * v);
                    logits.get(row);
                    lp[i] = Sampler.logSoftmax(row, temperature)[resp[i]];
                }
                result.add(lp);
            }
            return result;
        }
    }

    /** Closes the session once this is the last of its siblings open. */
    @Override
    public synchronized void close() throws OrtException {
        if (closed) {
            return;
        }
        closed = true;
        if (open.decrementAndGet() == 0) {
            session.close();
        }
    }
}
