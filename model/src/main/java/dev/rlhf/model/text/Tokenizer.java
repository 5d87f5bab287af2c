package dev.rlhf.model.text;

import ai.djl.engine.EngineException;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * A Hugging Face tokenizer read from a local {@code tokenizer.json} (DJL's binding of the Rust
 * {@code tokenizers} crate; nothing is downloaded), set up so that token ids are exactly what
 * the file says and nothing else: no truncation (DJL's default cuts at 512), no padding, no
 * special tokens added by a post-processor (the caller, e.g. {@link ChatTemplate}, places
 * {@code <s>} and {@code </s>} itself), no {@code tokenizer_config.json} read beside it.
 *
 * <p>Special tokens written literally in the text (added tokens of the file, such as
 * {@code </s>}) do encode to their ids; {@link ChatTemplate} refuses such text.
 *
 * <p>Safe for concurrent {@link #encode}/{@link #decode}; {@link #close()} once, after all use.
 * Services compare {@link #sha256()} before exchanging token ids: ids mean nothing across
 * different tokenizer files.
 */
public final class Tokenizer implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path source;
    private final HuggingFaceTokenizer hf;
    /** token string (in the file's alphabet, e.g. "Ġthe") → id; model vocab and added tokens. */
    private final Map<String, Integer> vocab;
    private final int vocabSize;
    private final String sha256;

    private Tokenizer(Path source, HuggingFaceTokenizer hf, Map<String, Integer> vocab, String sha256) {
        this.source = source;
        this.hf = hf;
        this.vocab = vocab;
        this.vocabSize = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        this.sha256 = sha256;
    }

    /**
     * Reads {@code tokenizerJson}. The bytes are read once: the same bytes are hashed
     * ({@link #sha256()}), parsed for the vocabulary and handed to the Rust tokenizer.
     *
     * @param tokenizerJson a Hugging Face {@code tokenizer.json} file (not its folder)
     * @throws IllegalArgumentException naming the path if the file is missing, a folder,
     *                                  unreadable, not JSON, has no {@code model.vocab}, or the
     *                                  tokenizers library refuses it
     * @throws IllegalStateException    if DJL's native tokenizers library cannot be loaded
     */
    public static Tokenizer load(Path tokenizerJson) {
        Objects.requireNonNull(tokenizerJson, "tokenizerJson");
        Path path = tokenizerJson.toAbsolutePath();
        if (Files.isDirectory(path)) {
            throw new IllegalArgumentException("tokenizer path " + path + " is a folder; pass the file, e.g. "
                    + path.resolve("tokenizer.json"));
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("tokenizer file " + path + " does not exist; write one with"
                    + " DefaultTokenizer.write or copy the model's tokenizer.json there");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new IllegalArgumentException("tokenizer file " + path + " cannot be read (" + e
                    + "); check its permissions", e);
        }
        Map<String, Integer> vocab = readVocab(path, bytes);
        HuggingFaceTokenizer hf;
        try {
            // The InputStream overload (which the Path one calls): the very bytes hashed above, and no
            // tokenizer_config.json (it could turn on lower-casing, accent stripping or space clean-up).
            hf = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(bytes), Map.of(
                    "addSpecialTokens", "false",
                    "truncation", "false",
                    "padding", "false"));
        } catch (EngineException e) { // the native library, not the file, is the problem
            throw new IllegalStateException("the Hugging Face tokenizers native library of DJL cannot be loaded ("
                    + e.getMessage() + "); it ships in ai.djl.huggingface:tokenizers for linux/osx/win", e);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("tokenizer file " + path + " is not a valid Hugging Face"
                    + " tokenizer.json (" + e.getMessage() + "); regenerate it or use the model's own", e);
        }
        return new Tokenizer(path, hf, vocab, sha256(bytes));
    }

    /** token → id from {@code model.vocab} (a map, or Unigram's list of [piece, score]) and {@code added_tokens}. */
    private static Map<String, Integer> readVocab(Path path, byte[] bytes) {
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (IOException e) {
            throw new IllegalArgumentException("tokenizer file " + path + " is not valid JSON ("
                    + e.getMessage() + "); regenerate it or use the model's own tokenizer.json", e);
        }
        JsonNode modelVocab = root == null ? null : root.path("model").get("vocab");
        Map<String, Integer> vocab = new HashMap<>();
        if (modelVocab != null && modelVocab.isObject()) {
            for (Map.Entry<String, JsonNode> e : modelVocab.properties()) {
                vocab.put(e.getKey(), e.getValue().asInt());
            }
        } else if (modelVocab != null && modelVocab.isArray()) {
            for (int id = 0; id < modelVocab.size(); id++) {
                vocab.put(modelVocab.get(id).path(0).asText(), id);
            }
        } else {
            throw new IllegalArgumentException("tokenizer file " + path + " has no model.vocab; it is not a"
                    + " Hugging Face tokenizer.json (those hold {\"model\":{\"vocab\":...}})");
        }
        for (JsonNode added : root.path("added_tokens")) {
            vocab.put(added.path("content").asText(), added.path("id").asInt());
        }
        return vocab;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /**
     * The token ids of {@code text}, all of it: nothing added, truncated or padded.
     *
     * @return [n] token ids, n ≥ 0 (empty text gives none)
     */
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        Encoding enc = hf.encode(text, false, false);
        if (enc.exceedMaxLength()) { // cannot happen with truncation off; guards a DJL default change
            throw new IllegalStateException("tokenizer " + source + " truncated a text of " + text.length()
                    + " chars; truncation must stay off");
        }
        long[] ids = enc.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /**
     * The text of {@code ids}, special tokens included (the caller drops what it does not
     * want). A byte-level token run that ends inside a UTF-8 character decodes to U+FFFD.
     *
     * @param ids [n] token ids, each in [0, {@link #vocabSize()})
     * @throws IllegalArgumentException naming the position of an id out of range (the Rust
     *                                  decoder would silently skip it)
     */
    public String decode(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside [0, "
                        + vocabSize + ") of tokenizer " + source + "; the ids come from another tokenizer or model");
            }
            longs[i] = ids[i];
        }
        return hf.decode(longs, false);
    }

    /**
     * One more than the largest token id (model vocabulary and added tokens): the number of
     * embedding rows a model needs for this tokenizer.
     */
    public int vocabSize() {
        return vocabSize;
    }

    /**
     * The id of a token, written as in the file: special tokens as themselves ({@code "</s>"}),
     * byte-level tokens in GPT-2's alphabet ({@code "Ġthe"} for " the"). Empty if absent.
     */
    public OptionalInt tokenId(String token) {
        Integer id = vocab.get(Objects.requireNonNull(token, "token"));
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** Lower-case hex SHA-256 of the {@code tokenizer.json} bytes this tokenizer was read from. */
    public String sha256() {
        return sha256;
    }

    /** The absolute path of the {@code tokenizer.json} this was read from. */
    public Path source() {
        return source;
    }

    /** Frees the native tokenizer; later calls fail. */
    @Override
    public void close() {
        hf.close();
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", vocabSize=" + vocabSize + ", sha256=" + sha256 + "]";
    }
}
