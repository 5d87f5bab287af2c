package dev.rlhf.trainer.sft;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.Tokenizer;

/**
 * {@code bin/rlhf train sft --data FILE --out STORE [options]}: SFT from a JSONL file into a
 * model store, then a check of the result as a user would see it: the stored policy is
 * loaded (checksums verified) and answers a few of the prompts on ONNX Runtime.
 */
public final class SftCommand {

    private static final Map<String, String> DEFAULTS = Map.ofEntries(
            Map.entry("vocab", "512"), Map.entry("epochs", "12"),
            Map.entry("batch-size", "16"), Map.entry("lr", "3e-3"), Map.entry("warmup", "20"),
            Map.entry("hidden", "128"), Map.entry("layers", "2"), Map.entry("heads", "4"), Map.entry("kv-heads", "2"),
            Map.entry("context", "256"), Map.entry("seed", "7"), Map.entry("validation", "0.1"),
            Map.entry("checkpoint-every", "100"));

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new HashMap<>(DEFAULTS);
        for (int i = 0; i < args.length; i += 2) {
            String key = args[i].replaceFirst("^--", "");
            if (i + 1 >= args.length || (!DEFAULTS.containsKey(key) && !key.equals("data") && !key.equals("out"))) {
                throw new IllegalArgumentException("usage: bin/rlhf train sft --data FILE --out STORE_DIR [--"
                        + String.join(" N] [--", DEFAULTS.keySet()) + " N]; bad option " + args[i]);
            }
            o.put(key, args[i + 1]);
        }
        if (!o.containsKey("data") || !o.containsKey("out")) {
            throw new IllegalArgumentException("--data FILE and --out STORE_DIR are required");
        }
        Path data = Path.of(o.get("data"));
        Path out = Path.of(o.get("out"));
        List<SftExample> examples = SftExample.readJsonl(data);
        // 1. a model from scratch, with a tokenizer learned from the demonstrations
        Path tokenizer = Files.createTempDirectory("rlhf-tokenizer-").resolve("tokenizer.json");
        int hidden = Integer.parseInt(o.get("hidden"));
        ModelConfig config = SftJob.scratch(examples, tokenizer, Integer.parseInt(o.get("vocab")), hidden,
                Integer.parseInt(o.get("layers")), Integer.parseInt(o.get("heads")), Integer.parseInt(o.get("kv-heads")),
                Integer.parseInt(o.get("context")));
        System.out.printf("SFT: %d demonstrations from %s, vocab %d, d %d, %d layers%n", examples.size(), data,
                config.vocabSize(), config.hiddenSize(), config.numHiddenLayers());
        // 2. train and store
        ModelStore store = new ModelStore(out);
        SftJob.Config cfg = new SftJob.Config(Integer.parseInt(o.get("epochs")), Integer.parseInt(o.get("batch-size")),
                Double.parseDouble(o.get("lr")), Integer.parseInt(o.get("warmup")), 0.01, 1.0,
                Double.parseDouble(o.get("validation")), Long.parseLong(o.get("seed")),
                Integer.parseInt(o.get("checkpoint-every")), out.resolve(".checkpoints/sft"),
                "policy", true);
        SftJob.Result r = SftJob.run(config, null, tokenizer, examples, store, cfg, p -> {
            if (p.step() % 10 == 0 || p.step() == p.totalSteps()) {
                System.out.println("  " + p);
            }
        });
        System.out.printf("validation loss %.4f → %.4f; %d steps, %.0f tokens/s%n", r.validationLossBefore(),
                r.validationLossAfter(), r.steps(), r.tokensPerSecond());
        System.out.printf("stored policy v%d and reference v%d in %s%n", r.policy().version(), r.reference().version(),
                out.toAbsolutePath());
        // 3. the stored version, as a service would load it, answers a few prompts
        StoredVersion v = store.load("policy", r.policy().version());
        try (Tokenizer t = Tokenizer.load(v.file("tokenizer.json"));
                OrtDecoder d = OrtDecoder.open(v.file("model.onnx"), ModelConfig.read(v.file("config.json")),
                        OrtDecoder.Options.cpu(0))) {
            ChatTemplate template = new ChatTemplate(t);
            List<String> prompts = examples.stream().limit(4).map(e -> e.messages().get(e.messages().size() - 2).content())
                    .toList();
            List<OrtDecoder.Generation> gens = d.generate(prompts.stream().map(template::promptIds).toList(),
                    OrtDecoder.Sampling.greedy(48));
            for (int i = 0; i < prompts.size(); i++) {
                System.out.printf("  > %s%n    %s%n", prompts.get(i), template.responseText(gens.get(i).tokens()));
            }
        }
    }
}
