package dev.rlhf.model.ort;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.rlhf.model.onnx.Onnx;

/** The compute roofline the benchmarks divide by: fp32 MatMul throughput of this ONNX Runtime. */
public final class OrtPeak {

    private OrtPeak() {
    }

    /** fp32 GFLOP/s of a 1024×1024 MatMul graph with {@code threads} intra-op threads: the best of 10 runs. */
    public static double matMulGflops(int threads) throws java.io.IOException, OrtException {
        int size = 1024;
        Onnx.TypeProto.Builder type = Onnx.TypeProto.newBuilder();
        type.getTensorTypeBuilder().setElemType(1).getShapeBuilder()
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(size))
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(size));
        var graph = Onnx.GraphProto.newBuilder().setName("mm")
                .addNode(Onnx.NodeProto.newBuilder().setOpType("MatMul").addInput("a").addInput("b").addOutput("c"))
                .addInput(Onnx.ValueInfoProto.newBuilder().setName("a").setType(type))
                .addInput(Onnx.ValueInfoProto.newBuilder().setName("b").setType(type))
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("c").setType(type));
        Path file = Files.createTempFile("matmul", ".onnx");
        Files.write(file, Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setVersion(17)).setGraph(graph).build().toByteArray());
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[] data = new float[size * size];
        Arrays.fill(data, 0.5f);
        double best = 0;
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setIntraOpNumThreads(threads);
            try (OrtSession s = env.createSession(file.toString(), so);
                    OnnxTensor a = OnnxTensor.createTensor(env, FloatBuffer.wrap(data), new long[] {size, size});
                    OnnxTensor b = OnnxTensor.createTensor(env, FloatBuffer.wrap(data), new long[] {size, size})) {
                for (int i = 0; i < 10; i++) {
                    long start = System.nanoTime();
                    try (OrtSession.Result out = s.run(Map.of("a", a, "b", b))) {
                        best = Math.max(best, 2.0 * size * size * size / ((System.nanoTime() - start) / 1e9) / 1e9);
                    }
                }
            }
        } finally {
            Files.deleteIfExists(file);
        }
        return best;
    }
}
