package dev.rlhf.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The architecture of a Llama-family decoder ({@code LlamaForCausalLM}), as Hugging Face's
 * {@code config.json} describes it. Qwen2, Mistral and SmolLM checkpoints share the layout
 * and read into the same record; their extra keys are ignored.
 *
 * <p>Reading applies Hugging Face's {@code LlamaConfig} defaults for the keys this project
 * cares about ({@code num_key_value_heads} = {@code num_attention_heads},
 * {@code rope_theta} 10000, {@code rms_norm_eps} 1e-6, {@code tie_word_embeddings} false),
 * and refuses configurations the decoder cannot run ({@code hidden_act} other than silu, a
 * non-null {@code rope_scaling}, attention or MLP biases, a {@code head_dim} other than
 * hidden/heads) instead of silently computing something else.
 *
 * <p>The canonical constructor validates every field; error messages name the Hugging Face key.
 *
 * @param vocabSize             {@code vocab_size}: V, rows of the embedding and of lm_head
 * @param hiddenSize            {@code hidden_size}: D, the residual stream width
 * @param intermediateSize      {@code intermediate_size}: I, the SwiGLU MLP width
 * @param numHiddenLayers       {@code num_hidden_layers}: L
 * @param numAttentionHeads     {@code num_attention_heads}: H query heads
 * @param numKeyValueHeads      {@code num_key_value_heads}: KV heads (grouped-query attention; H = KV is MHA)
 * @param rmsNormEps            {@code rms_norm_eps}: ε of RMSNorm
 * @param ropeTheta             {@code rope_theta}: base of the rotary frequencies
 * @param maxPositionEmbeddings {@code max_position_embeddings}: longest sequence (rotary table rows)
 * @param tieWordEmbeddings     {@code tie_word_embeddings}: lm_head reuses embed_tokens
 * @param bosTokenId            {@code bos_token_id}, -1 when absent or null
 * @param eosTokenIds           {@code eos_token_id}: one or more ids that end a generation
 * @param padTokenId            {@code pad_token_id}, -1 when absent or null
 * @param modelType             {@code model_type}, e.g. "llama", "qwen2", "mistral"
 */
public record ModelConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        double rmsNormEps,
        double ropeTheta,
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        int bosTokenId,
        List<Integer> eosTokenIds,
        int padTokenId,
        String modelType) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Validates every field; messages name the Hugging Face key and the bad value. */
    public ModelConfig {
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numHiddenLayers);
        positive("num_attention_heads", numAttentionHeads);
        positive("num_key_value_heads", numKeyValueHeads);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size (" + hiddenSize + ") must be a multiple of num_attention_heads ("
                    + numAttentionHeads + "): the head dimension is hidden_size / num_attention_heads");
        }
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + numAttentionHeads
                    + ") must be a multiple of num_key_value_heads (" + numKeyValueHeads + ")");
        }
        if ((hiddenSize / numAttentionHeads) % 2 != 0) {
            throw new IllegalArgumentException("head dimension hidden_size / num_attention_heads (" + hiddenSize + " / "
                    + numAttentionHeads + " = " + hiddenSize / numAttentionHeads
                    + ") must be even: rotary embeddings rotate pairs of channels");
        }
        if (!(rmsNormEps > 0) || Double.isInfinite(rmsNormEps)) {
            throw new IllegalArgumentException("rms_norm_eps (" + rmsNormEps + ") must be a finite number > 0, e.g. 1e-6");
        }
        if (!(ropeTheta > 0) || Double.isInfinite(ropeTheta)) {
            throw new IllegalArgumentException("rope_theta (" + ropeTheta + ") must be a finite number > 0, e.g. 10000");
        }
        tokenId("bos_token_id", bosTokenId, vocabSize, true);
        tokenId("pad_token_id", padTokenId, vocabSize, true);
        if (eosTokenIds == null || eosTokenIds.isEmpty()) {
            throw new IllegalArgumentException("eos_token_id is missing: give the id (or list of ids) that ends a generation");
        }
        eosTokenIds = List.copyOf(eosTokenIds);
        for (int id : eosTokenIds) {
            tokenId("eos_token_id", id, vocabSize, false);
        }
        if (modelType == null || modelType.isBlank()) {
            throw new IllegalArgumentException("model_type is missing: give e.g. \"llama\", \"qwen2\" or \"mistral\"");
        }
    }

    /**
     * A small Llama for tests: hidden 64, intermediate 128, 2 layers, 4 heads, 2 KV heads,
     * 256 positions, ε 1e-5, θ 10000, untied, bos 1, eos [2], pad 0.
     *
     * @param vocabSize V, at least 3 (ids 0, 1, 2 are pad, bos, eos)
     */
    public static ModelConfig tiny(int vocabSize) {
        return new ModelConfig(vocabSize, 64, 128, 2, 4, 2, 1e-5, 10000.0, 256, false, 1, List.of(2), 0, "llama");
    }

    /** hd = hidden_size / num_attention_heads, the width of one attention head. */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Reads a Hugging Face {@code config.json}; errors name the file and the key. */
    public static ModelConfig read(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try {
            return fromJson(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses the text of a Hugging Face {@code config.json}.
     *
     * @throws IllegalArgumentException on bad JSON, a missing or mistyped key, or an unsupported architecture
     */
    public static ModelConfig fromJson(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("config.json is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("config.json must be a JSON object, got: " + abbreviate(json));
        }
        refuseUnsupported(root);
        int heads = intKey(root, "num_attention_heads", null);
        return new ModelConfig(
                intKey(root, "vocab_size", null),
                intKey(root, "hidden_size", null),
                intKey(root, "intermediate_size", null),
                intKey(root, "num_hidden_layers", null),
                heads,
                intKey(root, "num_key_value_heads", heads),
                doubleKey(root, "rms_norm_eps", 1e-6),
                doubleKey(root, "rope_theta", 10000.0),
                intKey(root, "max_position_embeddings", null),
                boolKey(root, "tie_word_embeddings", false),
                intKey(root, "bos_token_id", -1),
                eosKey(root),
                intKey(root, "pad_token_id", -1),
                textKey(root, "model_type", "llama"));
    }

    /**
     * This config as Hugging Face {@code config.json} text: HF keys, {@code eos_token_id} an
     * int when there is one and a list when several, ids of -1 written as null.
     */
    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("LlamaForCausalLM");
        o.put("model_type", modelType);
        o.put("hidden_act", "silu");
        o.put("torch_dtype", "float32");
        o.put("vocab_size", vocabSize);
        o.put("hidden_size", hiddenSize);
        o.put("intermediate_size", intermediateSize);
        o.put("num_hidden_layers", numHiddenLayers);
        o.put("num_attention_heads", numAttentionHeads);
        o.put("num_key_value_heads", numKeyValueHeads);
        o.put("rms_norm_eps", rmsNormEps);
        o.put("rope_theta", ropeTheta);
        o.put("max_position_embeddings", maxPositionEmbeddings);
        o.put("tie_word_embeddings", tieWordEmbeddings);
        putId(o, "bos_token_id", bosTokenId);
        if (eosTokenIds.size() == 1) {
            o.put("eos_token_id", eosTokenIds.get(0));
        } else {
            ArrayNode eos = o.putArray("eos_token_id");
            eosTokenIds.forEach(eos::add);
        }
        putId(o, "pad_token_id", padTokenId);
        try {
            return JSON.writeValueAsString(o) + "\n";
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e); // cannot happen for a tree of plain values
        }
    }

    /** Writes {@link #toJson()} to {@code file} (UTF-8), replacing it. */
    public void write(Path file) throws IOException {
        Files.writeString(file, toJson(), StandardCharsets.UTF_8);
    }

    // ---- reading helpers ----

    private static void refuseUnsupported(JsonNode root) {
        String act = textKey(root, "hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new IllegalArgumentException("hidden_act \"" + act
                    + "\" is not supported: the decoder implements SwiGLU with silu only");
        }
        JsonNode scaling = root.get("rope_scaling");
        if (scaling != null && !scaling.isNull()) {
            throw new IllegalArgumentException("rope_scaling " + scaling
                    + " is not supported: the decoder implements plain RoPE; use a checkpoint with \"rope_scaling\": null");
        }
        for (String bias : List.of("attention_bias", "mlp_bias")) {
            if (root.path(bias).asBoolean(false)) {
                throw new IllegalArgumentException(bias + " true is not supported: the decoder has no bias terms");
            }
        }
        JsonNode headDim = root.get("head_dim");
        if (headDim != null && !headDim.isNull()) {
            int hidden = intKey(root, "hidden_size", null);
            int heads = intKey(root, "num_attention_heads", null);
            if (heads > 0 && headDim.asInt() != hidden / heads) {
                throw new IllegalArgumentException("head_dim (" + headDim + ") differs from hidden_size / num_attention_heads ("
                        + hidden + " / " + heads + "): such checkpoints are not supported");
            }
        }
    }

    /** An integer key; {@code dflt} null means required; JSON null reads as the default. */
    private static int intKey(JsonNode root, String key, Integer dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            if (dflt == null) {
                throw new IllegalArgumentException(key + " is missing from config.json");
            }
            return dflt;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IllegalArgumentException(key + " must be an integer, got " + n);
        }
        return n.intValue();
    }

    private static double doubleKey(JsonNode root, String key, double dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isNumber()) {
            throw new IllegalArgumentException(key + " must be a number, got " + n);
        }
        return n.doubleValue();
    }

    private static boolean boolKey(JsonNode root, String key, boolean dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw new IllegalArgumentException(key + " must be true or false, got " + n);
        }
        return n.booleanValue();
    }

    private static String textKey(JsonNode root, String key, String dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isTextual()) {
            throw new IllegalArgumentException(key + " must be a string, got " + n);
        }
        return n.textValue();
    }

    /** {@code eos_token_id}: an int or a list of ints (HF allows both). */
    private static List<Integer> eosKey(JsonNode root) {
        JsonNode n = root.get("eos_token_id");
        if (n == null || n.isNull()) {
            return List.of(); // the constructor names the key
        }
        if (!n.isArray()) {
            return List.of(intKey(root, "eos_token_id", null));
        }
        List<Integer> ids = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                throw new IllegalArgumentException("eos_token_id must be an integer or a list of integers, got " + n);
            }
            ids.add(e.intValue());
        }
        return ids;
    }

    // ---- validation and writing helpers ----

    private static void positive(String key, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(key + " (" + value + ") must be > 0");
        }
    }

    private static void tokenId(String key, int id, int vocabSize, boolean optional) {
        int min = optional ? -1 : 0;
        if (id < min || id >= vocabSize) {
            throw new IllegalArgumentException(key + " (" + id + ") must be in [" + min + ", vocab_size = " + vocabSize + ")"
                    + (optional ? "; -1 means none" : ""));
        }
    }

    private static void putId(ObjectNode o, String key, int id) {
        if (id < 0) {
            o.putNull(key);
        } else {
            o.put(key, id);
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }
}
