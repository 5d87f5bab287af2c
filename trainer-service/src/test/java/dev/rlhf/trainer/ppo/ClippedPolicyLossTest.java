package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

/**
 * The clipped surrogate on seven tokens worked out by hand, covering ρ above 1 + ε and below
 * 1 − ε for positive and negative advantages, inside the range, and padding with values
 * that would overflow exp if they leaked. Four tokens are clipped and two not, so the clip
 * fraction tells the two apart.
 */
class ClippedPolicyLossTest {

    private static final double EPS = 0.2;
    // [2, 4]: row 0 four tokens, row 1 three tokens and padding
    private static final double[] RHO = {1.5, 0.5, 1.5, 0.5, 1.1, 1.5, 0.7, Math.exp(100)};
    private static final double[] ADV = {1, 1, -1, -1, 2, 0.5, -2, 100};
    private static final float[] MASK = {1, 1, 1, 1, 1, 1, 1, 0};

    private static float[] oldLogp() {
        return new float[] {-1f, -2f, -0.5f, -3f, -1.5f, -0.7f, -2.5f, -50f};
    }

    private static float[] logp() {
        float[] old = oldLogp();
        float[] lp = new float[8];
        for (int i = 0; i < 8; i++) {
            lp[i] = (float) (old[i] + Math.log(RHO[i]));
        }
        return lp;
    }

    private static NDArray bt(NDManager m, float[] x) {
        return m.create(x, new Shape(2, 4));
    }

    private static float[] f(double[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) x[i];
        }
        return out;
    }

    @Test
    void lossClipFractionApproxKlAndGradientByHand() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray lp = bt(m, logp());
            lp.setRequiresGradient(true);
            ClippedPolicyLoss.Result res;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                res = new ClippedPolicyLoss(EPS).of(lp, bt(m, oldLogp()), bt(m, f(ADV)), bt(m, MASK));
                gc.backward(res.loss());
            }
            // per token −min(ρA, clip(ρ)A):
            //   ρ 1.5, A +1: −min(1.5, 1.2) = −1.2   clipped (gradient 0)
            //   ρ 0.5, A +1: −min(0.5, 0.8) = −0.5
            //   ρ 1.5, A −1: −min(−1.5, −1.2) = 1.5
            //   ρ 0.5, A −1: −min(−0.5, −0.8) = 0.8   clipped (gradient 0)
            //   ρ 1.1, A +2: −2.2                    inside the range
            //   ρ 1.5, A +½: −min(0.75, 0.6) = −0.6  clipped (gradient 0)
            //   ρ 0.7, A −2: −min(−1.4, −1.6) = 1.6  clipped (gradient 0)
            assertEquals((-1.2 - 0.5 + 1.5 + 0.8 - 2.2 - 0.6 + 1.6) / 7, res.loss().getFloat(), 1e-5);
            assertEquals(4.0 / 7, res.clipFraction(), 1e-6);
            double l15 = Math.log(1.5);
            double l05 = Math.log(0.5);
            double l11 = Math.log(1.1);
            double l07 = Math.log(0.7);
            assertEquals(0.5 * (3 * l15 * l15 + 2 * l05 * l05 + l11 * l11 + l07 * l07) / 7, res.approxKl(), 1e-5);
            // d/dlog π of −ρA is −ρA where the unclipped term is active, 0 where clipped
            float[] grad = lp.getGradient().toFloatArray();
            assertArrayEquals(new float[] {0f, -0.5f / 7, 1.5f / 7, 0f, -2.2f / 7, 0f, 0f, 0f}, grad, 1e-5f);
        }
    }

    @Test
    void onlyTheCurrentLogprobsReceiveGradientNotTheOldOnesOrTheAdvantages() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray lp = bt(m, logp());
            NDArray old = bt(m, oldLogp());
            NDArray adv = bt(m, f(ADV));
            for (NDArray x : new NDArray[] {lp, old, adv}) {
                x.setRequiresGradient(true);
            }
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(new ClippedPolicyLoss(EPS).of(lp, old, adv, bt(m, MASK)).loss());
            }
            assertTrue(lp.getGradient().abs().sum().getFloat() > 0);
            assertEquals(0, old.getGradient().abs().sum().getFloat(), "π_old is a constant");
            assertEquals(0, adv.getGradient().abs().sum().getFloat(), "advantages are constants");
        }
    }

    @Test
    void approxKlWithK3IsTheMeanOfRhoMinusOneMinusLogRho() {
        try (NDManager m = NDManager.newBaseManager()) {
            var res = new ClippedPolicyLoss(EPS, KlEstimator.K3).of(bt(m, logp()), bt(m, oldLogp()), bt(m, f(ADV)),
                    bt(m, MASK));
            double sum = 0;
            for (int i = 0; i < 7; i++) {
                sum += RHO[i] - 1 - Math.log(RHO[i]);
            }
            assertEquals(sum / 7, res.approxKl(), 1e-5);
        }
    }

    @Test
    void oneSgdStepRaisesTheLogprobOfAPositiveAdvantageTokenAndLowersANegativeOne() {
        int vocab = 5;
        int token = 2;
        for (double advantage : new double[] {1.0, -1.0}) {
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray logits = m.create(new float[] {0.3f, -0.1f, 0.2f, 0.5f, -0.4f}, new Shape(1, 1, vocab));
                logits.setRequiresGradient(true);
                NDArray target = m.create(new long[] {token}, new Shape(1, 1, 1));
                float before = logits.logSoftmax(-1).get("0, 0, " + token).getFloat();
                NDArray mask = m.ones(new Shape(1, 1));
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray lp = logits.logSoftmax(-1).gather(target, -1).squeeze(-1); // [1, 1]
                    NDArray old = m.create(new float[] {before}, new Shape(1, 1));
                    gc.backward(new ClippedPolicyLoss(EPS).of(lp, old, m.full(new Shape(1, 1), (float) advantage), mask)
                            .loss());
                }
                NDArray stepped = logits.sub(logits.getGradient().mul(0.5f));
                float after = stepped.logSoftmax(-1).get("0, 0, " + token).getFloat();
                assertTrue(advantage > 0 ? after > before : after < before,
                        "A = " + advantage + ": log π went from " + before + " to " + after);
            }
        }
    }

    @Test
    void refusesAClipRangeOutsideTheOpenUnitInterval() {
        assertThrows(IllegalArgumentException.class, () -> new ClippedPolicyLoss(0));
        assertThrows(IllegalArgumentException.class, () -> new ClippedPolicyLoss(1));
        assertThrows(IllegalArgumentException.class, () -> new ClippedPolicyLoss(0.2, null));
    }
}
