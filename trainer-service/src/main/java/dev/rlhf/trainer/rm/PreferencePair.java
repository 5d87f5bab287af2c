package dev.rlhf.trainer.rm;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.rlhf.proto.v1.Preference;

/**
 * One training pair of a reward model: {@code chosen} ≻ {@code rejected} for {@code prompt},
 * with the margin it must win by and its weight in the loss.
 *
 * @param margin stated strength (before RewardModelConfig.margin_scale), ≥ 0
 * @param weight sample weight, &gt; 0
 */
public record PreferencePair(String prompt, String chosen, String rejected, double margin, double weight) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public PreferencePair {
        if (prompt == null || prompt.isEmpty() || chosen == null || rejected == null) {
            throw new IllegalArgumentException("prompt must be non-empty and chosen, rejected present");
        }
        if (!(margin >= 0) || !(weight > 0) || Double.isInfinite(margin) || Double.isInfinite(weight)) {
            throw new IllegalArgumentException("margin must be >= 0 and weight > 0, got " + margin + ", " + weight);
        }
    }

    /** A record of rlhf.preferences.v1 (weight 0 reads as 1, as the contract says). */
    public static PreferencePair of(Preference p) {
        return new PreferencePair(p.getPrompt(), p.getChosen(), p.getRejected(), p.getMargin(),
                p.getWeight() == 0 ? 1.0 : p.getWeight());
    }

    /**
     * Reads TRL's preference JSONL: {@code {"prompt", "chosen", "rejected"}} per line, with
     * optional {@code "margin"} and {@code "weight"}; blank lines are skipped.
     *
     * @throws IllegalArgumentException naming the file and line of a malformed record
     */
    public static List<PreferencePair> readJsonl(Path file) throws IOException {
        List<PreferencePair> out = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = in.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                try {
                    JsonNode o = JSON.readTree(line);
                    for (String field : List.of("prompt", "chosen", "rejected")) {
                        if (!o.path(field).isTextual()) {
                            throw new IllegalArgumentException("\"" + field + "\" must be a string");
                        }
                    }
                    out.add(new PreferencePair(o.get("prompt").asText(), o.get("chosen").asText(),
                            o.get("rejected").asText(), o.path("margin").asDouble(0), o.path("weight").asDouble(1)));
                } catch (IOException | IllegalArgumentException e) {
                    throw new IllegalArgumentException(file + " line " + n + ": " + e.getMessage(), e);
                }
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no preference pairs");
        }
        return out;
    }
}
