package dev.rlhf.model.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The project's own tokenizer: a byte-level BPE (GPT-2 style) learned from the task's corpus
 * and written as a Hugging Face {@code tokenizer.json}, so that {@link Tokenizer#load} (and any
 * Hugging Face tokenizers runtime) reads it with no download.
 *
 * <p>Vocabulary, by id:
 * <pre>
 *   0..5      special tokens {@code <pad> <s> </s> <unk> <|user|> <|assistant|>}
 *             (also added tokens: a literal marker in text encodes to its id)
 *   6..261    the 256 bytes, in GPT-2's byte-level alphabet (token 6 + b is byte b)
 *   262..     merged tokens, in the order {@link BpeTrainer} (Sennrich et al. 2016) learned them
 * </pre>
 * The {@code ByteLevel} pre-tokenizer (GPT-2 regex, no prefix space) and decoder make every
 * UTF-8 text round-trip exactly; no normalizer, no post-processor, so encoding adds nothing.
 *
 * <p>The file is a function of the corpus and {@code vocabSize} only: the same input gives the
 * same bytes and so the same {@link Tokenizer#sha256()}.
 */
public final class DefaultTokenizer {

    /** Padding, id 0. */
    public static final String PAD = "<pad>";
    /** Beginning of sequence, id 1. */
    public static final String BOS = "<s>";
    /** End of sequence, id 2: a generation stops here. */
    public static final String EOS = "</s>";
    /** Unknown, id 3; never produced (every byte has a token), kept for compatibility. */
    public static final String UNK = "<unk>";
    /** Starts a user turn, id 4. */
    public static final String USER = "<|user|>";
    /** Starts an assistant turn, id 5. */
    public static final String ASSISTANT = "<|assistant|>";
    /** The special tokens; a token's index here is its id. */
    public static final List<String> SPECIAL_TOKENS = List.of(PAD, BOS, EOS, UNK, USER, ASSISTANT);
    /** Tokens before any merge: the 6 special tokens and the 256 bytes. */
    public static final int BASE_VOCAB_SIZE = 262;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Special-token occurrences in corpus text: cut out before counting words, as encoding does. */
    private static final Pattern SPECIAL_SPLIT = Pattern.compile(
            SPECIAL_TOKENS.stream().map(Pattern::quote).collect(Collectors.joining("|")));

    private DefaultTokenizer() {
    }

    /**
     * Learns byte-level BPE merges from {@code corpus} and writes the tokenizer to {@code out}
     * (replacing it; parent folders are created).
     *
     * <p>Steps: cut special-token strings out of the corpus texts, split them with the GPT-2
     * pre-tokenizer into byte-level words, learn up to {@code vocabSize - 262} merges
     * (fewer when the corpus runs out of pairs: every word already one token), write JSON.
     *
     * @param out       the {@code tokenizer.json} to write
     * @param corpus    texts of the task (prompts, responses); may be empty (no merges)
     * @param vocabSize the most tokens, at least {@value #BASE_VOCAB_SIZE}
     * @throws IllegalArgumentException if {@code vocabSize} is below 262 or a corpus text is null
     * @throws UncheckedIOException     if {@code out} cannot be written
     */
    public static void write(Path out, List<String> corpus, int vocabSize) {
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(corpus, "corpus");
        if (vocabSize < BASE_VOCAB_SIZE) {
            throw new IllegalArgumentException("vocabSize " + vocabSize + " is below " + BASE_VOCAB_SIZE
                    + " (" + SPECIAL_TOKENS.size() + " special tokens + 256 bytes); pass at least "
                    + BASE_VOCAB_SIZE);
        }
        BpeTrainer.Result bpe = BpeTrainer.train(wordCounts(corpus), baseVocab(), vocabSize);
        writeAtomically(out, toJson(bpe));
    }

    /** [262] the tokens before any merge, by id. */
    static List<String> baseVocab() {
        List<String> vocab = new ArrayList<>(SPECIAL_TOKENS);
        for (int b = 0; b < 256; b++) {
            vocab.add(String.valueOf(ByteLevel.charOf(b)));
        }
        return vocab;
    }

    /** Byte-level words of the corpus and how often each occurs. */
    static Map<String, Long> wordCounts(List<String> corpus) {
        Map<String, Long> counts = new HashMap<>();
        for (int i = 0; i < corpus.size(); i++) {
            String text = corpus.get(i);
            if (text == null) {
                throw new IllegalArgumentException("corpus text " + i + " is null; drop it or pass \"\"");
            }
            for (String piece : SPECIAL_SPLIT.split(text)) {
                for (String word : ByteLevel.preTokenize(piece)) {
                    counts.merge(word, 1L, Long::sum);
                }
            }
        }
        return counts;
    }

    /** The Hugging Face {@code tokenizer.json} (serde layout of the Rust crate, version 1.0). */
    private static ObjectNode toJson(BpeTrainer.Result bpe) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < SPECIAL_TOKENS.size(); id++) {
            added.addObject()
                    .put("id", id)
                    .put("content", SPECIAL_TOKENS.get(id))
                    .put("single_word", false)
                    .put("lstrip", false)
                    .put("rstrip", false)
                    .put("normalized", false)
                    .put("special", true);
        }
        root.putNull("normalizer");
        root.set("pre_tokenizer", byteLevel(false));
        root.putNull("post_processor");
        root.set("decoder", byteLevel(true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < bpe.vocab().size(); id++) {
            vocab.put(bpe.vocab().get(id), id);
        }
        ArrayNode merges = model.putArray("merges");
        for (BpeTrainer.Merge m : bpe.merges()) {
            merges.addArray().add(m.left()).add(m.right());
        }
        return root;
    }

    private static ObjectNode byteLevel(boolean addPrefixSpace) {
        ObjectNode node = JSON.createObjectNode();
        node.put("type", "ByteLevel");
        node.put("add_prefix_space", addPrefixSpace); // the decoder ignores it
        node.put("trim_offsets", true);
        node.put("use_regex", true);
        return node;
    }

    /** Writes a sibling temp file and moves it over {@code out}: readers never see half a file. */
    private static void writeAtomically(Path out, ObjectNode json) {
        Path abs = out.toAbsolutePath();
        try {
            Files.createDirectories(abs.getParent());
            Path tmp = Files.createTempFile(abs.getParent(), abs.getFileName().toString(), ".tmp");
            try {
                JSON.writeValue(tmp.toFile(), json);
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write tokenizer to " + abs + ": " + e.getMessage()
                    + "; check that the folder is writable", e);
        }
    }
}
