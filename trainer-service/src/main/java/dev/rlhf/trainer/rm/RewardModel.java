package dev.rlhf.trainer.rm;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
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
 *
 * <p>Heads on one trunk alone barely disagree off the data (they read the same features), so
 * an ensemble carries a randomized prior (Osband et al. 2018, "Randomized Prior Functions for
 * Deep Reinforcement Learning"): member k's reward is its trained head plus β·p_k·bag(x), where
 * bag(x) is the mean over the sequence's tokens of a fixed random embedding table
 * ({@value #PRIOR_EMBED} [V, P]) and p_k a fixed random vector ({@value #PRIOR_WEIGHT} [K, P],
 * β folded in). Training makes each member cancel its prior where the pairs are; elsewhere
 * the priors differ, and so do the members. Neither is trained; both are exported.
 */
public final class RewardModel implements AutoCloseable {

    /** Name of the heads' weight, as in Hugging Face's sequence-classification models. */
    public static final String HEAD = "score.weight";
    /** The fixed random token table of the prior. */
    public static final String PRIOR_EMBED = "prior.embed";
    /** The fixed random prior of each member, times β. */
    public static final String PRIOR_WEIGHT = "prior.weight";
    private static final int PRIOR_DIM = 16;

    private final LlamaModel trunk;
    private final NDArray head; // [K, D]
    private final NDArray priorEmbed; // [V, P], or null
    private final NDArray priorWeight; // [K, P], or null
    private final Map<String, NDArray> params = new LinkedHashMap<>();

    private RewardModel(LlamaModel trunk, NDArray head, NDArray priorEmbed, NDArray priorWeight) {
        this.trunk = trunk;
        this.head = head;
        this.priorEmbed = priorEmbed;
        this.priorWeight = priorWeight;
        params.putAll(trunk.parameters());
        params.remove("lm_head.weight"); // kept for the export of an untied model, never trained here
        params.put(HEAD, head);
    }

    /**
     * A reward model on the trunk {@code weights} (a policy's, usually) with {@code members}
     * fresh heads drawn from N(0, 1/D) with {@code seed} and, for K &gt; 1 and
     * {@code priorScale} &gt; 0, a fresh randomized prior of scale β = {@code priorScale}; or the
     * heads and prior in {@code weights} when it has {@value #HEAD}.
     */
    public static RewardModel of(ModelConfig config, Map<String, Tensor> weights, int members, long seed,
            double priorScale, NDManager manager) {
        Map<String, Tensor> trunkWeights = new LinkedHashMap<>(weights);
        Tensor heads = trunkWeights.remove(HEAD);
        Tensor storedEmbed = trunkWeights.remove(PRIOR_EMBED);
        Tensor storedWeight = trunkWeights.remove(PRIOR_WEIGHT);
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
        NDArray priorEmbed = null;
        NDArray priorWeight = null;
        if (heads != null && storedEmbed != null && storedWeight != null) {
            priorEmbed = manager.create(storedEmbed.data(), new Shape(storedEmbed.shape()));
            priorWeight = manager.create(storedWeight.data(), new Shape(storedWeight.shape()));
        } else if (heads == null && members > 1 && priorScale > 0) {
            Random r = new Random(seed ^ 0x9E3779B97F4A7C15L);
            float[] table = new float[config.vocabSize() * PRIOR_DIM];
            for (int i = 0; i < table.length; i++) {
                table[i] = (float) r.nextGaussian();
            }
            float[] prior = new float[members * PRIOR_DIM];
            for (int i = 0; i < prior.length; i++) {
                prior[i] = (float) (priorScale * r.nextGaussian() / Math.sqrt(PRIOR_DIM));
            }
            priorEmbed = manager.create(table, new Shape(config.vocabSize(), PRIOR_DIM));
            priorWeight = manager.create(prior, new Shape(members, PRIOR_DIM));
        }
        return new RewardModel(trunk, head, priorEmbed, priorWeight);
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
        NDArray learned = last.matMul(head.transpose()); // [B, K]
        if (priorEmbed == null) {
            return learned;
        }
        NDArray maskF = mask.toType(ai.djl.ndarray.types.DataType.FLOAT32, false); // [B, T]
        NDArray embedded = Embedding.embedding(ids, priorEmbed, SparseFormat.DENSE).singletonOrThrow(); // [B, T, P]
        NDArray bag = embedded.mul(maskF.expandDims(-1)).sum(new int[] {1}).div(maskF.sum(new int[] {1}, true));
        return learned.add(bag.matMul(priorWeight.transpose()));
    }

    /** The weights to store and export: the trunk's, {@value #HEAD} and the prior (when there is one). */
    public List<Tensor> weights() {
        List<Tensor> out = new ArrayList<>(trunk.weights());
        out.add(new Tensor(HEAD, head.getShape().getShape(), head.toFloatArray()));
        if (priorEmbed != null) {
            out.add(new Tensor(PRIOR_EMBED, priorEmbed.getShape().getShape(), priorEmbed.toFloatArray()));
            out.add(new Tensor(PRIOR_WEIGHT, priorWeight.getShape().getShape(), priorWeight.toFloatArray()));
        }
        return out;
    }

    @Override
    public void close() {
        trunk.close();
    }
}
