package dev.rlhf.trainer.ppo.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.model.text.Tokenizer;
import dev.rlhf.proto.v1.DataSource;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.trainer.ppo.PpoIteration;
import dev.rlhf.trainer.sft.SftExample;

/** The PPO job's data rules on a real broker: staleness by policy version, and its settings' checks. */
class PpoJobTest {

    @TempDir
    Path tmp;

    @Test
    void strictlyOnPolicyJobSkipsRolloutsOfTheVersionItHasReplaced() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        String topic = "rlhf.rollouts.stale-" + UUID.randomUUID();
        PpoFixtures.createTopic(bootstrap, topic, 1);
        Path store = tmp.resolve("store");
        int vocab = PpoFixtures.store(store).vocabSize();
        Random random = new Random(5);
        List<Rollout> v1 = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            v1.add(PpoFixtures.rollout(random, vocab, "run", "policy", 1));
        }
        PpoFixtures.publish(bootstrap, topic, v1);

        PpoConfig config = PpoConfig.newBuilder().setRolloutBatchSize(8).setMinibatchSize(8).setMaxIterations(2)
                .setMaxPolicyLag(0).setActorOptimizer(OptimizerConfig.newBuilder().setLearningRate(1e-3)).build();
        PpoJob job = new PpoJob(PpoSettings.of(config, topic), new ModelStore(store), bootstrap, tmp.resolve("ckpt"),
                "stale");
        List<PpoJob.Report> reports = new CopyOnWriteArrayList<>();
        List<StoredVersion> announced = new CopyOnWriteArrayList<>();
        CompletableFuture<PpoJob.Result> run = CompletableFuture.supplyAsync(() -> {
            try {
                return job.run(false, null, new PpoJob.Listener() {
                    @Override
                    public void iteration(PpoJob.Report r) {
                        reports.add(r);
                    }
                }, announced::add, () -> false);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        // iteration 0 trains on the first 8 v1 rollouts and exports v2; the other 16 are stale then
        long deadline = System.currentTimeMillis() + 60_000;
        while (announced.isEmpty() && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        assertEquals(2, announced.get(0).version());
        List<Rollout> v2 = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            v2.add(PpoFixtures.rollout(random, vocab, "run", "policy", 2));
        }
        PpoFixtures.publish(bootstrap, topic, v2);
        PpoJob.Result result = run.get(60, TimeUnit.SECONDS);

        assertEquals(2, result.iterations());
        assertEquals(3, result.lastExported().version());
        assertEquals(16L, reports.get(1).feed().get(RolloutFeed.Verdict.STALE), "the 16 v1 rollouts after the export");
        List<String> ledger = Files.readAllLines(tmp.resolve("ckpt").resolve("ckpt-2").resolve("trained.tsv"));
        Set<String> trained = new HashSet<>(ledger.stream().map(l -> l.split("\t")[1]).toList());
        Set<String> wanted = new HashSet<>();
        v1.subList(0, 8).forEach(r -> wanted.add(r.getRolloutId()));
        v2.forEach(r -> wanted.add(r.getRolloutId()));
        assertEquals(wanted, trained);
        assertTrue(reports.get(1).exported() != null && reports.get(1).checkpointed());
    }

    @Test
    void ptxDemonstrationsAreEncodedWithThePolicysTemplateAndALongOneIsRefusedByNumber() throws Exception {
        Path store = tmp.resolve("store");
        PpoFixtures.store(store);
        StoredVersion policy = new ModelStore(store).load("policy", 1);
        Path data = tmp.resolve("ptx.jsonl");
        Files.writeString(data, "{\"prompt\": \"Greet Anna.\", \"response\": \"Hello, Anna!\"}\n\n"
                + "{\"prompt\": \"What is 2 plus 3?\", \"response\": \"2 plus 3 is 5. 2 plus 3 is 5. 2 plus 3 is 5.\"}\n");
        List<PpoIteration.Demonstration> ptx = PpoJob.ptxDemonstrations(data, policy, 64);
        assertEquals(2, ptx.size());
        try (Tokenizer tok = Tokenizer.load(policy.file("tokenizer.json"))) {
            ChatTemplate.Encoded e = new ChatTemplate(tok).encode(SftExample.of("Greet Anna.", "Hello, Anna!")
                    .messages());
            int[] ids = e.ids();
            assertArrayEquals(Arrays.copyOf(ids, e.promptLength()), ptx.get(0).prompt());
            assertArrayEquals(Arrays.copyOfRange(ids, e.promptLength(), ids.length), ptx.get(0).response());
        }
        int longest = ptx.get(1).prompt().length + ptx.get(1).response().length;
        assertEquals("ppo.ptx_data: demonstration 1 of " + data + " has " + longest + " tokens, more than the "
                + (longest - 1) + " the job trains on", assertThrows(IllegalArgumentException.class,
                        () -> PpoJob.ptxDemonstrations(data, policy, longest - 1)).getMessage());
    }

    @Test
    void settingsAreCheckedNamingTheField() {
        assertEquals("ppo.clip_range must be in (0, 1), got 1.5", assertThrows(IllegalArgumentException.class,
                () -> PpoSettings.of(PpoConfig.newBuilder().setClipRange(1.5).build(), "t")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PpoSettings.of(PpoConfig.newBuilder()
                .setAdaptiveKl(true).setRolloutBatchSize(512).setKlHorizon(100).build(), "t")).getMessage()
                .startsWith("ppo.kl_horizon must exceed"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PpoSettings.of(PpoConfig.newBuilder()
                .setPtxCoef(0.5).build(), "t")).getMessage().startsWith("ppo.ptx_data.path is required"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PpoSettings.of(PpoConfig.newBuilder()
                .setPtxData(DataSource.newBuilder().setPath("x.jsonl")).build(), "t")).getMessage()
                .startsWith("ppo.ptx_data is given but ppo.ptx_coef is 0.0"));
        assertEquals("ppo.ptx_data.path: no such file " + tmp.resolve("none.jsonl"), assertThrows(
                IllegalArgumentException.class, () -> PpoSettings.of(PpoConfig.newBuilder().setPtxCoef(0.5)
                        .setPtxData(DataSource.newBuilder().setPath(tmp.resolve("none.jsonl").toString())).build(), "t"))
                .getMessage());
        assertEquals("ppo.ptx_coef must be a finite number >= 0, got -1.0", assertThrows(IllegalArgumentException.class,
                () -> PpoSettings.of(PpoConfig.newBuilder().setPtxCoef(-1).build(), "t")).getMessage());
        assertEquals("ppo.max_approx_kl must be a finite number >= 0, got -0.1", assertThrows(
                IllegalArgumentException.class, () -> PpoSettings.of(PpoConfig.newBuilder().setMaxApproxKl(-0.1)
                        .build(), "t")).getMessage());
        PpoSettings d = PpoSettings.of(PpoConfig.getDefaultInstance(), "t");
        assertEquals(512, d.batchSize());
        assertEquals(0.05, d.klCoef());
        assertEquals(1, d.maxPolicyLag());
        assertEquals(1e-6, d.iteration().learningRate());
        assertEquals(9e-6, d.iteration().criticLearningRate());
        assertEquals(0.2, d.iteration().valueClip());
        assertEquals(0, d.iteration().maxApproxKl(), "no early stop unless asked");
        assertEquals(0, PpoSettings.of(PpoConfig.newBuilder().setValueClipRange(0).setKlCoef(0).build(), "t")
                .iteration().valueClip());
    }
}
