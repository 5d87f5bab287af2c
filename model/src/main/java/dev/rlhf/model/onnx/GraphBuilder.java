package dev.rlhf.model.onnx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import com.google.protobuf.ByteString;

import dev.rlhf.model.onnx.Onnx.AttributeProto;
import dev.rlhf.model.onnx.Onnx.GraphProto;
import dev.rlhf.model.onnx.Onnx.NodeProto;
import dev.rlhf.model.onnx.Onnx.TensorProto;
import dev.rlhf.model.onnx.Onnx.TensorShapeProto;
import dev.rlhf.model.onnx.Onnx.TypeProto;
import dev.rlhf.model.onnx.Onnx.ValueInfoProto;

/**
 * A small builder of ONNX graphs: nodes get unique output names, constants and weights
 * become initializers. Knows nothing about models; {@link DecoderGraph} uses it.
 */
final class GraphBuilder {

    /** A graph input/output dimension: a fixed size or a symbolic name. */
    record Dim(long size, String symbol) {
        static Dim of(long size) {
            return new Dim(size, null);
        }

        static Dim sym(String symbol) {
            return new Dim(-1, symbol);
        }
    }

    /**
     * Where weight bytes go: into the graph ({@code raw_data}, models under 2 GB) or into an
     * external data file next to it (ONNX external data: location, offset, length).
     */
    interface WeightSink {
        /** Fills {@code t} with {@code littleEndian} (raw_data or external_data entries). */
        void put(TensorProto.Builder t, ByteBuffer littleEndian);
    }

    /** Weights inline, as raw_data. */
    static final WeightSink INLINE = (t, bytes) -> t.setRawData(ByteString.copyFrom(bytes));

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final WeightSink sink;
    private int counter;

    GraphBuilder(String name, WeightSink sink) {
        graph.setName(name);
        this.sink = sink;
    }

    /** Adds a node with one output; returns the output's name. */
    String op(String opType, String hint, List<AttributeProto> attributes, String... inputs) {
        String out = hint + "_" + (counter++);
        graph.addNode(NodeProto.newBuilder().setOpType(opType).setName(out + "_" + opType)
                .addAllInput(List.of(inputs)).addOutput(out).addAllAttribute(attributes));
        return out;
    }

    String op(String opType, String hint, String... inputs) {
        return op(opType, hint, List.of(), inputs);
    }

    /** Adds a node whose single output has the given exact name (a graph output). */
    void opNamed(String opType, String output, List<AttributeProto> attributes, String... inputs) {
        graph.addNode(NodeProto.newBuilder().setOpType(opType).setName(output + "_" + opType)
                .addAllInput(List.of(inputs)).addOutput(output).addAllAttribute(attributes));
    }

    /** Adds a node with several outputs (e.g. Split); returns their names. */
    List<String> opMulti(String opType, String hint, int outputs, List<AttributeProto> attributes, String... inputs) {
        List<String> names = new ArrayList<>();
        NodeProto.Builder node = NodeProto.newBuilder().setOpType(opType).setName(hint + "_" + counter + "_" + opType)
                .addAllInput(List.of(inputs)).addAllAttribute(attributes);
        for (int i = 0; i < outputs; i++) {
            String n = hint + "_" + (counter++);
            names.add(n);
            node.addOutput(n);
        }
        graph.addNode(node);
        return names;
    }

    /** An int64 constant tensor (initializer), e.g. a shape or axes. */
    String int64s(String hint, long... values) {
        String name = hint + "_" + (counter++);
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(values.length);
        for (long v : values) {
            t.addInt64Data(v);
        }
        graph.addInitializer(t);
        return name;
    }

    /** A scalar int64 constant. */
    String int64Scalar(String hint, long value) {
        String name = hint + "_" + (counter++);
        graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
                .addInt64Data(value));
        return name;
    }

    /** A scalar float constant. */
    String floatScalar(String hint, float value) {
        String name = hint + "_" + (counter++);
        graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addFloatData(value));
        return name;
    }

    /** A float initializer with the given name (weights), stored as little-endian raw data. */
    String floats(String name, long[] shape, float[] data) {
        ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(data);
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE);
        for (long d : shape) {
            t.addDims(d);
        }
        sink.put(t, buf);
        graph.addInitializer(t);
        return name;
    }

    void input(String name, TensorProto.DataType type, Dim... dims) {
        graph.addInput(valueInfo(name, type, dims));
    }

    void output(String name, TensorProto.DataType type, Dim... dims) {
        graph.addOutput(valueInfo(name, type, dims));
    }

    GraphProto.Builder proto() {
        return graph;
    }

    private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, Dim... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Dim d : dims) {
            shape.addDim(d.symbol() != null ? TensorShapeProto.Dimension.newBuilder().setDimParam(d.symbol())
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(d.size()));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape))).build();
    }

    static AttributeProto intAttr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    static AttributeProto floatAttr(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value).build();
    }

    static AttributeProto intsAttr(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }
}
