package dev.rlhf.trainer.sft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.DefaultTokenizer;
import dev.rlhf.model.text.Tokenizer;

/** SFT on a small templated corpus: validation loss falls, and the stored policy answers in the demonstrated format. */
class SftJobTest {

    private static final List<String> NAMES = List.of("Anna", "Ben", "Carla", "Dev", "Emil", "Fatima", "Goran", "Hana",
            "Ivo", "Jana", "Kofi", "Lena", "Mira", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tara", "Uma", "Vera",
            "Wim", "Xena", "Yusuf", "Zoe");
    private static final List<String> COLORS = List.of("red", "blue", "green", "yellow", "black", "white");

    /** Two kinds of instruction with a fixed answer format each. */
    static List<SftExample> corpus() {
        List<SftExample> out = new ArrayList<>();
        for (String name : NAMES) {
            out.add(SftExample.of("Greet " + name + ".", "Hello, " + name + "! Nice to meet you."));
            for (String color : COLORS) {
                out.add(SftExample.of("What color is " + name + "'s " + color + " hat?",
                        name + "'s hat is " + color + "."));
            }
        }
        return out;
    }

    @Test
    void sftLowersValidationLossAndTheStoredPolicyFollowsTheFormat(@TempDir Path dir) throws Exception {
        List<SftExample> data = corpus();
        Path tokenizer = dir.resolve("tokenizer.json");
        List<String> texts = new ArrayList<>();
        data.forEach(e -> e.messages().forEach(m -> texts.add(m.content())));
        DefaultTokenizer.write(tokenizer, texts, 400);
        ModelConfig t = ModelConfig.tiny(400);
        ModelConfig c = new ModelConfig(400, 96, 192, 2, 4, 2, 1e-5, 10000, 128, true, t.bosTokenId(),
                List.of(2), 0, "llama");
        ModelStore store = new ModelStore(dir.resolve("store"));
        List<SftJob.Progress> progress = new ArrayList<>();
        SftJob.Result r = SftJob.run(c, null, tokenizer, data, store,
                new SftJob.Config(12, 16, 3e-3, 20, 0.01, 1.0, 0.15, 7, 50, dir.resolve("ckpt"), "policy", true), progress::add);

        // the stated margin: validation loss at least halves
        assertTrue(r.validationLossAfter() < 0.5 * r.validationLossBefore(),
                "validation loss " + r.validationLossBefore() + " → " + r.validationLossAfter());
        assertEquals(r.steps(), progress.size());
        assertTrue(Files.exists(dir.resolve("ckpt/checkpoint.safetensors")));
        assertEquals(ModelKind.POLICY, r.policy().kind());
        assertEquals(ModelKind.REFERENCE, r.reference().kind());

        // the stored policy, loaded and verified by the store, generates in the demonstrated format
        StoredVersion v = store.load("policy", store.latest("policy").orElseThrow());
        ModelConfig stored = ModelConfig.read(v.file("config.json"));
        try (Tokenizer tok = Tokenizer.load(v.file("tokenizer.json"));
                OrtDecoder d = OrtDecoder.open(v.file("model.onnx"), stored, OrtDecoder.Options.cpu(2))) {
            ChatTemplate template = new ChatTemplate(tok);
            List<String> prompts = List.of("Greet Zoe.", "Greet Nils.", "What color is Anna's green hat?");
            List<int[]> ids = prompts.stream().map(template::promptIds).toList();
            List<OrtDecoder.Generation> out = d.generate(ids, OrtDecoder.Sampling.greedy(24));
            String greet = template.responseText(out.get(0).tokens());
            String greet2 = template.responseText(out.get(1).tokens());
            String hat = template.responseText(out.get(2).tokens());
            assertTrue(greet.startsWith("Hello, ") && greet.endsWith("Nice to meet you."), greet);
            assertTrue(greet2.startsWith("Hello, ") && greet2.endsWith("Nice to meet you."), greet2);
            assertTrue(hat.endsWith("hat is green."), hat);
            assertEquals(OrtDecoder.Finish.STOP, out.get(0).finish(), "answers end with </s>");

            // trained weights: the training decoder and the served graph still agree to 1e-4
            long[][] seq = {toLong(ids.get(2))};
            long[][] mask = {ones(seq[0].length)};
            long[][] pos = {range(seq[0].length)};
            float[] served;
            try (OrtDecoder.Forward f = d.forward(seq, mask, pos, null)) {
                served = f.logits();
            }
            java.util.Map<String, dev.rlhf.model.Tensor> byName = new java.util.LinkedHashMap<>();
            r.weights().forEach(w -> byName.put(w.name(), w));
            try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager();
                    dev.rlhf.trainer.engine.LlamaModel trained = dev.rlhf.trainer.engine.LlamaModel.of(stored, byName, m)) {
                float[] training = trained.forward(m.create(seq), m.create(mask), m.create(pos)).toFloatArray();
                double worst = 0;
                for (int i = 0; i < served.length; i++) {
                    worst = Math.max(worst, Math.abs(served[i] - training[i]));
                }
                assertTrue(worst <= 1e-4, "trained weights: DJL vs ONNX Runtime max abs diff " + worst);
            }
        }
    }

    private static long[] toLong(int[] a) {
        long[] out = new long[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }

    private static long[] ones(int n) {
        long[] out = new long[n];
        java.util.Arrays.fill(out, 1);
        return out;
    }

    private static long[] range(int n) {
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        return out;
    }
}
