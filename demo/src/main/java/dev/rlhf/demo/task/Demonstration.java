package dev.rlhf.demo.task;

import java.util.Objects;

/**
 * One supervised example of the demo task: a prompt, a response and the kind of that
 * response (which the gold judge and the simulated labelers never see; it is there for
 * tests and reports).
 *
 * @param prompt   a prompt of one of {@link DemoTask}'s templates
 * @param response the response text
 * @param quality  which kind of response it is
 */
public record Demonstration(String prompt, String response, Quality quality) {

    public Demonstration {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(response, "response");
        Objects.requireNonNull(quality, "quality");
        if (response.isBlank()) {
            throw new IllegalArgumentException("the response to \"" + prompt + "\" is blank; give it some text");
        }
    }
}
