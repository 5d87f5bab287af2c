package dev.rlhf.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorTest {

    @Test
    void shapeMustMatchDataAndTheMessageNamesTheTensor() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Tensor("model.norm.weight", new long[] {2, 3}, new float[5]));
        assertTrue(e.getMessage().contains("model.norm.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("[2, 3] = 6 elements but 5 values"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Tensor("w", new long[] {-1, 2}, new float[0]));
        assertTrue(e.getMessage().contains("negative"), e.getMessage());
    }

    @Test
    void equalsAndHashCodeCompareContent() {
        Tensor a = new Tensor("w", new long[] {2, 2}, new float[] {1, 2, 3, Float.NaN});
        Tensor b = new Tensor("w", new long[] {2, 2}, new float[] {1, 2, 3, Float.NaN});
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, new Tensor("w", new long[] {4}, new float[] {1, 2, 3, Float.NaN}), "shape differs");
        assertNotEquals(a, new Tensor("v", new long[] {2, 2}, new float[] {1, 2, 3, Float.NaN}), "name differs");
        assertNotEquals(a, new Tensor("w", new long[] {2, 2}, new float[] {1, 2, 3, 4}), "data differs");
    }

    @Test
    void zerosAndNumel() {
        Tensor z = Tensor.zeros("z", 3, 4);
        assertEquals(12, z.numel());
        assertArrayEquals(new float[12], z.data());
        assertEquals(1, Tensor.zeros("scalar").numel());
        assertEquals(0, Tensor.zeros("empty", 0, 5).numel());
        assertEquals("Tensor[z [3, 4]]", z.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros("huge", 1 << 20, 1 << 12));
        assertTrue(e.getMessage().contains("huge"), e.getMessage());
    }
}
