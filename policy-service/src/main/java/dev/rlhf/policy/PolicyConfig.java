package dev.rlhf.policy;

import java.nio.file.Path;
import java.util.List;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** Configuration of policy-service ({@code rlhf.policy.*}). */
@ConfigMapping(prefix = "rlhf.policy")
public interface PolicyConfig {

    /** Root of the versioned model store (shared with the trainer). */
    @WithDefault(".rlhf/models")
    Path modelStore();

    /** Model names served; each loads its latest stored version at start-up. */
    @WithDefault("policy,reference")
    List<String> models();

    /** Topic of model announcements (compacted, key = model name). */
    @WithDefault("rlhf.models.v1")
    String modelsTopic();

    /** Topic each served generation is logged to as an Interaction. */
    @WithDefault("rlhf.interactions.v1")
    String interactionsTopic();

    /** ONNX Runtime execution provider: cpu or cuda (start-up fails when cuda is demanded and missing). */
    @WithDefault("cpu")
    String provider();

    /**
     * Attention on CPU: fused (ONNX Runtime's GroupQueryAttention on a fixed KV cache of
     * max-batch slots, each the context window long) or standard (the model file's graph as
     * it is). CUDA, and models whose head width is not a multiple of 16, use standard.
     */
    @WithDefault("fused")
    String attention();

    /**
     * With fused attention: independent batches (lanes) per model, each on its own thread with
     * max-batch / lanes KV slots and cores / lanes ONNX Runtime threads, sharing one session;
     * 0 = one lane per 8 rows of max-batch, at most one per core.
     */
    @WithDefault("0")
    int lanes();

    /** ONNX Runtime intra-op threads per model (0 = its default, which is one per core). */
    @WithDefault("0")
    int threads();

    /** Rows decoded together per model (continuous batching). */
    @WithDefault("16")
    int maxBatch();

    /** Requests waiting beyond the batch per model; more get RESOURCE_EXHAUSTED. */
    @WithDefault("64")
    int maxQueue();

    /** Most KV entries (prompt + max new tokens, summed) in one model's batch. */
    @WithDefault("65536")
    int tokenBudget();

    /** max_new_tokens when a request leaves it 0. */
    @WithDefault("256")
    int defaultMaxNewTokens();

    /** Largest max_new_tokens accepted. */
    @WithDefault("2048")
    int maxNewTokensLimit();

    /** Largest n (samples per prompt) accepted. */
    @WithDefault("16")
    int maxSamples();

    /** The retry hint (trailer retry-after-ms) sent with RESOURCE_EXHAUSTED. */
    @WithDefault("200")
    int retryAfterMs();
}
