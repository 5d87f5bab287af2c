package dev.rlhf.trainer.engine;

import java.util.Collection;

import ai.djl.ndarray.NDArray;

/** Global gradient-norm clipping (Pascanu et al. 2013) and zeroing, over all parameters. */
public final class Gradients {

    private Gradients() {
    }

    /**
     * Scales every gradient by min(1, maxNorm / ‖g‖) where ‖g‖ is the L2 norm of all
     * gradients together; returns ‖g‖ before clipping.
     */
    public static double clipGlobalNorm(Collection<NDArray> params, double maxNorm) {
        double sumSquares = 0;
        for (NDArray p : params) {
            sumSquares += p.getGradient().square().sum().getFloat();
        }
        double norm = Math.sqrt(sumSquares);
        if (maxNorm > 0 && norm > maxNorm) {
            double scale = maxNorm / (norm + 1e-6);
            for (NDArray p : params) {
                p.getGradient().muli(scale);
            }
        }
        return norm;
    }

    /** Sets every gradient to zero (libtorch accumulates them otherwise). */
    public static void zero(Collection<NDArray> params) {
        for (NDArray p : params) {
            p.getGradient().muli(0);
        }
    }
}
