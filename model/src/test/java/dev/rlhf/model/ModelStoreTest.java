package dev.rlhf.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelStoreTest {

    @TempDir
    Path tmp;

    private Path source(String name, Map<String, String> files) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("src-" + name));
        for (Map.Entry<String, String> f : files.entrySet()) {
            Files.writeString(dir.resolve(f.getKey()), f.getValue());
        }
        return dir;
    }

    private Path smallSource() throws IOException {
        return source("small", Map.of("config.json", ModelConfig.tiny(100).toJson(), "model.safetensors", "weights..."));
    }

    @Test
    void writeThenLoadRoundTrips() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        StoredVersion w = store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of("reward", 0.5, "kl", 0.01));
        StoredVersion r = store.load("policy", 1);
        assertEquals(w, r);
        assertEquals(1, r.version());
        assertEquals(ModelKind.POLICY, r.kind());
        assertEquals(0, r.parentVersion());
        assertEquals(Map.of("reward", 0.5, "kl", 0.01), r.metrics());
        assertEquals(List.of("config.json", "model.safetensors"), new ArrayList<>(r.files().keySet()));
        assertEquals("weights...", Files.readString(r.file("model.safetensors")));
        assertEquals(ModelConfig.tiny(100), ModelConfig.read(r.file("config.json")));
        // sha256 of "weights...", from `printf 'weights...' | sha256sum`
        assertEquals("0a6ebce91850eb195579425b33f51e1657a91e792c7945f91e5c0f34e4fa9d32", r.files().get("model.safetensors"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.file("model.onnx"));
        assertTrue(e.getMessage().contains("model.onnx") && e.getMessage().contains("config.json"), e.getMessage());
    }

    @Test
    void versionsIncreaseAndRecordTheirParent() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        assertEquals(OptionalLong.empty(), store.latest("policy"));
        assertEquals(List.of(), store.versions("policy"));
        for (long v = 1; v <= 3; v++) {
            assertEquals(v, store.write("policy", ModelKind.POLICY, v - 1, smallSource(), Map.of()).version());
        }
        assertEquals(1, store.write("reward", ModelKind.REWARD, 0, smallSource(), Map.of()).version(), "numbered per name");
        assertEquals(List.of(1L, 2L, 3L), store.versions("policy"));
        assertEquals(OptionalLong.of(3), store.latest("policy"));
        assertEquals(2, store.load("policy", 3).parentVersion());
        try (Stream<Path> left = Files.list(tmp.resolve("store/.tmp"))) {
            assertEquals(0, left.count(), "no temp folder is left after successful writes");
        }
    }

    @Test
    void concurrentWritersGetDistinctVersions() throws Exception {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        Path src = smallSource();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<StoredVersion>> futures = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                futures.add(pool.submit((Callable<StoredVersion>) () -> store.write("policy", ModelKind.POLICY, 0, src, Map.of())));
            }
            List<Long> got = new ArrayList<>();
            for (Future<StoredVersion> f : futures) {
                got.add(f.get(60, TimeUnit.SECONDS).version());
            }
            got.sort(null);
            assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L), got);
        } finally {
            pool.shutdownNow();
        }
        for (long v : store.versions("policy")) {
            assertEquals(v, store.load("policy", v).version());
        }
    }

    @Test
    void flippedByteIsCaughtNamingTheFile() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        StoredVersion v = store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        try (RandomAccessFile raf = new RandomAccessFile(v.file("model.safetensors").toFile(), "rw")) {
            raf.seek(3);
            int b = raf.read();
            raf.seek(3);
            raf.write(b ^ 0x01);
        }
        CorruptModelException e = assertThrows(CorruptModelException.class, () -> store.load("policy", 1));
        assertTrue(e.getMessage().contains("model.safetensors: sha256 mismatch"), e.getMessage());
        assertTrue(e.getMessage().contains(v.dir().toString()), e.getMessage());
        assertEquals(v.dir(), e.versionDir());
    }

    @Test
    void aReaderCanVerifyOnlyTheFilesItUses() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        StoredVersion v = store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        Files.writeString(v.file("model.safetensors"), "tampered!");
        assertEquals(v.dir(), store.load("policy", 1, java.util.Set.of("config.json")).dir());
        assertThrows(CorruptModelException.class, () -> store.load("policy", 1, java.util.Set.of("model.safetensors")));
        CorruptModelException e = assertThrows(CorruptModelException.class,
                () -> store.load("policy", 1, java.util.Set.of("config.json", "model.onnx")));
        assertTrue(e.getMessage().contains("lists no model.onnx"), e.getMessage());
    }

    @Test
    void truncatedFileIsCaughtNamingTheFile() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        StoredVersion v = store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        try (RandomAccessFile raf = new RandomAccessFile(v.file("model.safetensors").toFile(), "rw")) {
            raf.setLength(4);
        }
        CorruptModelException e = assertThrows(CorruptModelException.class, () -> store.load("policy", 1));
        assertTrue(e.getMessage().contains("model.safetensors has size 4, expected 10"), e.getMessage());
    }

    @Test
    void missingFileOrManifestIsCaught() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        StoredVersion v = store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        Files.delete(v.file("config.json"));
        CorruptModelException e = assertThrows(CorruptModelException.class, () -> store.load("policy", 1));
        assertTrue(e.getMessage().contains("config.json is missing"), e.getMessage());
        Files.delete(v.dir().resolve(ModelStore.MANIFEST));
        e = assertThrows(CorruptModelException.class, () -> store.load("policy", 1));
        assertTrue(e.getMessage().contains("manifest.json is missing") && e.getMessage().contains(v.dir().toString()), e.getMessage());
    }

    @Test
    void tamperedManifestIsCaught() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        StoredVersion v = store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        Path manifest = v.dir().resolve(ModelStore.MANIFEST);
        String text = Files.readString(manifest);
        Files.writeString(manifest, text.replace("\"version\" : 1", "\"version\" : 2"));
        CorruptModelException e = assertThrows(CorruptModelException.class, () -> store.load("policy", 1));
        assertTrue(e.getMessage().contains("says version 2, expected 1"), e.getMessage());
        Files.writeString(manifest, "{ truncated");
        e = assertThrows(CorruptModelException.class, () -> store.load("policy", 1));
        assertTrue(e.getMessage().contains("manifest.json is unreadable"), e.getMessage());
    }

    @Test
    void absentVersionIsNoSuchFile() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> store.load("policy", 5));
        assertTrue(e.getMessage().contains("no version 5 of model policy; its versions are [1]"), e.getMessage());
    }

    @Test
    void leftoverTempAndStrayFoldersAreIgnored() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        // a half-written temp folder as a crash leaves it, and folders that are not versions
        Path half = Files.createDirectories(tmp.resolve("store/.tmp/policy-0000"));
        Files.writeString(half.resolve("model.safetensors"), "wei");
        Files.createDirectories(tmp.resolve("store/policy/notes"));
        Files.createDirectories(tmp.resolve("store/policy/007"));
        Files.writeString(tmp.resolve("store/policy/9"), "a file, not a folder");
        assertEquals(List.of(1L), store.versions("policy"));
        assertEquals(OptionalLong.of(1), store.latest("policy"));
        assertEquals(2, store.write("policy", ModelKind.POLICY, 1, smallSource(), Map.of()).version());
    }

    @Test
    void badArgumentsAreRefusedBeforeAnythingIsWritten() throws IOException {
        ModelStore store = new ModelStore(tmp.resolve("store"));
        Path src = smallSource();
        for (String bad : new String[] {"Policy", ".tmp", "", "a/b", "-x", "x".repeat(65)}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> store.write(bad, ModelKind.POLICY, 0, src, Map.of()));
            assertTrue(e.getMessage().contains("model name \"" + bad + "\" must match"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> store.write("p", ModelKind.POLICY, -1, src, Map.of()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> store.write("p", ModelKind.POLICY, 0, src, Map.of("kl", Double.NaN)));
        assertTrue(e.getMessage().contains("metric kl (NaN)"), e.getMessage());
        Path withManifest = source("m", Map.of(ModelStore.MANIFEST, "{}"));
        e = assertThrows(IllegalArgumentException.class, () -> store.write("p", ModelKind.POLICY, 0, withManifest, Map.of()));
        assertTrue(e.getMessage().contains("rename that file"), e.getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertThrows(IllegalArgumentException.class, () -> store.write("p", ModelKind.POLICY, 0, empty, Map.of()));
        assertFalse(Files.exists(tmp.resolve("store")), "nothing was written");
    }

    /**
     * SIGKILL a writer mid-copy of a 200 MB file: the old version stays latest and verifies,
     * and no version folder of the killed write appears.
     */
    @Test
    void killedWriterLeavesTheStoreConsistent() throws Exception {
        // 1. an existing version, and a large source folder
        Path root = tmp.resolve("store");
        ModelStore store = new ModelStore(root);
        StoredVersion v1 = store.write("policy", ModelKind.POLICY, 0, smallSource(), Map.of());
        Path big = Files.createDirectories(tmp.resolve("big"));
        writeRandom(big.resolve("model.safetensors"), 200L << 20);
        Files.writeString(big.resolve("config.json"), ModelConfig.tiny(100).toJson());

        // 2. fork a writer and kill it while it copies the big file
        Process p = forkWriter(root, big);
        try {
            waitForPartialCopy(root, p);
        } finally {
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the writer died");
        }
        assertNotEquals(0, p.exitValue(), "the writer was killed, not finished: " + Files.readString(tmp.resolve("writer.log")));

        // 3. the store is as before: same latest, it verifies, no other version folder
        assertEquals(OptionalLong.of(1), store.latest("policy"));
        assertEquals(List.of(1L), store.versions("policy"));
        assertEquals(v1, store.load("policy", 1));
        try (Stream<Path> dirs = Files.list(root.resolve("policy"))) {
            assertEquals(List.of("1"), dirs.map(d -> d.getFileName().toString()).toList());
        }
        try (Stream<Path> left = Files.list(root.resolve(".tmp"))) {
            assertEquals(1, left.filter(d -> d.getFileName().toString().startsWith("policy-")).count(),
                    "the killed write left its temp folder, which nothing reads");
        }
        // 4. and the next write proceeds normally
        assertEquals(2, store.write("policy", ModelKind.POLICY, 1, smallSource(), Map.of()).version());
        store.load("policy", 2);
    }

    private Process forkWriter(Path root, Path source) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // surefire's manifest-only jar also works with -cp, but the plain class path is clearer when it is set
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        return new ProcessBuilder(java, "-cp", cp, ModelStoreCrashWriter.class.getName(), root.toString(), source.toString())
                .redirectErrorStream(true)
                .redirectOutput(tmp.resolve("writer.log").toFile())
                .start();
    }

    /**
     * Waits until some file under the store holds more than 1 MiB, i.e. the writer is copying
     * the big file, wherever it copies to (so a writer that skipped the temp folder is caught too).
     */
    private void waitForPartialCopy(Path root, Process p) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (someFileLargerThan(root, 1L << 20)) {
                return;
            }
            if (!p.isAlive()) {
                throw new AssertionError("writer exited before it began copying: " + Files.readString(tmp.resolve("writer.log")));
            }
            Thread.sleep(1);
        }
        throw new AssertionError("the writer copied nothing in 60 s: " + Files.readString(tmp.resolve("writer.log")));
    }

    private static boolean someFileLargerThan(Path root, long bytes) {
        try (Stream<Path> s = Files.walk(root)) {
            return s.anyMatch(f -> f.toFile().isFile() && f.toFile().length() > bytes);
        } catch (IOException | java.io.UncheckedIOException e) {
            return false; // a folder was renamed under the walk; look again
        }
    }

    private static void writeRandom(Path file, long bytes) throws IOException {
        SplittableRandom rng = new SplittableRandom(1);
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long done = 0; done < bytes; done += buf.capacity()) {
                buf.clear();
                while (buf.hasRemaining()) {
                    buf.putLong(rng.nextLong());
                }
                buf.flip();
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
        }
    }
}
