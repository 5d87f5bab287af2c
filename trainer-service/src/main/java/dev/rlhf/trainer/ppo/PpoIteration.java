package dev.rlhf.trainer.ppo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import dev.rlhf.trainer.engine.AdamW;
import dev.rlhf.trainer.engine.Gradients;
import dev.rlhf.trainer.engine.LlamaModel;
import dev.rlhf.trainer.engine.Scalars;

/**
 * One PPO iteration on a batch of rollouts (Ziegler et al. 2019; Ouyang et al. 2022), the
 * algorithm of the PPO job without its plumbing:
 * <ol>
 * <li>old log-probabilities and values recomputed by the training engine (the serving
 * log-probabilities are only compared: {@link Diagnostics#logprobMismatch});
 * <li>reference log-probabilities from the frozen reference;
 * <li>per-token KL k1 = log π_old − log π_ref; token rewards −β·KL plus the score at the last
 * token ({@link TokenRewards});
 * <li>GAE(γ, λ) ({@link GeneralizedAdvantageEstimator}); advantages whitened over the batch;
 * <li>{@code epochs} passes of shuffled minibatches: clipped policy loss + c_v · clipped value
 * loss − c_H · entropy, plus, with PPO-ptx, γ_ptx times the negative log-likelihood of a
 * minibatch of demonstrations (InstructGPT's term against the alignment tax); global-norm
 * clipping, AdamW (one optimizer for the policy's weights, one with its own learning rate for the
 * value head); optionally stopped early once a minibatch's approximate KL to π_old exceeds
 * {@link Config#maxApproxKl};
 * <li>the KL controller updated with the batch's mean sequence KL.
 * </ol>
 * Sequences are right-padded; the token at position t + 1 is scored by the logits (and the
 * state value) at position t.
 */
public final class PpoIteration {

    /** One rollout: the prompt, the sampled response, the serving log-probabilities (or null) and the score. */
    public record Rollout(int[] prompt, int[] response, float[] behaviourLogprobs, double score) {
    }

    /** A demonstration for the ptx term: its response tokens are the ones whose likelihood counts. */
    public record Demonstration(int[] prompt, int[] response) {
    }

    /**
     * @param epochs             passes over the batch, ≥ 1
     * @param minibatch          rollouts per optimizer step, ≥ 1
     * @param clipRange          ε of the policy loss
     * @param valueClip          ε of the value loss (0 = no clipping)
     * @param valueCoef          c_v
     * @param entropyCoef        c_H
     * @param scoreClip          scores clipped to ±c (0 = off)
     * @param learningRate       of the actor: the policy's weights, trunk included
     * @param criticLearningRate of the critic: the value head
     * @param whitenAdvantages   advantages whitened over the batch (PpoConfig: unless skip_advantage_whitening)
     * @param seed               of the minibatch order, mixed with the iteration number
     * @param maxApproxKl        early stop: the first minibatch whose approximate KL(π_old ‖ π) per
     *                           token, before its step, exceeds this ends the iteration unstepped
     *                           (0 = never)
     * @param ptxCoef            γ_ptx, the weight of the demonstrations' negative log-likelihood per
     *                           response token (0 = plain PPO)
     */
    public record Config(int epochs, int minibatch, double clipRange, double valueClip, double valueCoef,
            double entropyCoef, double gamma, double lambda, double scoreClip, double learningRate,
            double criticLearningRate, double maxGradNorm, boolean whitenAdvantages, long seed, double maxApproxKl,
            double ptxCoef) {
        public Config {
            if (epochs < 1 || minibatch < 1 || !(learningRate > 0) || !(criticLearningRate > 0) || valueCoef < 0
                    || entropyCoef < 0 || !(maxApproxKl >= 0) || !(ptxCoef >= 0)) {
                throw new IllegalArgumentException("need epochs, minibatch >= 1, learning rates > 0, coefficients and"
                        + " max approximate KL >= 0");
            }
        }
    }

    /**
     * What an iteration saw and did (PPO's usual diagnostics). The losses, clip fraction, approximate
     * KL, entropy and ptx loss (NaN without the ptx term) are means over the minibatches seen, the one
     * that stopped the iteration early included; {@code optimizerSteps} counts the steps taken
     * (epochs × minibatches unless stopped early).
     */
    public record Diagnostics(double meanScore, double meanKl, double beta, double policyLoss, double valueLoss,
            double clipFraction, double approxKl, double entropy, double explainedVariance, double meanResponseLength,
            double logprobMismatch, int optimizerSteps, double ptxLoss) {
    }

    private final ActorCritic model;
    private final LlamaModel reference;
    private final NDManager manager;
    private final AdamW actor;
    private final AdamW critic;
    private final KlController kl;
    private final Config cfg;
    private final ClippedPolicyLoss policyLoss;
    private final ClippedValueLoss valueLoss;
    private final GeneralizedAdvantageEstimator gae;
    private final List<Rollout> ptx;

    /** Plain PPO: no ptx term. */
    public PpoIteration(ActorCritic model, LlamaModel reference, NDManager manager, KlController kl, Config cfg) {
        this(model, reference, manager, kl, cfg, List.of());
    }

    /**
     * @param ptxData the demonstrations the ptx term draws its minibatches from; required (not
     *                empty) when {@code cfg.ptxCoef() > 0}
     */
    public PpoIteration(ActorCritic model, LlamaModel reference, NDManager manager, KlController kl, Config cfg,
            List<Demonstration> ptxData) {
        if (cfg.ptxCoef() > 0 && ptxData.isEmpty()) {
            throw new IllegalArgumentException("the ptx term (ptx coefficient " + cfg.ptxCoef()
                    + ") needs demonstrations");
        }
        if (ptxData.stream().anyMatch(d -> d.prompt().length == 0 || d.response().length == 0)) {
            throw new IllegalArgumentException("every ptx demonstration needs a prompt and a response");
        }
        this.ptx = cfg.ptxCoef() > 0
                ? ptxData.stream().map(d -> new Rollout(d.prompt(), d.response(), null, 0)).toList()
                : List.of();
        this.model = model;
        this.reference = reference;
        this.manager = manager;
        this.kl = kl;
        this.cfg = cfg;
        Map<String, NDArray> trunk = new LinkedHashMap<>(model.parameters());
        trunk.remove(ActorCritic.VALUE_HEAD);
        this.actor = new AdamW(trunk, AdamW.Options.defaults(0), manager);
        this.critic = new AdamW(Map.of(ActorCritic.VALUE_HEAD, model.parameters().get(ActorCritic.VALUE_HEAD)),
                AdamW.Options.defaults(0), manager);
        this.policyLoss = new ClippedPolicyLoss(cfg.clipRange());
        this.valueLoss = new ClippedValueLoss(cfg.valueClip());
        this.gae = new GeneralizedAdvantageEstimator(cfg.gamma(), cfg.lambda());
        model.requireGradients(true);
    }

    /** Right-padded rows of prompt + response, and where each response token is predicted. */
    private record Batch(long[][] ids, long[][] mask, long[][] positions, long[][] next, long[][] at, boolean[][] tokens) {

        static Batch of(List<Rollout> rows) {
            int t = rows.stream().mapToInt(r -> r.prompt().length + r.response().length).max().orElse(1);
            int w = rows.stream().mapToInt(r -> r.response().length).max().orElse(1);
            int b = rows.size();
            Batch x = new Batch(new long[b][t], new long[b][t], new long[b][t], new long[b][t], new long[b][w],
                    new boolean[b][w]);
            for (int i = 0; i < b; i++) {
                Rollout r = rows.get(i);
                int p = r.prompt().length;
                int n = p + r.response().length;
                for (int j = 0; j < n; j++) {
                    x.ids[i][j] = j < p ? r.prompt()[j] : r.response()[j - p];
                    x.mask[i][j] = 1;
                    x.positions[i][j] = j;
                }
                for (int j = 0; j + 1 < n; j++) {
                    x.next[i][j] = x.ids[i][j + 1];
                }
                for (int j = 0; j < r.response().length; j++) {
                    x.at[i][j] = p + j - 1; // the logits at p + j − 1 predict response token j
                    x.tokens[i][j] = true;
                }
            }
            return x;
        }
    }

    /** Log-probabilities [B, W] of the response tokens from logits [B, T, V]. */
    private NDArray responseLogprobs(NDArray logits, Batch x) {
        NDArray all = logits.logSoftmax(-1).gather(manager.create(x.next()).expandDims(-1), -1).squeeze(-1); // [B, T]
        return all.gather(manager.create(x.at()), 1);
    }

    /**
     * Runs iteration number {@code iteration} (0-based; it seeds the minibatch order, so that a
     * job resumed from a checkpoint repeats what the lost run would have done).
     */
    public Diagnostics run(List<Rollout> rollouts, long iteration) {
        if (rollouts.isEmpty() || rollouts.stream().anyMatch(r -> r.prompt().length == 0 || r.response().length == 0)) {
            throw new IllegalArgumentException("every rollout needs a prompt and a response");
        }
        Batch all = Batch.of(rollouts);
        int b = rollouts.size();
        // 1.–2. old log-probabilities, values and reference log-probabilities, without gradients
        double[][] oldLogp;
        double[][] oldValues;
        double[][] refLogp;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray ids = manager.create(all.ids());
            NDArray mask = manager.create(all.mask());
            NDArray pos = manager.create(all.positions());
            ActorCritic.Output out = model.forward(ids, mask, pos);
            oldLogp = TokenArrays.toMatrix(responseLogprobs(out.logits(), all).stopGradient());
            oldValues = TokenArrays.toMatrix(out.values().stopGradient().gather(manager.create(all.at()), 1));
            refLogp = TokenArrays.toMatrix(responseLogprobs(reference.forward(ids, mask, pos), all).stopGradient());
        }
        boolean[][] m = all.tokens();
        // 3. KL, token rewards; 4. GAE, whitened advantages
        double[][] klTokens = new double[b][m[0].length];
        double mismatch = 0;
        int mismatchTokens = 0;
        for (int i = 0; i < b; i++) {
            float[] served = rollouts.get(i).behaviourLogprobs();
            for (int j = 0; j < m[i].length; j++) {
                if (m[i][j]) {
                    klTokens[i][j] = KlEstimator.K1.of(oldLogp[i][j], refLogp[i][j]);
                    if (served != null && j < served.length) {
                        mismatch += Math.abs(served[j] - oldLogp[i][j]);
                        mismatchTokens++;
                    }
                }
            }
        }
        double[] scores = rollouts.stream().mapToDouble(Rollout::score).toArray();
        double beta = kl.beta();
        double[][] rewards = TokenRewards.of(klTokens, m, scores, beta, cfg.scoreClip());
        GeneralizedAdvantageEstimator.Estimate est = gae.estimate(rewards, oldValues, m);
        double[][] advantages = cfg.whitenAdvantages() ? MaskedStatistics.whiten(est.advantages(), m, true)
                : est.advantages();
        double meanKl = TokenRewards.meanSequenceKl(klTokens, m);

        // 5. epochs of minibatches
        double sumPolicy = 0;
        double sumValue = 0;
        double sumClip = 0;
        double sumApproxKl = 0;
        double sumEntropy = 0;
        double sumPtx = 0;
        int steps = 0;
        Random shuffle = new Random(cfg.seed() * 1_000_003L + iteration);
        // the ptx minibatches are drawn (with replacement) from a generator seeded like the order
        Random ptxDraw = new Random(cfg.seed() * 998_244_353L + iteration);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            order.add(i);
        }
        int stepped = 0;
        boolean stop = false;
        for (int epoch = 0; epoch < cfg.epochs() && !stop; epoch++) {
            Collections.shuffle(order, shuffle);
            for (int from = 0; from < b && !stop; from += cfg.minibatch()) {
                List<Integer> rows = order.subList(from, Math.min(b, from + cfg.minibatch()));
                List<Rollout> part = rows.stream().map(rollouts::get).toList();
                Batch x = Batch.of(part);
                int w = x.tokens()[0].length;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray tokenMask = TokenArrays.toNDArray(manager, x.tokens());
                    NDArray oldLp = TokenArrays.toNDArray(manager, pick(oldLogp, rows, w)).toType(DataType.FLOAT32, false);
                    NDArray oldV = TokenArrays.toNDArray(manager, pick(oldValues, rows, w)).toType(DataType.FLOAT32, false);
                    NDArray adv = TokenArrays.toNDArray(manager, pick(advantages, rows, w)).toType(DataType.FLOAT32, false);
                    NDArray ret = TokenArrays.toNDArray(manager, pick(est.returns(), rows, w)).toType(DataType.FLOAT32, false);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        ActorCritic.Output out = model.forward(manager.create(x.ids()), manager.create(x.mask()),
                                manager.create(x.positions()));
                        NDArray logp = responseLogprobs(out.logits(), x);
                        NDArray values = out.values().gather(manager.create(x.at()), 1);
                        NDArray entropy = MaskedStatistics.mean(TokenEntropy.perToken(out.logits())
                                .gather(manager.create(x.at()), 1), tokenMask.toType(DataType.FLOAT32, false),
                                MaskedStatistics.tokens(tokenMask));
                        ClippedPolicyLoss.Result pl = policyLoss.of(logp, oldLp, adv, tokenMask);
                        ClippedValueLoss.Result vl = valueLoss.of(values, oldV, ret, tokenMask);
                        NDArray loss = pl.loss().add(vl.loss().mul(Scalars.of(vl.loss(), cfg.valueCoef())))
                                .sub(entropy.mul(Scalars.of(entropy, cfg.entropyCoef())));
                        if (!ptx.isEmpty()) {
                            NDArray nll = ptxLoss(ptxDraw);
                            loss = loss.add(nll.mul(Scalars.of(nll, cfg.ptxCoef())));
                            sumPtx += nll.getFloat();
                        }
                        gc.backward(loss);
                        sumPolicy += pl.loss().getFloat();
                        sumValue += vl.loss().getFloat();
                        sumClip += pl.clipFraction();
                        sumApproxKl += pl.approxKl();
                        sumEntropy += entropy.getFloat();
                        stop = cfg.maxApproxKl() > 0 && pl.approxKl() > cfg.maxApproxKl();
                    }
                    if (!stop) {
                        Gradients.clipGlobalNorm(model.parameters().values(), cfg.maxGradNorm());
                        actor.step(cfg.learningRate());
                        critic.step(cfg.criticLearningRate());
                        stepped++;
                    }
                    Gradients.zero(model.parameters().values());
                }
                steps++;
            }
        }
        // 6. the KL controller
        kl.update(meanKl, b);
        double length = rollouts.stream().mapToInt(r -> r.response().length).average().orElse(0);
        return new Diagnostics(java.util.Arrays.stream(scores).average().orElse(0), meanKl, beta, sumPolicy / steps,
                sumValue / steps, sumClip / steps, sumApproxKl / steps, sumEntropy / steps,
                MaskedStatistics.explainedVariance(est.returns(), oldValues, m), length,
                mismatchTokens == 0 ? Double.NaN : mismatch / mismatchTokens, stepped,
                ptx.isEmpty() ? Double.NaN : sumPtx / steps);
    }

    /**
     * The negative log-likelihood per response token of {@code cfg.minibatch()} demonstrations
     * drawn with {@code draw}, in the gradient graph.
     */
    private NDArray ptxLoss(Random draw) {
        List<Rollout> rows = new ArrayList<>();
        for (int i = 0; i < cfg.minibatch(); i++) {
            rows.add(ptx.get(draw.nextInt(ptx.size())));
        }
        Batch x = Batch.of(rows);
        NDArray tokens = TokenArrays.toNDArray(manager, x.tokens()).toType(DataType.FLOAT32, false);
        NDArray logits = model.forward(manager.create(x.ids()), manager.create(x.mask()),
                manager.create(x.positions())).logits();
        return MaskedStatistics.mean(responseLogprobs(logits, x), tokens, MaskedStatistics.tokens(tokens)).neg();
    }

    /** Rows {@code rows} of {@code x}, cut or zero-padded to width {@code w}. */
    private static double[][] pick(double[][] x, List<Integer> rows, int w) {
        double[][] out = new double[rows.size()][w];
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(x[rows.get(i)], 0, out[i], 0, Math.min(w, x[rows.get(i)].length));
        }
        return out;
    }

    /** The optimizer of the policy's weights (the trunk included). */
    public AdamW actorOptimizer() {
        return actor;
    }

    /** The optimizer of the value head. */
    public AdamW criticOptimizer() {
        return critic;
    }
}
