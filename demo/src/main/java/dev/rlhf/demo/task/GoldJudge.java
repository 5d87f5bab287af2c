package dev.rlhf.demo.task;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The demo's hidden judge of a response to a {@link DemoTask} prompt: it prefers answers that
 * are relevant, polite and short. The simulated labelers compare responses by this score,
 * and the demo reports how close the learned reward model comes to its ordering.
 *
 * <pre>
 * score = clamp₀¹(0.5·relevant + 0.2·polite + 0.3·brevity − 0.3·wrongFact)
 * brevity = 1 if length ≤ 48, else exp(−(length − 48) / 32)
 * </pre>
 * <ul>
 *   <li><b>relevant</b>: the response states the prompt's key facts. Greeting: the name and a
 *       greeting word (hello, hi, hey). Goodbye: the name and a farewell word (goodbye, bye,
 *       farewell). Hat: the color. Addition: the sum a + b.</li>
 *   <li><b>polite</b>: no rude word (away, else, problem, yourself, whatever, alone, stupid, shut).</li>
 *   <li><b>brevity</b>: length is in characters of the stripped response; the budget is
 *       {@value #LENGTH_BUDGET} and the score decays smoothly past it, so padding costs more
 *       the longer it runs.</li>
 *   <li><b>wrongFact</b>: the response names another person of the roster than the prompt's,
 *       another palette color than the hat's, or, for an addition, a number other than a, b
 *       and a + b (so a wrong sum costs even when the right one is there too).</li>
 * </ul>
 * Words are maximal runs of ASCII letters and digits, compared case-insensitively, so "Anna's"
 * holds the word "anna" and "112" does not hold "12". The template's helpful answer scores 1,
 * rambling about 0.72–0.76, off-topic 0.5 and rude 0.3. The score is a pure function of
 * prompt and response; instances are stateless and thread-safe.
 */
public final class GoldJudge {

    /** Characters a response may run to before the brevity term starts to fall. */
    public static final int LENGTH_BUDGET = 48;
    /** Characters over the budget that cost a factor e of the brevity term. */
    private static final double LENGTH_SCALE = 32.0;

    private static final double RELEVANT = 0.5;
    private static final double POLITE = 0.2;
    private static final double BRIEF = 0.3;
    private static final double WRONG_FACT = 0.3;

    private static final Set<String> GREETING_WORDS = Set.of("hello", "hi", "hey");
    private static final Set<String> FAREWELL_WORDS = Set.of("goodbye", "bye", "farewell");
    private static final Set<String> RUDE_WORDS =
            Set.of("away", "else", "problem", "yourself", "whatever", "alone", "stupid", "shut");
    private static final Set<String> ROSTER = lowerCase(DemoTask.NAMES);
    private static final Set<String> PALETTE = lowerCase(DemoTask.COLORS);

    /**
     * @param prompt   a prompt of one of {@link DemoTask}'s templates
     * @param response any text (a policy's sample, a demonstration)
     * @return the score in [0, 1] as the class javadoc describes
     * @throws IllegalArgumentException naming the prompt when it fits no template
     */
    public double score(String prompt, String response) {
        Instruction instruction = Instruction.parse(prompt);
        String text = Objects.requireNonNull(response, "response").strip();
        List<String> words = words(text);
        // 1. relevance, politeness, brevity, wrong facts
        boolean relevant = statesKeyFacts(instruction, words);
        boolean polite = words.stream().noneMatch(RUDE_WORDS::contains);
        int over = Math.max(0, text.length() - LENGTH_BUDGET);
        double brevity = Math.exp(-over / LENGTH_SCALE);
        boolean wrongFact = statesWrongFact(instruction, words);
        // 2. weigh and clamp
        double score = (relevant ? RELEVANT : 0) + (polite ? POLITE : 0) + BRIEF * brevity
                - (wrongFact ? WRONG_FACT : 0);
        return Math.max(0.0, Math.min(1.0, score));
    }

    private static boolean statesKeyFacts(Instruction instruction, List<String> words) {
        if (instruction instanceof Instruction.Greet greet) {
            return words.contains(lower(greet.name())) && words.stream().anyMatch(GREETING_WORDS::contains);
        }
        if (instruction instanceof Instruction.Goodbye goodbye) {
            return words.contains(lower(goodbye.name())) && words.stream().anyMatch(FAREWELL_WORDS::contains);
        }
        if (instruction instanceof Instruction.Hat hat) {
            return words.contains(hat.color());
        }
        Instruction.Addition addition = (Instruction.Addition) instruction;
        return words.contains(Integer.toString(addition.a() + addition.b()));
    }

    private static boolean statesWrongFact(Instruction instruction, List<String> words) {
        String person = instruction.addressee().map(GoldJudge::lower).orElse(null);
        if (words.stream().anyMatch(w -> ROSTER.contains(w) && !w.equals(person))) {
            return true;
        }
        if (instruction instanceof Instruction.Hat hat) {
            return words.stream().anyMatch(w -> PALETTE.contains(w) && !w.equals(hat.color()));
        }
        if (instruction instanceof Instruction.Addition addition) {
            List<String> allowed = List.of(Integer.toString(addition.a()), Integer.toString(addition.b()),
                    Integer.toString(addition.a() + addition.b()));
            return words.stream().anyMatch(w -> w.chars().allMatch(Character::isDigit) && !allowed.contains(w));
        }
        return false;
    }

    private static List<String> words(String text) {
        return Arrays.stream(lower(text).split("[^a-z0-9]+")).filter(w -> !w.isEmpty()).toList();
    }

    private static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    private static Set<String> lowerCase(List<String> items) {
        return items.stream().map(GoldJudge::lower).collect(Collectors.toUnmodifiableSet());
    }
}
