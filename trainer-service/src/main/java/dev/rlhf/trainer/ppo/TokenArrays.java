package dev.rlhf.trainer.ppo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The [B, T] per-token arrays of a PPO batch as plain Java ({@code double[B][T]} values and a
 * {@code boolean[B][T]} mask, true = a response token) and their conversion to and from DJL
 * float32 arrays. Rows are right-padded: row b's response fills positions 0..len_b−1.
 */
public final class TokenArrays {

    private TokenArrays() {
    }

    /** The [B, width] mask of right-padded rows: true at t &lt; lengths[b]. */
    public static boolean[][] rightPadded(int[] lengths, int width) {
        boolean[][] mask = new boolean[lengths.length][width];
        for (int b = 0; b < lengths.length; b++) {
            if (lengths[b] < 0 || lengths[b] > width) {
                throw new IllegalArgumentException("row " + b + " has length " + lengths[b] + ", outside [0, " + width
                        + "]; pad to the longest response");
            }
            java.util.Arrays.fill(mask[b], 0, lengths[b], true);
        }
        return mask;
    }

    /** The [B, T] float32 array of {@code x}. */
    public static NDArray toNDArray(NDManager manager, double[][] x) {
        int t = x.length == 0 ? 0 : x[0].length;
        float[] flat = new float[x.length * t];
        for (int b = 0; b < x.length; b++) {
            requireWidth("row", x[b].length, t, b);
            for (int i = 0; i < t; i++) {
                flat[b * t + i] = (float) x[b][i];
            }
        }
        return manager.create(flat, new Shape(x.length, t));
    }

    /** The [B, T] float32 mask array of {@code mask}: 1 where true, 0 elsewhere. */
    public static NDArray toNDArray(NDManager manager, boolean[][] mask) {
        int t = mask.length == 0 ? 0 : mask[0].length;
        float[] flat = new float[mask.length * t];
        for (int b = 0; b < mask.length; b++) {
            requireWidth("mask row", mask[b].length, t, b);
            for (int i = 0; i < t; i++) {
                flat[b * t + i] = mask[b][i] ? 1f : 0f;
            }
        }
        return manager.create(flat, new Shape(mask.length, t));
    }

    /** The values of a [B, T] array as {@code double[B][T]}. */
    public static double[][] toMatrix(NDArray x) {
        Shape s = x.getShape();
        if (s.dimension() != 2) {
            throw new IllegalArgumentException("expected a [B, T] array, got " + s);
        }
        int rows = (int) s.get(0);
        int t = (int) s.get(1);
        float[] flat = x.toType(DataType.FLOAT32, false).toFloatArray();
        double[][] out = new double[rows][t];
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < t; i++) {
                out[b][i] = flat[b * t + i];
            }
        }
        return out;
    }

    /** Throws unless {@code x} has the shape of {@code mask}; {@code name} says which input. */
    static void requireShape(String name, double[][] x, boolean[][] mask) {
        if (x.length != mask.length) {
            throw new IllegalArgumentException(name + " has " + x.length + " rows, the mask " + mask.length);
        }
        for (int b = 0; b < x.length; b++) {
            requireWidth(name + " row", x[b].length, mask[b].length, b);
        }
    }

    private static void requireWidth(String what, int width, int expected, int row) {
        if (width != expected) {
            throw new IllegalArgumentException(what + " " + row + " has " + width + " positions, expected " + expected);
        }
    }
}
