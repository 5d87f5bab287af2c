package dev.rlhf.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.Tensor;
import dev.rlhf.model.onnx.DecoderGraph;
import dev.rlhf.model.onnx.OnnxExport;

/** The files of a model version, written to a temp folder for {@code ModelStore.write}. */
public final class VersionFolder {

    private VersionFolder() {
    }

    /** config.json, tokenizer.json, model.safetensors and model.onnx (+ .data) with {@code head}. */
    public static Path write(ModelConfig model, List<Tensor> weights, Path tokenizerJson, DecoderGraph.Head head)
            throws IOException {
        Path folder = Files.createTempDirectory("rlhf-export-");
        model.write(folder.resolve("config.json"));
        Files.copy(tokenizerJson, folder.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        SafeTensors.write(folder.resolve("model.safetensors"), weights, Map.of("format", "pt"));
        Map<String, Tensor> byName = new LinkedHashMap<>();
        weights.forEach(t -> byName.put(t.name(), t));
        OnnxExport.write(model, byName, head, folder.resolve("model.onnx"), false);
        return folder;
    }

    /** Deletes {@code dir} and everything in it. */
    public static void delete(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
