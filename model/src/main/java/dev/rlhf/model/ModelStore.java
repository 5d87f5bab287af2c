package dev.rlhf.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The versioned model store: immutable, verified versions of each named model on a local
 * (or mounted) file system.
 *
 * <pre>
 * &lt;root&gt;/
 *   .tmp/&lt;name&gt;-&lt;uuid&gt;/          versions being written (never read; leftovers of a crash)
 *   &lt;name&gt;/&lt;version&gt;/            1, 2, 3, ...
 *     config.json, tokenizer.json, model.safetensors, model.onnx, ...
 *     manifest.json                {"name","kind","version","parent_version","created_at",
 *                                   "files":{"&lt;file&gt;":{"sha256":"&lt;hex&gt;","bytes":n}},"metrics":{"&lt;k&gt;":x}}
 * </pre>
 *
 * <p>Crash safety: {@link #write} builds the version in {@code .tmp}, fsyncs every file and
 * the folder, then renames it into place in one atomic step, so a version folder is either
 * absent or complete. {@link #load} re-verifies size and SHA-256 of every file, so a version
 * damaged after the fact is refused rather than half-used. Several processes may write the
 * same name at once: each claims the next free number.
 *
 * <p>A version's own files never change after the rename; a crashed writer leaves only a
 * folder under {@code .tmp}, which {@link #versions} and {@link #latest} ignore and which
 * may be deleted when no writer runs.
 */
public final class ModelStore {

    /** The manifest's file name in each version folder. */
    public static final String MANIFEST = "manifest.json";
    /** Model names: lower-case, start with a letter or digit, at most 64 characters. */
    public static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    /** Version folder names: canonical positive decimals. */
    private static final Pattern VERSION = Pattern.compile("[1-9][0-9]{0,17}");
    private static final String TMP = ".tmp";
    private static final int MAX_CLAIMS = 1000;
    private static final int CHUNK = 1 << 20;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final Path root;

    /** A store rooted at {@code root}; the folder is created on the first write. */
    public ModelStore(Path root) {
        this.root = Objects.requireNonNull(root, "root");
    }

    /** The store's root folder. */
    public Path root() {
        return root;
    }

    /** Size and digest of one stored file, as the manifest records them. */
    private record FileEntry(String sha256, long bytes) {
    }

    // ---------------------------------------------------------------- writing

    /**
     * Stores every regular file of {@code sourceDir} (sub-folders are not copied) as the next
     * version of {@code name}.
     *
     * @param parentVersion the version this one was trained from, 0 for none
     * @param metrics       figures to record with the version; finite values only
     * @return the new version, as {@link #load} would return it
     * @throws IllegalArgumentException on a bad name, a negative parent, a non-finite metric,
     *                                  an empty source folder or a source file named manifest.json
     */
    public StoredVersion write(String name, ModelKind kind, long parentVersion, Path sourceDir, Map<String, Double> metrics)
            throws IOException {
        // 1. validate the arguments before touching the disk
        checkName(name);
        Objects.requireNonNull(kind, "kind");
        checkArguments(parentVersion, metrics);
        List<Path> sources = sourceFiles(sourceDir);
        // 2. copy into a private temp folder, hashing and fsyncing each file
        Path tmp = root.resolve(TMP).resolve(name + "-" + UUID.randomUUID());
        Files.createDirectories(tmp);
        try {
            Map<String, FileEntry> files = new TreeMap<>();
            for (Path src : sources) {
                String file = src.getFileName().toString();
                files.put(file, copyAndHash(src, tmp.resolve(file)));
            }
            // 3. claim the next version number by an atomic rename
            Instant createdAt = Instant.now();
            ObjectNode manifest = manifest(name, kind, parentVersion, createdAt, files, metrics);
            long version = publish(name, tmp, manifest);
            return new StoredVersion(name, kind, version, parentVersion, versionDir(name, version),
                    sha256s(files), metrics, createdAt);
        } catch (IOException | RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    private static void checkArguments(long parentVersion, Map<String, Double> metrics) {
        if (parentVersion < 0) {
            throw new IllegalArgumentException("parentVersion (" + parentVersion + ") must be >= 0; 0 means no parent");
        }
        metrics.forEach((k, v) -> {
            if (v == null || !Double.isFinite(v)) {
                throw new IllegalArgumentException("metric " + k + " (" + v + ") must be a finite number; leave it out instead");
            }
        });
    }

    /** The regular files of {@code dir}, sorted by name. */
    private static List<Path> sourceFiles(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("source folder " + dir + " does not exist or is not a folder");
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(Files::isRegularFile).sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
        }
        if (files.isEmpty()) {
            throw new IllegalArgumentException("source folder " + dir + " holds no files; nothing to store");
        }
        if (files.stream().anyMatch(p -> p.getFileName().toString().equals(MANIFEST))) {
            throw new IllegalArgumentException("source folder " + dir + " holds a " + MANIFEST
                    + ", a name the store reserves for its own manifest; rename that file");
        }
        return files;
    }

    /** Copies {@code src} to a new file {@code dst}, fsyncs it, and returns its SHA-256 and size. */
    private static FileEntry copyAndHash(Path src, Path dst) throws IOException {
        try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ);
             FileChannel out = FileChannel.open(dst, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            FileEntry e = hash(in, out);
            out.force(true);
            return e;
        }
    }

    /** Streams {@code in} through SHA-256, writing each chunk to {@code out} when it is not null. */
    private static FileEntry hash(FileChannel in, FileChannel out) throws IOException {
        MessageDigest sha = sha256();
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        long bytes = 0;
        while (in.read(buf) >= 0) {
            buf.flip();
            bytes += buf.remaining();
            sha.update(buf.duplicate());
            while (out != null && buf.hasRemaining()) {
                out.write(buf);
            }
            buf.clear();
        }
        return new FileEntry(HexFormat.of().formatHex(sha.digest()), bytes);
    }

    private ObjectNode manifest(String name, ModelKind kind, long parentVersion, Instant createdAt,
                                Map<String, FileEntry> files, Map<String, Double> metrics) {
        ObjectNode m = JSON.createObjectNode();
        m.put("name", name);
        m.put("kind", kind.name());
        m.put("version", 0L); // set by publish() once the number is known
        m.put("parent_version", parentVersion);
        m.put("created_at", createdAt.toString());
        ObjectNode f = m.putObject("files");
        files.forEach((file, e) -> f.putObject(file).put("sha256", e.sha256()).put("bytes", e.bytes()));
        ObjectNode x = m.putObject("metrics");
        new TreeMap<>(metrics).forEach(x::put);
        return m;
    }

    /**
     * Moves the finished temp folder to {@code <root>/<name>/<next>}, where next is one more
     * than the highest version; when another writer took that number first, tries the next.
     *
     * @return the version claimed
     */
    private long publish(String name, Path tmp, ObjectNode manifest) throws IOException {
        Path modelDir = root.resolve(name);
        if (!Files.isDirectory(modelDir)) {
            Files.createDirectories(modelDir);
            fsyncDir(root);
        }
        long next = latest(name).orElse(0) + 1;
        for (int claim = 0; claim < MAX_CLAIMS; claim++, next = Math.max(next + 1, latest(name).orElse(0) + 1)) {
            Path target = modelDir.resolve(Long.toString(next));
            if (Files.exists(target)) {
                continue;
            }
            // 1. the manifest names the version it is about to become; fsync it and the folder
            manifest.put("version", next);
            writeSynced(tmp.resolve(MANIFEST), JSON.writeValueAsBytes(manifest));
            fsyncDir(tmp);
            // 2. the atomic rename: readers see no folder or a complete one
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileSystemException e) {
                if (Files.exists(target)) {
                    continue; // a concurrent writer claimed `next` between our check and our rename
                }
                throw e;
            }
            // 3. make the rename durable
            fsyncDir(modelDir);
            fsyncDir(tmp.getParent());
            return next;
        }
        throw new IOException("could not claim a version folder under " + modelDir + " in " + MAX_CLAIMS
                + " tries; are that many writers running?");
    }

    private static void writeSynced(Path file, byte[] bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
    }

    /** fsync of a folder, so a create or rename inside it survives a power loss. */
    private static void fsyncDir(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // some platforms (Windows) cannot open or force a folder; the rename is still atomic there
        }
    }

    // ---------------------------------------------------------------- reading

    /**
     * Loads and verifies one version: its manifest, and the existence, size and SHA-256 of
     * every file the manifest lists (files it does not list are ignored).
     *
     * @throws NoSuchFileException    if there is no such version
     * @throws CorruptModelException  if the manifest or any listed file fails verification
     */
    public StoredVersion load(String name, long version) throws IOException {
        return load(name, version, null);
    }

    /**
     * Like {@link #load(String, long)}, but hashes only the files a reader uses (a server
     * needs {@code model.onnx}, not the training weights); each must be listed in the manifest.
     *
     * @param verify the files to check, null for all listed ones
     */
    public StoredVersion load(String name, long version, java.util.Set<String> verify) throws IOException {
        checkName(name);
        Path dir = versionDir(name, version);
        if (version <= 0 || !Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "no version " + version + " of model " + name
                    + "; its versions are " + versions(name));
        }
        // 1. the manifest, checked against the folder it sits in
        JsonNode m = readManifest(dir);
        ManifestFields f = ManifestFields.parse(dir, m, name, version);
        // 2. every listed (or asked-for) file: exists, size, sha256
        if (verify != null) {
            for (String file : verify) {
                if (!f.files().containsKey(file)) {
                    throw new CorruptModelException(dir, "manifest.json lists no " + file);
                }
            }
        }
        for (Map.Entry<String, FileEntry> e : f.files().entrySet()) {
            if (verify == null || verify.contains(e.getKey())) {
                verify(dir, e.getKey(), e.getValue());
            }
        }
        return new StoredVersion(name, f.kind(), version, f.parentVersion(), dir, sha256s(f.files()), f.metrics(), f.createdAt());
    }

    /** The highest version of {@code name}, empty when none has been written. */
    public OptionalLong latest(String name) throws IOException {
        List<Long> v = versions(name);
        return v.isEmpty() ? OptionalLong.empty() : OptionalLong.of(v.get(v.size() - 1));
    }

    /** The versions of {@code name}, ascending; folders with other names (and {@code .tmp}) are ignored. */
    public List<Long> versions(String name) throws IOException {
        checkName(name);
        Path dir = root.resolve(name);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isDirectory)
                    .map(p -> p.getFileName().toString())
                    .filter(VERSION.asMatchPredicate())
                    .map(Long::valueOf)
                    .sorted()
                    .toList();
        }
    }

    private static JsonNode readManifest(Path dir) {
        Path file = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(file)) {
            throw new CorruptModelException(dir, MANIFEST + " is missing");
        }
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new CorruptModelException(dir, MANIFEST + " is unreadable: " + e.getMessage(), e);
        }
    }

    private static void verify(Path dir, String file, FileEntry expected) throws IOException {
        Path p = dir.resolve(file);
        if (!Files.isRegularFile(p)) {
            throw new CorruptModelException(dir, file + " is missing");
        }
        long size = Files.size(p);
        if (size != expected.bytes()) {
            throw new CorruptModelException(dir, file + " has size " + size + ", expected " + expected.bytes());
        }
        FileEntry actual;
        try (FileChannel in = FileChannel.open(p, StandardOpenOption.READ)) {
            actual = hash(in, null);
        }
        if (!actual.sha256().equals(expected.sha256()) || actual.bytes() != expected.bytes()) {
            throw new CorruptModelException(dir, file + ": sha256 mismatch, " + actual.sha256() + " != expected "
                    + expected.sha256());
        }
    }

    /** The fields of a manifest, each checked; any problem is a {@link CorruptModelException} naming the manifest. */
    private record ManifestFields(ModelKind kind, long parentVersion, Instant createdAt, Map<String, FileEntry> files,
                                  Map<String, Double> metrics) {

        static ManifestFields parse(Path dir, JsonNode m, String name, long version) {
            try {
                require(m.path("name").asText().equals(name), "says name " + m.path("name") + ", expected " + name);
                require(m.path("version").isIntegralNumber() && m.path("version").longValue() == version,
                        "says version " + m.path("version") + ", expected " + version);
                long parent = m.path("parent_version").asLong(-1);
                require(m.path("parent_version").isIntegralNumber() && parent >= 0, "has a bad parent_version "
                        + m.path("parent_version"));
                return new ManifestFields(ModelKind.valueOf(m.path("kind").asText()), parent,
                        Instant.parse(m.path("created_at").asText()), files(m.path("files")), metrics(m.path("metrics")));
            } catch (RuntimeException e) {
                throw new CorruptModelException(dir, MANIFEST + " is invalid: " + e.getMessage(), e);
            }
        }

        private static Map<String, FileEntry> files(JsonNode node) {
            require(node.isObject() && !node.isEmpty(), "lists no files");
            Map<String, FileEntry> out = new TreeMap<>();
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                String file = e.getKey();
                require(!file.isEmpty() && !file.equals(".") && !file.equals("..") && !file.equals(MANIFEST)
                        && file.indexOf('/') < 0 && file.indexOf('\\') < 0, "lists a bad file name \"" + file + "\"");
                JsonNode sha = e.getValue().path("sha256");
                JsonNode bytes = e.getValue().path("bytes");
                require(sha.isTextual() && sha.textValue().matches("[0-9a-f]{64}"), "has a bad sha256 for " + file);
                require(bytes.isIntegralNumber() && bytes.longValue() >= 0, "has a bad size for " + file);
                out.put(file, new FileEntry(sha.textValue(), bytes.longValue()));
            }
            return out;
        }

        private static Map<String, Double> metrics(JsonNode node) {
            Map<String, Double> out = new TreeMap<>();
            if (node.isMissingNode() || node.isNull()) {
                return out;
            }
            require(node.isObject(), "has metrics that are not an object");
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                require(e.getValue().isNumber(), "has a non-numeric metric " + e.getKey());
                out.put(e.getKey(), e.getValue().doubleValue());
            }
            return out;
        }

        private static void require(boolean ok, String problem) {
            if (!ok) {
                throw new IllegalStateException(problem);
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    /** The folder of {@code name} version {@code version}, whether or not it exists. */
    public Path versionDir(String name, long version) {
        checkName(name);
        return root.resolve(name).resolve(Long.toString(version));
    }

    private static void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("model name \"" + name + "\" must match " + NAME.pattern()
                    + " (lower-case letters, digits, '.', '_', '-'; at most 64 characters), e.g. \"policy\"");
        }
    }

    private static Map<String, String> sha256s(Map<String, FileEntry> files) {
        Map<String, String> out = new TreeMap<>();
        files.forEach((f, e) -> out.put(f, e.sha256()));
        return out;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform provides SHA-256", e);
        }
    }

    /** Best-effort removal of a temp folder after a failed write. */
    private static void deleteQuietly(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // leave it: versions() ignores .tmp
                }
            });
        } catch (IOException e) {
            // the folder is gone or unreadable; versions() ignores .tmp either way
        }
    }
}
