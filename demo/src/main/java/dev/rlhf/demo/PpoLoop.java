package dev.rlhf.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.proto.v1.RolloutMode;
import dev.rlhf.proto.v1.RolloutRunSpec;
import dev.rlhf.proto.v1.SamplingParams;
import dev.rlhf.proto.v1.StartRunRequest;

/**
 * The PPO loop as the demo, its benchmark and the end-to-end test run it: one PPO job and one
 * rollout run that samples from the latest served "policy" (so every exported version is used
 * as soon as policy-service swaps it in), and the prompts rendered with the chat template
 * (policy-service applies none; SFT saw them rendered).
 */
final class PpoLoop {

    /** The adaptive controller's target, nats per sequence. */
    static final double TARGET_KL = 6.0;

    /**
     * The trust region of each update, nats per token: without it the first updates of a run on
     * a binary reward moved the policy up to 16 nats per sequence from the reference in one
     * iteration (approximate KL 0.5–0.75 per token at the end of the epochs).
     */
    static final double MAX_APPROX_KL = 0.3;

    private PpoLoop() {
    }

    /**
     * The job: batches of {@code batch} rollouts of {@code run} in four minibatches, two epochs
     * stopped early at an approximate KL to the sampling policy of {@link #MAX_APPROX_KL} per
     * token, adaptive KL from β = 0.2 towards {@link #TARGET_KL}, rollouts at most one version old.
     */
    static PpoConfig config(String run, int batch, int iterations, double learningRate) {
        return PpoConfig.newBuilder().setRolloutRunId(run).setRolloutBatchSize(batch).setMinibatchSize(batch / 4)
                .setPpoEpochs(2).setMaxIterations(iterations).setAdaptiveKl(true).setTargetKl(TARGET_KL).setKlCoef(0.2)
                .setKlHorizon(1_000).setMaxPolicyLag(1).setMaxApproxKl(MAX_APPROX_KL).setSeed(1)
                .setActorOptimizer(OptimizerConfig.newBuilder().setLearningRate(learningRate))
                .setCriticOptimizer(OptimizerConfig.newBuilder().setLearningRate(1e-3)).build();
    }

    /**
     * The rollout run: {@code k} samples per prompt at temperature 1, over the prompt set until
     * stopped, paced to the job: {@code batch} samples per policy version, so every batch is
     * sampled from the version being trained and sampling waits while the job trains.
     */
    static StartRunRequest run(String run, String promptSet, int k, int concurrency, int maxNewTokens, int batch) {
        return StartRunRequest.newBuilder().setRunId(run).setSpec(RolloutRunSpec.newBuilder().setPromptSet(promptSet)
                .setSamplesPerPrompt(k).setMode(RolloutMode.ROLLOUT_MODE_PPO).setSamplesPerPolicyVersion(batch)
                .setPolicy(ModelRef.newBuilder().setName("policy")).setMaxConcurrency(concurrency).setEpochs(1000)
                .setSampling(SamplingParams.newBuilder().setTemperature(1f).setMaxNewTokens(maxNewTokens))).build();
    }

    /** {@code <s><|user|>{prompt}<|assistant|>}: a prompt as the chat template renders it. */
    static String render(String prompt) {
        return "<s><|user|>" + prompt + "<|assistant|>";
    }

    /** Writes {@code prompts}, rendered, as prompt set {@code name} (JSON Lines of Prompt) into {@code folder}. */
    static void writePromptSet(Path folder, String name, List<String> prompts) throws IOException {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            lines.add("{\"promptId\":\"p" + i + "\",\"text\":" + Demo.json(render(prompts.get(i))) + "}");
        }
        Files.write(folder.resolve(name + ".jsonl"), lines);
    }

    /** The prompts of the {"prompt", "response"} records of {@code data/sft-demo.jsonl}. */
    static List<String> sftDemoPrompts(Path root) throws IOException {
        List<String> prompts = new ArrayList<>();
        for (String line : Files.readAllLines(root.resolve("data/sft-demo.jsonl"))) {
            if (line.startsWith("{\"prompt\"")) {
                prompts.add(line.substring(line.indexOf(":") + 3, line.indexOf("\", \"response\"")));
            }
        }
        return prompts;
    }
}
