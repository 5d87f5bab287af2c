package dev.rlhf.model.ort;

import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.IntStream;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.rlhf.model.ModelConfig;

/**
 * A scalar-head decoder graph ({@code DecoderGraph.Head.SCALAR}: a reward or value model) on
 * ONNX Runtime: each token sequence gets K scores, one per head of {@code score.weight}
 * [K, D], read at its last token.
 *
 * <p>Graph I/O: {@code input_ids}, {@code attention_mask}, {@code position_ids} int64 [B, T],
 * left-padded ({@link OrtDecoder.Padded#left}); outputs {@code scores} float [B, K] and
 * {@code values} [B, T, K] (not read here). Left padding with the mask and positions that
 * count real tokens only makes a sequence's scores independent of what it is batched with.
 *
 * <p>A call is split into runs of at most {@code maxBatch} sequences; sequences are grouped
 * by length first, so a short one is not padded to the longest of the call.
 *
 * <p>Thread-safe: it holds no per-call state, and ONNX Runtime sessions accept concurrent
 * runs.
 */
public final class OrtScorer implements AutoCloseable {

    private final OrtEnvironment env;
    private final OrtSession session;
    private final ModelConfig config;
    private final int heads;
    private final int maxBatch;

    private OrtScorer(OrtEnvironment env, OrtSession session, ModelConfig config, int heads, int maxBatch) {
        this.env = env;
        this.session = session;
        this.config = config;
        this.heads = heads;
        this.maxBatch = maxBatch;
    }

    /**
     * Opens {@code onnxFile}, a scalar-head graph of {@code config}.
     *
     * @param options  provider and threads, as for {@link OrtDecoder#open}
     * @param maxBatch most sequences in one ONNX Runtime run, ≥ 1
     * @throws IllegalArgumentException if {@code maxBatch} &lt; 1, or the graph has no
     *                                  {@code scores} output of shape [B, K] (it is not a
     *                                  scalar-head graph, e.g. a policy's causal-LM graph)
     * @throws IllegalStateException    when CUDA is asked for and this build or host has none
     */
    public static OrtScorer open(Path onnxFile, ModelConfig config, OrtDecoder.Options options, int maxBatch)
            throws OrtException {
        Objects.requireNonNull(config, "config");
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be >= 1, got " + maxBatch);
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession session;
        try (OrtSession.SessionOptions so = OrtDecoder.sessionOptions(options)) {
            session = env.createSession(onnxFile.toString(), so);
        }
        try {
            return new OrtScorer(env, session, config, heads(onnxFile, session), maxBatch);
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    /** K, from the {@code scores} output [B, K]. */
    private static int heads(Path onnxFile, OrtSession session) throws OrtException {
        Map<String, NodeInfo> outputs = session.getOutputInfo();
        NodeInfo scores = outputs.get("scores");
        if (scores == null || !(scores.getInfo() instanceof TensorInfo t) || t.getShape().length != 2
                || t.getShape()[1] < 1) {
            throw new IllegalArgumentException(onnxFile + " is not a scalar-head graph: it has no output scores [B, K]"
                    + " (its outputs are " + outputs.keySet() + "); export it with DecoderGraph.Head.SCALAR");
        }
        return Math.toIntExact(t.getShape()[1]);
    }

    /** The model's config (context length, pad and EOS ids). */
    public ModelConfig config() {
        return config;
    }

    /** K: scores per sequence (ensemble members). */
    public int heads() {
        return heads;
    }

    /** Most sequences in one ONNX Runtime run. */
    public int maxBatch() {
        return maxBatch;
    }

    /**
     * Scores every sequence.
     *
     * @param sequences [B] token ids, each of 1..max_position_embeddings ids in [0, vocab_size)
     * @return [B][K] the heads' scores at each sequence's last token, in input order
     * @throws IllegalArgumentException naming the index of an empty, too long or out-of-vocabulary sequence
     */
    public float[][] score(List<int[]> sequences) throws OrtException {
        check(sequences);
        float[][] out = new float[sequences.size()][];
        // 1. group by length (stable), so each run pads little
        int[] order = IntStream.range(0, sequences.size()).boxed()
                .sorted(Comparator.comparingInt(i -> sequences.get(i).length)).mapToInt(Integer::intValue).toArray();
        // 2. one run per chunk of at most maxBatch sequences; scatter the rows back to input order
        for (int from = 0; from < order.length; from += maxBatch) {
            int to = Math.min(order.length, from + maxBatch);
            List<int[]> chunk = new ArrayList<>(to - from);
            for (int j = from; j < to; j++) {
                chunk.add(sequences.get(order[j]));
            }
            float[][] scores = run(chunk);
            for (int j = from; j < to; j++) {
                out[order[j]] = scores[j - from];
            }
        }
        return out;
    }

    private void check(List<int[]> sequences) {
        int context = config.maxPositionEmbeddings();
        int vocab = config.vocabSize();
        for (int i = 0; i < sequences.size(); i++) {
            int[] s = sequences.get(i);
            if (s.length == 0 || s.length > context) {
                throw new IllegalArgumentException("sequence " + i + " has " + s.length + " tokens; a model with"
                        + " max_position_embeddings " + context + " scores 1.." + context);
            }
            for (int j = 0; j < s.length; j++) {
                if (s[j] < 0 || s[j] >= vocab) {
                    throw new IllegalArgumentException("sequence " + i + " has token id " + s[j] + " at position " + j
                            + ", outside [0, " + vocab + ") (vocab_size)");
                }
            }
        }
    }

    /** One run over a left-padded batch: [b][K]. */
    private float[][] run(List<int[]> batch) throws OrtException {
        OrtDecoder.Padded in = OrtDecoder.Padded.left(batch, config.padTokenId() < 0 ? 0 : config.padTokenId());
        List<OnnxTensor> owned = new ArrayList<>(3);
        try {
            owned.add(tensor(in.ids()));
            owned.add(tensor(in.mask()));
            owned.add(tensor(in.positions()));
            try (OrtSession.Result result = session.run(Map.of("input_ids", owned.get(0), "attention_mask",
                    owned.get(1), "position_ids", owned.get(2)), java.util.Set.of("scores"))) {
                return (float[][]) result.get("scores").orElseThrow().getValue(); // [b, K]
            }
        } finally {
            owned.forEach(OnnxValue::close);
        }
    }

    /** An int64 [rows, cols] tensor. */
    private OnnxTensor tensor(long[][] rows) throws OrtException {
        int cols = rows[0].length;
        LongBuffer buf = LongBuffer.allocate(rows.length * cols);
        for (long[] row : rows) {
            buf.put(row);
        }
        buf.flip();
        return OnnxTensor.createTensor(env, buf, new long[] {rows.length, cols});
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
