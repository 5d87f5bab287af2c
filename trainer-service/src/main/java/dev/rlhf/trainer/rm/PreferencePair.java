package dev.rlhf.trainer.rm;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import dev.rlhf.proto.v1.Preference;
import dev.rlhf.trainer.Jsonl;

/**
 * One training pair of a reward model: {@code chosen} ≻ {@code rejected} for {@code prompt},
 * with the margin it must win by and its weight in the loss.
 *
 * @param margin stated strength (before RewardModelConfig.margin_scale), ≥ 0
 * @param weight sample weight, &gt; 0
 */
public record PreferencePair(String prompt, String chosen, String rejected, double margin, double weight) {

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
        return Jsonl.read(file, PreferencePair::parse, "preference pairs");
    }

    private static PreferencePair parse(JsonNode o) {
        for (String field : List.of("prompt", "chosen", "rejected")) {
            if (!o.path(field).isTextual()) {
                throw new IllegalArgumentException("\"" + field + "\" must be a string");
            }
        }
        return new PreferencePair(o.get("prompt").asText(), o.get("chosen").asText(), o.get("rejected").asText(),
                o.path("margin").asDouble(0), o.path("weight").asDouble(1));
    }
}
