package dev.rlhf.demo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

class DemoTaskTest {

    private static final DemoTask TASK = DemoTask.create(42);

    @Test
    void theSameSeedGivesTheSameTaskAndAnotherSeedAnotherOne() {
        DemoTask again = DemoTask.create(42);
        assertEquals(TASK.trainPrompts(), again.trainPrompts());
        assertEquals(TASK.heldOutPrompts(), again.heldOutPrompts());
        assertEquals(TASK.demonstrations(), again.demonstrations());

        DemoTask other = DemoTask.create(43);
        assertNotEquals(TASK.trainPrompts(), other.trainPrompts());
        assertNotEquals(TASK.demonstrations(), other.demonstrations());
    }

    @Test
    void aboutThreeHundredDistinctTrainingPromptsAndSixtyHeldOutOnes() {
        assertEquals(306, TASK.trainPrompts().size());
        assertEquals(65, TASK.heldOutPrompts().size());
        assertEquals(TASK.trainPrompts().size(), Set.copyOf(TASK.trainPrompts()).size(), "duplicate training prompt");
        assertEquals(TASK.heldOutPrompts().size(), Set.copyOf(TASK.heldOutPrompts()).size(), "duplicate held-out prompt");
    }

    @Test
    void heldOutPromptsShareNoNameAndNoAddendPairWithTraining() {
        Set<String> trainSlots = TASK.trainPrompts().stream().map(DemoTaskTest::slot).collect(Collectors.toSet());
        for (String prompt : TASK.heldOutPrompts()) {
            assertFalse(TASK.trainPrompts().contains(prompt), prompt);
            assertFalse(trainSlots.contains(slot(prompt)), () -> prompt + " reuses a training name or addend pair");
        }
    }

    @Test
    void bothSetsUseEveryTemplate() {
        Set<Class<?>> all = Set.of(Instruction.Greet.class, Instruction.Goodbye.class, Instruction.Hat.class,
                Instruction.Addition.class);
        assertEquals(all, templates(TASK.trainPrompts()));
        assertEquals(all, templates(TASK.heldOutPrompts()));
    }

    @Test
    void oneDemonstrationPerTrainingPromptFromTheTasksResponsesOfItsKind() {
        List<Demonstration> demos = TASK.demonstrations();
        assertEquals(TASK.trainPrompts(), demos.stream().map(Demonstration::prompt).toList());
        for (Demonstration d : demos) {
            assertTrue(DemoTask.responses(d.prompt(), d.quality()).contains(d.response()), d::toString);
        }
        assertTrue(demos.stream().filter(d -> d.quality() == Quality.HELPFUL)
                .allMatch(d -> d.response().equals(DemoTask.helpful(d.prompt()))));
    }

    @Test
    void qualitiesTakeTheirSharesOverallAndWithinEachTemplate() {
        assertShares(TASK.demonstrations(), 0.01);
        Map<Class<?>, List<Demonstration>> byTemplate = TASK.demonstrations().stream()
                .collect(Collectors.groupingBy(d -> Instruction.parse(d.prompt()).getClass()));
        byTemplate.values().forEach(group -> assertShares(group, 0.03));
    }

    @Test
    void helpfulAnswersEveryTemplate() {
        assertEquals("Hello, Anna! Nice to meet you.", DemoTask.helpful("Greet Anna."));
        assertEquals("Goodbye, Ben. Take care.", DemoTask.helpful("Say goodbye to Ben."));
        assertEquals("Carla's hat is green.", DemoTask.helpful("What color is Carla's green hat?"));
        assertEquals("7 plus 8 is 15.", DemoTask.helpful("What is 7 plus 8?"));
        assertEquals("1 plus 1 is 2.", DemoTask.helpful("What is 1 plus 1?"));
    }

    @Test
    void helpfulRejectsPromptsOfNoTemplateNamingThem() {
        for (String bad : List.of("Greet anna.", "Greet Anna", "What is 10 plus 2?", "What is 0 plus 2?",
                "What color is Anna's hat?", "Hello there.", "")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DemoTask.helpful(bad));
            assertTrue(e.getMessage().contains("\"" + bad + "\""), e.getMessage());
        }
    }

    @Test
    void helpfulAnswersFitTheBudgetAndRamblingOnesDoNot() {
        for (String prompt : Stream.concat(TASK.trainPrompts().stream(), TASK.heldOutPrompts().stream()).toList()) {
            assertTrue(DemoTask.helpful(prompt).length() <= GoldJudge.LENGTH_BUDGET, prompt);
            for (String rambling : DemoTask.responses(prompt, Quality.RAMBLING)) {
                assertTrue(rambling.length() > GoldJudge.LENGTH_BUDGET + 40, rambling);
                assertTrue(rambling.contains(DemoTask.helpful(prompt)), rambling);
            }
        }
    }

    @Test
    void rudeResponsesAddressThePromptsPersonOrNoOne() {
        assertTrue(DemoTask.responses("Greet Anna.", Quality.RUDE).contains("Ask someone else, Anna."));
        List<String> nameless = DemoTask.responses("What is 2 plus 3?", Quality.RUDE);
        assertTrue(nameless.contains("Ask someone else."), nameless::toString);
        assertTrue(nameless.stream().noneMatch(r -> r.contains("{")), nameless::toString);
    }

    @Test
    void pretrainingCorpusIsSeededFitsNoTemplateAndHoldsEveryNameAndSum() {
        List<Demonstration> corpus = DemoTask.pretrainingCorpus(7, 200, 1000, 2);
        assertEquals(corpus, DemoTask.pretrainingCorpus(7, 200, 1000, 2));
        assertNotEquals(corpus, DemoTask.pretrainingCorpus(8, 200, 1000, 2));
        assertEquals(200 + 1000 + 2 * 81, corpus.size());
        // no example is one of the task's prompts: the corpus teaches skills and facts, not the task
        for (Demonstration d : corpus) {
            assertThrows(IllegalArgumentException.class, () -> Instruction.parse(d.prompt()), d.prompt());
        }
        for (int a = 1; a <= 9; a++) {
            for (int b = 1; b <= 9; b++) {
                String fact = a + " plus " + b + " makes " + (a + b) + ".";
                assertEquals(2, corpus.stream().filter(d -> d.response().equals(fact)).count(), fact);
            }
        }
        // copying: each "Repeat after me" answer is what follows the colon, and the sentences vary
        List<Demonstration> repeats = corpus.stream().filter(d -> d.prompt().startsWith("Repeat after me: ")).toList();
        assertEquals(200, repeats.size());
        repeats.forEach(d -> assertEquals(d.prompt().substring("Repeat after me: ".length()), d.response()));
        assertTrue(repeats.stream().map(Demonstration::response).distinct().count() > 100, "the sentences vary");
        // names: each extraction answers with the name its carrier sentence holds; about half are
        // roster names (every one of them, held-out ones included), the rest invented
        List<Demonstration> extractions = corpus.stream().filter(d -> d.prompt().startsWith("Who is named in: "))
                .toList();
        assertEquals(1000, extractions.size());
        List<String> names = new ArrayList<>();
        for (Demonstration d : extractions) {
            String name = d.response().substring("The name is ".length(), d.response().length() - 1);
            assertTrue(d.prompt().matches(".*\\b" + name + "\\b.*"), d.prompt() + " -> " + d.response());
            names.add(name);
        }
        assertEquals(Set.copyOf(DemoTask.NAMES), names.stream().filter(DemoTask.NAMES::contains)
                .collect(Collectors.toSet()));
        long roster = names.stream().filter(DemoTask.NAMES::contains).count();
        assertTrue(roster > 400 && roster < 600, roster + " of 1000 names are roster names");
    }

    private static void assertShares(List<Demonstration> demos, double tolerance) {
        Map<Quality, Long> counts = demos.stream()
                .collect(Collectors.groupingBy(Demonstration::quality, () -> new EnumMap<>(Quality.class),
                        Collectors.counting()));
        Map<Quality, Double> expected = Map.of(Quality.HELPFUL, 0.3, Quality.OFF_TOPIC, 0.15, Quality.RUDE, 0.15,
                Quality.RAMBLING, 0.4);
        expected.forEach((q, share) -> assertEquals(share, counts.getOrDefault(q, 0L) / (double) demos.size(),
                tolerance, q + " of " + demos.size()));
    }

    /** The slot value a held-out prompt must not share: the name, or the addend pair. */
    private static String slot(String prompt) {
        Instruction i = Instruction.parse(prompt);
        return i instanceof Instruction.Addition add ? add.a() + "+" + add.b() : i.addressee().orElseThrow();
    }

    private static Set<Class<?>> templates(List<String> prompts) {
        return prompts.stream().map(p -> Instruction.parse(p).getClass()).collect(Collectors.toSet());
    }
}
