package dev.rlhf.trainer.rm;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.trainer.engine.LlamaModel;

/**
 * A reward model on DJL: the Llama trunk and K scalar heads ({@code score.weight} [K, D]),
 * the training twin of {@code DecoderGraph.Head.SCALAR}. The reward of a sequence is each
 * head applied to the final hidden state of its last token; batches are left-padded so that
 * the last token is the last position (as the ONNX graph assumes). K &gt; 1 is an ensemble of
 * heads on one trunk: the heads start from different random draws and, with bootstrap, see
 * different resamples of the pairs, so they agree where the data constrains them and
 * disagree elsewhere.
 */
public final class RewardModel implements AutoCloseable {

    /** Name of the heads' weight, as in Hugging Face's sequence-classification models. */
    public static final String HEAD = "score.weight";

    private final LlamaModel trunk;
    private final NDArray head; // [K, D]
    private final Map<String, NDArray> params = new LinkedHashMap<>();

    private RewardModel(LlamaModel trunk, NDArray head) {
        this.trunk = trunk;
        this.head = head;
        params.putAll(trunk.parameters());
        params.remove("lm_head.weight"); // kept for the export of an untied model, never trained here
        params.put(HEAD, head);
    }

    /**
     * A reward model on the trunk {@code weights} (a policy's, usually) with {@code members}
     * fresh heads drawn from N(0, 1/D) with {@code seed}, or the heads in {@code weights} when
     * it has {@value #HEAD}.
     */
    public static RewardModel of(ModelConfig config, Map<String, Tensor> weights, int members, long seed,
            NDManager manager) {
        Map<String, Tensor> trunkWeights = new LinkedHashMap<>(weights);
        Tensor heads = trunkWeights.remove(HEAD);
        LlamaModel trunk = LlamaModel.of(config, trunkWeights, manager);
        int d = config.hiddenSize();
        float[] h;
        if (heads != null) {
            if (heads.shape().length != 2 || heads.shape()[1] != d) {
                throw new IllegalArgumentException(HEAD + " must be [K, " + d + "], is " + java.util.Arrays.toString(heads.shape()));
            }
            h = heads.data();
            members = (int) heads.shape()[0];
        } else {
            h = new float[members * d];
            Random r = new Random(seed);
            for (int i = 0; i < h.length; i++) {
                h[i] = (float) (r.nextGaussian() / Math.sqrt(d));
            }
        }
        NDArray head = manager.create(h, new Shape(members, d));
        head.setName(HEAD);
        return new RewardModel(trunk, head);
    }

    /** Number of heads K. */
    public int members() {
        return (int) head.getShape().get(0);
    }

    public ModelConfig config() {
        return trunk.config();
    }

    /** Every trained parameter by name (trunk and heads; live arrays). */
    public Map<String, NDArray> parameters() {
        return params;
    }

    public void requireGradients(boolean on) {
        params.values().forEach(p -> p.setRequiresGradient(on));
    }

    /**
     * Rewards [B, K] of a left-padded batch.
     *
     * @param ids       [B, T] int64
     * @param mask      [B, T] int64, 1 = token, 0 = padding (on the left)
     * @param positions [B, T] int64
     */
    public NDArray score(NDArray ids, NDArray mask, NDArray positions) {
        NDArray hidden = trunk.hidden(ids, mask, positions); // [B, T, D]
        long t = hidden.getShape().get(1);
        NDArray last = hidden.get(":, " + (t - 1) + ", :"); // [B, D]
        return last.matMul(head.transpose()); // [B, K]
    }

    /** The weights to store and export: the trunk's (no LM head needed when tied) and {@value #HEAD}. */
    public List<Tensor> weights() {
        List<Tensor> out = new ArrayList<>(trunk.weights());
        out.add(new Tensor(HEAD, head.getShape().getShape(), head.toFloatArray()));
        return out;
    }

    @Override
    public void close() {
        trunk.close();
    }
}
