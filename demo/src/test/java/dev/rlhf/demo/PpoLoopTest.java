package dev.rlhf.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.rlhf.proto.v1.DataSource;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.JobKind;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.RolloutServiceGrpc;
import dev.rlhf.proto.v1.SftConfig;
import dev.rlhf.proto.v1.StopRunRequest;
import dev.rlhf.proto.v1.SubmitJobRequest;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;

/**
 * The online loop end to end, every part real: a broker, and trainer-, policy-, reward- and
 * rollout-service as packaged apps in JVMs of their own. SFT (through SubmitJob) gives the
 * policy and the reference; a PPO job (through SubmitJob) follows the rollouts that
 * rollout-service makes from policy-service's samples and reward-service's scores; each
 * iteration's policy version is announced, swapped in by policy-service, and the later
 * rollouts say they came from it. The reward is a rule (an exclamation mark in the answer,
 * which the demonstrations put only in greetings): mean reward rises and the KL to the
 * reference stays within the adaptive controller's budget. Prompts are rendered with the chat
 * template by the caller (policy-service applies none), as SFT saw them.
 */
class PpoLoopTest {

    private static final Path ROOT = Path.of(System.getProperty("rlhf.root", ".."));
    private static final double TARGET_KL = PpoLoop.TARGET_KL;
    private static final int ITERATIONS = 12;

    @TempDir
    Path tmp;

    @Test
    void rewardRisesAndTheKlStaysInBudgetWithEveryVersionServed() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        String run = "e2e-" + UUID.randomUUID();
        try (Stack stack = new Stack(ROOT, tmp, tmp.resolve("models"), bootstrap)) {
            stack.start("trainer-service", "1g", List.of("-Drlhf.normaliser.enabled=false"));
            TrainerServiceGrpc.TrainerServiceBlockingStub trainer = TrainerServiceGrpc.newBlockingStub(
                    stack.channel("trainer-service"));
            // 1. SFT: policy v1 and reference v1
            Job sft = trainer.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_SFT).setJobName("sft")
                    .setSft(SftConfig.newBuilder().setData(DataSource.newBuilder().setPath(ROOT.resolve(
                            "data/sft-demo.jsonl").toAbsolutePath().toString())).setEpochs(8).setBatchSize(16)
                            .setValidationFraction(0).setSeed(7).setOptimizer(OptimizerConfig.newBuilder()
                                    .setLearningRate(3e-3).setWarmupSteps(10)))
                    .build());
            JobEvent sftDone = TrainerJobs.follow(trainer, sft, 600, e -> { });
            assertEquals(JobState.JOB_STATE_SUCCEEDED, sftDone.getState(), sftDone.getJob().getError());

            // 2. serving, scoring, rollouts
            stack.start("policy-service", "768m", List.of("-Drlhf.policy.max-batch=32"));
            stack.start("reward-service", "512m", List.of("-Drlhf.reward.components[0].name=excited",
                    "-Drlhf.reward.components[0].kind=regex-must", "-Drlhf.reward.components[0].pattern=!",
                    "-Drlhf.reward.components[0].model=", "-Drlhf.reward.components[0].normalise="));
            stack.start("rollout-service", "512m", List.of());
            PpoLoop.writePromptSet(stack.promptSets(), "demo", PpoLoop.sftDemoPrompts(ROOT));

            // 3. PPO follows the run's rollouts; the run samples from the latest served policy
            Job ppo = trainer.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_PPO).setJobName("ppo")
                    .setPpo(PpoLoop.config(run, 64, ITERATIONS, 5e-4)).build());
            RolloutServiceGrpc.RolloutServiceBlockingStub rollouts = RolloutServiceGrpc.newBlockingStub(
                    stack.channel("rollout-service"));
            rollouts.startRun(PpoLoop.run(run, "demo", 4, 8, 24, 64));
            List<JobEvent> events = new ArrayList<>();
            TrainerJobs.follow(trainer, ppo, 900, events::add);
            rollouts.stopRun(StopRunRequest.newBuilder().setRunId(run).setAbortInFlight(true).build());

            JobEvent end = events.get(events.size() - 1);
            assertEquals(JobState.JOB_STATE_SUCCEEDED, end.getState(), end.getJob().getError());
            List<JobEvent> iterations = events.stream().filter(e -> e.getStage().equals("iteration")).toList();
            assertEquals(ITERATIONS, iterations.size());
            List<Double> reward = iterations.stream().map(e -> e.getMetricsMap().get("ppo/mean_reward")).toList();
            List<Double> kl = iterations.stream().map(e -> e.getMetricsMap().get("ppo/kl")).toList();
            System.out.println("PPO through the services: reward " + reward + ", KL " + kl);
            for (String key : List.of("ppo/approx_kl", "ppo/optimizer_steps", "ppo/clip_fraction")) {
                System.out.println("  " + key + " " + iterations.stream().map(e -> e.getMetricsMap().get(key)).toList());
            }
            // the first batch is the SFT policy's (the run is paced: one batch per version); the
            // last three come from the versions 9 to 11 updates later (with 8 iterations, the last
            // three were 0.15 above the first in most runs but not all: a CI run had +0.149)
            double first = reward.get(0);
            double late = (reward.get(ITERATIONS - 3) + reward.get(ITERATIONS - 2) + reward.get(ITERATIONS - 1)) / 3;
            assertTrue(late > first + 0.15, "mean reward " + reward);
            // the budget: the adaptive controller's target met on average over the run, and no batch
            // (a noisy one-sample estimate on rollouts up to one version old) beyond 2.5 × target
            assertTrue(kl.stream().mapToDouble(Double::doubleValue).average().orElseThrow() <= TARGET_KL
                    && kl.stream().allMatch(k -> k < 2.5 * TARGET_KL), "KL within budget: " + kl);
            assertEquals(ITERATIONS, end.getJob().getProducedModelsCount());

            // the later rollouts came from the versions PPO exported, and say so
            long sftVersion = sftDone.getJob().getProducedModels(0).getVersion();
            long newest = 0;
            for (var r : TopicReader.readAll(bootstrap, "rlhf.rollouts.v1")) {
                Rollout x = Rollout.parseFrom(r.value());
                if (x.getRunId().equals(run)) {
                    newest = Math.max(newest, x.getPolicy().getVersion());
                }
            }
            assertTrue(newest >= sftVersion + ITERATIONS - 2, "rollouts from policy v" + newest + " at the latest");
        }
    }
}
