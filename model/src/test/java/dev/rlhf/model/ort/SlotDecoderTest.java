package dev.rlhf.model.ort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.Onnx;
import dev.rlhf.model.onnx.OnnxExport;

/**
 * The fused-attention slot decoder against the serving graph's {@link OrtDecoder}: the same
 * logits for the same sequences, whichever slots they sit in and however they move.
 */
class SlotDecoderTest {

    private static final double TOLERANCE = 1e-4;
    /** d 64, 4 heads of 16 (GroupQueryAttention's rotary needs a multiple of 16), 2 KV heads. */
    private static final ModelConfig C = ModelConfig.tiny(97);

    @TempDir
    Path dir;

    private Path export(Map<String, Tensor> w, boolean external) {
        Path file = dir.resolve("model-" + System.nanoTime() + ".onnx");
        assertEquals(external, OnnxExport.write(C, w, DecoderGraph.Head.CAUSAL_LM, file, external));
        return file;
    }

    private static final List<int[]> PROMPTS = List.of(new int[] {5, 17, 33, 42, 9}, new int[] {81},
            new int[] {12, 60, 7, 7, 90, 44, 3, 71, 29}, new int[] {66, 8});

    @Test
    void prefillAndDecodeGiveTheServingGraphsLogitsInAnySlots() throws Exception {
        Path file = export(OrtDecoderTest.weights(C, 3), false);
        try (OrtDecoder reference = OrtDecoder.open(file, C, OrtDecoder.Options.cpu(1));
                SlotDecoder slots = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 6)) {
            // the reference: each prompt alone, greedy, with its logits at every step
            List<List<float[]>> expected = new ArrayList<>();
            List<int[]> tokens = new ArrayList<>();
            for (int[] p : PROMPTS) {
                List<float[]> steps = new ArrayList<>();
                int[] out = new int[8];
                int[] seq = p.clone();
                for (int t = 0; t < out.length; t++) {
                    float[] last = lastLogits(reference, seq);
                    steps.add(last);
                    out[t] = Sampler.argmax(last);
                    seq = append(seq, out[t]);
                }
                expected.add(steps);
                tokens.add(out);
            }
            // the prompts prefilled together into slots 2..5 (right-padded), then 0..1 filled by moves
            float[][] first = slots.prefill(PROMPTS, 2);
            for (int r = 0; r < PROMPTS.size(); r++) {
                assertClose(expected.get(r).get(0), first[r], "prefill of prompt " + r);
                assertEquals(PROMPTS.get(r).length, slots.length(2 + r));
            }
            slots.move(5, 0); // prompt 3 → slot 0
            slots.move(4, 1); // prompt 2 → slot 1
            int[] slotOf = {2, 3, 1, 0};
            // decode: rows 0..3 hold prompts 3, 2, 0, 1
            int[] promptIn = {3, 2, 0, 1};
            for (int t = 1; t < 8; t++) {
                int[] feed = new int[4];
                for (int row = 0; row < 4; row++) {
                    feed[row] = tokens.get(promptIn[row])[t - 1];
                }
                float[][] next = slots.decode(feed);
                for (int row = 0; row < 4; row++) {
                    assertClose(expected.get(promptIn[row]).get(t), next[row], "step " + t + " of prompt " + promptIn[row]);
                }
            }
            for (int p = 0; p < PROMPTS.size(); p++) {
                assertEquals(PROMPTS.get(p).length + 7, slots.length(slotOf[p]));
            }
            // a row leaving: the last row moves into its hole and goes on as before
            slots.move(3, 0);
            float[][] next = slots.decode(new int[] {tokens.get(1)[7], tokens.get(2)[7], tokens.get(0)[7]});
            int[] seq = append(PROMPTS.get(1), tokens.get(1));
            assertClose(lastLogits(reference, seq), next[0], "the moved row");
        }
    }

    @Test
    void slotsGrowPastTheirFirstPositionsKeepingEveryRowsEntries() throws Exception {
        Path file = export(OrtDecoderTest.weights(C, 7), false);
        java.util.Random random = new java.util.Random(7);
        List<int[]> prompts = List.of(random.ints(50, 3, 97).toArray(), random.ints(3, 3, 97).toArray(),
                random.ints(SlotDecoder.INITIAL_POSITIONS - 2, 3, 97).toArray());
        try (OrtDecoder reference = OrtDecoder.open(file, C, OrtDecoder.Options.cpu(1));
                SlotDecoder slots = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 3)) {
            assertEquals(SlotDecoder.INITIAL_POSITIONS, slots.positions());
            slots.prefill(prompts, 0);
            List<int[]> seqs = new ArrayList<>(prompts);
            int[] feed = {11, 12, 13};
            for (int t = 0; t < 20; t++) { // row 2 crosses 64 positions at step 3, row 0 at step 15
                float[][] next = slots.decode(feed);
                for (int r = 0; r < 3; r++) {
                    seqs.set(r, append(seqs.get(r), feed[r]));
                    assertClose(lastLogits(reference, seqs.get(r)), next[r], "step " + t + " of row " + r);
                    feed[r] = Sampler.argmax(next[r]);
                }
            }
            assertEquals(2 * SlotDecoder.INITIAL_POSITIONS, slots.positions());
            assertEquals(SlotDecoder.INITIAL_POSITIONS - 2 + 20, slots.length(2));
        }
    }

    @Test
    void logprobsEqualTheServingGraphs() throws Exception {
        Path file = export(OrtDecoderTest.weights(C, 4), false);
        List<int[]> responses = List.of(new int[] {4, 4, 9}, new int[] {1, 2, 3, 50, 51}, new int[] {7},
                new int[] {30, 31});
        try (OrtDecoder reference = OrtDecoder.open(file, C, OrtDecoder.Options.cpu(1));
                SlotDecoder slots = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 1)) {
            for (float temperature : new float[] {1f, 0.7f}) {
                List<float[]> a = reference.logprobs(PROMPTS, responses, temperature);
                List<float[]> b = slots.logprobs(PROMPTS, responses, temperature);
                for (int r = 0; r < a.size(); r++) {
                    assertClose(a.get(r), b.get(r), "pair " + r + " at temperature " + temperature);
                }
            }
            assertThrows(IllegalArgumentException.class, () -> slots.logprobs(List.of(new int[0]), List.of(new int[] {1}), 1f));
        }
    }

    @Test
    void siblingsShareTheSessionAndKeepTheirOwnSlots() throws Exception {
        Path file = export(OrtDecoderTest.weights(C, 8), false);
        try (OrtDecoder reference = OrtDecoder.open(file, C, OrtDecoder.Options.cpu(1))) {
            SlotDecoder first = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 1);
            SlotDecoder second = first.sibling(1);
            first.prefill(List.of(PROMPTS.get(0)), 0);
            second.prefill(List.of(PROMPTS.get(2)), 0);
            first.close(); // the session stays open for the sibling
            first.close(); // a second close changes nothing
            float[] next = second.decode(new int[] {7})[0];
            assertClose(lastLogits(reference, append(PROMPTS.get(2), 7)), next, "the sibling's own slot");
            second.close();
            assertThrows(IllegalStateException.class, () -> second.sibling(1));
        }
    }

    @Test
    void aModelFileFromBeforeTheFusedProjectionsIsServedToo() throws Exception {
        Path file = export(OrtDecoderTest.weights(C, 9), false);
        // the layout of model files written before q/k/v and gate/up were one product each: the
        // same weights as separate [in, out] initializers (the slot decoder reads only the
        // initializers and the metadata of a file, so the old file needs no nodes here)
        Onnx.ModelProto model = Onnx.ModelProto.parseFrom(java.nio.file.Files.readAllBytes(file));
        Onnx.GraphProto.Builder graph = Onnx.GraphProto.newBuilder().setName("older");
        int hd = C.headDim();
        for (Onnx.TensorProto t : model.getGraph().getInitializerList()) {
            String name = t.getName();
            if (name.endsWith("self_attn.qkv_proj.weight.T")) {
                String p = name.substring(0, name.length() - "qkv_proj.weight.T".length());
                split(graph, t, new String[] {p + "q_proj.weight.T", p + "k_proj.weight.T", p + "v_proj.weight.T"},
                        new int[] {C.numAttentionHeads() * hd, C.numKeyValueHeads() * hd, C.numKeyValueHeads() * hd});
            } else if (name.endsWith("mlp.gate_up_proj.weight.T")) {
                String p = name.substring(0, name.length() - "gate_up_proj.weight.T".length());
                split(graph, t, new String[] {p + "gate_proj.weight.T", p + "up_proj.weight.T"},
                        new int[] {C.intermediateSize(), C.intermediateSize()});
            } else {
                graph.addInitializer(t);
            }
        }
        Path older = dir.resolve("older.onnx");
        java.nio.file.Files.write(older, model.toBuilder().setGraph(graph).build().toByteArray());
        try (OrtDecoder reference = OrtDecoder.open(file, C, OrtDecoder.Options.cpu(1));
                SlotDecoder slots = SlotDecoder.open(older, C, OrtDecoder.Options.cpu(1), 1)) {
            assertClose(lastLogits(reference, PROMPTS.get(2)), slots.prefill(List.of(PROMPTS.get(2)), 0)[0], "prefill");
            assertClose(lastLogits(reference, append(PROMPTS.get(2), 4)), slots.decode(new int[] {4})[0], "decode");
        }
    }

    /** Adds {@code t} ([in, Σwidths], raw little-endian floats) as one initializer per column block. */
    private static void split(Onnx.GraphProto.Builder graph, Onnx.TensorProto t, String[] names, int[] widths) {
        int in = (int) t.getDims(0);
        int total = (int) t.getDims(1);
        java.nio.FloatBuffer data = t.getRawData().asReadOnlyByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer();
        int offset = 0;
        for (int part = 0; part < names.length; part++) {
            java.nio.ByteBuffer out = java.nio.ByteBuffer.allocate(4 * in * widths[part])
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int row = 0; row < in; row++) {
                for (int col = 0; col < widths[part]; col++) {
                    out.putFloat(data.get(row * total + offset + col));
                }
            }
            graph.addInitializer(t.toBuilder().setName(names[part]).setDims(1, widths[part])
                    .setRawData(com.google.protobuf.ByteString.copyFrom(out.flip())));
            offset += widths[part];
        }
    }

    @Test
    void externalWeightsAreReadWhereTheyLie() throws Exception {
        Path file = export(OrtDecoderTest.weights(C, 5), true);
        try (OrtDecoder reference = OrtDecoder.open(file, C, OrtDecoder.Options.cpu(1));
                SlotDecoder slots = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 2)) {
            assertClose(lastLogits(reference, PROMPTS.get(0)), slots.prefill(List.of(PROMPTS.get(0)), 1)[0], "prefill");
        }
    }

    @Test
    void unservableModelsAndMisuseAreRefusedClearly() throws Exception {
        // head width 12: GroupQueryAttention's rotary cannot take it
        ModelConfig narrow = new ModelConfig(97, 48, 96, 2, 4, 2, 1e-5, 10000.0, 64, false, 1, List.of(2), 0, "llama");
        assertFalse(SlotDecoder.supports(narrow));
        assertTrue(SlotDecoder.supports(C));
        Path narrowFile = dir.resolve("narrow.onnx");
        OnnxExport.write(narrow, OrtDecoderTest.weights(narrow, 1), DecoderGraph.Head.CAUSAL_LM, narrowFile, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SlotDecoder.open(narrowFile, narrow, OrtDecoder.Options.cpu(1), 2));
        assertTrue(e.getMessage().contains("multiple of 16"), e.getMessage());
        // a config other than the file's
        Path file = export(OrtDecoderTest.weights(C, 6), false);
        ModelConfig other = ModelConfig.tiny(98);
        e = assertThrows(IllegalArgumentException.class, () -> SlotDecoder.open(file, other, OrtDecoder.Options.cpu(1), 2));
        assertTrue(e.getMessage().contains("another configuration"), e.getMessage());
        try (SlotDecoder slots = SlotDecoder.open(file, C, OrtDecoder.Options.cpu(1), 2)) {
            assertThrows(IllegalArgumentException.class, () -> slots.prefill(List.of(new int[] {1}, new int[] {2}), 1));
            assertThrows(IllegalStateException.class, () -> slots.decode(new int[] {1})); // slot 0 is empty
            assertThrows(IllegalArgumentException.class, () -> slots.prefill(List.of(new int[C.maxPositionEmbeddings() + 1]), 0));
            assertEquals(2L * 2 * C.numHiddenLayers() * C.numKeyValueHeads() * SlotDecoder.INITIAL_POSITIONS * C.headDim() * 4,
                    slots.cacheBytes());
        }
    }

    private static float[] lastLogits(OrtDecoder d, int[] seq) throws Exception {
        OrtDecoder.Padded in = OrtDecoder.Padded.left(List.of(seq), 0);
        try (OrtDecoder.Forward f = d.forward(in.ids(), in.mask(), in.positions(), null)) {
            return f.lastLogits()[0];
        }
    }

    private static int[] append(int[] a, int... b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Math.abs(expected[i] - actual[i]) > TOLERANCE) {
                assertArrayEquals(expected, actual, (float) TOLERANCE, what + ": differs at " + i);
            }
        }
    }
}
