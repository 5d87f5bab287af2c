package dev.rlhf.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and writes Hugging Face <a href="https://github.com/huggingface/safetensors">safetensors</a>
 * files.
 *
 * <p>Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {@code {"__metadata__":{...}, "<name>":{"dtype":"F32","shape":[...],"data_offsets":[begin,end]}, ...}}
 * (padded with spaces to a multiple of 8), then the data section; offsets are relative to
 * its start and each tensor is little-endian and row-major.
 *
 * <p>Writing produces F32 only. Reading accepts F32, BF16 and F16 and converts exactly to
 * float32 (every bf16 and f16 value is a float32 value). Files are read through a
 * {@link FileChannel} a chunk at a time, so multi-gigabyte checkpoints need no byte array
 * the size of the file. Malformed files are refused with {@link IllegalArgumentException}
 * naming the file and the tensor.
 */
public final class SafeTensors {

    /** Duplicate keys are refused: two entries for one tensor name make a file ambiguous. */
    private static final ObjectMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    private static final String METADATA = "__metadata__";
    /** The reference implementation refuses headers above 100 MB; so do we (a sign of a corrupt length). */
    private static final long MAX_HEADER = 100_000_000L;
    private static final int CHUNK = 1 << 20;

    private SafeTensors() {
    }

    /** Element types this reader converts to float32. */
    private enum Dtype {
        F32(4), BF16(2), F16(2);

        final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    /** One header entry: a tensor's name, type, shape and byte range in the data section. */
    private record Entry(String name, Dtype dtype, long[] shape, long begin, long end) {
    }

    /** A parsed header: its metadata, the entries in data order, where data begins. */
    private record Header(Map<String, String> metadata, List<Entry> entries, long dataStart) {
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code tensors} as F32 in list order, replacing {@code file}.
     *
     * @param metadata free-form string pairs stored under {@code __metadata__} (may be empty)
     * @throws IllegalArgumentException on a duplicate tensor name or the reserved name {@code __metadata__}
     */
    public static void write(Path file, List<Tensor> tensors, Map<String, String> metadata) throws IOException {
        // 1. the header: metadata, then each tensor's byte range in list order
        byte[] header = headerBytes(file, tensors, metadata);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            // 2. 8-byte little-endian header length, then the header
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
            writeFully(ch, len);
            writeFully(ch, ByteBuffer.wrap(header));
            // 3. the data, a chunk at a time
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (Tensor t : tensors) {
                writeFloats(ch, buf, t.data());
            }
        }
    }

    private static byte[] headerBytes(Path file, List<Tensor> tensors, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode meta = root.putObject(METADATA);
        metadata.forEach(meta::put);
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (Tensor t : tensors) {
            if (t.name().equals(METADATA) || !seen.add(t.name())) {
                throw new IllegalArgumentException(file + ": tensor name " + t.name()
                        + (t.name().equals(METADATA) ? " is reserved" : " appears twice") + "; give each tensor a unique name");
            }
            ObjectNode e = root.putObject(t.name());
            e.put("dtype", "F32");
            Arrays.stream(t.shape()).forEach(e.putArray("shape")::add);
            long end = offset + 4L * t.data().length;
            e.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e); // a tree of plain values always serialises
        }
        // pad with spaces so the data section starts 8-byte aligned, as the reference writer does
        int padded = (json.length + 7) / 8 * 8;
        byte[] header = Arrays.copyOf(json, padded);
        Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }

    private static void writeFloats(FileChannel ch, ByteBuffer buf, float[] data) throws IOException {
        int perChunk = buf.capacity() / 4;
        for (int from = 0; from < data.length; from += perChunk) {
            int n = Math.min(perChunk, data.length - from);
            buf.clear();
            buf.asFloatBuffer().put(data, from, n); // raw bits: NaN payloads survive
            buf.limit(4 * n);
            writeFully(ch, buf);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    // ---------------------------------------------------------------- reading

    /**
     * Reads every tensor, converted to float32, in file (data offset) order.
     *
     * @throws IllegalArgumentException if the file is malformed; the message names the file and the tensor
     */
    public static Map<String, Tensor> read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Header h = readHeader(file, ch);
            Map<String, Tensor> out = new LinkedHashMap<>();
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry e : h.entries()) {
                out.put(e.name(), new Tensor(e.name(), e.shape(), readData(file, ch, buf, h.dataStart(), e)));
            }
            return out;
        }
    }

    /** The {@code __metadata__} string pairs of the header (empty when absent); reads no tensor data. */
    public static Map<String, String> metadata(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readHeader(file, ch).metadata();
        }
    }

    private static Header readHeader(Path file, FileChannel ch) throws IOException {
        // 1. the header length, checked against the file size
        long size = ch.size();
        if (size < 8) {
            throw new IllegalArgumentException(file + ": " + size + " bytes is too short for a safetensors file (truncated?)");
        }
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, ch, len, 0);
        long n = len.flip().getLong();
        if (n <= 0 || n > MAX_HEADER || 8 + n > size) {
            throw new IllegalArgumentException(file + ": header length " + n + " does not fit the file of " + size
                    + " bytes (truncated or not a safetensors file)");
        }
        // 2. the JSON header
        ByteBuffer json = ByteBuffer.allocate((int) n);
        readFully(file, ch, json, 8);
        JsonNode root;
        try {
            root = JSON.readTree(new String(json.array(), StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(file + ": header must be a JSON object");
        }
        // 3. the entries, checked one by one, then for overlap
        long dataStart = 8 + n;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> f : root.properties()) {
            if (f.getKey().equals(METADATA)) {
                readMetadata(file, f.getValue(), metadata);
            } else {
                entries.add(entry(file, f.getKey(), f.getValue(), size - dataStart));
            }
        }
        entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        checkNoOverlap(file, entries);
        return new Header(metadata, entries, dataStart);
    }

    private static void readMetadata(Path file, JsonNode node, Map<String, String> into) {
        if (node.isNull()) {
            return;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException(file + ": __metadata__ must be an object of strings, got " + node);
        }
        node.properties().forEach(m -> {
            if (!m.getValue().isTextual()) {
                throw new IllegalArgumentException(file + ": __metadata__ value of " + m.getKey() + " must be a string, got "
                        + m.getValue());
            }
            into.put(m.getKey(), m.getValue().textValue());
        });
    }

    /** Parses and checks one tensor entry against the data section of {@code dataBytes}. */
    private static Entry entry(Path file, String name, JsonNode e, long dataBytes) {
        String where = file + ": tensor " + name;
        if (!e.isObject()) {
            throw new IllegalArgumentException(where + ": entry must be an object with dtype, shape and data_offsets, got " + e);
        }
        Dtype dtype = dtype(where, e.path("dtype"));
        long[] shape = longs(where, "shape", e.get("shape"));
        long[] off = longs(where, "data_offsets", e.get("data_offsets"));
        if (off.length != 2 || off[0] > off[1] || off[1] > dataBytes) {
            throw new IllegalArgumentException(where + ": data_offsets " + Arrays.toString(off) + " out of range [0, "
                    + dataBytes + "] of the data section (truncated file?)");
        }
        long numel;
        try {
            numel = Arrays.stream(shape).reduce(1, Math::multiplyExact);
        } catch (ArithmeticException ex) {
            throw new IllegalArgumentException(where + ": shape " + Arrays.toString(shape) + " overflows", ex);
        }
        if (numel > Integer.MAX_VALUE - 8 || numel * dtype.bytes != off[1] - off[0]) {
            throw new IllegalArgumentException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
                    + numel + " x " + dtype.bytes + " bytes but data_offsets " + Arrays.toString(off) + " span " + (off[1] - off[0]));
        }
        return new Entry(name, dtype, shape, off[0], off[1]);
    }

    private static Dtype dtype(String where, JsonNode n) {
        String s = n.isTextual() ? n.textValue() : String.valueOf(n);
        try {
            return Dtype.valueOf(s);
        } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException(where + ": dtype " + s + " is not supported; convert the checkpoint to "
                    + Arrays.toString(Dtype.values()), ex);
        }
    }

    private static long[] longs(String where, String key, JsonNode n) {
        if (n == null || !n.isArray()) {
            throw new IllegalArgumentException(where + ": " + key + " must be a list of non-negative integers, got " + n);
        }
        long[] out = new long[n.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = n.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
                throw new IllegalArgumentException(where + ": " + key + " must be a list of non-negative integers, got " + n);
            }
            out[i] = v.longValue();
        }
        return out;
    }

    /** Entries sorted by begin: each must start at or after the previous one's end. */
    private static void checkNoOverlap(Path file, List<Entry> sorted) {
        for (int i = 1; i < sorted.size(); i++) {
            Entry a = sorted.get(i - 1);
            Entry b = sorted.get(i);
            if (b.begin() < a.end()) {
                throw new IllegalArgumentException(file + ": tensors " + a.name() + " [" + a.begin() + ", " + a.end() + ") and "
                        + b.name() + " [" + b.begin() + ", " + b.end() + ") overlap in the data section");
            }
        }
    }

    /** Reads one tensor's bytes a chunk at a time and converts them to float32. */
    private static float[] readData(Path file, FileChannel ch, ByteBuffer buf, long dataStart, Entry e) throws IOException {
        float[] out = new float[(int) ((e.end() - e.begin()) / e.dtype().bytes)];
        int perChunk = buf.capacity() / e.dtype().bytes;
        for (int from = 0; from < out.length; from += perChunk) {
            int n = Math.min(perChunk, out.length - from);
            buf.clear().limit(n * e.dtype().bytes);
            try {
                readFully(file, ch, buf, dataStart + e.begin() + (long) from * e.dtype().bytes);
            } catch (EOFException ex) {
                throw new IllegalArgumentException(file + ": tensor " + e.name() + " is cut short (truncated file?)", ex);
            }
            buf.flip();
            convert(e.dtype(), buf, out, from, n);
        }
        return out;
    }

    private static void convert(Dtype dtype, ByteBuffer buf, float[] out, int from, int n) {
        switch (dtype) {
            case F32 -> buf.asFloatBuffer().get(out, from, n);
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[from + i] = bf16ToFloat(buf.getShort());
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[from + i] = f16ToFloat(buf.getShort());
                }
            }
        }
    }

    private static void readFully(Path file, FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) {
                throw new EOFException(file + ": unexpected end of file at byte " + pos + " (truncated?)");
            }
            pos += r;
        }
    }

    // ---------------------------------------------------------------- conversions

    /** bfloat16 → float32: a bf16 is the upper 16 bits of a float32, so this is exact. */
    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /**
     * IEEE 754 binary16 → float32, exact for every input (Java 20's {@code Float.float16ToFloat}).
     * Normal numbers rebias the exponent (15 → 127) and widen the mantissa (10 → 23 bits);
     * subnormals are mantissa × 2⁻²⁴; infinities and NaNs keep sign and payload.
     */
    static float f16ToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | mant << 13); // inf, NaN (payload kept)
        }
        if (exp == 0) {
            float f = mant * 0x1p-24f; // zero or subnormal: exact, mant < 2^10
            return sign != 0 ? -f : f;
        }
        return Float.intBitsToFloat(sign | (exp - 15 + 127) << 23 | mant << 13);
    }
}
