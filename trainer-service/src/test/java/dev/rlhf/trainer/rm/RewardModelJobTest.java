package dev.rlhf.trainer.rm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.DefaultTokenizer;
import dev.rlhf.model.text.Tokenizer;

/**
 * Reward models trained on synthetic preferences from a known rule ("a polite answer beats
 * a rude one") with label noise p: held-out accuracy near the 1 − p ceiling; an ensemble's
 * ONNX export scores every member as the trainer does.
 */
class RewardModelJobTest {

    private static final String[] WORDS = {"the", "answer", "is", "here", "we", "can", "try", "this", "that", "maybe",
        "next", "time", "it", "works", "good", "idea", "look", "see", "now", "then"};

    @TempDir
    Path tmp;

    /** Pairs whose chosen side is the one with "please" in it, except a share {@code noise} flipped. */
    private static List<PreferencePair> rulePairs(int n, double noise, long seed) {
        Random r = new Random(seed);
        List<PreferencePair> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String prompt = "question " + i + ": " + words(r, 3);
            String polite = words(r, 2) + " please " + words(r, 3);
            String rude = words(r, 6);
            boolean flip = r.nextDouble() < noise;
            out.add(new PreferencePair(prompt, flip ? rude : polite, flip ? polite : rude, 0, 1));
        }
        return out;
    }

    private static String words(Random r, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(i == 0 ? "" : " ").append(WORDS[r.nextInt(WORDS.length)]);
        }
        return sb.toString();
    }

    private record Setup(ModelConfig config, Path tokenizer, Map<String, Tensor> init) {
    }

    private Setup setup() {
        Path tokenizer = tmp.resolve("tokenizer.json");
        List<String> texts = new ArrayList<>(List.of(String.join(" ", WORDS), "please question 0123456789: #@!"));
        DefaultTokenizer.write(tokenizer, texts, 300);
        try (Tokenizer t = Tokenizer.load(tokenizer)) {
            ModelConfig c = new ModelConfig(t.vocabSize(), 64, 128, 2, 4, 2, 1e-5, 10000, 96, true,
                    t.tokenId(DefaultTokenizer.BOS).orElseThrow(), List.of(t.tokenId(DefaultTokenizer.EOS).orElseThrow()),
                    t.tokenId(DefaultTokenizer.PAD).orElseThrow(), "llama");
            Map<String, Tensor> init = new LinkedHashMap<>();
            LlamaWeights.random(c, 11).forEach(w -> init.put(w.name(), w));
            return new Setup(c, tokenizer, init);
        }
    }

    /** With K &gt; 1 the centring penalty is on: Bradley–Terry alone leaves each member's offset free. */
    private static RewardModelJob.Config config(int members, boolean bootstrap, int epochs) {
        return new RewardModelJob.Config(members, bootstrap, 0, members > 1 ? 0.01 : 0, 0.2, epochs, 32, 2e-3, 10, 0,
                1.0, 96, 7, "reward");
    }

    @Test
    void heldOutAccuracyReachesTheLabelNoiseCeiling() throws Exception {
        double noise = 0.1;
        Setup s = setup();
        ModelStore store = new ModelStore(tmp.resolve("store"));
        RewardModelJob.Result r = RewardModelJob.run(s.config(), s.init(), s.tokenizer(), rulePairs(3000, noise, 1),
                store, config(1, false, 2), p -> { });
        double ceiling = 1 - noise;
        System.out.printf("reward model on the rule with label noise %.2f: held-out accuracy %.3f of %d pairs (ceiling %.2f),"
                + " ECE %.3f%n", noise, r.validation().accuracy(), r.validation().pairs(), ceiling, r.validation().ece());
        assertTrue(r.validation().pairs() > 400, "held out " + r.validation().pairs());
        assertTrue(Math.abs(r.validation().accuracy() - ceiling) <= 0.03,
                "held-out accuracy " + r.validation().accuracy() + " vs ceiling " + ceiling);
        assertEquals(ModelKind.REWARD, r.version().kind());
        assertEquals(r.validation().accuracy(), r.version().metrics().get("rm.validation_accuracy"), 1e-12);
        assertTrue(r.version().metrics().containsKey("rm.validation_ece"));
    }

    @Test
    void theEnsembleDisagreesMoreOffTheTrainingDistributionAndOnnxScoresAsTheTrainer() throws Exception {
        Setup s = setup();
        ModelStore store = new ModelStore(tmp.resolve("store"));
        List<PreferencePair> pairs = rulePairs(1500, 0.1, 2);
        RewardModelJob.Result r = RewardModelJob.run(s.config(), s.init(), s.tokenizer(), pairs, store,
                config(4, true, 4), p -> { });
        // training-like: pairs it trained on (either side); off the distribution: symbols and digits it never saw
        List<String> prompts = new ArrayList<>();
        List<String> responses = new ArrayList<>();
        List<String> outOfDistribution = new ArrayList<>();
        Random rand = new Random(99);
        for (int i = 0; i < 40; i++) {
            prompts.add(pairs.get(i).prompt());
            responses.add(i % 2 == 0 ? pairs.get(i).chosen() : pairs.get(i).rejected());
            outOfDistribution.add("#@! 0123456789 ".repeat(1 + rand.nextInt(3)) + "@@@@####!!!!");
        }
        float[][] in = onnxScores(r, s, prompts, responses);
        float[][] out = onnxScores(r, s, prompts, outOfDistribution);
        assertEquals(4, in[0].length, "one score per member");
        double spreadIn = meanStd(in);
        double spreadOut = meanStd(out);
        System.out.printf("ensemble of 4: member std %.3f on training pairs, %.3f off them%n", spreadIn, spreadOut);
        assertTrue(spreadOut > 2 * spreadIn, "ensemble std on training pairs " + spreadIn + ", off them " + spreadOut);
        // the ONNX export scores exactly as the trainer's model
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, Tensor> weights = new LinkedHashMap<>();
            r.weights().forEach(t -> weights.put(t.name(), t));
            try (RewardModel rm = RewardModel.of(s.config(), weights, 4, 0, 0, m)) {
                List<int[]> seqs = encode(s, prompts, responses);
                OrtDecoder.Padded p = OrtDecoder.Padded.left(seqs, s.config().padTokenId());
                NDArray djl = rm.score(m.create(p.ids()), m.create(p.mask()), m.create(p.positions()));
                float[] flat = djl.toFloatArray();
                for (int i = 0; i < in.length; i++) {
                    for (int k = 0; k < 4; k++) {
                        assertEquals(flat[i * 4 + k], in[i][k], 1e-4, "sequence " + i + " head " + k);
                    }
                }
            }
        }
    }

    private static List<int[]> encode(Setup s, List<String> prompts, List<String> responses) {
        List<int[]> seqs = new ArrayList<>();
        try (Tokenizer t = Tokenizer.load(s.tokenizer())) {
            ChatTemplate template = new ChatTemplate(t);
            for (int i = 0; i < prompts.size(); i++) {
                seqs.add(template.scoring(prompts.get(i), responses.get(i)).ids());
            }
        }
        return seqs;
    }

    private static float[][] onnxScores(RewardModelJob.Result r, Setup s, List<String> prompts, List<String> responses)
            throws Exception {
        OrtDecoder.Padded p = OrtDecoder.Padded.left(encode(s, prompts, responses), s.config().padTokenId());
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(r.version().file("model.onnx").toString(),
                new OrtSession.SessionOptions());
                OnnxTensor ids = OnnxTensor.createTensor(env, p.ids());
                OnnxTensor mask = OnnxTensor.createTensor(env, p.mask());
                OnnxTensor pos = OnnxTensor.createTensor(env, p.positions());
                OrtSession.Result out = session.run(Map.of("input_ids", ids, "attention_mask", mask, "position_ids", pos))) {
            return (float[][]) out.get("scores").orElseThrow().getValue();
        }
    }

    private static double meanStd(float[][] scores) {
        double total = 0;
        for (float[] row : scores) {
            double mean = 0;
            for (float v : row) {
                mean += v / row.length;
            }
            double var = 0;
            for (float v : row) {
                var += (v - mean) * (v - mean) / (row.length - 1);
            }
            total += Math.sqrt(var);
        }
        return total / scores.length;
    }
}
