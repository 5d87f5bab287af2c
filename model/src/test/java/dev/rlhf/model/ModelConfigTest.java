package dev.rlhf.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ModelConfigTest {

    /** Qwen2.5-0.5B-Instruct's config.json, with eos_token_id widened to a list as generation configs have it. */
    private static final String QWEN2 = """
            {
              "architectures": ["Qwen2ForCausalLM"],
              "attention_dropout": 0.0,
              "bos_token_id": 151643,
              "eos_token_id": [151645, 151643],
              "hidden_act": "silu",
              "hidden_size": 896,
              "initializer_range": 0.02,
              "intermediate_size": 4864,
              "max_position_embeddings": 32768,
              "max_window_layers": 21,
              "model_type": "qwen2",
              "num_attention_heads": 14,
              "num_hidden_layers": 24,
              "num_key_value_heads": 2,
              "rms_norm_eps": 1e-06,
              "rope_scaling": null,
              "rope_theta": 1000000.0,
              "sliding_window": 32768,
              "tie_word_embeddings": true,
              "torch_dtype": "bfloat16",
              "transformers_version": "4.43.1",
              "use_cache": true,
              "use_sliding_window": false,
              "vocab_size": 151936
            }
            """;

    private static final String MINIMAL = """
            {"vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "max_position_embeddings": 256, "eos_token_id": 2}
            """;

    @Test
    void tinyRoundTripsThroughJsonAndFile(@TempDir Path dir) throws Exception {
        ModelConfig c = ModelConfig.tiny(100);
        assertEquals(c, ModelConfig.fromJson(c.toJson()));
        Path file = dir.resolve("config.json");
        c.write(file);
        assertEquals(c, ModelConfig.read(file));
    }

    @Test
    void severalEosAndAbsentIdsRoundTrip() {
        ModelConfig c = new ModelConfig(50, 32, 96, 3, 4, 4, 1e-6, 500000.0, 128, true, -1, List.of(7, 9), -1, "mistral");
        assertEquals(c, ModelConfig.fromJson(c.toJson()));
    }

    @Test
    void writtenJsonUsesHuggingFaceKeys() throws Exception {
        JsonNode one = new ObjectMapper().readTree(ModelConfig.tiny(100).toJson());
        assertEquals("LlamaForCausalLM", one.path("architectures").get(0).asText());
        assertEquals("silu", one.path("hidden_act").asText());
        assertEquals("float32", one.path("torch_dtype").asText());
        assertEquals("llama", one.path("model_type").asText());
        assertEquals(2, one.path("num_key_value_heads").asInt());
        assertEquals(1e-5, one.path("rms_norm_eps").asDouble());
        assertTrue(one.path("eos_token_id").isInt(), "one eos id is written as an int");
        assertEquals(0, one.path("pad_token_id").asInt());
        assertFalse(one.path("tie_word_embeddings").asBoolean());

        ModelConfig several = new ModelConfig(50, 32, 96, 3, 4, 4, 1e-6, 1e4, 128, false, -1, List.of(7, 9), -1, "llama");
        JsonNode two = new ObjectMapper().readTree(several.toJson());
        assertEquals("[7,9]", two.path("eos_token_id").toString());
        assertTrue(two.path("pad_token_id").isNull(), "pad -1 is written as null");
        assertTrue(two.path("bos_token_id").isNull(), "bos -1 is written as null");
    }

    @Test
    void qwen2ConfigMaps() {
        ModelConfig c = ModelConfig.fromJson(QWEN2);
        assertEquals(new ModelConfig(151936, 896, 4864, 24, 14, 2, 1e-6, 1e6, 32768, true, 151643,
                List.of(151645, 151643), -1, "qwen2"), c);
        assertEquals(64, c.headDim());
    }

    @Test
    void absentKeysTakeHuggingFaceDefaults() {
        ModelConfig c = ModelConfig.fromJson(MINIMAL);
        assertEquals(4, c.numKeyValueHeads(), "num_key_value_heads defaults to num_attention_heads");
        assertEquals(10000.0, c.ropeTheta());
        assertEquals(1e-6, c.rmsNormEps());
        assertFalse(c.tieWordEmbeddings());
        assertEquals(-1, c.bosTokenId());
        assertEquals(-1, c.padTokenId());
        assertEquals(List.of(2), c.eosTokenIds());
        assertEquals("llama", c.modelType());
        assertEquals(16, c.headDim());
    }

    @Test
    void eosListIsImmutable() {
        List<Integer> eos = new java.util.ArrayList<>(List.of(2));
        ModelConfig c = new ModelConfig(10, 8, 8, 1, 2, 2, 1e-6, 1e4, 8, false, 1, eos, 0, "llama");
        eos.add(3);
        assertEquals(List.of(2), c.eosTokenIds());
        assertThrows(UnsupportedOperationException.class, () -> c.eosTokenIds().add(4));
    }

    /** A deferred constructor call, so each parameterized case throws inside assertThrows. */
    interface Make {
        ModelConfig build();
    }

    static Stream<Arguments> invalid() {
        // each row: a constructor call that must fail, and text the message must contain
        return Stream.of(
                Arguments.of(args(0, 64, 128, 2, 4, 2, 1e-5, 256, List.of(2)), "vocab_size (0) must be > 0"),
                Arguments.of(args(100, 0, 128, 2, 4, 2, 1e-5, 256, List.of(2)), "hidden_size (0)"),
                Arguments.of(args(100, 64, -1, 2, 4, 2, 1e-5, 256, List.of(2)), "intermediate_size (-1)"),
                Arguments.of(args(100, 64, 128, 0, 4, 2, 1e-5, 256, List.of(2)), "num_hidden_layers (0)"),
                Arguments.of(args(100, 64, 128, 2, 0, 2, 1e-5, 256, List.of(2)), "num_attention_heads (0)"),
                Arguments.of(args(100, 64, 128, 2, 4, 0, 1e-5, 256, List.of(2)), "num_key_value_heads (0)"),
                Arguments.of(args(100, 64, 128, 2, 4, 2, 1e-5, 0, List.of(2)), "max_position_embeddings (0)"),
                Arguments.of(args(100, 66, 128, 2, 4, 2, 1e-5, 256, List.of(2)),
                        "hidden_size (66) must be a multiple of num_attention_heads (4)"),
                Arguments.of(args(100, 48, 128, 2, 6, 4, 1e-5, 256, List.of(2)),
                        "num_attention_heads (6) must be a multiple of num_key_value_heads (4)"),
                Arguments.of(args(100, 12, 128, 2, 4, 2, 1e-5, 256, List.of(2)), "head dimension hidden_size / num_attention_heads"),
                Arguments.of(args(100, 64, 128, 2, 4, 2, 0.0, 256, List.of(2)), "rms_norm_eps (0.0)"),
                Arguments.of(args(100, 64, 128, 2, 4, 2, Double.NaN, 256, List.of(2)), "rms_norm_eps (NaN)"),
                Arguments.of(args(100, 64, 128, 2, 4, 2, 1e-5, 256, List.of()), "eos_token_id is missing"),
                Arguments.of(args(100, 64, 128, 2, 4, 2, 1e-5, 256, List.of(100)), "eos_token_id (100) must be in [0, vocab_size = 100)"));
    }

    private static Make args(int v, int d, int ff, int layers, int heads, int kv, double eps, int pos, List<Integer> eos) {
        return () -> new ModelConfig(v, d, ff, layers, heads, kv, eps, 10000.0, pos, false, 1, eos, 0, "llama");
    }

    @ParameterizedTest
    @MethodSource("invalid")
    void constructorNamesTheHuggingFaceKey(Make make, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, make::build);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void readingRefusesWhatTheDecoderCannotRun() {
        assertMessage(MINIMAL.replace("{", "{\"hidden_act\": \"gelu\","), "hidden_act \"gelu\" is not supported");
        assertMessage(MINIMAL.replace("{", "{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0},"), "rope_scaling");
        assertMessage(MINIMAL.replace("{", "{\"attention_bias\": true,"), "attention_bias");
        assertMessage(MINIMAL.replace("{", "{\"head_dim\": 32,"), "head_dim (32)");
        assertMessage(MINIMAL.replace("\"vocab_size\": 100,", ""), "vocab_size is missing");
        assertMessage(MINIMAL.replace("\"hidden_size\": 64", "\"hidden_size\": 64.5"), "hidden_size must be an integer");
        assertMessage(MINIMAL.replace("\"eos_token_id\": 2", "\"eos_token_id\": [2, \"x\"]"), "eos_token_id must be");
        assertMessage(MINIMAL.replace("}", ", \"num_key_value_heads\": 3}"), "num_key_value_heads (3)");
        assertMessage("{not json", "not valid JSON");
        assertMessage("[1, 2]", "must be a JSON object");
    }

    @Test
    void readNamesTheFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("config.json");
        Files.writeString(file, MINIMAL.replace("\"hidden_size\": 64", "\"hidden_size\": 65"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.read(file));
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("hidden_size (65)"), e.getMessage());
    }

    private static void assertMessage(String json, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.fromJson(json));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
