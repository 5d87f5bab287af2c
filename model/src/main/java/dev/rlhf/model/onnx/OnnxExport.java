package dev.rlhf.model.onnx;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.ExtensionRegistryLite;
import com.google.protobuf.WireFormat;

import dev.rlhf.model.LlamaWeights;
import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.Onnx.ModelProto;
import dev.rlhf.model.onnx.Onnx.OperatorSetIdProto;
import dev.rlhf.model.onnx.Onnx.StringStringEntryProto;
import dev.rlhf.model.onnx.Onnx.TensorProto;

/**
 * Writes a Llama decoder ({@link DecoderGraph}) as an ONNX model file: opset 17, IR 8.
 * Weights are inline unless they exceed {@link #INLINE_LIMIT_BYTES} (protobuf's 2 GB cap) or
 * external data is asked for; then they go to {@code <file>.data} next to the model and the
 * graph refers to them by offset (ONNX external data), which ONNX Runtime reads directly.
 */
public final class OnnxExport {

    /** Above this many weight bytes the weights are written as external data. */
    public static final long INLINE_LIMIT_BYTES = 1_800_000_000L;
    public static final int OPSET = 17;
    public static final int IR_VERSION = 8;

    private OnnxExport() {
    }

    /**
     * Writes {@code file} (and {@code file + ".data"} when external).
     *
     * @param weights HF-named weights, checked against {@code config} first; for
     *                {@link DecoderGraph.Head#SCALAR} also {@code score.weight} [K, D] and, optionally,
     *                a randomized prior {@code prior.embed} [V, P] and {@code prior.weight} [K, P]
     * @param external force external data (otherwise chosen by size)
     * @return whether the weights were written as external data
     */
    public static boolean write(ModelConfig config, Map<String, Tensor> weights, DecoderGraph.Head head, Path file,
            boolean external) {
        // 1. the weights must be exactly the architecture's
        LlamaWeights.check(config, head == DecoderGraph.Head.SCALAR ? withoutScore(weights) : weights);
        if (head == DecoderGraph.Head.SCALAR) {
            Tensor score = weights.get("score.weight");
            if (score == null || score.shape().length != 2 || score.shape()[0] < 1 || score.shape()[0] > 64
                    || score.shape()[1] != config.hiddenSize()) {
                throw new IllegalArgumentException("a scalar-head model needs score.weight of shape [K, "
                        + config.hiddenSize() + "], 1 <= K <= 64");
            }
        }
        long bytes = weights.values().stream().mapToLong(t -> 4L * t.data().length).sum();
        boolean useExternal = external || bytes > INLINE_LIMIT_BYTES;
        Path dataFile = file.resolveSibling(file.getFileName() + ".data");
        try {
            Files.deleteIfExists(dataFile);
            // 2. the graph, with weights inline or appended to the data file
            Onnx.GraphProto graph;
            if (useExternal) {
                try (FileChannel data = FileChannel.open(dataFile, StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE)) {
                    graph = DecoderGraph.build(config, weights, head, externalSink(data, dataFile.getFileName().toString()));
                    data.force(true);
                }
            } else {
                graph = DecoderGraph.build(config, weights, head, GraphBuilder.INLINE);
            }
            // 3. the model around it
            ModelProto model = ModelProto.newBuilder()
                    .setIrVersion(IR_VERSION)
                    .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                    .setProducerName("dev.rlhf.model")
                    .setProducerVersion("1")
                    .setGraph(graph)
                    .addMetadataProps(StringStringEntryProto.newBuilder().setKey("head").setValue(head.name()))
                    .addMetadataProps(StringStringEntryProto.newBuilder().setKey("config").setValue(config.toJson()))
                    .build();
            try (OutputStream out = Files.newOutputStream(file)) {
                model.writeTo(out);
            }
            return useExternal;
        } catch (IOException e) {
            throw new UncheckedIOException("writing the ONNX model " + file + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * The fused-attention serving graph ({@link DecoderGraph#withFusedAttention}) of the
     * causal-LM model in {@code file}, written by {@link #write}. The new graph holds no weight
     * bytes: its initializers are external data in {@code file} itself (where the inline ones
     * lie, found by a scan that skips over them) or in its external data file, so open it
     * with {@code session.model_external_initializers_file_folder_path} set to {@code file}'s
     * folder.
     *
     * @throws IllegalArgumentException when {@code file} is not a causal-LM model of this
     *                                  exporter or {@code config} is not the one it was written with
     */
    public static ModelProto fusedAttention(Path file, ModelConfig config) {
        Map<String, String> meta = new java.util.HashMap<>();
        Map<String, TensorProto> initializers = new java.util.HashMap<>();
        try (var stream = Files.newInputStream(file)) {
            CodedInputStream in = CodedInputStream.newInstance(stream, 1 << 16);
            in.setSizeLimit(Integer.MAX_VALUE);
            String location = file.getFileName().toString();
            while (!in.isAtEnd()) {
                int tag = in.readTag();
                int field = WireFormat.getTagFieldNumber(tag);
                if (field == ModelProto.GRAPH_FIELD_NUMBER) {
                    int limit = in.pushLimit(in.readRawVarint32());
                    while (!in.isAtEnd()) {
                        int graphTag = in.readTag();
                        if (WireFormat.getTagFieldNumber(graphTag) == Onnx.GraphProto.INITIALIZER_FIELD_NUMBER) {
                            int tensorLimit = in.pushLimit(in.readRawVarint32());
                            TensorProto t = referenced(in, location);
                            initializers.put(t.getName(), t);
                            in.popLimit(tensorLimit);
                        } else {
                            in.skipField(graphTag);
                        }
                    }
                    in.popLimit(limit);
                } else if (field == ModelProto.METADATA_PROPS_FIELD_NUMBER) {
                    StringStringEntryProto e = in.readMessage(StringStringEntryProto.parser(),
                            ExtensionRegistryLite.getEmptyRegistry());
                    meta.put(e.getKey(), e.getValue());
                } else {
                    in.skipField(tag);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading the ONNX model " + file + " failed: " + e.getMessage(), e);
        }
        if (!DecoderGraph.Head.CAUSAL_LM.name().equals(meta.get("head"))) {
            throw new IllegalArgumentException(file + " is not a causal-LM model of this exporter (head "
                    + meta.get("head") + ")");
        }
        if (meta.get("config") == null || !ModelConfig.fromJson(meta.get("config")).equals(config)) {
            throw new IllegalArgumentException(file + " was written for another configuration than " + config.toJson());
        }
        return ModelProto.newBuilder().setIrVersion(IR_VERSION)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .setProducerName("dev.rlhf.model").setProducerVersion("1")
                .setGraph(DecoderGraph.withFusedAttention(initializers, config)).build();
    }

    /**
     * One initializer of a model file, {@code in} positioned on its fields: everything but
     * inline raw data is read; raw data is skipped and referred to by its place in the file.
     */
    private static TensorProto referenced(CodedInputStream in, String location) throws IOException {
        TensorProto.Builder t = TensorProto.newBuilder();
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            switch (WireFormat.getTagFieldNumber(tag)) {
                case TensorProto.RAW_DATA_FIELD_NUMBER -> {
                    int length = in.readRawVarint32();
                    long offset = in.getTotalBytesRead();
                    in.skipRawBytes(length);
                    t.setDataLocation(TensorProto.DataLocation.EXTERNAL).addExternalData(entry("location", location))
                            .addExternalData(entry("offset", Long.toString(offset)))
                            .addExternalData(entry("length", Long.toString(length)));
                }
                case TensorProto.DIMS_FIELD_NUMBER, TensorProto.DATA_TYPE_FIELD_NUMBER, TensorProto.NAME_FIELD_NUMBER,
                        TensorProto.EXTERNAL_DATA_FIELD_NUMBER, TensorProto.DATA_LOCATION_FIELD_NUMBER -> t.mergeFrom(
                                single(in, tag));
                default -> in.skipField(tag); // typed data fields: this exporter writes weights as raw data
            }
        }
        return t.build();
    }

    /** One field of a message, as the bytes of a message holding only it. */
    private static ByteString single(CodedInputStream in, int tag)
            throws IOException {
        ByteString.Output bytes = ByteString.newOutput();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        in.skipField(tag, out);
        out.flush();
        return bytes.toByteString();
    }

    private static Map<String, Tensor> withoutScore(Map<String, Tensor> weights) {
        Map<String, Tensor> copy = new java.util.LinkedHashMap<>(weights);
        copy.remove("score.weight");
        copy.remove("prior.embed");
        copy.remove("prior.weight");
        return copy;
    }

    private static GraphBuilder.WeightSink externalSink(FileChannel data, String location) {
        return (TensorProto.Builder t, ByteBuffer bytes) -> {
            try {
                long offset = data.position();
                bytes.rewind();
                while (bytes.hasRemaining()) {
                    data.write(bytes);
                }
                t.setDataLocation(TensorProto.DataLocation.EXTERNAL)
                        .addExternalData(entry("location", location))
                        .addExternalData(entry("offset", Long.toString(offset)))
                        .addExternalData(entry("length", Long.toString(data.position() - offset)));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
    }

    private static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }
}
