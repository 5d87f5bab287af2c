package dev.rlhf.reward;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.text.DefaultTokenizer;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

/**
 * A model store with small random reward models (made by the model core: a Llama trunk and
 * {@value #HEADS} scalar heads) as {@code reward} v1 and {@code safety} v1, so the service
 * under test scores with real ONNX Runtime sessions.
 */
public class TinyRewardStore implements QuarkusTestResourceLifecycleManager {

    /** Ensemble members of every test reward model. */
    static final int HEADS = 3;

    static Path root;

    /** The test models' config: context 128 tokens, vocabulary 300, pad 0, bos 1, eos [2]. */
    static final ModelConfig CONFIG = new ModelConfig(300, 64, 128, 2, 4, 2, 1e-5, 10000, 128, false, 1, List.of(2), 0,
            "llama");

    /** Writes one reward model for {@code seed} as the next version of {@code name}. */
    static StoredVersion write(Path storeRoot, long seed, String name) throws Exception {
        Path dir = Files.createTempDirectory("tiny-reward");
        DefaultTokenizer.write(dir.resolve("tokenizer.json"), List.of("Hello there, how are you today?",
                "The cat sat on the mat.", "One plus two is three.", "Reinforcement learning from human feedback."),
                300);
        CONFIG.write(dir.resolve("config.json"));
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (Tensor t : LlamaWeights.random(CONFIG, seed)) {
            float[] d = t.data().clone();
            for (int i = 0; i < d.length; i++) {
                d[i] = t.name().endsWith("norm.weight") ? 1f : d[i] * 10f; // std 0.2: scores differ visibly
            }
            w.put(t.name(), new Tensor(t.name(), t.shape(), d));
        }
        float[] head = new float[HEADS * CONFIG.hiddenSize()];
        Random r = new Random(seed);
        for (int i = 0; i < head.length; i++) {
            head[i] = (float) r.nextGaussian();
        }
        w.put("score.weight", new Tensor("score.weight", new long[] {HEADS, CONFIG.hiddenSize()}, head));
        OnnxExport.write(CONFIG, w, DecoderGraph.Head.SCALAR, dir.resolve("model.onnx"), false);
        return new ModelStore(storeRoot).write(name, ModelKind.REWARD, 0, dir, Map.of());
    }

    @Override
    public Map<String, String> start() {
        try {
            root = Files.createTempDirectory("reward-store");
            write(root, 1, "reward");
            write(root, 2, "safety");
            return Map.of("rlhf.reward.model-store", root.toString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void stop() {
        // a temp folder
    }
}
