package dev.rlhf.model.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {

    /** A hand-written WordLevel tokenizer: whitespace words, [UNK] for the rest. */
    private static final String WORD_LEVEL = """
            {"version":"1.0","truncation":null,"padding":null,
             "added_tokens":[{"id":0,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,
                              "normalized":false,"special":true}],
             "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
             "model":{"type":"WordLevel","vocab":{"[UNK]":0,"hello":1,"world":2,"<s>":3},"unk_token":"[UNK]"}}
            """;

    @TempDir
    Path dir;

    @Test
    void sha256IsOfTheFileBytes() throws Exception {
        try (Tokenizer t = TextFixtures.trained(dir, 300)) {
            byte[] bytes = Files.readAllBytes(dir.resolve("tokenizer.json"));
            String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
            assertEquals(expected, t.sha256());
            assertEquals(64, t.sha256().length());
        }
    }

    @Test
    void nothingIsTruncatedPaddedOrAdded() {
        try (Tokenizer t = TextFixtures.trained(dir, DefaultTokenizer.BASE_VOCAB_SIZE)) {
            String text = "x".repeat(2000); // DJL's default would cut at 512
            assertEquals(2000, t.encode(text).length);
            assertEquals(text, t.decode(t.encode(text)));
            assertArrayEquals(new int[0], t.encode(""));
            assertArrayEquals(new int[] {6 + 'a'}, t.encode("a"), "no <s>/</s> added around the text");
        }
    }

    @Test
    void tokenIdLooksUpTheFilesStrings() {
        try (Tokenizer t = TextFixtures.trained(dir, 300)) {
            assertEquals(2, t.tokenId("</s>").getAsInt());
            assertEquals(6 + ' ', t.tokenId("Ġ").getAsInt());
            assertTrue(t.tokenId("not a token").isEmpty());
        }
    }

    @Test
    void decodeRefusesIdsOutsideTheVocabulary() {
        try (Tokenizer t = TextFixtures.trained(dir, 300)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> t.decode(new int[] {7, 8, 300}));
            assertTrue(e.getMessage().contains("300") && e.getMessage().contains("position 2"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {-1}));
            assertEquals("<s>", t.decode(new int[] {1}), "special tokens are kept");
        }
    }

    @Test
    void loadsAHandWrittenWordLevelTokenizer() throws Exception {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, WORD_LEVEL);
        try (Tokenizer t = Tokenizer.load(file)) {
            assertArrayEquals(new int[] {1, 2, 0}, t.encode("hello world other"));
            assertEquals(4, t.vocabSize());
            assertEquals(3, t.tokenId("<s>").getAsInt());
        }
    }

    @Test
    void missingFileIsNamed() {
        Path missing = dir.resolve("nope/tokenizer.json");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(missing));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("does not exist"),
                e.getMessage());
    }

    @Test
    void folderIsRefusedWithTheFileToPass() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("tokenizer.json").toString()), e.getMessage());
    }

    @Test
    void invalidJsonIsNamed() throws Exception {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"version\": \"1.0\", ");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("not valid JSON"),
                e.getMessage());
    }

    @Test
    void jsonThatIsNoTokenizerIsNamed() throws Exception {
        Path file = dir.resolve("config.json");
        Files.writeString(file, "{\"vocab_size\": 300}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("model.vocab"),
                e.getMessage());
    }

    @Test
    void tokenizerTheRustLibraryRefusesIsNamed() throws Exception {
        Path file = dir.resolve("tokenizer.json");
        // a merge of tokens that are not in the vocabulary
        Files.writeString(file, """
                {"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
                 "pre_tokenizer":null,"post_processor":null,"decoder":null,
                 "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
                          "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,
                          "vocab":{"a":0,"b":1},"merges":[["x","y"]]}}
                """);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(file));
        assertTrue(e.getMessage().contains(file.toString())
                && e.getMessage().contains("not a valid Hugging Face tokenizer.json"), e.getMessage());
    }

    @Test
    void concurrentEncodingGivesTheSameIds() throws Exception {
        try (Tokenizer t = TextFixtures.trained(dir, 400)) {
            List<int[]> expected = TextFixtures.CORPUS.stream().map(t::encode).toList();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<List<int[]>>> runs = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    runs.add(pool.submit(() -> TextFixtures.CORPUS.stream().map(t::encode).toList()));
                }
                for (Future<List<int[]>> run : runs) {
                    List<int[]> got = run.get();
                    for (int i = 0; i < expected.size(); i++) {
                        assertArrayEquals(expected.get(i), got.get(i));
                    }
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void utf8OfTheTextIsWhatIsEncoded() {
        try (Tokenizer t = TextFixtures.trained(dir, DefaultTokenizer.BASE_VOCAB_SIZE)) {
            String text = "ü";
            assertEquals(text.getBytes(StandardCharsets.UTF_8).length, t.encode(text).length);
        }
    }
}
