package dev.rlhf.model;

import java.nio.file.Path;
import java.util.Map;

/**
 * Run in a forked JVM by {@code ModelStoreTest}: writes the folder {@code args[1]} as a new
 * version of "policy" into the store at {@code args[0]}, so the test can SIGKILL it mid-write.
 */
public final class ModelStoreCrashWriter {

    private ModelStoreCrashWriter() {
    }

    /** {@code args}: store root, source folder. */
    public static void main(String[] args) throws Exception {
        StoredVersion v = new ModelStore(Path.of(args[0])).write("policy", ModelKind.POLICY, 1, Path.of(args[1]),
                Map.of("reward", 1.0));
        System.out.println("wrote version " + v.version());
    }
}
