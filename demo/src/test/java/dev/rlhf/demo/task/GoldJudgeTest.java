package dev.rlhf.demo.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

class GoldJudgeTest {

    private static final DemoTask TASK = DemoTask.create(7);
    private final GoldJudge judge = new GoldJudge();

    @Test
    void helpfulBeatsRamblingBeatsOffTopicBeatsRudeOnEveryPrompt() {
        for (String prompt : allPrompts()) {
            double helpful = judge.score(prompt, DemoTask.helpful(prompt));
            double worstRambling = min(prompt, Quality.RAMBLING);
            double bestRambling = max(prompt, Quality.RAMBLING);
            double worstOffTopic = min(prompt, Quality.OFF_TOPIC);
            double bestOffTopic = max(prompt, Quality.OFF_TOPIC);
            double bestRude = max(prompt, Quality.RUDE);
            assertTrue(helpful > bestRambling, () -> prompt + ": helpful " + helpful + " vs rambling " + bestRambling);
            assertTrue(worstRambling > bestOffTopic,
                    () -> prompt + ": rambling " + worstRambling + " vs off-topic " + bestOffTopic);
            assertTrue(helpful > bestRude, () -> prompt + ": helpful " + helpful + " vs rude " + bestRude);
            assertTrue(worstOffTopic > bestRude, () -> prompt + ": off-topic " + worstOffTopic + " vs rude " + bestRude);
        }
    }

    @Test
    void everyDemonstrationScoresInTheUnitInterval() {
        for (Demonstration d : TASK.demonstrations()) {
            double s = judge.score(d.prompt(), d.response());
            assertTrue(s >= 0 && s <= 1, () -> d + " scored " + s);
        }
        assertEquals(1.0, judge.score("Greet Anna.", "Hello, Anna! Nice to meet you."), 1e-12);
    }

    @Test
    void aWrongSumScoresBelowTheRightOneForEveryAddition() {
        for (int a = 1; a <= 9; a++) {
            for (int b = 1; b <= 9; b++) {
                String prompt = "What is " + a + " plus " + b + "?";
                double right = judge.score(prompt, a + " plus " + b + " is " + (a + b) + ".");
                for (int wrong = 0; wrong <= 20; wrong++) {
                    if (wrong != a + b) {
                        String answer = a + " plus " + b + " is " + wrong + ".";
                        double s = judge.score(prompt, answer);
                        assertTrue(s < right, () -> answer + " scored " + s + ", the right sum " + right);
                    }
                }
            }
        }
    }

    @Test
    void factsMatchWholeWordsOnly() {
        double right = judge.score("What is 3 plus 9?", "3 plus 9 is 12.");
        assertTrue(judge.score("What is 3 plus 9?", "3 plus 9 is 112.") < right);
        assertTrue(judge.score("Greet Anna.", "Hello, Annabel! Nice to meet you.")
                < judge.score("Greet Anna.", "Hello, Anna! Nice to meet you."));
        assertTrue(judge.score("What color is Ben's red hat?", "Ben's hat is reddish.")
                < judge.score("What color is Ben's red hat?", "Ben's hat is red."));
    }

    @Test
    void namingAnotherColorOrPersonCosts() {
        String hat = "What color is Ben's red hat?";
        assertTrue(judge.score(hat, "Ben's hat is red or blue.") < judge.score(hat, "Ben's hat is red."));
        assertTrue(judge.score("Greet Anna.", "Hello, Anna and Zoe!") < judge.score("Greet Anna.", "Hello, Anna!"));
    }

    @Test
    void aGreetingWithoutAGreetingWordIsNotRelevant() {
        assertTrue(judge.score("Greet Anna.", "Ask someone else, Anna.") < judge.score("Greet Anna.", "I like trains."));
        assertTrue(judge.score("Say goodbye to Ben.", "Hello, Ben!") < judge.score("Say goodbye to Ben.", "Bye, Ben!"));
    }

    @Test
    void paddingPastTheBudgetLowersTheScoreSmoothlyAndSteadily() {
        String prompt = "What is 2 plus 3?";
        String answer = DemoTask.helpful(prompt);
        double previous = judge.score(prompt, answer);
        for (int k = 1; k <= 60; k++) {
            String padded = answer + " la".repeat(k);
            double s = judge.score(prompt, padded);
            if (padded.length() <= GoldJudge.LENGTH_BUDGET) {
                assertEquals(previous, s, 0.0, padded);
            } else {
                assertTrue(s < previous, padded);
                assertTrue(previous - s < 0.05, () -> "a jump at " + padded.length() + " characters");
            }
            previous = s;
        }
    }

    @Test
    void theScoreIsAPureFunctionOfPromptAndResponse() {
        GoldJudge other = new GoldJudge();
        for (Demonstration d : TASK.demonstrations()) {
            assertEquals(judge.score(d.prompt(), d.response()), other.score(d.prompt(), d.response()), 0.0);
            assertEquals(judge.score(d.prompt(), d.response()), judge.score(d.prompt(), d.response()), 0.0);
        }
    }

    @Test
    void aPromptOfNoTemplateIsRejectedByName() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> judge.score("Tell me a joke.", "No."));
        assertTrue(e.getMessage().contains("Tell me a joke."), e.getMessage());
    }

    private double min(String prompt, Quality quality) {
        return DemoTask.responses(prompt, quality).stream().mapToDouble(r -> judge.score(prompt, r)).min().orElseThrow();
    }

    private double max(String prompt, Quality quality) {
        return DemoTask.responses(prompt, quality).stream().mapToDouble(r -> judge.score(prompt, r)).max().orElseThrow();
    }

    private static List<String> allPrompts() {
        return Stream.concat(TASK.trainPrompts().stream(), TASK.heldOutPrompts().stream()).toList();
    }
}
