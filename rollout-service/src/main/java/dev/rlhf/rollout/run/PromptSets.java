package dev.rlhf.rollout.run;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;

import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.rollout.core.RunSpecs;

/**
 * The named prompt sets of RolloutRunSpec.prompt_set: files in one folder, {@code <name>.jsonl}
 * (JSON Lines, one Prompt per line in its proto3 JSON form; blank lines skipped) or
 * {@code <name>.pb} (length-delimited binary Prompts), the conventions of the trainer's
 * DataSource.path. Read whole at the start of a run, in file order.
 */
public final class PromptSets {

    private final Path folder;

    /** @param folder the prompt-sets folder ({@code rlhf.rollout.prompt-sets}) */
    public PromptSets(Path folder) {
        this.folder = folder;
    }

    /** Whether a set of that name exists. */
    public boolean exists(String name) {
        return file(name) != null;
    }

    /**
     * The prompts of set {@code name}, in file order.
     *
     * @throws NotFoundException        when there is no such file
     * @throws IllegalArgumentException when the file cannot be read, naming the line or record
     */
    public List<Prompt> load(String name) {
        Path f = file(name);
        if (f == null) {
            throw new NotFoundException("no prompt set '" + name + "': expected " + folder.resolve(name + ".jsonl")
                    + " or " + folder.resolve(name + ".pb") + " (rlhf.rollout.prompt-sets)");
        }
        try {
            return f.getFileName().toString().endsWith(".pb") ? binary(f) : jsonLines(f);
        } catch (IOException e) {
            throw new IllegalArgumentException("prompt set '" + name + "' (" + f + ") is unreadable: " + e.getMessage(), e);
        }
    }

    private Path file(String name) {
        if (!RunSpecs.PROMPT_SET.matcher(name).matches()) {
            return null;
        }
        for (String ext : List.of(".jsonl", ".pb")) {
            Path f = folder.resolve(name + ext);
            if (Files.isRegularFile(f)) {
                return f;
            }
        }
        return null;
    }

    private static List<Prompt> jsonLines(Path f) throws IOException {
        List<Prompt> out = new ArrayList<>();
        JsonFormat.Parser parser = JsonFormat.parser();
        try (BufferedReader in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            int n = 0;
            for (String line; (line = in.readLine()) != null;) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                Prompt.Builder b = Prompt.newBuilder();
                try {
                    parser.merge(line, b);
                } catch (InvalidProtocolBufferException e) {
                    throw new IOException("line " + n + " is not a rlhf.v1.Prompt in proto3 JSON: " + e.getMessage(), e);
                }
                out.add(b.build());
            }
        }
        return out;
    }

    private static List<Prompt> binary(Path f) throws IOException {
        List<Prompt> out = new ArrayList<>();
        try (InputStream in = Files.newInputStream(f)) {
            for (Prompt p; (p = Prompt.parseDelimitedFrom(in)) != null;) {
                out.add(p);
            }
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("record " + (out.size() + 1) + " is not a length-delimited rlhf.v1.Prompt: "
                    + e.getMessage(), e);
        }
        return out;
    }

    /** No prompt set of that name. */
    public static final class NotFoundException extends RuntimeException {
        NotFoundException(String message) {
            super(message);
        }
    }
}
