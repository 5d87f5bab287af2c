package dev.rlhf.trainer.sft;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import dev.rlhf.model.text.ChatTemplate;
import dev.rlhf.proto.v1.DataSource;

/**
 * One demonstration: a conversation whose last assistant message is the response to learn.
 * Read from JSONL in either of TRL's conventions, one object per line:
 * {@code {"prompt": "...", "response": "..."}} or
 * {@code {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}}.
 */
public record SftExample(List<ChatTemplate.Message> messages) {

    public static SftExample of(String prompt, String response) {
        return new SftExample(List.of(new ChatTemplate.Message("user", prompt),
                new ChatTemplate.Message("assistant", response)));
    }

    /** The text everything before the response says: the key of the train/validation split. */
    public String promptKey() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < messages.size() - 1; i++) {
            sb.append(messages.get(i).role()).append('\u0000').append(messages.get(i).content()).append('\u0001');
        }
        return sb.toString();
    }

    /**
     * Reads a JSONL file; blank lines are skipped.
     *
     * @throws IllegalArgumentException naming the file and line of a malformed record
     */
    public static List<SftExample> readJsonl(Path file) throws IOException {
        return dev.rlhf.trainer.Jsonl.read(file, SftExample::parse, "examples");
    }

    /**
     * The JSONL file of demonstrations {@code source} names, for a job's field {@code field}
     * ("sft.data", "ppo.ptx_data").
     *
     * @throws IllegalArgumentException naming the field: a topic (not built yet), no path, or no
     *                                  file at the path
     */
    public static Path jsonlFile(DataSource source, String field) {
        if (!source.hasPath() || source.getPath().isEmpty()) {
            throw new IllegalArgumentException(source.hasTopic()
                    ? field + ".topic: reading demonstrations from Kafka is not built yet; give " + field
                            + ".path (JSONL)"
                    : field + ".path is required: a JSONL file of {\"prompt\",\"response\"} or {\"messages\"}"
                            + " records");
        }
        Path file = Path.of(source.getPath());
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(field + ".path: no such file " + source.getPath());
        }
        return file;
    }

    static SftExample parse(JsonNode node) {
        if (node.hasNonNull("messages")) {
            List<ChatTemplate.Message> messages = new ArrayList<>();
            for (JsonNode m : node.get("messages")) {
                messages.add(new ChatTemplate.Message(text(m, "role"), text(m, "content")));
            }
            return new SftExample(messages);
        }
        if (node.hasNonNull("prompt") && node.hasNonNull("response")) {
            return of(text(node, "prompt"), text(node, "response"));
        }
        throw new IllegalArgumentException("expected {\"prompt\", \"response\"} or {\"messages\": [...]}");
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException("'" + field + "' must be a string");
        }
        return v.asText();
    }
}
