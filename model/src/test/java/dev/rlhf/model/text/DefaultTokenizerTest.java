package dev.rlhf.model.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DefaultTokenizerTest {

    /** Texts a byte-level tokenizer must reproduce exactly. */
    private static final List<String> HARD_TEXTS = List.of(
            "plain ASCII text.",
            " leading space",
            "   three leading spaces and trailing   ",
            "accents: déjà vu, naïve, Ærøskøbing, façade",
            "emoji 👋🏽 👨‍👩‍👧 🇫🇷 and ✓",
            "line one\nline two\r\n\n\tindented\n",
            "CJK: 日本語のテキスト, 한국어",
            "nul\u0000and\u007fcontrol\u001b[0m",
            "no-break\u00a0space and soft\u00adhyphen",
            "It's 3.14159 — isn't it? ¯\\_(ツ)_/¯",
            "\n",
            " ",
            "");

    @TempDir
    Path dir;

    @Test
    void roundTripsArbitraryTextExactly() {
        try (Tokenizer t = TextFixtures.trained(dir, 400)) {
            for (String text : HARD_TEXTS) {
                assertEquals(text, t.decode(t.encode(text)), () -> "text " + Arrays.toString(text.codePoints().toArray()));
            }
        }
    }

    @Test
    void roundTripsRandomUnicode() {
        Random rnd = new Random(7);
        int[] pool = " \n\tae'.!0Zé€😀日\u0000\u00a0".codePoints().toArray();
        try (Tokenizer t = TextFixtures.trained(dir, 400)) {
            for (int n = 0; n < 300; n++) {
                StringBuilder sb = new StringBuilder();
                int len = rnd.nextInt(40);
                for (int i = 0; i < len; i++) {
                    sb.appendCodePoint(rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(0x2FFF) : pool[rnd.nextInt(pool.length)]);
                }
                String text = sb.toString().replaceAll("[\\ud800-\\udfff]", "x"); // no lone surrogates
                assertEquals(text, t.decode(t.encode(text)));
            }
        }
    }

    @Test
    void specialTokensInTextEncodeToTheirIds() {
        try (Tokenizer t = TextFixtures.trained(dir, 400)) {
            for (int id = 0; id < DefaultTokenizer.SPECIAL_TOKENS.size(); id++) {
                String token = DefaultTokenizer.SPECIAL_TOKENS.get(id);
                assertArrayEquals(new int[] {id}, t.encode(token), token);
                assertEquals(id, t.tokenId(token).getAsInt(), token);
            }
            int[] ids = t.encode("hi</s>there<|assistant|>");
            assertEquals(2, ids[2], Arrays.toString(ids));
            assertEquals(5, ids[ids.length - 1], Arrays.toString(ids));
            assertEquals("hi</s>there<|assistant|>", t.decode(ids));
        }
    }

    @Test
    void withoutMergesEveryByteIsOneToken() {
        try (Tokenizer t = TextFixtures.trained(dir, DefaultTokenizer.BASE_VOCAB_SIZE)) {
            assertEquals(262, t.vocabSize());
            for (int b = 0; b < 256; b++) {
                assertEquals(DefaultTokenizer.SPECIAL_TOKENS.size() + b, t.tokenId(String.valueOf(ByteLevel.charOf(b))).getAsInt());
            }
            String text = "The capital é 👋";
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            int[] expected = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                expected[i] = 6 + (bytes[i] & 0xFF);
            }
            assertArrayEquals(expected, t.encode(text));
        }
    }

    @Test
    void vocabSizeMatchesAndMergesShortenCorpusWords() {
        try (Tokenizer t = TextFixtures.trained(dir, 300)) {
            assertEquals(300, t.vocabSize());
            assertTrue(t.tokenId("Ġthe").isPresent(), "the corpus's most frequent word is one token");
            assertEquals(1, t.encode(" the").length);
            assertEquals(1, t.encode(" capital").length, "8 bytes, 4 times in the corpus");
            long tokens = 0;
            long bytes = 0;
            for (String text : TextFixtures.CORPUS) {
                int n = t.encode(text).length;
                int b = text.getBytes(StandardCharsets.UTF_8).length;
                assertTrue(n < b, text + ": " + n + " tokens for " + b + " bytes");
                tokens += n;
                bytes += b;
            }
            assertTrue(tokens < 0.7 * bytes, "38 merges should save 30% of the corpus: " + tokens + "/" + bytes);
        }
    }

    @Test
    void rustEncodingMatchesTheTrainersSegmentation() {
        // The Rust BPE applies the merges by rank; on corpus words that must reproduce training's
        // left-to-right, merge-by-merge segmentation, and our GPT-2 split must match the Rust one.
        BpeTrainer.Result bpe = BpeTrainer.train(DefaultTokenizer.wordCounts(TextFixtures.CORPUS),
                DefaultTokenizer.baseVocab(), 400);
        try (Tokenizer t = TextFixtures.trained(dir, 400)) {
            for (String text : TextFixtures.CORPUS) {
                List<Integer> expected = new ArrayList<>();
                for (String word : ByteLevel.preTokenize(text)) {
                    for (String token : NaiveBpeTrainer.segment(word, bpe.merges())) {
                        expected.add(bpe.vocab().indexOf(token));
                    }
                }
                assertEquals(expected, Arrays.stream(t.encode(text)).boxed().toList(), text);
            }
        }
    }

    @Test
    void specialTokenStringsInTheCorpusAreNotLearned() {
        List<String> corpus = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            corpus.add("<s><|user|>hello<|assistant|>world</s>");
        }
        Path file = dir.resolve("tokenizer.json");
        DefaultTokenizer.write(file, corpus, 400);
        try (Tokenizer t = Tokenizer.load(file)) {
            assertTrue(t.tokenId("hello").isPresent());
            assertTrue(t.tokenId("world").isPresent());
            assertFalse(t.tokenId("|>").isPresent(), "'|>' only occurs inside markers");
            assertFalse(t.tokenId("></").isPresent(), "'></' only occurs between markers");
        }
    }

    @Test
    void writesTheHuggingFaceLayout() throws Exception {
        Path file = dir.resolve("tokenizer.json");
        DefaultTokenizer.write(file, TextFixtures.CORPUS, 300);
        JsonNode json = new ObjectMapper().readTree(file.toFile());
        assertEquals("1.0", json.get("version").asText());
        assertTrue(json.get("normalizer").isNull());
        assertTrue(json.get("post_processor").isNull());
        assertTrue(json.get("truncation").isNull());
        assertTrue(json.get("padding").isNull());
        assertEquals("ByteLevel", json.get("pre_tokenizer").get("type").asText());
        assertFalse(json.get("pre_tokenizer").get("add_prefix_space").asBoolean());
        assertTrue(json.get("pre_tokenizer").get("use_regex").asBoolean());
        assertEquals("ByteLevel", json.get("decoder").get("type").asText());
        JsonNode added = json.get("added_tokens");
        assertEquals(6, added.size());
        for (int id = 0; id < 6; id++) {
            assertEquals(id, added.get(id).get("id").asInt());
            assertEquals(DefaultTokenizer.SPECIAL_TOKENS.get(id), added.get(id).get("content").asText());
            assertTrue(added.get(id).get("special").asBoolean());
        }
        JsonNode model = json.get("model");
        assertEquals("BPE", model.get("type").asText());
        assertEquals(300, model.get("vocab").size());
        assertEquals(0, model.get("vocab").get("<pad>").asInt());
        assertEquals(6 + ' ', model.get("vocab").get("Ġ").asInt());
        assertEquals(300 - 262, model.get("merges").size()); // no merge repeated a token on this corpus
        JsonNode first = model.get("merges").get(0);
        assertEquals(2, first.size());
        assertEquals(262, model.get("vocab").get(first.get(0).asText() + first.get(1).asText()).asInt());
    }

    @Test
    void sameCorpusSameBytesOtherCorpusOtherHash() throws Exception {
        Path a = dir.resolve("a/tokenizer.json");
        Path b = dir.resolve("b/tokenizer.json");
        Path c = dir.resolve("c/tokenizer.json");
        DefaultTokenizer.write(a, TextFixtures.CORPUS, 350);
        DefaultTokenizer.write(b, new ArrayList<>(TextFixtures.CORPUS), 350);
        DefaultTokenizer.write(c, TextFixtures.CORPUS.subList(0, 5), 350);
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
        try (Tokenizer ta = Tokenizer.load(a); Tokenizer tb = Tokenizer.load(b); Tokenizer tc = Tokenizer.load(c)) {
            assertEquals(ta.sha256(), tb.sha256());
            assertNotEquals(ta.sha256(), tc.sha256());
        }
    }

    @Test
    void smallCorpusStopsShortOfVocabSize() {
        Path file = dir.resolve("tokenizer.json");
        DefaultTokenizer.write(file, List.of("ab ab"), 1000);
        try (Tokenizer t = Tokenizer.load(file)) {
            // merges: a·b, Ġ·ab; then every word is one token
            assertEquals(264, t.vocabSize());
            assertArrayEquals(new int[] {262, 263}, t.encode("ab ab"));
        }
    }

    @Test
    void emptyCorpusGivesTheByteTokenizer() {
        Path file = dir.resolve("tokenizer.json");
        DefaultTokenizer.write(file, List.of(), 5000);
        try (Tokenizer t = Tokenizer.load(file)) {
            assertEquals(262, t.vocabSize());
            assertEquals("any text ✓", t.decode(t.encode("any text ✓")));
        }
    }

    @Test
    void overwritesAnExistingFile() {
        Path file = dir.resolve("tokenizer.json");
        DefaultTokenizer.write(file, List.of(), 262);
        DefaultTokenizer.write(file, TextFixtures.CORPUS, 300);
        try (Tokenizer t = Tokenizer.load(file)) {
            assertEquals(300, t.vocabSize());
        }
    }

    @Test
    void refusesVocabSizeBelowTheBase() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DefaultTokenizer.write(dir.resolve("t.json"), TextFixtures.CORPUS, 261));
        assertTrue(e.getMessage().contains("261") && e.getMessage().contains("at least 262"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("t.json")));
    }

    @Test
    void refusesANullCorpusText() {
        List<String> corpus = Arrays.asList("fine", null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DefaultTokenizer.write(dir.resolve("t.json"), corpus, 300));
        assertTrue(e.getMessage().contains("corpus text 1"), e.getMessage());
    }

    @Test
    void baseVocabSizeIsSpecialsPlusBytes() {
        assertEquals(DefaultTokenizer.SPECIAL_TOKENS.size() + 256, DefaultTokenizer.BASE_VOCAB_SIZE);
        assertEquals(DefaultTokenizer.BASE_VOCAB_SIZE, DefaultTokenizer.baseVocab().size());
    }
}
