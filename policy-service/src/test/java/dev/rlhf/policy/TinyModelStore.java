package dev.rlhf.policy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.text.DefaultTokenizer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

/**
 * A model store with a small random Llama (made by the model core) as {@code policy} v1 and
 * {@code reference} v1, so the service under test serves real ONNX Runtime sessions; and a
 * larger one as {@code slow} v1 (hidden 384, 6 layers: milliseconds per step), for the tests
 * that must stop a generation midway (cancel, deadline), which the small one finishes faster
 * than a cancel travels.
 */
public class TinyModelStore implements QuarkusTestResourceLifecycleManager {

    static Path root;

    /** Writes one version folder for {@code seed} and stores it under {@code names}. */
    static void write(Path storeRoot, long seed, String... names) throws Exception {
        write(storeRoot, new ModelConfig(300, 64, 128, 2, 4, 2, 1e-5, 10000, 128, false, 1, List.of(2), 0, "llama"),
                seed, names);
    }

    static void write(Path storeRoot, ModelConfig c, long seed, String... names) throws Exception {
        Path dir = Files.createTempDirectory("tiny-model");
        List<String> corpus = new ArrayList<>(List.of("Hello there, how are you today?", "The cat sat on the mat.",
                "One plus two is three.", "Reinforcement learning from human feedback."));
        DefaultTokenizer.write(dir.resolve("tokenizer.json"), corpus, 300);
        c.write(dir.resolve("config.json"));
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (Tensor t : LlamaWeights.random(c, seed)) {
            float[] d = t.data().clone();
            for (int i = 0; i < d.length; i++) {
                d[i] = t.name().endsWith("norm.weight") ? 1f : d[i] * 10f;
            }
            w.put(t.name(), new Tensor(t.name(), t.shape(), d));
        }
        SafeTensors.write(dir.resolve("model.safetensors"), new ArrayList<>(w.values()), Map.of());
        OnnxExport.write(c, w, DecoderGraph.Head.CAUSAL_LM, dir.resolve("model.onnx"), false);
        ModelStore store = new ModelStore(storeRoot);
        for (String name : names) {
            store.write(name, name.equals("reference") ? ModelKind.REFERENCE : ModelKind.POLICY, 0, dir, Map.of());
        }
    }

    @Override
    public Map<String, String> start() {
        try {
            root = Files.createTempDirectory("policy-store");
            write(root, 1, "policy", "reference");
            write(root, new ModelConfig(300, 384, 1024, 6, 6, 2, 1e-5, 10000, 128, false, 1, List.of(2), 0, "llama"), 3,
                    "slow");
            return Map.of("rlhf.policy.model-store", root.toString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void stop() {
        // a temp folder
    }
}
