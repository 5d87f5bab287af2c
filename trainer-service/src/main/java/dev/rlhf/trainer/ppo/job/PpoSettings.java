package dev.rlhf.trainer.ppo.job;

import java.nio.file.Path;

import dev.rlhf.proto.v1.OptimizerConfig;
import dev.rlhf.proto.v1.PpoConfig;
import dev.rlhf.trainer.ppo.AdaptiveKlController;
import dev.rlhf.trainer.ppo.PpoIteration;
import dev.rlhf.trainer.sft.SftExample;

/**
 * A {@link PpoConfig} with its defaults filled in and every rule checked: what a PPO job
 * runs with. Defaults are the proto's (a 0 or absent field takes the value it documents).
 *
 * @param rolloutTopic    the topic the job follows (trainer configuration, not PpoConfig)
 * @param maxPolicyLag    staleness rule: rollouts sampled by a policy version older than the
 *                        job's latest export minus this are skipped
 * @param exportEvery     iterations between exported policy versions
 * @param checkpointEvery iterations between checkpoints
 * @param ptxData         the JSONL file of demonstrations of the ptx term, or null without it
 */
public record PpoSettings(String policyName, long policyVersion, String referenceName, long referenceVersion,
        String outputName, String rolloutRunId, String rolloutTopic, int batchSize, double klCoef, boolean adaptiveKl,
        double targetKl, long klHorizon, double missingEosPenalty, int maxSeqLength, long maxIterations,
        long maxPolicyLag, int exportEvery, int checkpointEvery, Path ptxData, PpoIteration.Config iteration) {

    /**
     * @throws IllegalArgumentException naming the field and its rule, e.g.
     *                                  "ppo.minibatch_size must divide ppo.rollout_batch_size"
     */
    public static PpoSettings of(PpoConfig c, String rolloutTopic) {
        int batch = orDefault(c.getRolloutBatchSize(), 512, "ppo.rollout_batch_size");
        int minibatch = orDefault(c.getMinibatchSize(), 64, "ppo.minibatch_size");
        if (batch % minibatch != 0) {
            throw new IllegalArgumentException("ppo.minibatch_size must divide ppo.rollout_batch_size, got " + minibatch
                    + " and " + batch);
        }
        if (c.getMicroBatchSize() != 0 && c.getMicroBatchSize() != minibatch) {
            throw new IllegalArgumentException("ppo.micro_batch_size: gradient accumulation is not supported yet; leave"
                    + " it 0 (= minibatch_size)");
        }
        if (c.hasCriticInit()) {
            throw new IllegalArgumentException("ppo.critic_init: the critic is a value head on the policy's trunk"
                    + " (ActorCritic), initialised at zero; a separate critic is not supported yet, leave it unset");
        }
        Path ptxData = ptxData(c);
        double clip = c.getClipRange() == 0 ? 0.2 : c.getClipRange();
        if (!(clip > 0 && clip < 1)) {
            throw new IllegalArgumentException("ppo.clip_range must be in (0, 1), got " + c.getClipRange());
        }
        double valueClip = c.hasValueClipRange() ? c.getValueClipRange() : 0.2;
        double gamma = c.hasGamma() ? c.getGamma() : 1.0;
        double lambda = c.hasGaeLambda() ? c.getGaeLambda() : 0.95;
        requireIn(gamma, "ppo.gamma");
        requireIn(lambda, "ppo.gae_lambda");
        double klCoef = c.hasKlCoef() ? c.getKlCoef() : 0.05;
        double targetKl = c.getTargetKl() == 0 ? 6.0 : c.getTargetKl();
        long horizon = c.getKlHorizon() == 0 ? 10_000 : c.getKlHorizon();
        if (c.getAdaptiveKl() && batch * AdaptiveKlController.ERROR_CLIP >= horizon) {
            throw new IllegalArgumentException("ppo.kl_horizon must exceed ppo.rollout_batch_size × "
                    + AdaptiveKlController.ERROR_CLIP + " = " + batch * AdaptiveKlController.ERROR_CLIP + ", got "
                    + horizon);
        }
        double vf = c.getVfCoef() == 0 ? 0.1 : c.getVfCoef();
        double actorLr = learningRate(c.getActorOptimizer(), 1e-6, "ppo.actor_optimizer");
        double criticLr = learningRate(c.getCriticOptimizer(), 9e-6, "ppo.critic_optimizer");
        double maxGradNorm = c.getActorOptimizer().hasMaxGradNorm() ? c.getActorOptimizer().getMaxGradNorm() : 1.0;
        for (var e : new Object[][] {{"ppo.value_clip_range", valueClip}, {"ppo.kl_coef", klCoef},
                {"ppo.target_kl", targetKl}, {"ppo.entropy_coef", c.getEntropyCoef()}, {"ppo.vf_coef", vf},
                {"ppo.missing_eos_penalty", c.getMissingEosPenalty()}, {"ppo.reward_clip", c.getRewardClip()},
                {"ppo.actor_optimizer.max_grad_norm", maxGradNorm}, {"ppo.max_approx_kl", c.getMaxApproxKl()},
                {"ppo.ptx_coef", c.getPtxCoef()}}) {
            double v = (Double) e[1];
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new IllegalArgumentException(e[0] + " must be a finite number >= 0, got " + v);
            }
        }
        if (c.getPpoEpochs() < 0 || c.getMaxSeqLength() < 0 || c.getMaxIterations() < 0 || c.getKlHorizon() < 0
                || c.getExportEveryIterations() < 0 || c.getCheckpointEveryIterations() < 0
                || (c.hasMaxPolicyLag() && c.getMaxPolicyLag() < 0)) {
            throw new IllegalArgumentException("ppo: ppo_epochs, max_seq_length, max_iterations, kl_horizon,"
                    + " export_every_iterations, checkpoint_every_iterations and max_policy_lag must be >= 0");
        }
        int exportEvery = c.getExportEveryIterations() == 0 ? 1 : c.getExportEveryIterations();
        PpoIteration.Config it = new PpoIteration.Config(c.getPpoEpochs() == 0 ? 1 : c.getPpoEpochs(), minibatch, clip,
                valueClip, vf, c.getEntropyCoef(), gamma, lambda, c.getRewardClip(), actorLr, criticLr, maxGradNorm,
                !c.getSkipAdvantageWhitening(), c.getSeed(), c.getMaxApproxKl(), c.getPtxCoef());
        return new PpoSettings(c.getPolicyInit().getName().isEmpty() ? "policy" : c.getPolicyInit().getName(),
                c.getPolicyInit().getVersion(),
                c.getReference().getName().isEmpty() ? "reference" : c.getReference().getName(),
                c.getReference().getVersion(), c.getOutputName().isEmpty() ? "policy" : c.getOutputName(),
                c.getRolloutRunId(), rolloutTopic, batch, klCoef, c.getAdaptiveKl(), targetKl, horizon,
                c.hasMissingEosPenalty() ? c.getMissingEosPenalty() : 0, c.getMaxSeqLength(), c.getMaxIterations(),
                c.hasMaxPolicyLag() ? c.getMaxPolicyLag() : 1, exportEvery,
                c.getCheckpointEveryIterations() == 0 ? exportEvery : c.getCheckpointEveryIterations(), ptxData, it);
    }

    /** The ptx term's data file: required (a JSONL file that exists) with ptx_coef > 0, refused without. */
    private static Path ptxData(PpoConfig c) {
        if (!(c.getPtxCoef() > 0)) {
            if (c.hasPtxData()) {
                throw new IllegalArgumentException("ppo.ptx_data is given but ppo.ptx_coef is " + c.getPtxCoef()
                        + ": set ptx_coef > 0 for the ptx term, or leave ptx_data unset");
            }
            return null;
        }
        return SftExample.jsonlFile(c.getPtxData(), "ppo.ptx_data");
    }

    private static int orDefault(int value, int otherwise, String field) {
        if (value < 0) {
            throw new IllegalArgumentException(field + " must be >= 1 (0 = " + otherwise + "), got " + value);
        }
        return value == 0 ? otherwise : value;
    }

    private static void requireIn(double v, String field) {
        if (!(v >= 0 && v <= 1)) {
            throw new IllegalArgumentException(field + " must be in [0, 1], got " + v);
        }
    }

    /** The peak learning rate; the schedule is constant (open-ended jobs), so warm-up and decay are refused. */
    private static double learningRate(OptimizerConfig o, double otherwise, String field) {
        if (o.getWarmupSteps() != 0 || o.getWeightDecay() != 0 || o.getBeta1() != 0 || o.getBeta2() != 0
                || o.getEpsilon() != 0) {
            throw new IllegalArgumentException(field + ": only learning_rate and max_grad_norm are supported for PPO"
                    + " yet (constant schedule, β = 0.9/0.95, no weight decay); leave the other fields 0");
        }
        if (o.getLearningRate() < 0 || Double.isInfinite(o.getLearningRate()) || Double.isNaN(o.getLearningRate())) {
            throw new IllegalArgumentException(field + ".learning_rate must be > 0 (0 = " + otherwise + "), got "
                    + o.getLearningRate());
        }
        return o.getLearningRate() == 0 ? otherwise : o.getLearningRate();
    }
}
