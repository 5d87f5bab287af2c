package dev.rlhf.reward;

import java.util.Arrays;
import java.util.List;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.proto.v1.ScorePair;

/**
 * Formats a (prompt, response) pair as one reward model was trained on it: the token ids
 * its scalar head reads the score from the last of.
 *
 * <ul>
 *   <li>Texts: {@link ChatTemplate#scoring} — {@code <s><|user|>{prompt}<|assistant|>{response}</s>}
 *       for a plain prompt; a prompt already rendered by the template (ending with
 *       {@code <|assistant|>}) is tokenized as it is.</li>
 *   <li>Token ids (only when the caller's tokenizer is this model's, see
 *       {@link #encode}): {@code prompt_token_ids ++ response_token_ids}, plus the
 *       template's {@code </s>} when the last id is not an EOS id of the model (a response
 *       cut by the length limit or a stop string): the model was trained on sequences that
 *       end with {@code </s>}.</li>
 *   <li>Longer than the context: refused, or with {@link ScoringLimits.Truncation#TRUNCATE_LEFT}
 *       cut to its last {@code max_position_embeddings} ids — the prompt's first tokens go
 *       first, and the response is kept whole whenever it fits.</li>
 * </ul>
 */
final class PairEncoder {

    /**
     * A pair's ids for one model.
     *
     * @param ids       [T] token ids, T ≤ the model's context length
     * @param truncated whether ids were dropped from the left
     */
    record Encoded(int[] ids, boolean truncated) {
    }

    private final String model;
    private final ChatTemplate template;
    private final ModelConfig config;
    private final ScoringLimits.Truncation truncation;

    /**
     * @param model the served model, e.g. "reward v3", for messages
     */
    PairEncoder(String model, ChatTemplate template, ModelConfig config, ScoringLimits.Truncation truncation) {
        this.model = model;
        this.template = template;
        this.config = config;
        this.truncation = truncation;
    }

    /**
     * The ids of {@code pairs[index]}.
     *
     * @param useIds take the pair's token ids (the request's tokenizer is this model's and
     *               the pair carries prompt ids, as the service checks) instead of tokenizing
     *               its texts
     * @throws IllegalArgumentException naming the pair (and field): a text that encodes to a
     *                                  chat marker, an id outside the vocabulary, or a pair
     *                                  too long when truncation is off
     */
    Encoded encode(int index, ScorePair pair, boolean useIds) {
        String at = "pairs[" + index + "]";
        int[] ids;
        if (useIds) {
            int[] prompt = ids(pair.getPromptTokenIdsList(), at + ".prompt_token_ids");
            int[] response = ids(pair.getResponseTokenIdsList(), at + ".response_token_ids");
            int last = response.length > 0 ? response[response.length - 1] : prompt[prompt.length - 1];
            boolean endsWithEos = last == template.eosId() || config.eosTokenIds().contains(last);
            ids = Arrays.copyOf(prompt, prompt.length + response.length + (endsWithEos ? 0 : 1));
            System.arraycopy(response, 0, ids, prompt.length, response.length);
            if (!endsWithEos) {
                ids[ids.length - 1] = template.eosId();
            }
        } else {
            try {
                ids = template.scoring(pair.getPrompt(), pair.getResponse()).ids();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(at + ": " + e.getMessage(), e);
            }
        }
        int context = config.maxPositionEmbeddings();
        if (ids.length <= context) {
            return new Encoded(ids, false);
        }
        if (truncation == ScoringLimits.Truncation.REJECT) {
            throw new IllegalArgumentException(at + " is " + ids.length + " tokens for reward model " + model
                    + ", whose context length is " + context + "; shorten the prompt or the response (this service"
                    + " rejects over-long pairs: rlhf.reward.truncation=reject)");
        }
        return new Encoded(Arrays.copyOfRange(ids, ids.length - context, ids.length), true);
    }

    private int[] ids(List<Integer> ids, String field) {
        int vocab = config.vocabSize();
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            int id = ids.get(i);
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException(field + "[" + i + "] must be in [0, " + vocab + ") for reward model "
                        + model + ", was " + id);
            }
            out[i] = id;
        }
        return out;
    }
}
