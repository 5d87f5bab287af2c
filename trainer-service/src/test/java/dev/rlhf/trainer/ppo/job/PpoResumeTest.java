package dev.rlhf.trainer.ppo.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.google.protobuf.util.JsonFormat;

import dev.rlhf.model.ModelStore;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.Tensor;
import dev.rlhf.proto.v1.DataSource;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.testkit.KafkaTestBroker;

/**
 * Crash safety of the PPO job: a job in a forked JVM is killed with SIGKILL while it trains
 * an iteration, resumed from its checkpoint by a second process, and the final checkpoint's
 * ledger shows every accepted rollout trained on exactly once, none skipped; the resumed
 * weights equal those of the same job run without a crash (the job has a ptx term, whose draws
 * must repeat too).
 */
class PpoResumeTest {

    private static final int BATCH = 16;
    private static final int ITERATIONS = 6;

    @TempDir
    Path tmp;

    @Test
    void aJobKilledMidIterationResumesWithoutTrainingAnyRolloutTwiceOrSkippingOne() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        String topic = "rlhf.rollouts.resume-" + UUID.randomUUID();
        // one partition: the batches are then the same in every run, so the weights can be compared
        // (with several, a batch's interleaving of partitions depends on fetch timing)
        PpoFixtures.createTopic(bootstrap, topic, 1);
        Path store = tmp.resolve("store");
        int vocab = PpoFixtures.store(store).vocabSize();

        // the topic: the run's rollouts, interleaved with another run's, a stale policy's and repeats
        Random random = new Random(11);
        List<Rollout> records = new ArrayList<>();
        Set<String> expected = new HashSet<>();
        while (expected.size() < BATCH * ITERATIONS) {
            Rollout r = PpoFixtures.rollout(random, vocab, "run-a", "policy", 1);
            records.add(r);
            expected.add(r.getRolloutId());
            switch (random.nextInt(8)) {
                case 0 -> records.add(r); // a retried publish
                case 1 -> records.add(PpoFixtures.rollout(random, vocab, "run-b", "policy", 1));
                case 2 -> records.add(PpoFixtures.rollout(random, vocab, "run-a", "some-other-policy", 9));
                default -> { }
            }
        }
        PpoFixtures.publish(bootstrap, topic, records);

        // with a ptx term: its draws, seeded by the iteration, must repeat on resume too
        Path ptx = tmp.resolve("ptx.jsonl");
        Files.writeString(ptx, "{\"prompt\": \"Greet Anna.\", \"response\": \"Hello, Anna! Nice to meet you.\"}\n"
                + "{\"prompt\": \"What is 2 plus 3?\", \"response\": \"2 plus 3 is 5.\"}\n"
                + "{\"prompt\": \"Greet Anna again.\", \"response\": \"Hello again, Anna!\"}\n");
        PpoConfig config = PpoConfig.newBuilder().setRolloutRunId("run-a").setRolloutBatchSize(BATCH)
                .setPtxCoef(0.5).setPtxData(DataSource.newBuilder().setPath(ptx.toString()))
                .setMinibatchSize(8).setPpoEpochs(2).setMaxIterations(ITERATIONS).setSeed(3).setAdaptiveKl(true)
                .setMaxPolicyLag(ITERATIONS) // every rollout here is from v1; the staleness rule has its own test
                .setKlHorizon(1000).setActorOptimizer(OptimizerConfig.newBuilder().setLearningRate(1e-3))
                .setCriticOptimizer(OptimizerConfig.newBuilder().setLearningRate(1e-3)).build();
        Path configFile = tmp.resolve("ppo.json");
        Files.writeString(configFile, JsonFormat.printer().print(config));
        Path checkpoints = tmp.resolve("checkpoints");

        // 1. the first process, killed once it is training iteration 3
        Process first = start(bootstrap, topic, configFile, store, checkpoints, false);
        List<String> firstOut = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(first.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                firstOut.add(line);
                if (line.startsWith("training iteration 3 ")) {
                    first.destroyForcibly(); // SIGKILL
                    break;
                }
            }
        }
        assertTrue(first.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, first.exitValue(), "killed by SIGKILL: " + firstOut);
        Path job = checkpoints.resolve("ppo-crash");
        assertEquals("ckpt-3", Files.readString(job.resolve("LATEST")).trim(),
                "killed during iteration 3, after the checkpoint of iteration 2: " + firstOut);

        // 2. the second process resumes and finishes
        Process second = start(bootstrap, topic, configFile, store, checkpoints, true);
        String secondOut = new String(second.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(second.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, second.exitValue(), secondOut);
        assertTrue(secondOut.contains("resumed at iteration 3"), secondOut);
        assertTrue(secondOut.contains("training iteration 3 ") && !secondOut.contains("training iteration 2 "), secondOut);

        // 3. the ledger: each accepted rollout once, all of them, BATCH per iteration
        List<String> ledger = Files.readAllLines(job.resolve("ckpt-" + ITERATIONS).resolve("trained.tsv"));
        List<String> ids = ledger.stream().map(l -> l.split("\t")[1]).toList();
        assertEquals(ids.size(), new HashSet<>(ids).size(), "no rollout trained twice");
        assertEquals(expected, new HashSet<>(ids), "no rollout skipped, no other run's, stale or repeated one");
        Map<String, Long> perIteration = ledger.stream().collect(Collectors.groupingBy(l -> l.split("\t")[0],
                Collectors.counting()));
        for (int i = 0; i < ITERATIONS; i++) {
            assertEquals(BATCH, perIteration.get(String.valueOf(i)), "iteration " + i);
        }
        // one version per iteration: three from the first process, three from the second
        ModelStore models = new ModelStore(store);
        assertEquals(1 + ITERATIONS, models.versions("policy").size());
        assertEquals(ITERATIONS, models.load("policy", models.latest("policy").getAsLong()).metrics()
                .get("ppo.iteration"));

        // 4. the same job without a crash, from the same start in a store of its own, ends with the same weights
        Path otherStore = tmp.resolve("store-straight");
        PpoFixtures.store(otherStore);
        PpoJob straight = new PpoJob(PpoSettings.of(config, topic), new ModelStore(otherStore), bootstrap,
                checkpoints.resolve("straight"), "straight");
        straight.run(false, null, new PpoJob.Listener() { }, v -> { }, () -> false);
        Map<String, Tensor> resumed = SafeTensors.read(job.resolve("ckpt-" + ITERATIONS).resolve("weights.safetensors"));
        Map<String, Tensor> uninterrupted = SafeTensors.read(checkpoints.resolve("straight").resolve("ckpt-" + ITERATIONS)
                .resolve("weights.safetensors"));
        assertEquals(uninterrupted.keySet(), resumed.keySet());
        // L2 distances over all weights. On one machine the two runs are bitwise identical; the
        // bound only leaves room for last-bit differences, which Adam would turn into steps of up
        // to lr for near-zero gradients. (It caught corrupted gradients: a scalar operand freed by
        // the GC before the backward pass, see Scalars.) Training a batch twice or skipping one
        // moves the weights by about as much as training itself does.
        Map<String, Tensor> init = SafeTensors.read(models.load("policy", 1).file("model.safetensors"));
        double moved = 0;
        double differs = 0;
        for (String name : resumed.keySet()) {
            float[] a = resumed.get(name).data();
            float[] b = uninterrupted.get(name).data();
            float[] start = init.containsKey(name) ? init.get(name).data() : new float[a.length]; // value head: zeros
            for (int i = 0; i < a.length; i++) {
                differs += (double) (a[i] - b[i]) * (a[i] - b[i]);
                moved += (double) (a[i] - start[i]) * (a[i] - start[i]);
            }
        }
        moved = Math.sqrt(moved);
        differs = Math.sqrt(differs);
        assertTrue(moved > 1e-2, "training moved the weights: " + moved);
        assertTrue(differs <= 1e-4 * moved, "resumed and uninterrupted weights differ by " + differs + ", training"
                + " moved them by " + moved);
    }

    private static Process start(String bootstrap, String topic, Path config, Path store, Path checkpoints,
            boolean resume) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m", "-cp", System.getProperty("java.class.path"), PpoCommand.class.getName(), "--config",
                config.toString(), "--store", store.toString(), "--checkpoints", checkpoints.toString(), "--job",
                "ppo-crash", "--bootstrap", bootstrap, "--topic", topic));
        if (resume) {
            cmd.add("--resume");
        }
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }
}
