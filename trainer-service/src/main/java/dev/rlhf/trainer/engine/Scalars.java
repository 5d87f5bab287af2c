package dev.rlhf.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Scalar operands for arrays that may take part in a backward pass. DJL's {@code Number}
 * overloads ({@code x.mul(0.5f)}, {@code x.div(n)}, {@code x.maximum(0f)}) wrap the number in a
 * 0-d tensor over a Java direct buffer ({@code from_blob}) and close it as soon as the op
 * returns. Autograd keeps that tensor for the backward pass (a product's gradient is the other
 * factor), but the buffer is then referenced from nowhere in Java: a garbage collection frees
 * it, the next direct buffer reuses the memory, and {@code backward} reads whatever was written
 * there. Under GC pressure that gave PPO a NaN KL, and two runs of one job that differed after
 * a single step. {@link #of} allocates the scalar in libtorch's own memory instead, which the
 * graph's reference keeps alive for as long as it needs it.
 */
public final class Scalars {

    private Scalars() {
    }

    /** {@code value} as a 0-d array of {@code like}'s type, in {@code like}'s manager and libtorch's memory. */
    public static NDArray of(NDArray like, double value) {
        return like.getManager().full(new Shape(), (float) value, like.getDataType());
    }
}
