package dev.rlhf.trainer.ppo.job;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.ObjectMapper;

import dev.rlhf.model.SafeTensors;
import dev.rlhf.model.Tensor;

/**
 * The crash-safe checkpoint of a PPO job, one folder per job name:
 * <pre>
 *   &lt;root&gt;/&lt;job name&gt;/LATEST            the name of the current checkpoint folder
 *   &lt;root&gt;/&lt;job name&gt;/ckpt-&lt;iteration&gt;/
 *       weights.safetensors   the policy's weights and the value head
 *       optimizer.safetensors the moments of both optimizers ("actor:m/…", "critic:v/…")
 *       state.json            iteration, KL controller, optimizer step counts, rollout positions,
 *                             the current policy version, the models the job started from
 *       trained.tsv           "iteration \t rollout id" of every rollout trained on so far
 * </pre>
 * A checkpoint is written into a temporary folder, every file fsynced, the folder renamed into
 * place, and only then LATEST replaced by an atomic rename (and the parent fsynced): a crash at
 * any point leaves the previous checkpoint current and complete. Older folders are deleted
 * after the switch.
 */
public final class PpoCheckpoint {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String LATEST = "LATEST";

    /**
     * Everything but the tensors.
     *
     * @param currentName    with {@code currentVersion}: the policy the staleness rule judges
     *                       rollouts against (the starting policy, then the last export)
     */
    public record State(long iteration, Map<String, Double> kl, long actorSteps, long criticSteps,
            Map<Integer, Long> positions, String policyName, long policyVersion, String referenceName,
            long referenceVersion, String currentName, long currentVersion) {
    }

    /** A loaded checkpoint. */
    public record Saved(State state, Map<String, Tensor> weights, Map<String, Tensor> actorMoments,
            Map<String, Tensor> criticMoments, List<String> trained, Path folder) {
    }

    private final Path dir;

    /** @param dir the job's folder, {@code <checkpoints>/<job name>} */
    public PpoCheckpoint(Path dir) {
        this.dir = dir;
    }

    /** Writes a checkpoint and makes it the current one; returns its folder. */
    public Path save(State state, List<Tensor> weights, List<Tensor> actorMoments, List<Tensor> criticMoments,
            List<String> trained) throws IOException {
        Files.createDirectories(dir);
        Path tmp = dir.resolve("tmp-" + UUID.randomUUID());
        Files.createDirectories(tmp);
        SafeTensors.write(tmp.resolve("weights.safetensors"), weights, Map.of("format", "pt"));
        List<Tensor> moments = new ArrayList<>();
        actorMoments.forEach(t -> moments.add(new Tensor("actor:" + t.name(), t.shape(), t.data())));
        criticMoments.forEach(t -> moments.add(new Tensor("critic:" + t.name(), t.shape(), t.data())));
        SafeTensors.write(tmp.resolve("optimizer.safetensors"), moments, Map.of("format", "pt"));
        JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve("state.json").toFile(), state);
        Files.write(tmp.resolve("trained.tsv"), trained, StandardCharsets.UTF_8);
        try (Stream<Path> files = Files.list(tmp)) {
            for (Path f : files.toList()) {
                fsync(f);
            }
        }
        fsync(tmp);
        String name = "ckpt-" + state.iteration();
        Path target = dir.resolve(name);
        if (Files.exists(target)) { // left by a run that crashed before switching LATEST to it
            delete(target);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        Path latestTmp = dir.resolve(LATEST + ".tmp");
        Files.writeString(latestTmp, name, StandardCharsets.UTF_8);
        fsync(latestTmp);
        Files.move(latestTmp, dir.resolve(LATEST), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsync(dir);
        try (Stream<Path> old = Files.list(dir)) {
            for (Path p : old.toList()) {
                String n = p.getFileName().toString();
                if (Files.isDirectory(p) && !n.equals(name) && (n.startsWith("ckpt-") || n.startsWith("tmp-"))) {
                    delete(p);
                }
            }
        }
        return target;
    }

    /** The current checkpoint, or empty when the job has none. */
    public Optional<Saved> load() throws IOException {
        Path latest = dir.resolve(LATEST);
        if (!Files.isRegularFile(latest)) {
            return Optional.empty();
        }
        Path folder = dir.resolve(Files.readString(latest, StandardCharsets.UTF_8).trim());
        State state = JSON.readValue(folder.resolve("state.json").toFile(), State.class);
        Map<String, Tensor> moments = SafeTensors.read(folder.resolve("optimizer.safetensors"));
        return Optional.of(new Saved(state, SafeTensors.read(folder.resolve("weights.safetensors")),
                strip(moments, "actor:"), strip(moments, "critic:"),
                Files.readAllLines(folder.resolve("trained.tsv"), StandardCharsets.UTF_8), folder));
    }

    /** Removes the job's checkpoints (a fresh start replaces them). */
    public void clear() throws IOException {
        if (Files.exists(dir)) {
            delete(dir);
        }
    }

    private static Map<String, Tensor> strip(Map<String, Tensor> all, String prefix) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        all.forEach((k, t) -> {
            if (k.startsWith(prefix)) {
                String name = k.substring(prefix.length());
                out.put(name, new Tensor(name, t.shape(), t.data()));
            }
        });
        return out;
    }

    private static void fsync(Path p) throws IOException {
        try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
            c.force(true);
        }
    }

    private static void delete(Path p) throws IOException {
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path x : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        }
    }
}
