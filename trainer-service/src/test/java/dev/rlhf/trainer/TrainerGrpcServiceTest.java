package dev.rlhf.trainer;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.rlhf.model.ModelKind;
import dev.rlhf.model.ModelStore;
import dev.rlhf.model.StoredVersion;
import dev.rlhf.proto.v1.DataSource;
import dev.rlhf.proto.v1.GetJobRequest;
import dev.rlhf.proto.v1.Job;
import dev.rlhf.proto.v1.JobEvent;
import dev.rlhf.proto.v1.JobKind;
import dev.rlhf.proto.v1.JobState;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.SftConfig;
import dev.rlhf.proto.v1.SubmitJobRequest;
import dev.rlhf.proto.v1.TrainerServiceGrpc;
import dev.rlhf.proto.v1.WatchJobRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;

/**
 * TrainerService over a real gRPC channel: an SFT job runs, streams progress, lands in the
 * model store and is announced on the real broker; a reward-model job trains from it.
 */
@QuarkusTest
@io.quarkus.test.common.QuarkusTestResource(value = dev.rlhf.testkit.KafkaBrokerResource.class,
        restrictToAnnotatedClass = false)
class TrainerGrpcServiceTest {

    @GrpcClient("trainer")
    TrainerServiceGrpc.TrainerServiceBlockingStub stub;

    private static Path demonstrations() throws Exception {
        Path file = Files.createTempFile("sft", ".jsonl");
        List<String> lines = new ArrayList<>();
        for (String name : List.of("Anna", "Ben", "Carla", "Dev", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jana")) {
            lines.add("{\"prompt\":\"Greet " + name + ".\",\"response\":\"Hello, " + name + "! Nice to meet you.\"}");
            lines.add("{\"messages\":[{\"role\":\"user\",\"content\":\"Say bye to " + name + ".\"},"
                    + "{\"role\":\"assistant\",\"content\":\"Goodbye, " + name + ".\"}]}");
        }
        Files.write(file, lines);
        return file;
    }

    @Test
    void sftJobRunsStreamsProgressAndStoresPolicyAndReference() throws Exception {
        SubmitJobRequest request = SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_SFT).setJobName("sft-test")
                .setClientRequestId("sft-test-1")
                .setSft(SftConfig.newBuilder().setData(DataSource.newBuilder().setPath(demonstrations().toString()))
                        .setEpochs(3).setBatchSize(8).setValidationFraction(0.1).setSeed(3)
                        .setOptimizer(OptimizerConfig.newBuilder().setLearningRate(3e-3).setWarmupSteps(2)))
                .build();
        Job job = stub.submitJob(request);
        assertEquals(job.getJobId(), stub.submitJob(request).getJobId(), "a retry with the same client_request_id");

        List<JobEvent> events = new ArrayList<>();
        Iterator<JobEvent> it = stub.withDeadlineAfter(180, TimeUnit.SECONDS)
                .watchJob(WatchJobRequest.newBuilder().setJobId(job.getJobId()).build());
        it.forEachRemaining(events::add);
        JobEvent last = events.get(events.size() - 1);
        assertEquals(JobState.JOB_STATE_SUCCEEDED, last.getState(), last.getJob().getError());
        assertTrue(events.stream().anyMatch(e -> e.getStage().equals("train") && e.getMetricsMap().containsKey("loss")));
        for (int i = 1; i < events.size(); i++) {
            assertEquals(events.get(i - 1).getSequence() + 1, events.get(i).getSequence(), "events in order, none lost");
        }
        Job done = stub.getJob(GetJobRequest.newBuilder().setJobId(job.getJobId()).build());
        List<String> produced = done.getProducedModelsList().stream().map(ModelRef::getName).toList();
        assertEquals(List.of("policy", "reference"), produced);
        assertTrue(done.getProgress().getStep() == done.getProgress().getTotalSteps() && done.getProgress().getStep() > 0);

        ModelStore store = new ModelStore(Path.of("target/test-model-store"));
        StoredVersion policy = store.load("policy", done.getProducedModels(0).getVersion());
        assertEquals(ModelKind.POLICY, policy.kind());
        assertTrue(policy.metrics().get("sft.validation_loss_after") < policy.metrics().get("sft.validation_loss_before"));

        // a replay from a sequence number gets only the later events
        List<JobEvent> tail = new ArrayList<>();
        stub.withDeadlineAfter(10, TimeUnit.SECONDS).watchJob(WatchJobRequest.newBuilder().setJobId(job.getJobId())
                .setAfterSequence(last.getSequence() - 2).build()).forEachRemaining(tail::add);
        assertEquals(2, tail.size());

        String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertTrue(metrics.contains("rlhf_trainer_step{kind=\"sft\"}"), metrics);

        // both versions were announced, with their files' checksums
        List<dev.rlhf.proto.v1.ModelVersion> announced = announcements();
        for (ModelRef ref : done.getProducedModelsList()) {
            dev.rlhf.proto.v1.ModelVersion v = announced.stream().filter(a -> a.getName().equals(ref.getName())
                    && a.getVersion() == ref.getVersion()).findFirst().orElseThrow(() -> new AssertionError(
                            "not announced: " + ref));
            assertEquals(job.getJobId(), v.getTrainingJobId());
            assertEquals(store.load(ref.getName(), ref.getVersion()).files(), v.getFilesMap());
        }

        // a reward model trained from that policy through SubmitJob
        Path pairs = Files.createTempFile("prefs", ".jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 80; i++) {
            lines.add("{\"prompt\":\"Greet guest " + i + ".\",\"chosen\":\"Hello, dear guest " + i
                    + "! Nice to meet you.\",\"rejected\":\"Go away " + i + ".\"}");
        }
        Files.write(pairs, lines);
        Job rm = stub.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_REWARD_MODEL)
                .setRewardModel(dev.rlhf.proto.v1.RewardModelConfig.newBuilder()
                        .setData(DataSource.newBuilder().setPath(pairs.toString())).setInitFrom(done.getProducedModels(0))
                        .setEnsembleSize(2).setBootstrap(true).setEpochs(3).setBatchSize(16).setValidationFraction(0.2)
                        .setRewardL2Coef(0.01).setOptimizer(OptimizerConfig.newBuilder().setLearningRate(3e-3)))
                .build());
        List<JobEvent> rmEvents = new ArrayList<>();
        stub.withDeadlineAfter(180, TimeUnit.SECONDS).watchJob(WatchJobRequest.newBuilder().setJobId(rm.getJobId())
                .build()).forEachRemaining(rmEvents::add);
        JobEvent rmLast = rmEvents.get(rmEvents.size() - 1);
        assertEquals(JobState.JOB_STATE_SUCCEEDED, rmLast.getState(), rmLast.getJob().getError());
        ModelRef reward = rmLast.getJob().getProducedModels(0);
        assertEquals("reward", reward.getName());
        StoredVersion rv = store.load("reward", reward.getVersion());
        assertEquals(ModelKind.REWARD, rv.kind());
        assertTrue(rv.metrics().get("rm.validation_accuracy") > 0.8, "accuracy " + rv.metrics());
        assertTrue(announcements().stream().anyMatch(a -> a.getName().equals("reward")
                && a.getVersion() == reward.getVersion() && a.getKind() == dev.rlhf.proto.v1.ModelKind.MODEL_KIND_REWARD));

        // and one from scratch: no init_from, a tokenizer learned from the pairs
        Job scratch = stub.submitJob(SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_REWARD_MODEL)
                .setRewardModel(dev.rlhf.proto.v1.RewardModelConfig.newBuilder()
                        .setData(DataSource.newBuilder().setPath(pairs.toString())).setOutputName("reward-scratch")
                        .setEpochs(3).setBatchSize(16).setValidationFraction(0.2)
                        .setOptimizer(OptimizerConfig.newBuilder().setLearningRate(3e-3)))
                .build());
        List<JobEvent> scratchEvents = new ArrayList<>();
        stub.withDeadlineAfter(180, TimeUnit.SECONDS).watchJob(WatchJobRequest.newBuilder().setJobId(scratch.getJobId())
                .build()).forEachRemaining(scratchEvents::add);
        JobEvent scratchLast = scratchEvents.get(scratchEvents.size() - 1);
        assertEquals(JobState.JOB_STATE_SUCCEEDED, scratchLast.getState(), scratchLast.getJob().getError());
        assertEquals(0, scratchLast.getJob().getInputModelsCount());
        StoredVersion sv = store.load("reward-scratch", scratchLast.getJob().getProducedModels(0).getVersion());
        assertTrue(sv.metrics().get("rm.validation_accuracy") > 0.7, "accuracy " + sv.metrics());
    }

    private static List<dev.rlhf.proto.v1.ModelVersion> announcements() throws Exception {
        List<dev.rlhf.proto.v1.ModelVersion> out = new ArrayList<>();
        for (var r : dev.rlhf.testkit.TopicReader.readAll(dev.rlhf.testkit.KafkaTestBroker.shared().bootstrapServers(),
                "rlhf.models.v1")) {
            out.add(dev.rlhf.proto.v1.ModelVersion.parseFrom(r.value()));
        }
        return out;
    }

    @Test
    void badRequestsAreRefusedNamingTheField() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(
                SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_SFT).setSft(SftConfig.getDefaultInstance()).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("sft.data.path"), e.getStatus().getDescription());

        e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(SubmitJobRequest.newBuilder()
                .setKind(JobKind.JOB_KIND_SFT).setSft(SftConfig.newBuilder()
                        .setData(DataSource.newBuilder().setPath("/no/such/file.jsonl"))).build()));
        assertTrue(e.getStatus().getDescription().contains("no such file"), e.getStatus().getDescription());

        e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(
                SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_DPO).setDpo(dev.rlhf.proto.v1.DpoConfig
                        .getDefaultInstance()).build()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());

        e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(
                SubmitJobRequest.newBuilder().setKind(JobKind.JOB_KIND_PPO).setJobName("p").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("ppo: a JOB_KIND_PPO job needs the ppo config", e.getStatus().getDescription());

        e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(SubmitJobRequest.newBuilder()
                .setKind(JobKind.JOB_KIND_PPO).setJobName("p").setPpo(dev.rlhf.proto.v1.PpoConfig.newBuilder()
                        .setRolloutBatchSize(48).setMinibatchSize(20)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("ppo.minibatch_size must divide ppo.rollout_batch_size, got 20 and 48",
                e.getStatus().getDescription());

        e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(SubmitJobRequest.newBuilder()
                .setKind(JobKind.JOB_KIND_PPO).setPpo(dev.rlhf.proto.v1.PpoConfig.getDefaultInstance()).build()));
        assertTrue(e.getStatus().getDescription().startsWith("job_name must be"), e.getStatus().getDescription());

        e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(SubmitJobRequest.newBuilder()
                .setKind(JobKind.JOB_KIND_BEST_OF_N).setBestOfN(dev.rlhf.proto.v1.BestOfNConfig.getDefaultInstance())
                .build()));
        assertTrue(e.getStatus().getDescription().startsWith("best_of_n.rollout_run_id is required"),
                e.getStatus().getDescription());

        e = assertThrows(StatusRuntimeException.class, () -> stub.submitJob(SubmitJobRequest.newBuilder()
                .setKind(JobKind.JOB_KIND_REWARD_MODEL).setRewardModel(dev.rlhf.proto.v1.RewardModelConfig.newBuilder()
                        .setEnsembleSize(9)).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("reward_model.ensemble_size"), e.getStatus().getDescription());

        e = assertThrows(StatusRuntimeException.class,
                () -> stub.getJob(GetJobRequest.newBuilder().setJobId("nope").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertFalse(e.getStatus().getDescription().isEmpty());
    }

    @Test
    void healthAndMetricsAreServed() {
        given().get("/q/health/ready").then().statusCode(200);
        given().get("/q/health/live").then().statusCode(200);
    }
}
