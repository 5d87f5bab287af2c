package dev.rlhf.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

    @TempDir
    Path dir;

    @Test
    void roundTripIsBitExact() throws IOException {
        // 1. awkward values: NaN payloads of both signs, -0.0, subnormals, infinities, extremes
        int[] special = {0x7fc00001, 0xffc12345, 0x7fa00000, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000,
                0x7f7fffff, 0x00800000};
        Random rng = new Random(42);
        float[] a = new float[3 * 4];
        for (int i = 0; i < a.length; i++) {
            a[i] = i < special.length ? Float.intBitsToFloat(special[i]) : Float.intBitsToFloat(rng.nextInt());
        }
        // 2. a tensor bigger than one I/O chunk, a scalar and an empty one
        float[] big = new float[300_000];
        for (int i = 0; i < big.length; i++) {
            big[i] = Float.intBitsToFloat(rng.nextInt());
        }
        List<Tensor> tensors = List.of(new Tensor("b.special", new long[] {3, 4}, a), new Tensor("a.big", new long[] {300_000}, big),
                new Tensor("scalar", new long[] {}, new float[] {3.5f}), Tensor.zeros("empty", 0, 7));
        Path file = dir.resolve("model.safetensors");
        SafeTensors.write(file, tensors, Map.of("format", "pt"));

        // 3. same names in the same (list) order, same shapes, same bits
        Map<String, Tensor> back = SafeTensors.read(file);
        assertEquals(List.of("b.special", "a.big", "scalar", "empty"), new ArrayList<>(back.keySet()));
        for (Tensor t : tensors) {
            Tensor r = back.get(t.name());
            assertArrayEquals(t.shape(), r.shape(), t.name());
            assertArrayEquals(rawBits(t.data()), rawBits(r.data()), t.name());
        }
        assertEquals(Map.of("format", "pt"), SafeTensors.metadata(file));
    }

    @Test
    void headerIsPaddedToEightBytesAndDataIsLittleEndian() throws IOException {
        Path file = dir.resolve("x.safetensors");
        SafeTensors.write(file, List.of(new Tensor("w", new long[] {2}, new float[] {1f, -2f})), Map.of());
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = b.getLong();
        assertEquals(0, n % 8, "header length is a multiple of 8");
        assertEquals(8 + n + 8, bytes.length);
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        String json = "{\"__metadata__\":{},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        assertTrue(header.startsWith(json), header);
        assertTrue(header.substring(json.length()).chars().allMatch(ch -> ch == ' '), "padding is spaces: [" + header + "]");
        assertEquals(1f, b.getFloat((int) (8 + n)));
        assertEquals(-2f, b.getFloat((int) (8 + n + 4)));
    }

    @Test
    void bf16ReadsExactly() throws IOException {
        // bf16 is the upper half of an f32: 0x3F80 = 1.0, 0xC000 = -2.0, 0x7F80 = inf, 0x0001 = 2^-133, 0x8000 = -0.0
        short[] h = {0x3F80, (short) 0xC000, 0x7F80, 0x0001, (short) 0x8000, 0x4049};
        Path file = handMade("BF16", new long[] {2, 3}, h);
        float[] f = SafeTensors.read(file).get("t").data();
        assertEquals(1.0f, f[0]);
        assertEquals(-2.0f, f[1]);
        assertEquals(Float.POSITIVE_INFINITY, f[2]);
        assertEquals(0x1p-133f, f[3]);
        assertEquals(0x80000000, Float.floatToRawIntBits(f[4]));
        assertEquals(3.140625f, f[5]);
    }

    @Test
    void f16ReadsExactly() throws IOException {
        short[] h = {0x3C00, (short) 0xC000, 0x7BFF, 0x0001, 0x7C00, (short) 0xFC00, (short) 0x8000, 0x03FF, 0x7E00, 0x3555};
        Path file = handMade("F16", new long[] {10}, h);
        float[] f = SafeTensors.read(file).get("t").data();
        assertEquals(1.0f, f[0]);
        assertEquals(-2.0f, f[1]);
        assertEquals(65504f, f[2]);
        assertEquals(5.9604645e-8f, f[3]); // 2^-24, the smallest subnormal
        assertEquals(Float.POSITIVE_INFINITY, f[4]);
        assertEquals(Float.NEGATIVE_INFINITY, f[5]);
        assertEquals(0x80000000, Float.floatToRawIntBits(f[6]));
        assertEquals(1023 * 0x1p-24f, f[7]); // the largest subnormal
        assertTrue(Float.isNaN(f[8]));
        assertEquals(0.33325195f, f[9]);
    }

    @Test
    void halfPrecisionConversionsMatchTheNaiveFormulaForAllBitPatterns() {
        for (int bits = 0; bits < 1 << 16; bits++) {
            assertSameFloat(naive(bits, 5, 10), SafeTensors.f16ToFloat((short) bits), "f16", bits);
            assertSameFloat(naive(bits, 8, 7), SafeTensors.bf16ToFloat((short) bits), "bf16", bits);
        }
    }

    @Test
    void f16ChunksAcrossTheReadBuffer() throws IOException {
        short[] h = new short[700_000]; // more than one 1 MiB chunk of 2-byte values
        for (int i = 0; i < h.length; i++) {
            h[i] = (short) (i % 0x7C00);
        }
        float[] f = SafeTensors.read(handMade("F16", new long[] {h.length}, h)).get("t").data();
        for (int i = 0; i < h.length; i++) {
            assertEquals(SafeTensors.f16ToFloat(h[i]), f[i], "element " + i);
        }
    }

    @Test
    void truncatedFileIsRefusedNamingTheFile() throws IOException {
        Path file = dir.resolve("cut.safetensors");
        SafeTensors.write(file, List.of(Tensor.zeros("model.norm.weight", 64)), Map.of());
        // 1. data cut short: the message names the file and the tensor
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(raf.length() - 10);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("model.norm.weight"), e.getMessage());
        // 2. header cut short
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(20);
        }
        e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("header length"), e.getMessage());
        // 3. not even a length
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(3);
        }
        e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void malformedHeadersAreRefusedNamingTheTensor() throws IOException {
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]", 8, "not valid JSON");
        assertRefused("{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "tensor w: dtype I64 is not supported");
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "tensor w: shape [3] of F32 needs 3 x 4");
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "tensor w: data_offsets [0, 16] out of range");
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensors w [0, 8) and v [4, 8) overlap");
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "Duplicate field 'w'");
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "tensor w: shape must be");
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, null); // the control: reads
    }

    @Test
    void writeRefusesDuplicateNames() {
        Path file = dir.resolve("dup.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.write(file, List.of(Tensor.zeros("w", 1), Tensor.zeros("w", 2)), Map.of()));
        assertTrue(e.getMessage().contains("tensor name w appears twice"), e.getMessage());
    }

    // ---- helpers

    /** A header made by hand followed by {@code dataBytes} zero bytes; refused with {@code expected}, or read when null. */
    private void assertRefused(String header, int dataBytes, String expected) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        Path file = dir.resolve("bad.safetensors");
        Files.write(file, b.array());
        if (expected == null) {
            assertEquals(2, SafeTensors.read(file).get("w").numel());
            return;
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains(expected), e.getMessage());
    }

    /** A one-tensor file named "t" of 2-byte values, every byte written here rather than by SafeTensors. */
    private Path handMade(String dtype, long[] shape, short[] values) throws IOException {
        String json = "{\"t\":{\"dtype\":\"" + dtype + "\",\"shape\":" + java.util.Arrays.toString(shape).replace(" ", "")
                + ",\"data_offsets\":[0," + 2L * values.length + "]}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        for (short v : values) {
            b.putShort(v);
        }
        Path file = dir.resolve(dtype + ".safetensors");
        Files.write(file, b.array());
        return file;
    }

    /** The textbook decoding of a binary floating-point pattern with the given field widths, in double. */
    private static double naive(int bits, int expBits, int mantBits) {
        int sign = (bits >>> (expBits + mantBits)) & 1;
        int exp = (bits >>> mantBits) & ((1 << expBits) - 1);
        int mant = bits & ((1 << mantBits) - 1);
        int bias = (1 << (expBits - 1)) - 1;
        double value;
        if (exp == (1 << expBits) - 1) {
            value = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else if (exp == 0) {
            value = mant / Math.pow(2, mantBits) * Math.pow(2, 1 - bias);
        } else {
            value = (1 + mant / Math.pow(2, mantBits)) * Math.pow(2, exp - bias);
        }
        return sign == 1 ? -value : value;
    }

    private static void assertSameFloat(double expected, float actual, String type, int bits) {
        String what = type + " 0x" + Integer.toHexString(bits);
        if (Double.isNaN(expected)) {
            assertTrue(Float.isNaN(actual), what);
        } else {
            assertEquals((float) expected, actual, what);
            assertEquals(expected, actual, 0.0, what + " is exact in float");
            assertEquals(Math.copySign(1.0, expected), Math.copySign(1.0f, actual), what + " sign");
        }
    }

    private static int[] rawBits(float[] f) {
        int[] out = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = Float.floatToRawIntBits(f[i]);
        }
        return out;
    }
}
