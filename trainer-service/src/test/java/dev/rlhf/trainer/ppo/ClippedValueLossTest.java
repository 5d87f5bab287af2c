package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;

/**
 * The clipped value loss on seven tokens worked out by hand: V beyond V_old ± ε on either
 * side, moving towards R and away from it, and inside the range. Four tokens are clipped and
 * two not, so the clip fraction tells the two apart.
 */
class ClippedValueLossTest {

    // [2, 4]: row 0 four tokens, row 1 three tokens and padding (garbage)
    private static final float[] V = {1.5f, 0.5f, 1.5f, 1.5f, 0.5f, 1.1f, 0.5f, 1e6f};
    private static final float[] V_OLD = {1, 1, 1, 1, 1, 1, 1, -1e6f};
    private static final float[] R = {2, 2, 0, 3, 0, 3, -1, 5};
    private static final float[] MASK = {1, 1, 1, 1, 1, 1, 1, 0};

    @Test
    void clippedLossFractionAndGradientByHand() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray v = m.create(V, new Shape(2, 4));
            v.setRequiresGradient(true);
            ClippedValueLoss.Result res;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                res = new ClippedValueLoss(0.2).of(v, m.create(V_OLD, new Shape(2, 4)), m.create(R, new Shape(2, 4)),
                        m.create(MASK, new Shape(2, 4)));
                gc.backward(res.loss());
            }
            // ½ max((V − R)², (clip(V, 0.8, 1.2) − R)²):
            //   V 1.5, R 2: max(0.25, 0.64) → 0.32     clipped term (gradient 0)
            //   V 0.5, R 2: max(2.25, 1.44) → 1.125
            //   V 1.5, R 0: max(2.25, 1.44) → 1.125
            //   V 1.5, R 3: max(2.25, 3.24) → 1.62     clipped term (gradient 0)
            //   V 0.5, R 0: max(0.25, 0.64) → 0.32     clipped term (gradient 0)
            //   V 1.1, R 3: inside, 3.61 → 1.805
            //   V 0.5, R −1: max(2.25, 3.24) → 1.62    clipped term (gradient 0)
            assertEquals((0.32 + 1.125 + 1.125 + 1.62 + 0.32 + 1.805 + 1.62) / 7, res.loss().getFloat(), 1e-5);
            assertEquals(4.0 / 7, res.clipFraction(), 1e-6);
            // d/dV of ½ (V − R)² / 7 = (V − R) / 7 where the unclipped term is the larger
            assertArrayEquals(new float[] {0f, -1.5f / 7, 1.5f / 7, 0f, 0f, -1.9f / 7, 0f, 0f},
                    v.getGradient().toFloatArray(), 1e-5f);
        }
    }

    @Test
    void onlyTheValuesReceiveGradientNotTheOldValuesOrTheReturns() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray v = m.create(V, new Shape(2, 4));
            NDArray old = m.create(V_OLD, new Shape(2, 4));
            NDArray r = m.create(R, new Shape(2, 4));
            for (NDArray x : new NDArray[] {v, old, r}) {
                x.setRequiresGradient(true);
            }
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(new ClippedValueLoss(0.2).of(v, old, r, m.create(MASK, new Shape(2, 4))).loss());
            }
            assertEquals(0, old.getGradient().abs().sum().getFloat(), "old values are constants");
            assertEquals(0, r.getGradient().abs().sum().getFloat(), "returns are constants");
        }
    }

    @Test
    void clipRangeZeroIsThePlainSquaredError() {
        try (NDManager m = NDManager.newBaseManager()) {
            var res = new ClippedValueLoss(0).of(m.create(V, new Shape(2, 4)), m.create(V_OLD, new Shape(2, 4)),
                    m.create(R, new Shape(2, 4)), m.create(MASK, new Shape(2, 4)));
            assertEquals(0.5 * (0.25 + 2.25 + 2.25 + 2.25 + 0.25 + 3.61 + 2.25) / 7, res.loss().getFloat(), 1e-5);
            assertEquals(0, res.clipFraction());
        }
    }

    @Test
    void refusesANegativeClipRange() {
        assertThrows(IllegalArgumentException.class, () -> new ClippedValueLoss(-0.1));
    }
}
