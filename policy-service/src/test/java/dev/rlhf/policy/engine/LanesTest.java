package dev.rlhf.policy.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.SlotDecoder;
import dev.rlhf.policy.engine.ContinuousBatcherTest.Collector;

/** Two lanes on one session: requests spread over them, each gets its solo output, samples stay together. */
class LanesTest {

    private static final ModelConfig C = ModelConfig.tiny(61);

    @TempDir
    Path dir;

    private Path export() {
        java.util.Map<String, dev.rlhf.model.Tensor> w = new java.util.LinkedHashMap<>();
        for (dev.rlhf.model.Tensor t : LlamaWeights.random(C, 2)) {
            float[] d = t.data().clone();
            for (int i = 0; i < d.length; i++) {
                d[i] = t.name().endsWith("norm.weight") ? 1f : d[i] * 10f;
            }
            w.put(t.name(), new dev.rlhf.model.Tensor(t.name(), t.shape(), d));
        }
        Path file = dir.resolve("m.onnx");
        OnnxExport.write(C, w, DecoderGraph.Head.CAUSAL_LM, file, false);
        return file;
    }

    private static int[] prompt(int n, long seed) {
        return new Random(seed).ints(n, 3, 53).toArray();
    }

    @Test
    void requestsSpreadOverTheLanesAndEachGetsItsSoloOutput() throws Exception {
        Path file = export();
        try (OrtDecoder reference = OrtDecoder.open(file, C, OrtDecoder.Options.cpu(1));
                SlotDecoder first = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 2);
                SlotDecoder second = first.sibling(2);
                Lanes lanes = new Lanes(List.of(new ContinuousBatcher(first, new ContinuousBatcher.Options(2, 8, 10_000), "a"),
                        new ContinuousBatcher(second, new ContinuousBatcher.Options(2, 8, 10_000), "b")))) {
            List<Collector> out = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                Collector c = new Collector(-1);
                out.add(c);
                lanes.submit(prompt(3 + i, i), OrtDecoder.Sampling.greedy(10 + 3 * i), c);
            }
            for (int i = 0; i < 6; i++) {
                out.get(i).done.get(60, TimeUnit.SECONDS);
                assertArrayEquals(reference.generate(List.of(prompt(3 + i, i)), OrtDecoder.Sampling.greedy(10 + 3 * i))
                        .get(0).tokens(), out.get(i).ids(), "request " + i);
            }
            for (ContinuousBatcher lane : lanes.lanes()) {
                assertTrue(lane.prefills() >= 2, "each lane took a share: " + lane.prefills());
            }
            assertEquals(6, lanes.prefills());
            awaitIdle(lanes);
            assertEquals(0, lanes.batchSize());
            assertEquals(0, lanes.queueDepth());
        }
    }

    @Test
    void theSamplesOfOneRequestStayInOneLaneAndShareItsPrefill() throws Exception {
        Path file = export();
        try (SlotDecoder first = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 4);
                SlotDecoder second = first.sibling(4);
                Lanes lanes = new Lanes(List.of(new ContinuousBatcher(first, new ContinuousBatcher.Options(4, 8, 10_000), "a"),
                        new ContinuousBatcher(second, new ContinuousBatcher.Options(4, 8, 10_000), "b")))) {
            // each lane holds a request whose sink blocks at its first token, so that the lanes'
            // threads take nothing from their queues while the samples are submitted: all three go
            // to one lane (a, on the tie) and wait there together
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(2);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            List<Collector> busy = new ArrayList<>();
            for (int lane = 0; lane < 2; lane++) {
                Collector c = ContinuousBatcherTest.blockingAtFirstToken(started, release);
                busy.add(c);
                lanes.submit(prompt(3, 9 + lane), OrtDecoder.Sampling.greedy(5), c);
            }
            assertTrue(started.await(30, TimeUnit.SECONDS));
            int[] prompt = prompt(7, 5);
            List<Collector> samples = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Collector c = new Collector(-1);
                samples.add(c);
                lanes.submit(prompt, new OrtDecoder.Sampling(12, 1f, 0, 1f, 100 + i, java.util.Set.of()), c);
            }
            release.countDown();
            for (Collector c : samples) {
                c.done.get(30, TimeUnit.SECONDS);
            }
            for (Collector c : busy) {
                c.done.get(30, TimeUnit.SECONDS);
            }
            assertEquals(2, lanes.lanes().get(0).prefills(), "lane a: its busy request, one prefill for the three samples");
            assertEquals(1, lanes.lanes().get(1).prefills(), "lane b: its busy request only");
        }
    }

    private static void awaitIdle(Lanes lanes) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 5_000;
        while (!lanes.idle() && System.currentTimeMillis() < deadline) {
            Thread.sleep(5);
        }
        assertTrue(lanes.idle());
    }
}
