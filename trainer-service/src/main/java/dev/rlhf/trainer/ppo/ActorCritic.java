package dev.rlhf.trainer.ppo;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.trainer.engine.LlamaModel;

/**
 * The PPO policy with its critic: the value head ({@value #VALUE_HEAD} [1, D], zero at the
 * start) reads the policy trunk's final hidden states, so one forward pass gives both the
 * logits and V(s_t) at every position (InstructGPT initialises a separate critic from the
 * reward model instead; sharing the trunk halves the compute, at the price of the value loss
 * shaping the policy's features — hence PpoConfig's value coefficient).
 */
public final class ActorCritic implements AutoCloseable {

    /** Name of the value head's weight. */
    public static final String VALUE_HEAD = "value_head.weight";

    private final LlamaModel policy;
    private final NDArray valueHead;
    private final Map<String, NDArray> params = new LinkedHashMap<>();

    /** Logits [B, T, V] and values [B, T] of one pass. */
    public record Output(NDArray logits, NDArray values) {
    }

    public ActorCritic(ModelConfig config, Map<String, Tensor> policyWeights, Tensor valueHead, NDManager manager) {
        this.policy = LlamaModel.of(config, policyWeights, manager);
        float[] v = valueHead == null ? new float[config.hiddenSize()] : valueHead.data();
        this.valueHead = manager.create(v, new Shape(1, config.hiddenSize()));
        this.valueHead.setName(VALUE_HEAD);
        params.putAll(policy.parameters());
        params.put(VALUE_HEAD, this.valueHead);
    }

    public Output forward(NDArray ids, NDArray mask, NDArray positions) {
        NDArray hidden = policy.hidden(ids, mask, positions); // [B, T, D]
        ModelConfig c = policy.config();
        NDArray lmHead = c.tieWordEmbeddings() ? policy.parameters().get("model.embed_tokens.weight")
                : policy.parameters().get("lm_head.weight");
        return new Output(hidden.matMul(lmHead.transpose()), hidden.matMul(valueHead.transpose()).squeeze(-1));
    }

    /** Every trained parameter (policy and value head; live arrays). */
    public Map<String, NDArray> parameters() {
        return params;
    }

    public void requireGradients(boolean on) {
        params.values().forEach(p -> p.setRequiresGradient(on));
    }

    public ModelConfig config() {
        return policy.config();
    }

    /** The policy's weights alone: what is exported and served. */
    public List<Tensor> policyWeights() {
        return policy.weights();
    }

    public Tensor valueHead() {
        return new Tensor(VALUE_HEAD, valueHead.getShape().getShape(), valueHead.toFloatArray());
    }

    @Override
    public void close() {
        policy.close();
    }
}
