package dev.rlhf.trainer.ppo.job;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.trainer.VersionFolder;
import dev.rlhf.trainer.sft.SftExample;
import dev.rlhf.trainer.sft.SftJob;

/** A tiny policy and reference in a model store, and rollouts of it on a fresh topic. */
public final class PpoFixtures {

    private PpoFixtures() {
    }

    /** Stores "policy" v1 and "reference" v1 (the same random weights); returns the config. */
    public static ModelConfig store(Path root) throws Exception {
        return store(root, "policy", "reference");
    }

    /** Stores {@code policy} and {@code reference} (the same random weights) as new versions; returns the config. */
    public static ModelConfig store(Path root, String policy, String reference) throws Exception {
        Path tokenizer = Files.createTempDirectory("ppo-tok").resolve("tokenizer.json");
        List<SftExample> texts = List.of(SftExample.of("Greet Anna.", "Hello, Anna! Nice to meet you."),
                SftExample.of("What is 2 plus 3?", "2 plus 3 is 5."));
        ModelConfig c = SftJob.scratch(texts, tokenizer, 280, 32, 2, 4, 2, 64);
        ModelStore store = new ModelStore(root);
        for (String name : List.of(policy, reference)) {
            Path folder = VersionFolder.write(c, LlamaWeights.random(c, 5), tokenizer, DecoderGraph.Head.CAUSAL_LM);
            store.write(name, name.equals(policy) ? ModelKind.POLICY : ModelKind.REFERENCE, 0, folder, Map.of());
            VersionFolder.delete(folder);
        }
        return c;
    }

    public static void createTopic(String bootstrap, String topic, int partitions) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    /**
     * A rollout of run {@code run} by policy v{@code version}: a random prompt and response
     * whose reward is the share of response tokens in the lower half of the vocabulary.
     */
    public static Rollout rollout(Random random, int vocab, String run, String policy, long version) {
        Rollout.Builder r = Rollout.newBuilder().setRolloutId(UUID.randomUUID().toString()).setRunId(run)
                .setPromptId("p-" + random.nextInt(1000)).setGroupSize(1)
                .setPolicy(ModelRef.newBuilder().setName(policy).setVersion(version)).setEndedWithEos(true);
        for (int i = 0; i < 3; i++) {
            r.addPromptTokenIds(3 + random.nextInt(vocab - 3));
        }
        double low = 0;
        for (int i = 0; i < 6; i++) {
            int t = 3 + random.nextInt(vocab - 3);
            low += t < vocab / 2 ? 1 : 0;
            r.addResponseTokenIds(t).addBehaviourLogprobs((float) -Math.log(vocab));
        }
        return r.setReward(low / 6).build();
    }

    public static void publish(String bootstrap, String topic, List<Rollout> rollouts) throws Exception {
        try (KafkaProducer<String, byte[]> producer = ReliableProducers.create(bootstrap, "ppo-test",
                Duration.ofSeconds(30))) {
            List<java.util.concurrent.Future<?>> acks = new ArrayList<>();
            for (Rollout r : rollouts) {
                acks.add(producer.send(new ProducerRecord<>(topic, r.getPromptId(), r.toByteArray())));
            }
            for (var a : acks) {
                a.get(30, TimeUnit.SECONDS);
            }
        }
    }
}
