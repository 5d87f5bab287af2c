package dev.rlhf.model;

import java.nio.file.Path;
import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * One verified version of a model in a {@link ModelStore}: the folder
 * {@code <root>/<name>/<version>/} and what its {@code manifest.json} says about it.
 *
 * @param name          the model name, e.g. {@code policy}
 * @param kind          the role of the model
 * @param version       1, 2, ...: increases by one with each write of {@code name}
 * @param parentVersion the version this one was trained from, 0 for none
 * @param dir           the version folder
 * @param files         file name → lower-case hex SHA-256, sorted by name
 * @param metrics       figures recorded with the version (e.g. reward, KL), sorted by key
 * @param createdAt     when the version was written
 */
public record StoredVersion(String name, ModelKind kind, long version, long parentVersion, Path dir,
                            Map<String, String> files, Map<String, Double> metrics, Instant createdAt) {

    /** Copies the maps (unmodifiable) and checks nothing is null. */
    public StoredVersion {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(createdAt, "createdAt");
        files = Collections.unmodifiableSortedMap(new TreeMap<>(files));
        metrics = Collections.unmodifiableSortedMap(new TreeMap<>(metrics));
    }

    /**
     * The path of one of this version's files, e.g. {@code file("model.onnx")}.
     *
     * @throws IllegalArgumentException if the manifest lists no such file
     */
    public Path file(String fileName) {
        if (!files.containsKey(fileName)) {
            throw new IllegalArgumentException("version " + dir + " has no file " + fileName + "; its files are "
                    + files.keySet());
        }
        return dir.resolve(fileName);
    }
}
