package dev.rlhf.model;

import java.util.Arrays;
import java.util.Objects;

/**
 * A named float32 tensor in row-major (C) order: element {@code [i, j]} of a {@code [R, C]}
 * tensor is {@code data[i * C + j]}.
 *
 * <p>The arrays are shared, not copied (weights run to gigabytes): a caller that mutates
 * {@code data} mutates the tensor. {@link #equals} and {@link #hashCode} compare content
 * ({@link Arrays#equals(float[], float[])}, so NaN equals NaN whatever its payload); for a
 * bit-exact comparison compare {@link Float#floatToRawIntBits} yourself.
 *
 * @param name  the parameter name, e.g. {@code model.layers.0.self_attn.q_proj.weight}
 * @param shape the dimensions, each ≥ 0; {@code []} is a scalar
 * @param data  product(shape) values, row-major
 */
public record Tensor(String name, long[] shape, float[] data) {

    /** Checks that {@code data} holds exactly product(shape) values. */
    public Tensor {
        Objects.requireNonNull(name, "tensor name");
        Objects.requireNonNull(shape, () -> "shape of tensor " + name);
        Objects.requireNonNull(data, () -> "data of tensor " + name);
        long n = numel(name, shape);
        if (n != data.length) {
            throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(shape) + " = " + n
                    + " elements but " + data.length + " values; give product(shape) values in row-major order");
        }
    }

    /** A tensor of zeros. */
    public static Tensor zeros(String name, long... shape) {
        long n = numel(name, shape);
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor " + name + " of shape " + Arrays.toString(shape) + " has " + n
                    + " elements, more than a Java array holds; split it");
        }
        return new Tensor(name, shape, new float[(int) n]);
    }

    /** The number of elements, product(shape) (1 for a scalar). */
    public long numel() {
        return data.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Tensor t && name.equals(t.name) && Arrays.equals(shape, t.shape) && Arrays.equals(data, t.data);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + Arrays.hashCode(shape)) + Arrays.hashCode(data);
    }

    /** Name and shape only; the data may be gigabytes. */
    @Override
    public String toString() {
        return "Tensor[" + name + " " + Arrays.toString(shape) + "]";
    }

    private static long numel(String name, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor " + name + " has a negative dimension in shape " + Arrays.toString(shape));
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("tensor " + name + " shape " + Arrays.toString(shape) + " overflows a long", e);
            }
        }
        return n;
    }
}
