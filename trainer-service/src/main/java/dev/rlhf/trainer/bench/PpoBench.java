package dev.rlhf.trainer.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import com.google.protobuf.util.JsonFormat;

import ai.djl.ndarray.NDManager;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.trainer.engine.LlamaModel;
import dev.rlhf.trainer.ppo.ActorCritic;
import dev.rlhf.trainer.ppo.KlController;
import dev.rlhf.trainer.ppo.PpoIteration;
import dev.rlhf.trainer.ppo.job.PpoSettings;

/**
 * The in-process baseline of {@code bin/rlhf bench ppo}: the PPO iteration of the services'
 * run without Kafka, gRPC or services, in one JVM: export the current weights to ONNX, sample
 * {@code batch} responses with ONNX Runtime (the serving engine), score them with the same
 * rule as reward-service's benchmark configuration (1 when the response contains "!", plus
 * two constant rules at 0.1), and train with {@link PpoIteration} at the settings of the
 * services' job: the same PpoConfig ({@code --config}, proto3 JSON) through {@link PpoSettings}.
 * Prints one line per iteration: {@code iteration i: generation G ms, scoring S ms, training T
 * ms, export E ms}.
 * <pre>
 *   PpoBench --config ppo.json --store DIR --prompts FILE (one prompt per line) --k K --max-new-tokens M
 * </pre>
 */
public final class PpoBench {

    private static final Pattern EXCITED = Pattern.compile("!");

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new LinkedHashMap<>(Map.of("k", "4", "max-new-tokens", "24"));
        for (int i = 0; i + 1 < args.length; i += 2) {
            o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        ModelStore store = new ModelStore(Path.of(o.get("store")));
        List<String> prompts = Files.readAllLines(Path.of(o.get("prompts")));
        PpoConfig.Builder ppoConfig = PpoConfig.newBuilder();
        JsonFormat.parser().merge(Files.readString(Path.of(o.get("config"))), ppoConfig);
        PpoSettings settings = PpoSettings.of(ppoConfig.build(), "(none: in process)");
        long iterations = settings.maxIterations();
        int batch = settings.batchSize();
        int k = Integer.parseInt(o.get("k"));
        int maxNew = Integer.parseInt(o.get("max-new-tokens"));
        StoredVersion policy = store.load("policy", store.latest("policy").getAsLong());
        StoredVersion reference = store.load("reference", store.latest("reference").getAsLong());
        ModelConfig c = ModelConfig.read(policy.file("config.json"));
        KlController kl = KlController.of(settings.adaptiveKl(), settings.klCoef(), settings.targetKl(),
                settings.klHorizon());
        Path onnx = Files.createTempDirectory("ppo-bench-").resolve("model.onnx");
        try (Tokenizer tok = Tokenizer.load(policy.file("tokenizer.json"));
                NDManager m = NDManager.newBaseManager();
                ActorCritic model = new ActorCritic(c, SafeTensors.read(policy.file("model.safetensors")), null, m);
                LlamaModel ref = LlamaModel.of(c, SafeTensors.read(reference.file("model.safetensors")), m)) {
            ChatTemplate template = new ChatTemplate(tok);
            PpoIteration ppo = new PpoIteration(model, ref, m, kl, settings.iteration());
            int next = 0;
            for (long it = 0; it < iterations; it++) {
                // 1. the current weights, as the trainer exports them and policy-service loads them
                long t0 = System.nanoTime();
                Map<String, Tensor> weights = new LinkedHashMap<>();
                model.policyWeights().forEach(t -> weights.put(t.name(), t));
                OnnxExport.write(c, weights, DecoderGraph.Head.CAUSAL_LM, onnx, false);
                List<int[]> batchPrompts = new ArrayList<>();
                List<String> texts = new ArrayList<>();
                for (int p = 0; p < batch / k; p++) {
                    String prompt = prompts.get(next++ % prompts.size());
                    for (int s = 0; s < k; s++) {
                        batchPrompts.add(template.promptIds(prompt));
                        texts.add(prompt);
                    }
                }
                long t1 = System.nanoTime();
                // 2. generation
                List<OrtDecoder.Generation> samples;
                try (OrtDecoder d = OrtDecoder.open(onnx, c, OrtDecoder.Options.cpu(0))) {
                    samples = d.generate(batchPrompts, new OrtDecoder.Sampling(maxNew, 1f, 0, 1f, 1000L * it,
                            Set.copyOf(c.eosTokenIds())));
                }
                long t2 = System.nanoTime();
                // 3. scoring
                List<PpoIteration.Rollout> rollouts = new ArrayList<>();
                for (int i = 0; i < samples.size(); i++) {
                    OrtDecoder.Generation g = samples.get(i);
                    String text = template.responseText(g.tokens());
                    double score = (EXCITED.matcher(text).find() ? 1 : 0) + 0.1 + (text.isEmpty() ? 0 : 0.1);
                    rollouts.add(new PpoIteration.Rollout(batchPrompts.get(i), g.tokens(), g.logprobs(), score));
                }
                long t3 = System.nanoTime();
                // 4. training
                PpoIteration.Diagnostics d = ppo.run(rollouts, it);
                long t4 = System.nanoTime();
                System.out.printf("iteration %d: generation %d ms, scoring %d ms, training %d ms, export %d ms;"
                        + " reward %.3f KL %.2f%n", it, (t2 - t1) / 1_000_000, (t3 - t2) / 1_000_000,
                        (t4 - t3) / 1_000_000, (t1 - t0) / 1_000_000, d.meanScore(), d.meanKl());
                System.out.flush();
            }
        }
    }
}
