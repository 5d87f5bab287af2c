package dev.rlhf.demo.task;

import java.util.Objects;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One prompt of the demo task, parsed into its template and slots. The four templates and
 * their helpful answers are the whole language the demo's tiny decoder learns:
 * <pre>
 * Greet {Name}.                        Hello, {Name}! Nice to meet you.
 * Say goodbye to {Name}.               Goodbye, {Name}. Take care.
 * What color is {Name}'s {color} hat?  {Name}'s hat is {color}.
 * What is {a} plus {b}?  (a, b ∈ 1..9) {a} plus {b} is {a+b}.
 * </pre>
 * A name is a capitalised ASCII word, a color a lower-case ASCII word.
 */
sealed interface Instruction {

    /** What {@link #parse} accepts, for error messages. */
    String TEMPLATES = "\"Greet {Name}.\", \"Say goodbye to {Name}.\", \"What color is {Name}'s {color} hat?\""
            + " or \"What is {a} plus {b}?\" with a and b in 1..9";

    String NAME = "([A-Z][a-z]+)";
    Pattern GREET = Pattern.compile("Greet " + NAME + "\\.");
    Pattern GOODBYE = Pattern.compile("Say goodbye to " + NAME + "\\.");
    Pattern HAT = Pattern.compile("What color is " + NAME + "'s ([a-z]+) hat\\?");
    Pattern ADDITION = Pattern.compile("What is ([1-9]) plus ([1-9])\\?");

    /** @return the prompt text, exactly as {@link #parse} accepts it */
    String prompt();

    /** @return the one helpful answer */
    String helpful();

    /** @return the person the prompt names, if any */
    Optional<String> addressee();

    /**
     * @param prompt a prompt of one of the four templates, exactly (no extra spaces)
     * @return its template and slots
     * @throws IllegalArgumentException naming the prompt when it fits no template
     */
    static Instruction parse(String prompt) {
        Objects.requireNonNull(prompt, "prompt");
        Matcher m;
        if ((m = GREET.matcher(prompt)).matches()) {
            return new Greet(m.group(1));
        }
        if ((m = GOODBYE.matcher(prompt)).matches()) {
            return new Goodbye(m.group(1));
        }
        if ((m = HAT.matcher(prompt)).matches()) {
            return new Hat(m.group(1), m.group(2));
        }
        if ((m = ADDITION.matcher(prompt)).matches()) {
            return new Addition(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
        }
        throw new IllegalArgumentException("\"" + prompt + "\" is not a demo task prompt; write one of " + TEMPLATES);
    }

    /** "Greet {Name}." */
    record Greet(String name) implements Instruction {
        public Greet {
            requireMatch(NAME, name, "name");
        }

        @Override
        public String prompt() {
            return "Greet " + name + ".";
        }

        @Override
        public String helpful() {
            return "Hello, " + name + "! Nice to meet you.";
        }

        @Override
        public Optional<String> addressee() {
            return Optional.of(name);
        }
    }

    /** "Say goodbye to {Name}." */
    record Goodbye(String name) implements Instruction {
        public Goodbye {
            requireMatch(NAME, name, "name");
        }

        @Override
        public String prompt() {
            return "Say goodbye to " + name + ".";
        }

        @Override
        public String helpful() {
            return "Goodbye, " + name + ". Take care.";
        }

        @Override
        public Optional<String> addressee() {
            return Optional.of(name);
        }
    }

    /** "What color is {Name}'s {color} hat?" */
    record Hat(String name, String color) implements Instruction {
        public Hat {
            requireMatch(NAME, name, "name");
            requireMatch("[a-z]+", color, "color");
        }

        @Override
        public String prompt() {
            return "What color is " + name + "'s " + color + " hat?";
        }

        @Override
        public String helpful() {
            return name + "'s hat is " + color + ".";
        }

        @Override
        public Optional<String> addressee() {
            return Optional.of(name);
        }
    }

    /** "What is {a} plus {b}?" with a and b in 1..9. */
    record Addition(int a, int b) implements Instruction {
        public Addition {
            if (a < 1 || a > 9 || b < 1 || b > 9) {
                throw new IllegalArgumentException("addends " + a + " and " + b + " must both be in 1..9");
            }
        }

        @Override
        public String prompt() {
            return "What is " + a + " plus " + b + "?";
        }

        @Override
        public String helpful() {
            return a + " plus " + b + " is " + (a + b) + ".";
        }

        @Override
        public Optional<String> addressee() {
            return Optional.empty();
        }
    }

    private static void requireMatch(String regex, String value, String what) {
        Objects.requireNonNull(value, what);
        if (!value.matches(regex)) {
            throw new IllegalArgumentException(what + " \"" + value + "\" must match " + regex);
        }
    }
}
