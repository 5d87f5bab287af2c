package dev.rlhf.reward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.DefaultTokenizer;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.proto.v1.ScorePair;

/** How a pair becomes a reward model's ids: template, caller's ids plus EOS, truncation. */
class PairEncoderTest {

    private static final int CONTEXT = 16;
    private static final ModelConfig CONFIG = new ModelConfig(300, 64, 128, 2, 4, 2, 1e-5, 10000, CONTEXT, false, 1,
            List.of(2), 0, "llama");

    @TempDir
    static Path dir;

    static Tokenizer tokenizer;
    static ChatTemplate template;

    @BeforeAll
    static void tokenizer() {
        DefaultTokenizer.write(dir.resolve("tokenizer.json"), List.of("Hello there, how are you today?"), 300);
        tokenizer = Tokenizer.load(dir.resolve("tokenizer.json"));
        template = new ChatTemplate(tokenizer);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    private static PairEncoder encoder(ScoringLimits.Truncation truncation) {
        return new PairEncoder("reward v1", template, CONFIG, truncation);
    }

    private static ScorePair ids(int[] prompt, int[] response) {
        return ScorePair.newBuilder().setPrompt("p").addAllPromptTokenIds(Arrays.stream(prompt).boxed().toList())
                .addAllResponseTokenIds(Arrays.stream(response).boxed().toList()).build();
    }

    @Test
    void textsAreFormattedByTheChatTemplate() {
        ScorePair p = ScorePair.newBuilder().setPrompt("Hello").setResponse("there").build();
        PairEncoder.Encoded e = encoder(ScoringLimits.Truncation.REJECT).encode(0, p, false);
        assertArrayEquals(template.scoring("Hello", "there").ids(), e.ids());
        assertFalse(e.truncated());
        // a prompt already rendered by the template gives the same ids
        String rendered = "<s><|user|>Hello<|assistant|>";
        assertArrayEquals(e.ids(), encoder(ScoringLimits.Truncation.REJECT)
                .encode(0, ScorePair.newBuilder().setPrompt(rendered).setResponse("there").build(), false).ids());
    }

    @Test
    void callerIdsGetAnEosUnlessTheyEndWithOne() {
        int eos = template.eosId();
        PairEncoder enc = encoder(ScoringLimits.Truncation.REJECT);
        assertArrayEquals(new int[] {1, 4, 70, 5, 80, 81, eos}, enc.encode(0, ids(new int[] {1, 4, 70, 5},
                new int[] {80, 81}), true).ids(), "cut by length: EOS appended");
        assertArrayEquals(new int[] {1, 4, 70, 5, 80, eos}, enc.encode(0, ids(new int[] {1, 4, 70, 5},
                new int[] {80, eos}), true).ids(), "ended by EOS: as is");
        assertArrayEquals(new int[] {1, 4, 70, 5, eos}, enc.encode(0, ids(new int[] {1, 4, 70, 5}, new int[0]), true)
                .ids(), "an empty response is scored as just EOS");
    }

    @Test
    void idsOutsideTheVocabularyAreRefusedNamingTheField() {
        var e = assertThrows(IllegalArgumentException.class, () -> encoder(ScoringLimits.Truncation.REJECT)
                .encode(3, ids(new int[] {1, 4}, new int[] {7, 300}), true));
        assertTrue(e.getMessage().startsWith("pairs[3].response_token_ids[1] must be in [0, 300)"), e.getMessage());
    }

    @Test
    void aTextThatEncodesToAMarkerIsRefusedNamingThePair() {
        var e = assertThrows(IllegalArgumentException.class, () -> encoder(ScoringLimits.Truncation.REJECT)
                .encode(2, ScorePair.newBuilder().setPrompt("Hi").setResponse("bye</s>").build(), false));
        assertTrue(e.getMessage().startsWith("pairs[2]: the response contains \"</s>\""), e.getMessage());
    }

    @Test
    void overLongPairsAreRejectedOrCutFromTheLeft() {
        int[] prompt = new int[12];
        Arrays.fill(prompt, 70);
        prompt[0] = 1;
        int[] response = {80, 81, 82, 83, 84, 85, 86};
        ScorePair p = ids(prompt, response);
        var e = assertThrows(IllegalArgumentException.class, () -> encoder(ScoringLimits.Truncation.REJECT).encode(5, p, true));
        assertTrue(e.getMessage().startsWith("pairs[5] is 20 tokens for reward model reward v1, whose context length is 16"),
                e.getMessage());
        PairEncoder.Encoded cut = encoder(ScoringLimits.Truncation.TRUNCATE_LEFT).encode(5, p, true);
        assertTrue(cut.truncated());
        assertEquals(CONTEXT, cut.ids().length);
        // the response and its EOS are whole; the prompt lost its first tokens
        assertArrayEquals(new int[] {80, 81, 82, 83, 84, 85, 86, template.eosId()},
                Arrays.copyOfRange(cut.ids(), CONTEXT - 8, CONTEXT));
        assertEquals(70, cut.ids()[0]);
        // a pair that fits is not marked
        assertFalse(encoder(ScoringLimits.Truncation.TRUNCATE_LEFT).encode(0, ids(new int[] {1}, response), true).truncated());
    }
}
