package dev.rlhf.trainer.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;

class ScalarsTest {

    /**
     * Between the forward and the backward pass, garbage is collected and new direct buffers
     * filled with NaN take the freed memory; the gradient of 3·x must still be 3 (with DJL's
     * {@code x.mul(3f)} it is NaN or garbage once the scalar's buffer is reused).
     */
    @Test
    void aScalarFactorSurvivesGarbageCollectionUntilTheBackwardPass() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            for (int round = 0; round < 5; round++) {
                NDArray x = manager.create(new float[] {1, 2, 3, 4});
                x.setRequiresGradient(true);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray y = x.mul(Scalars.of(x, 3)).sum();
                    reuseFreedDirectMemory();
                    gc.backward(y);
                }
                assertArrayEquals(new float[] {3, 3, 3, 3}, x.getGradient().toFloatArray(), "round " + round);
            }
        }
    }

    /** Collects garbage (direct buffers are freed by their cleaners) and fills new small direct buffers with NaN. */
    private static void reuseFreedDirectMemory() throws InterruptedException {
        List<ByteBuffer> held = new ArrayList<>();
        for (int gc = 0; gc < 3; gc++) {
            System.gc();
            Thread.sleep(20);
            for (int i = 0; i < 20_000; i++) {
                held.add(ByteBuffer.allocateDirect(4 << (i % 3)).order(ByteOrder.nativeOrder()).putFloat(0, Float.NaN));
            }
        }
        held.clear();
    }
}
