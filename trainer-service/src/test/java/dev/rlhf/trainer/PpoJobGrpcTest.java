package dev.rlhf.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.proto.v1.BestOfNConfig;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.JobKind;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.ModelVersion;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.proto.v1.Rollout;
import dev.rlhf.proto.v1.SubmitJobRequest;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.proto.v1.WatchJobRequest;
import dev.rlhf.testkit.KafkaTestBroker;
import dev.rlhf.testkit.TopicReader;
import dev.rlhf.trainer.ppo.job.PpoFixtures;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;

/**
 * PPO and best-of-N jobs through TrainerService over a real gRPC channel, on rollouts in the
 * real broker's rlhf.rollouts.v1: versions are stored, announced and listed; iterations stream
 * PPO's diagnostics; a second job of the same name is refused while the first runs.
 */
@QuarkusTest
@io.quarkus.test.common.QuarkusTestResource(value = dev.rlhf.testkit.KafkaBrokerResource.class,
        restrictToAnnotatedClass = false)
class PpoJobGrpcTest {

    private static final Path STORE = Path.of("target/test-model-store");

    @GrpcClient("trainer")
    TrainerServiceGrpc.TrainerServiceBlockingStub stub;

    private static List<JobEvent> watch(TrainerServiceGrpc.TrainerServiceBlockingStub stub, Job job) {
        List<JobEvent> events = new ArrayList<>();
        stub.withDeadlineAfter(180, TimeUnit.SECONDS).watchJob(WatchJobRequest.newBuilder().setJobId(job.getJobId())
                .build()).forEachRemaining(events::add);
        return events;
    }

    @Test
    void ppoJobTrainsOnItsRunsRolloutsAndAnnouncesEachVersion() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        int vocab = PpoFixtures.store(STORE, "ppo-policy", "ppo-reference").vocabSize();
        long init = new ModelStore(STORE).latest("ppo-policy").getAsLong();
        String run = "run-" + UUID.randomUUID();
        Random random = new Random(3);
        List<Rollout> rollouts = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            rollouts.add(PpoFixtures.rollout(random, vocab, run, "ppo-policy", init));
            rollouts.add(PpoFixtures.rollout(random, vocab, "another-run", "ppo-policy", init));
        }
        SubmitJobRequest request = SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_PPO).setJobName("ppo-grpc")
                .setPpo(PpoConfig.newBuilder().setPolicyInit(ModelRef.newBuilder().setName("ppo-policy"))
                        .setReference(ModelRef.newBuilder().setName("ppo-reference")).setOutputName("ppo-policy")
                        .setRolloutRunId(run)
                        .setRolloutBatchSize(16).setMinibatchSize(8).setMaxIterations(2).setMaxPolicyLag(2)
                        .setActorOptimizer(OptimizerConfig.newBuilder().setLearningRate(1e-3)))
                .build();
        Job job = stub.submitJob(request);
        StatusRuntimeException twice = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> stub.submitJob(request));
        assertEquals(Status.Code.ALREADY_EXISTS, twice.getStatus().getCode());
        // a fresh job learns from what is published after its submission
        PpoFixtures.publish(bootstrap, "rlhf.rollouts.v1", rollouts);

        List<JobEvent> events = watch(stub, job);
        JobEvent last = events.get(events.size() - 1);
        assertEquals(JobState.JOB_STATE_SUCCEEDED, last.getState(), last.getJob().getError());
        List<JobEvent> iterations = events.stream().filter(e -> e.getStage().equals("iteration")).toList();
        assertEquals(2, iterations.size());
        for (String metric : List.of("ppo/kl", "ppo/beta", "ppo/clip_fraction", "ppo/approx_kl", "ppo/entropy",
                "ppo/optimizer_steps", "ppo/value_explained_variance", "ppo/response_length", "ppo/logprob_mismatch", "ppo/mean_score")) {
            assertTrue(iterations.get(1).getMetricsMap().containsKey(metric), metric + " in " + iterations.get(1));
        }
        assertTrue(iterations.get(1).getMetricsMap().get("rollouts/other_run") >= 16, iterations.get(1).toString());
        List<ModelRef> produced = last.getJob().getProducedModelsList();
        assertEquals(List.of(init + 1, init + 2), produced.stream().map(ModelRef::getVersion).toList());
        StoredVersion v = new ModelStore(STORE).load("ppo-policy", init + 2);
        assertEquals(ModelKind.POLICY, v.kind());
        assertEquals(init + 1, v.parentVersion());
        assertEquals(2.0, v.metrics().get("ppo.iteration"));
        List<ModelVersion> announced = new ArrayList<>();
        for (var r : TopicReader.readAll(bootstrap, "rlhf.models.v1")) {
            announced.add(ModelVersion.parseFrom(r.value()));
        }
        for (ModelRef ref : produced) {
            assertTrue(announced.stream().anyMatch(a -> a.getName().equals(ref.getName())
                    && a.getVersion() == ref.getVersion() && a.getTrainingJobId().equals(job.getJobId())), ref.toString());
        }

        // resumed with the same name: the checkpoint says it is done, so nothing more is trained
        Job again = stub.submitJob(request.toBuilder().setResumeFromCheckpoint(true).build());
        List<JobEvent> againEvents = watch(stub, again);
        assertEquals(JobState.JOB_STATE_SUCCEEDED, againEvents.get(againEvents.size() - 1).getState());
        assertTrue(againEvents.stream().anyMatch(e -> e.getMessage().startsWith("resumed from the checkpoint of"
                + " iteration 2")), againEvents.toString());
        assertEquals(init + 2, new ModelStore(STORE).latest("ppo-policy").getAsLong());
    }

    @Test
    void bestOfNJobFineTunesOnTheSelectedSamples() throws Exception {
        String bootstrap = KafkaTestBroker.shared().bootstrapServers();
        PpoFixtures.store(STORE, "bon-policy", "bon-reference");
        String run = "bon-" + UUID.randomUUID();
        List<Rollout> rollouts = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            for (int k = 0; k < 3; k++) {
                boolean best = k == 0;
                rollouts.add(Rollout.newBuilder().setRolloutId(UUID.randomUUID().toString()).setRunId(run)
                        .setPromptId("p" + i).setSampleIndex(k).setGroupSize(3).addPromptTokenIds(1)
                        .addResponseTokenIds(2).setPromptText("Greet guest " + i + ".")
                        .setResponseText(best ? "Hello, guest " + i + "!" : "No.").setReward(best ? 1 : 0)
                        .setBestOfNRank(k + 1).setBestOfNSelected(best)
                        .setPolicy(ModelRef.newBuilder().setName("bon-policy").setVersion(1)).build());
            }
        }
        PpoFixtures.publish(bootstrap, "rlhf.rollouts.v1", rollouts);
        Job job = stub.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_BEST_OF_N)
                .setBestOfN(BestOfNConfig.newBuilder().setRolloutRunId(run)
                        .setPolicyInit(ModelRef.newBuilder().setName("bon-policy")).setOutputName("bon-policy")
                        .setEpochs(2).setBatchSize(4).setValidationFraction(0)
                        .setOptimizer(OptimizerConfig.newBuilder().setLearningRate(1e-3)))
                .build());
        List<JobEvent> events = watch(stub, job);
        JobEvent last = events.get(events.size() - 1);
        assertEquals(JobState.JOB_STATE_SUCCEEDED, last.getState(), last.getJob().getError());
        assertEquals(12.0, last.getJob().getMetricsMap().get("best_of_n.samples"), "one selected sample per prompt");
        ModelRef out = last.getJob().getProducedModels(0);
        assertEquals("bon-policy", out.getName());
        assertEquals(ModelKind.POLICY, new ModelStore(STORE).load(out.getName(), out.getVersion()).kind());
    }
}
