package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import ai.djl.ndarray.NDManager;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.trainer.engine.LlamaModel;

/**
 * PPO iterations in one process, the loop of the system without its services: the policy is
 * exported to ONNX and sampled by ONNX Runtime (as policy-service does), each response scored
 * by a known rule (the share of its tokens from the lower half of the vocabulary), and the
 * trainer's PPO iteration improves the policy against the frozen reference.
 */
class PpoIterationTest {

    /** A 2-layer policy over a 64-token vocabulary. */
    private static final ModelConfig TINY = new ModelConfig(64, 32, 64, 2, 4, 2, 1e-5, 10000, 32, true, 1, List.of(2),
            0, "llama");

    @TempDir
    Path tmp;

    /** Seeded random weights of {@code c}, by name. */
    private static Map<String, Tensor> randomWeights(ModelConfig c) {
        Map<String, Tensor> init = new LinkedHashMap<>();
        LlamaWeights.random(c, 5).forEach(t -> init.put(t.name(), t));
        return init;
    }

    private static double score(int[] response, int vocab) {
        double low = 0;
        for (int t : response) {
            low += t < vocab / 2 ? 1 : 0;
        }
        return low / response.length;
    }

    @Test
    void meanRewardRisesAndTheKlStaysWithinItsBudget() throws Exception {
        ModelConfig c = TINY;
        Map<String, Tensor> init = randomWeights(c);
        double targetKl = 2.0;
        KlController kl = KlController.of(true, 0.05, targetKl, 2000);
        PpoIteration.Config cfg = new PpoIteration.Config(4, 16, 0.2, 0.2, 0.5, 0.0, 1.0, 0.95, 0, 3e-3, 3e-3, 1.0, true,
                7, 0, 0);
        List<PpoIteration.Diagnostics> history = new ArrayList<>();
        Random prompts = new Random(1);
        try (NDManager m = NDManager.newBaseManager();
                ActorCritic policy = new ActorCritic(c, init, null, m);
                LlamaModel reference = LlamaModel.of(c, init, m)) {
            PpoIteration ppo = new PpoIteration(policy, reference, m, kl, cfg);
            for (int iteration = 0; iteration < 10; iteration++) {
                // sample with the serving engine from the current weights
                Map<String, Tensor> current = new LinkedHashMap<>();
                policy.policyWeights().forEach(t -> current.put(t.name(), t));
                Path onnx = tmp.resolve("policy-" + iteration + ".onnx");
                OnnxExport.write(c, current, DecoderGraph.Head.CAUSAL_LM, onnx, false);
                List<int[]> batch = new ArrayList<>();
                for (int i = 0; i < 64; i++) {
                    batch.add(new int[] {1, 3 + prompts.nextInt(60), 3 + prompts.nextInt(60)});
                }
                List<OrtDecoder.Generation> samples;
                try (OrtDecoder d = OrtDecoder.open(onnx, c, OrtDecoder.Options.cpu(1))) {
                    samples = d.generate(batch, new OrtDecoder.Sampling(8, 1f, 0, 1f, 100 + iteration, Set.of()));
                }
                List<PpoIteration.Rollout> rollouts = new ArrayList<>();
                for (int i = 0; i < batch.size(); i++) {
                    OrtDecoder.Generation g = samples.get(i);
                    rollouts.add(new PpoIteration.Rollout(batch.get(i), g.tokens(), g.logprobs(), score(g.tokens(), 64)));
                }
                PpoIteration.Diagnostics d = ppo.run(rollouts, iteration);
                history.add(d);
                System.out.printf("PPO iteration %d: score %.3f KL %.3f β %.4f clip %.3f approx-KL %.4f entropy %.3f"
                        + " EV %.3f mismatch %.1e%n", iteration, d.meanScore(), d.meanKl(), d.beta(), d.clipFraction(),
                        d.approxKl(), d.entropy(), d.explainedVariance(), d.logprobMismatch());
            }
        }
        PpoIteration.Diagnostics first = history.get(0);
        PpoIteration.Diagnostics last = history.get(history.size() - 1);
        double early = (history.get(0).meanScore() + history.get(1).meanScore()) / 2;
        double late = (history.get(8).meanScore() + history.get(9).meanScore()) / 2;
        assertTrue(late > early + 0.15, "mean score " + early + " → " + late);
        assertEquals(0, first.meanKl(), 1e-4, "the first batch comes from the reference itself");
        assertTrue(history.stream().allMatch(d -> d.meanKl() < 2 * targetKl), "KL within budget: "
                + history.stream().map(d -> String.format("%.2f", d.meanKl())).toList());
        assertTrue(history.stream().allMatch(d -> d.logprobMismatch() < 1e-3), "serving and training logprobs agree");
        assertTrue(last.entropy() > 0);
    }

    @Test
    void thePtxTermKeepsTheDemonstrationsLikelyWhilePpoPullsAway() {
        ModelConfig c = TINY;
        Map<String, Tensor> init = randomWeights(c);
        // the demonstrations answer with tokens of the upper half, which the score punishes
        List<PpoIteration.Demonstration> demos = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            demos.add(new PpoIteration.Demonstration(new int[] {1, 3 + i}, new int[] {40 + i, 50 + i, 60 - i, 2}));
        }
        double[] nll = new double[2];
        List<List<Double>> ptxLoss = new ArrayList<>();
        for (int k = 0; k < 2; k++) {
            double coef = k == 0 ? 0 : 1;
            PpoIteration.Config cfg = new PpoIteration.Config(2, 8, 0.2, 0.2, 0.5, 0.0, 1.0, 0.95, 0, 3e-3, 3e-3, 1.0,
                    true, 7, 0, coef);
            List<Double> losses = new ArrayList<>();
            try (NDManager m = NDManager.newBaseManager();
                    ActorCritic policy = new ActorCritic(c, init, null, m);
                    LlamaModel reference = LlamaModel.of(c, init, m)) {
                PpoIteration ppo = new PpoIteration(policy, reference, m, KlController.of(false, 0.01, 6, 10_000), cfg,
                        demos);
                Random data = new Random(11);
                for (int iteration = 0; iteration < 6; iteration++) {
                    List<PpoIteration.Rollout> rollouts = new ArrayList<>();
                    for (int i = 0; i < 32; i++) {
                        int[] response = {3 + data.nextInt(60), 3 + data.nextInt(60), 3 + data.nextInt(60)};
                        rollouts.add(new PpoIteration.Rollout(new int[] {1, 3 + data.nextInt(60)}, response, null,
                                score(response, 64)));
                    }
                    PpoIteration.Diagnostics d = ppo.run(rollouts, iteration);
                    losses.add(d.ptxLoss());
                    assertEquals(coef == 0, Double.isNaN(d.ptxLoss()), "ptx loss reported with the term only");
                }
                nll[k] = demonstrationNll(policy, demos, m);
            }
            ptxLoss.add(losses);
        }
        assertTrue(nll[1] < nll[0] - 0.5, "NLL per demonstration token: plain PPO " + nll[0] + ", PPO-ptx " + nll[1]);
        List<Double> withPtx = ptxLoss.get(1);
        assertTrue(withPtx.get(withPtx.size() - 1) < withPtx.get(0) - 0.5, "ptx loss over the iterations " + withPtx);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new PpoIteration(null, null, null, null,
                new PpoIteration.Config(1, 8, 0.2, 0.2, 0.5, 0, 1, 0.95, 0, 1e-3, 1e-3, 1, true, 7, 0, 0.5), List.of()))
                .getMessage().contains("needs demonstrations"));
    }

    /** Mean negative log-likelihood of the demonstrations' response tokens under {@code policy}. */
    private static double demonstrationNll(ActorCritic policy, List<PpoIteration.Demonstration> demos, NDManager m) {
        double sum = 0;
        int n = 0;
        for (PpoIteration.Demonstration d : demos) {
            int[] ids = new int[d.prompt().length + d.response().length];
            System.arraycopy(d.prompt(), 0, ids, 0, d.prompt().length);
            System.arraycopy(d.response(), 0, ids, d.prompt().length, d.response().length);
            long[][] x = new long[1][ids.length];
            long[][] mask = new long[1][ids.length];
            long[][] pos = new long[1][ids.length];
            for (int i = 0; i < ids.length; i++) {
                x[0][i] = ids[i];
                mask[0][i] = 1;
                pos[0][i] = i;
            }
            try (NDManager sub = m.newSubManager()) {
                float[] logp = policy.forward(sub.create(x), sub.create(mask), sub.create(pos)).logits().logSoftmax(-1)
                        .toFloatArray();
                int v = policy.config().vocabSize();
                for (int j = d.prompt().length; j < ids.length; j++) {
                    sum -= logp[(j - 1) * v + ids[j]];
                    n++;
                }
            }
        }
        return sum / n;
    }

    @Test
    void aMinibatchBeyondTheApproximateKlLimitEndsTheIterationUnstepped() {
        ModelConfig c = TINY;
        Map<String, Tensor> init = randomWeights(c);
        Random r = new Random(3);
        List<PpoIteration.Rollout> rollouts = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            int[] response = {3 + r.nextInt(60), 3 + r.nextInt(60), 3 + r.nextInt(60)};
            rollouts.add(new PpoIteration.Rollout(new int[] {1, 3 + r.nextInt(60)}, response, null, score(response, 64)));
        }
        // 2 epochs × 4 minibatches; a large learning rate, so that π moves away from π_old at the first step
        int[] steps = new int[3];
        double[] limits = {0, 1e-9, 1e9};
        for (int k = 0; k < limits.length; k++) {
            PpoIteration.Config cfg = new PpoIteration.Config(2, 8, 0.2, 0.2, 0.5, 0.0, 1.0, 0.95, 0, 1e-2, 1e-2, 1.0,
                    true, 7, limits[k], 0);
            try (NDManager m = NDManager.newBaseManager();
                    ActorCritic policy = new ActorCritic(c, init, null, m);
                    LlamaModel reference = LlamaModel.of(c, init, m)) {
                steps[k] = new PpoIteration(policy, reference, m, KlController.of(false, 0.05, 6, 10_000), cfg)
                        .run(rollouts, 0).optimizerSteps();
            }
        }
        assertEquals(8, steps[0], "no limit: every minibatch of every epoch");
        // the first minibatch is measured against π_old itself (approximate KL 0); the second, after a step, is over
        assertEquals(1, steps[1], "a limit the second minibatch exceeds");
        assertEquals(8, steps[2], "a limit never reached");
    }
}
