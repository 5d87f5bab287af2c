package dev.rlhf.policy.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.SlotDecoder;

/**
 * Requests joining and leaving a running batch get exactly what they would get alone (a run
 * of the serving graph's {@link OrtDecoder}), on either engine.
 */
class ContinuousBatcherTest {

    /** The batcher's KV engine under test. */
    enum Engine {
        /** {@link SlotDecoder}: fused attention, fixed slots. */
        SLOTS,
        /** {@link OrtDecoder}: the serving graph, caches gathered. */
        GATHER
    }

    @TempDir
    Path dir;

    /** The reference decoder of one model file, and batchers on the engine under test over the same file. */
    private final class Setup implements AutoCloseable {
        final Engine engine;
        final ModelConfig c;
        final Path file;
        final OrtDecoder d;
        final List<AutoCloseable> opened = new ArrayList<>();

        Setup(Engine engine, ModelConfig c) throws Exception {
            this.engine = engine;
            this.c = c;
            this.file = export(c);
            this.d = OrtDecoder.open(file, c, OrtDecoder.Options.cpu(1));
        }

        /** A batcher with its own decoder (on SLOTS: its own slots, as many as the batch). */
        ContinuousBatcher batcher(ContinuousBatcher.Options options, String name) throws Exception {
            if (engine == Engine.GATHER) {
                return new ContinuousBatcher(d, options, name);
            }
            SlotDecoder slots = SlotDecoder.open(file, c, OrtDecoder.Options.cpu(1), options.maxBatch());
            opened.add(slots);
            return new ContinuousBatcher(slots, options, name);
        }

        @Override
        public void close() throws Exception {
            for (AutoCloseable a : opened) {
                a.close();
            }
            d.close();
        }
    }

    private Setup setup(Engine engine) throws Exception {
        return new Setup(engine, ModelConfig.tiny(61));
    }

    private Path export(ModelConfig c) throws Exception {
        Map<String, Tensor> w = new LinkedHashMap<>();
        for (Tensor t : LlamaWeights.random(c, 2)) {
            float[] d = t.data().clone();
            for (int i = 0; i < d.length; i++) {
                d[i] = t.name().endsWith("norm.weight") ? 1f : d[i] * 10f; // std 0.2: distinct greedy paths
            }
            w.put(t.name(), new Tensor(t.name(), t.shape(), d));
        }
        Path onnx = dir.resolve("m" + c.maxPositionEmbeddings() + ".onnx");
        OnnxExport.write(c, w, DecoderGraph.Head.CAUSAL_LM, onnx, false);
        return onnx;
    }

    /** Collects a generation. */
    static class Collector implements ContinuousBatcher.Sink {
        final List<Integer> tokens = new ArrayList<>();
        final List<Float> logprobs = new ArrayList<>();
        final CompletableFuture<OrtDecoder.Finish> done = new CompletableFuture<>();
        final AtomicBoolean cancel = new AtomicBoolean();
        final int cancelAfter;

        Collector(int cancelAfter) {
            this.cancelAfter = cancelAfter;
        }

        @Override
        public void token(int token, float logprob) {
            tokens.add(token);
            logprobs.add(logprob);
            if (tokens.size() == cancelAfter) {
                cancel.set(true);
            }
        }

        @Override
        public void finished(OrtDecoder.Finish finish) {
            done.complete(finish);
        }

        @Override
        public void failed(Throwable error) {
            done.completeExceptionally(error);
        }

        @Override
        public boolean cancelled() {
            return cancel.get();
        }

        int[] ids() {
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /**
     * A collector whose first token counts {@code started} down, then blocks the batcher's
     * thread until {@code release}: nothing is taken from that batcher's queue meanwhile.
     */
    static Collector blockingAtFirstToken(java.util.concurrent.CountDownLatch started,
            java.util.concurrent.CountDownLatch release) {
        return new Collector(-1) {
            @Override
            public void token(int token, float logprob) {
                super.token(token, logprob);
                if (tokens.size() == 1) {
                    started.countDown();
                    try {
                        release.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
    }

    private static int[] prompt(int n, long seed) {
        Random r = new Random(seed);
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = 3 + r.nextInt(50);
        }
        return p;
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void staggeredRequestsGetTheirSoloGreedyOutput(Engine engine) throws Exception {
        try (Setup s = setup(engine);
                ContinuousBatcher batcher = s.batcher(new ContinuousBatcher.Options(4, 16, 10_000), "t")) {
            OrtDecoder d = s.d;
            List<int[]> prompts = new ArrayList<>();
            List<Integer> lengths = List.of(12, 3, 20, 7, 9, 15);
            for (int i = 0; i < lengths.size(); i++) {
                prompts.add(prompt(3 + 2 * i, i));
            }
            List<Collector> out = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                Collector c = new Collector(-1);
                out.add(c);
                batcher.submit(prompts.get(i), OrtDecoder.Sampling.greedy(lengths.get(i)), c);
                Thread.sleep(5); // arrive while others decode
            }
            for (int i = 0; i < prompts.size(); i++) {
                out.get(i).done.get(60, TimeUnit.SECONDS);
                OrtDecoder.Generation alone = d.generate(List.of(prompts.get(i)),
                        OrtDecoder.Sampling.greedy(lengths.get(i))).get(0);
                assertArrayEquals(alone.tokens(), out.get(i).ids(), "request " + i);
                for (int t = 0; t < alone.logprobs().length; t++) {
                    assertEquals(alone.logprobs()[t], out.get(i).logprobs.get(t), 1e-4, "request " + i + " token " + t);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void cancellationFreesTheRowAndOthersContinue(Engine engine) throws Exception {
        try (Setup s = setup(engine);
                ContinuousBatcher batcher = s.batcher(new ContinuousBatcher.Options(2, 4, 10_000), "t")) {
            OrtDecoder d = s.d;
            Collector cancelled = new Collector(3);
            Collector other = new Collector(-1);
            batcher.submit(prompt(5, 1), OrtDecoder.Sampling.greedy(40), cancelled);
            batcher.submit(prompt(4, 2), OrtDecoder.Sampling.greedy(30), other);
            cancelled.done.get(30, TimeUnit.SECONDS);
            assertTrue(cancelled.tokens.size() < 10, "stopped soon after cancel: " + cancelled.tokens.size());
            Collector third = new Collector(-1);
            batcher.submit(prompt(6, 3), OrtDecoder.Sampling.greedy(5), third); // takes the freed slot
            third.done.get(30, TimeUnit.SECONDS);
            other.done.get(30, TimeUnit.SECONDS);
            assertArrayEquals(d.generate(List.of(prompt(4, 2)), OrtDecoder.Sampling.greedy(30)).get(0).tokens(),
                    other.ids());
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void idleOnlyOnceEverySubmittedRequestHasEnded(Engine engine) throws Exception {
        try (Setup s = setup(engine);
                ContinuousBatcher batcher = s.batcher(new ContinuousBatcher.Options(2, 8, 10_000), "t")) {
            OrtDecoder d = s.d;
            assertTrue(batcher.idle());
            List<Collector> out = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                Collector c = new Collector(-1);
                out.add(c);
                batcher.submit(prompt(4 + i, i), OrtDecoder.Sampling.greedy(6), c);
                // sampled while requests move from the queue into the batch: idle only once every
                // submitted request has ended (a 6-token request can end before this line runs;
                // a request's sink is called before it stops counting)
                boolean idle = batcher.idle();
                assertTrue(!idle || out.stream().allMatch(x -> x.done.isDone()), "idle with request " + i
                        + " submitted and not all ended");
            }
            for (Collector c : out) {
                c.done.get(30, TimeUnit.SECONDS);
            }
            long deadline = System.currentTimeMillis() + 5_000;
            while (!batcher.idle() && System.currentTimeMillis() < deadline) {
                Thread.sleep(5);
            }
            assertTrue(batcher.idle());
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void aFullQueueIsRefused(Engine engine) throws Exception {
        try (Setup s = setup(engine);
                ContinuousBatcher batcher = s.batcher(new ContinuousBatcher.Options(1, 1, 10_000), "t")) {
            OrtDecoder d = s.d;
            List<Collector> accepted = new ArrayList<>();
            int refused = 0;
            for (int i = 0; i < 6; i++) {
                Collector c = new Collector(-1);
                try {
                    batcher.submit(prompt(4, i), OrtDecoder.Sampling.greedy(60), c);
                    accepted.add(c);
                } catch (ContinuousBatcher.Overloaded e) {
                    refused++;
                }
            }
            assertTrue(refused >= 3, "refused " + refused);
            for (Collector c : accepted) {
                c.done.get(60, TimeUnit.SECONDS);
            }
            assertThrows(IllegalArgumentException.class,
                    () -> batcher.submit(prompt(250, 9), OrtDecoder.Sampling.greedy(10), new Collector(-1)));
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void samplesOfOnePromptShareOnePrefillAndDifferOnlyByTheirSeeds(Engine engine) throws Exception {
        try (Setup s = setup(engine);
                ContinuousBatcher batcher = s.batcher(new ContinuousBatcher.Options(8, 8, 10_000), "t")) {
            OrtDecoder d = s.d;
            int[] prompt = prompt(7, 5);
            // keep the batcher busy so that the three samples are admitted together: a request whose
            // sink blocks the batcher's thread at its first token until they are all queued (a sleep
            // was not enough: on SLOTS the tiny model can finish 30 tokens before the samples come)
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            Collector busy = blockingAtFirstToken(started, release);
            batcher.submit(prompt(3, 6), OrtDecoder.Sampling.greedy(30), busy);
            assertTrue(started.await(30, TimeUnit.SECONDS));
            long before = batcher.prefills();
            List<Collector> samples = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Collector c = new Collector(-1);
                samples.add(c);
                batcher.submit(prompt, new OrtDecoder.Sampling(12, 1f, 0, 1f, 100 + i, java.util.Set.of()), c);
            }
            release.countDown();
            for (Collector c : samples) {
                c.done.get(30, TimeUnit.SECONDS);
            }
            busy.done.get(30, TimeUnit.SECONDS);
            assertEquals(1, batcher.prefills() - before, "one prefill for the three samples");
            // each sample equals a solo run with its own seed
            for (int i = 0; i < 3; i++) {
                try (ContinuousBatcher solo = s.batcher(new ContinuousBatcher.Options(1, 1, 10_000), "s")) {
                    Collector alone = new Collector(-1);
                    solo.submit(prompt, new OrtDecoder.Sampling(12, 1f, 0, 1f, 100 + i, java.util.Set.of()), alone);
                    alone.done.get(30, TimeUnit.SECONDS);
                    assertArrayEquals(alone.ids(), samples.get(i).ids(), "sample " + i);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void aFailingSinkEndsOnlyItsOwnRow(Engine engine) throws Exception {
        try (Setup s = setup(engine);
                ContinuousBatcher batcher = s.batcher(new ContinuousBatcher.Options(4, 4, 10_000), "t")) {
            OrtDecoder d = s.d;
            Collector healthy = new Collector(-1);
            Collector broken = new Collector(-1) {
                @Override
                public void token(int token, float logprob) {
                    super.token(token, logprob);
                    if (tokens.size() == 2) {
                        throw new IllegalStateException("client code failed");
                    }
                }
            };
            batcher.submit(prompt(5, 1), OrtDecoder.Sampling.greedy(20), healthy);
            batcher.submit(prompt(4, 2), OrtDecoder.Sampling.greedy(20), broken);
            var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> broken.done.get(30, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof IllegalStateException);
            assertEquals(OrtDecoder.Finish.LENGTH, healthy.done.get(30, TimeUnit.SECONDS));
            assertArrayEquals(d.generate(List.of(prompt(5, 1)), OrtDecoder.Sampling.greedy(20)).get(0).tokens(),
                    healthy.ids());
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void aRowEndingMidBatchDoesNotDisturbTheOthers(Engine engine) throws Exception {
        ModelConfig t = ModelConfig.tiny(61);
        ModelConfig small = new ModelConfig(61, t.hiddenSize(), t.intermediateSize(), t.numHiddenLayers(),
                t.numAttentionHeads(), t.numKeyValueHeads(), t.rmsNormEps(), t.ropeTheta(), 64, false, 1, List.of(2), 0,
                "llama");
        try (Setup s = new Setup(engine, small);
                ContinuousBatcher batcher = s.batcher(new ContinuousBatcher.Options(4, 4, 10_000), "t")) {
            OrtDecoder d = s.d;
            // long rows fill the 64-position window; a short one finishes at position ~13: on GATHER
            // it rides along with them (finished rows are only dropped once they are the majority),
            // on SLOTS it leaves at once and the last row moves into its slot
            List<Collector> longRows = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Collector c = new Collector(-1);
                longRows.add(c);
                batcher.submit(prompt(4, 10 + i), OrtDecoder.Sampling.greedy(58), c);
            }
            Collector shortRow = new Collector(-1);
            batcher.submit(prompt(12, 3), OrtDecoder.Sampling.greedy(2), shortRow);
            shortRow.done.get(30, TimeUnit.SECONDS);
            int longest = 0;
            for (int i = 0; i < 3; i++) {
                longRows.get(i).done.get(60, TimeUnit.SECONDS);
                longest = Math.max(longest, longRows.get(i).tokens.size());
                assertArrayEquals(d.generate(List.of(prompt(4, 10 + i)), OrtDecoder.Sampling.greedy(58)).get(0).tokens(),
                        longRows.get(i).ids(), "long row " + i);
            }
            assertTrue(longest > 55, "the finished row rode along for most of the run: " + longest);
        }
    }

    @org.junit.jupiter.api.Test
    void aBatchLargerThanTheSlotsIsRefused() throws Exception {
        try (Setup s = setup(Engine.SLOTS); SlotDecoder slots = SlotDecoder.open(s.file, s.c, OrtDecoder.Options.cpu(1), 2)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new ContinuousBatcher(slots, new ContinuousBatcher.Options(3, 4, 10_000), "t"));
            assertTrue(e.getMessage().contains("3 needs as many KV slots"), e.getMessage());
        }
    }
}
