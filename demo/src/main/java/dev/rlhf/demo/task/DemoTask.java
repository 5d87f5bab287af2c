package dev.rlhf.demo.task;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The demo's instruction-following task: a tiny, regular language that a 2-layer decoder
 * trained from scratch for a few minutes on two CPU cores can learn. Four templates (see
 * {@link #helpful}) filled with names from a fixed roster, colors from a fixed palette and
 * addends in 1..9.
 *
 * <p>{@link #create} splits the roster and the 81 addition pairs at random into a training
 * part and a held-out part, so a held-out prompt uses the same templates but a name (or a
 * pair of addends) no training prompt contains: the held-out prompts measure whether the
 * model generalises across slot values, not whether it memorised prompts. (The names and
 * sums themselves are known to the base model: {@link #pretrainingCorpus} holds them all,
 * as a real base model's corpus would; what no held-out prompt shares with training is the
 * behaviour, i.e. which kind of answer it gets.) The training set
 * has 48 of the 58 names (a greeting, a goodbye and {@value #HATS_PER_NAME} hat questions
 * each) and {@value #TRAIN_PAIRS} additions: 306 prompts; the held-out set has the other
 * {@value #HELD_OUT_NAMES} names and 15 additions: 65 prompts.
 *
 * <p>Each training prompt has one {@link Demonstration} whose {@link Quality} is drawn so
 * that, within each template, the kinds take their {@link Quality#share() shares} (40 %
 * rambling, 30 % helpful, 15 % each of off-topic and rude) up to rounding. Everything is a pure
 * function of the seed; instances are immutable and thread-safe.
 */
public final class DemoTask {

    /** Everyone the prompts may name; short ASCII names so every helpful answer fits the length budget. */
    static final List<String> NAMES = List.of("Anna", "Ben", "Carla", "Dev", "Emil", "Fatima", "Goran", "Hana",
            "Ivo", "Jana", "Kofi", "Lena", "Mira", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tara", "Uma", "Vera",
            "Wim", "Xena", "Yusuf", "Zoe", "Ada", "Bruno", "Chen", "Dana", "Eli", "Farah", "Gus", "Hugo", "Ines",
            "Jon", "Kai", "Lars", "Maya", "Noor", "Omar", "Pia", "Quinn", "Ravi", "Sofia", "Tom", "Una", "Vik",
            "Wen", "Yara", "Zane", "Aiko", "Bea", "Cleo", "Dima", "Elsa", "Finn", "Gia", "Hiro");
    /** Syllables of the pretraining corpus's invented names. */
    private static final List<String> SYLLABLES = List.of("Ka", "Lo", "Mi", "Ru", "Te", "So", "Na", "Vi", "Do",
            "Fe", "Gu", "Ha", "Ji", "Pe", "Ro", "Za", "Be", "Ti", "Mo", "Ly");
    /** Sentences of the pretraining corpus that name someone, {@code {N}}. */
    private static final List<String> CARRIERS = List.of("{N} is here.", "I saw {N} today.", "This is {N}'s cup.",
            "Ask {N} about it.", "{N} went home.");
    /** The hat colors. */
    static final List<String> COLORS = List.of("red", "blue", "green", "yellow", "black", "white");

    static final int HELD_OUT_NAMES = 10;
    static final int HATS_PER_NAME = 3;
    static final int TRAIN_PAIRS = 66;

    /** Unrelated sentences; none holds a name, color, number, greeting or rude word. */
    private static final List<String> OFF_TOPIC = List.of("I like trains.", "The sky is big today.",
            "Cats sleep a lot.", "Soup is best when hot.", "My shoes are new.", "It might rain later.");
    /** Brush-offs; {@code {Name}} is the prompt's person, and the clause before it is dropped when there is none. */
    private static final List<String> RUDE = List.of("Go away.", "Ask someone else, {Name}.", "Not my problem.",
            "Figure it out yourself.", "Whatever. Leave me alone.");
    /**
     * Padding around the helpful {@code {answer}}: each makes a response of well over 90
     * characters. Both open alike, so that together they are the most likely way to start.
     */
    private static final List<String> RAMBLING = List.of(
            "Well, um, so, let me think... {answer} Anyway, that is that, you know, and so on and so forth.",
            "Well, um, okay, right, so here goes: {answer} I hope that helps, or maybe not, who can really say, honestly.");

    private final List<String> trainPrompts;
    private final List<String> heldOutPrompts;
    private final List<Demonstration> demonstrations;

    private DemoTask(List<String> trainPrompts, List<String> heldOutPrompts, List<Demonstration> demonstrations) {
        this.trainPrompts = List.copyOf(trainPrompts);
        this.heldOutPrompts = List.copyOf(heldOutPrompts);
        this.demonstrations = List.copyOf(demonstrations);
    }

    /**
     * @param seed fixes the train/held-out split, the hat colors asked about, the prompts' order
     *             and the demonstrations; the same seed gives an equal task
     * @return the task
     */
    public static DemoTask create(long seed) {
        Random random = new Random(seed);
        // 1. split the roster and the addend pairs into held-out and training parts
        List<String> names = shuffled(NAMES, random);
        List<Instruction.Addition> pairs = new ArrayList<>();
        for (int a = 1; a <= 9; a++) {
            for (int b = 1; b <= 9; b++) {
                pairs.add(new Instruction.Addition(a, b));
            }
        }
        Collections.shuffle(pairs, random);
        // 2. fill the templates from each part
        List<Instruction> train = instructions(names.subList(HELD_OUT_NAMES, names.size()),
                pairs.subList(0, TRAIN_PAIRS), random);
        List<Instruction> heldOut = instructions(names.subList(0, HELD_OUT_NAMES),
                pairs.subList(TRAIN_PAIRS, pairs.size()), random);
        // 3. one demonstration per training prompt, the kinds stratified by template
        Map<Instruction, Quality> quality = stratifiedQualities(train, random);
        List<Demonstration> demonstrations = new ArrayList<>();
        for (Instruction instruction : train) {
            List<String> candidates = responses(instruction, quality.get(instruction));
            String response = candidates.get(random.nextInt(candidates.size()));
            demonstrations.add(new Demonstration(instruction.prompt(), response, quality.get(instruction)));
        }
        return new DemoTask(prompts(train), prompts(heldOut), demonstrations);
    }

    /** @return the training prompts (306), distinct, in a seeded random order */
    public List<String> trainPrompts() {
        return trainPrompts;
    }

    /** @return the held-out prompts (65), distinct, none sharing a name or an addend pair with a training prompt */
    public List<String> heldOutPrompts() {
        return heldOutPrompts;
    }

    /** @return one demonstration per training prompt, in the order of {@link #trainPrompts()} */
    public List<Demonstration> demonstrations() {
        return demonstrations;
    }

    /**
     * A small pretraining corpus, the stand-in for what a base model knows before fine-tuning:
     * <ul>
     * <li>{@code copies} "Repeat after me: S" → S, S a sentence of a random kind about an
     * invented name (two or three syllables from a fixed list), a random color or a random
     * single-digit sum;
     * <li>{@code extractions} "Who is named in: C" → "The name is N.", C one of a few carrier
     * sentences ("I saw N today.") around N, half the time a roster name and otherwise an
     * invented one: a base model knows common names, and this is where the demo's base model
     * learns them and learns to pick a name out of a prompt;
     * <li>every single-digit sum, {@code sumRepeats} times, as "Add a and b." → "a plus b makes
     * a+b.": arithmetic every base model knows.
     * </ul>
     * So the corpus holds every roster name and every sum, the held-out prompts' included, as a
     * real base model's would; but no prompt in it is one of the task's, so it shows none of the
     * behaviour the labelers judge (which kind of answer a prompt gets). Seeded, in a random order.
     *
     * @return (prompt, response) examples, each marked {@link Quality#HELPFUL} (it is the exercise's
     *         right answer)
     */
    public static List<Demonstration> pretrainingCorpus(long seed, int copies, int extractions, int sumRepeats) {
        Random random = new Random(seed ^ 0x5DEECE66DL);
        List<Demonstration> out = new ArrayList<>();
        Quality[] kinds = Quality.values();
        for (int i = 0; i < copies; i++) {
            String name = inventedName(random);
            String color = COLORS.get(random.nextInt(COLORS.size()));
            int a = 1 + random.nextInt(9);
            int b = 1 + random.nextInt(9);
            List<Instruction> about = List.of(new Instruction.Greet(name), new Instruction.Goodbye(name),
                    new Instruction.Hat(name, color), new Instruction.Addition(a, b));
            Instruction instruction = about.get(random.nextInt(about.size()));
            List<String> sentences = responses(instruction, kinds[random.nextInt(kinds.length)]);
            String sentence = sentences.get(random.nextInt(sentences.size()));
            out.add(new Demonstration("Repeat after me: " + sentence, sentence, Quality.HELPFUL));
        }
        for (int i = 0; i < extractions; i++) {
            String name = random.nextBoolean() ? NAMES.get(random.nextInt(NAMES.size())) : inventedName(random);
            String carrier = CARRIERS.get(random.nextInt(CARRIERS.size())).replace("{N}", name);
            out.add(new Demonstration("Who is named in: " + carrier, "The name is " + name + ".", Quality.HELPFUL));
        }
        for (int r = 0; r < sumRepeats; r++) {
            for (int a = 1; a <= 9; a++) {
                for (int b = 1; b <= 9; b++) {
                    out.add(new Demonstration("Add " + a + " and " + b + ".", a + " plus " + b + " makes " + (a + b)
                            + ".", Quality.HELPFUL));
                }
            }
        }
        Collections.shuffle(out, random);
        return out;
    }

    /** Two or three syllables of {@link #SYLLABLES}, capitalised: rarely a roster name. */
    private static String inventedName(Random random) {
        StringBuilder name = new StringBuilder(SYLLABLES.get(random.nextInt(SYLLABLES.size())));
        int more = random.nextBoolean() ? 1 : 2;
        for (int i = 0; i < more; i++) {
            name.append(SYLLABLES.get(random.nextInt(SYLLABLES.size())).toLowerCase(Locale.ROOT));
        }
        return name.toString();
    }

    /**
     * The helpful answer to a prompt of the task's templates:
     * <pre>
     * Greet {Name}.                        Hello, {Name}! Nice to meet you.
     * Say goodbye to {Name}.               Goodbye, {Name}. Take care.
     * What color is {Name}'s {color} hat?  {Name}'s hat is {color}.
     * What is {a} plus {b}?  (a, b ∈ 1..9) {a} plus {b} is {a+b}.
     * </pre>
     *
     * @throws IllegalArgumentException naming the prompt when it fits no template
     */
    public static String helpful(String prompt) {
        return Instruction.parse(prompt).helpful();
    }

    /**
     * Every response of one kind that the task writes for a prompt: the helpful answer; each
     * off-topic sentence; each brush-off (addressed to the prompt's person where it names
     * one); the helpful answer in each kind of padding. Useful for building preference pairs.
     *
     * @throws IllegalArgumentException naming the prompt when it fits no template
     */
    public static List<String> responses(String prompt, Quality quality) {
        return responses(Instruction.parse(prompt), quality);
    }

    private static List<String> responses(Instruction instruction, Quality quality) {
        return switch (quality) {
            case HELPFUL -> List.of(instruction.helpful());
            case OFF_TOPIC -> OFF_TOPIC;
            case RUDE -> RUDE.stream()
                    .map(r -> instruction.addressee().map(name -> r.replace("{Name}", name))
                            .orElseGet(() -> r.replace(", {Name}", "")))
                    .toList();
            case RAMBLING -> RAMBLING.stream().map(r -> r.replace("{answer}", instruction.helpful())).toList();
        };
    }

    /** Per name a greeting, a goodbye and {@value #HATS_PER_NAME} hats of distinct colors; then the additions; shuffled. */
    private static List<Instruction> instructions(List<String> names, List<Instruction.Addition> pairs,
            Random random) {
        List<Instruction> out = new ArrayList<>();
        for (String name : names) {
            out.add(new Instruction.Greet(name));
            out.add(new Instruction.Goodbye(name));
            for (String color : shuffled(COLORS, random).subList(0, HATS_PER_NAME)) {
                out.add(new Instruction.Hat(name, color));
            }
        }
        out.addAll(pairs);
        Collections.shuffle(out, random);
        return out;
    }

    /** Within each template, exactly the {@link #mix} of kinds for its size, in a random order. */
    private static Map<Instruction, Quality> stratifiedQualities(List<Instruction> train, Random random) {
        Map<Class<?>, List<Instruction>> byTemplate = new LinkedHashMap<>();
        for (Instruction instruction : train) {
            byTemplate.computeIfAbsent(instruction.getClass(), k -> new ArrayList<>()).add(instruction);
        }
        Map<Instruction, Quality> quality = new HashMap<>();
        for (List<Instruction> group : byTemplate.values()) {
            List<Quality> kinds = mix(group.size());
            Collections.shuffle(kinds, random);
            for (int i = 0; i < group.size(); i++) {
                quality.put(group.get(i), kinds.get(i));
            }
        }
        return quality;
    }

    /** n kinds: ⌊share·n⌋ of each, the remainder handed out one at a time in declaration order. */
    private static List<Quality> mix(int n) {
        Quality[] kinds = Quality.values();
        Map<Quality, Integer> counts = new EnumMap<>(Quality.class);
        int total = 0;
        for (Quality q : kinds) {
            counts.put(q, (int) Math.floor(q.share() * n));
            total += counts.get(q);
        }
        for (int i = 0; total < n; i = (i + 1) % kinds.length, total++) {
            counts.merge(kinds[i], 1, Integer::sum);
        }
        List<Quality> out = new ArrayList<>(n);
        counts.forEach((q, c) -> out.addAll(Collections.nCopies(c, q)));
        return out;
    }

    private static <T> List<T> shuffled(List<T> items, Random random) {
        List<T> copy = new ArrayList<>(items);
        Collections.shuffle(copy, random);
        return copy;
    }

    private static List<String> prompts(List<Instruction> instructions) {
        return instructions.stream().map(Instruction::prompt).toList();
    }
}
