package dev.rlhf.trainer;

import java.nio.file.Path;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** Configuration of trainer-service ({@code rlhf.trainer.*}), checked at start-up. */
@ConfigMapping(prefix = "rlhf.trainer")
public interface TrainerConfig {

    /** Root folder of the versioned model store (shared with policy- and reward-service). */
    @WithDefault(".rlhf/models")
    Path modelStore();

    /** Where job checkpoints go. */
    @WithDefault(".rlhf/checkpoints")
    Path checkpoints();

    /** Architecture of a model trained from scratch (an SFT job without {@code init}). */
    Architecture scratch();

    interface Architecture {
        /** hidden_size; intermediate_size is twice it. */
        @WithDefault("128")
        int hidden();

        /** num_hidden_layers. */
        @WithDefault("2")
        int layers();

        /** num_attention_heads. */
        @WithDefault("4")
        int heads();

        /** num_key_value_heads (grouped-query attention when below heads). */
        @WithDefault("2")
        int kvHeads();

        /** max_position_embeddings: the context window. */
        @WithDefault("256")
        int context();

        /** Size of the byte-level BPE tokenizer learned from the demonstrations. */
        @WithDefault("512")
        int vocab();
    }
}
