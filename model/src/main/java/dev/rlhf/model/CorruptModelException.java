package dev.rlhf.model;

import java.nio.file.Path;

/**
 * A stored model version failed verification: its manifest is missing or unreadable, or a
 * listed file is missing, has the wrong size or the wrong SHA-256. Not worth retrying: the
 * bytes on disk are wrong. Load another version ({@link ModelStore#versions}) or write the
 * model again; the message names the version folder, the file and what is wrong.
 */
public class CorruptModelException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** Not serialised: {@link Path} is not serializable; the message keeps the folder. */
    private final transient Path versionDir;

    /**
     * @param versionDir the version folder, e.g. {@code <root>/policy/3}
     * @param problem    what is wrong, naming the file, e.g. "model.safetensors: sha256 mismatch"
     */
    public CorruptModelException(Path versionDir, String problem) {
        this(versionDir, problem, null);
    }

    /** As {@link #CorruptModelException(Path, String)}, with the underlying cause. */
    public CorruptModelException(Path versionDir, String problem, Throwable cause) {
        super("model version " + versionDir + " is corrupt: " + problem
                + "; load another version or write this one again", cause);
        this.versionDir = versionDir;
    }

    /** The version folder that failed verification. */
    public Path versionDir() {
        return versionDir;
    }
}
