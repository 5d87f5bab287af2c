package dev.rlhf.trainer.prefs;

import static dev.rlhf.trainer.prefs.Feedback.edit;
import static dev.rlhf.trainer.prefs.Feedback.interaction;
import static dev.rlhf.trainer.prefs.Feedback.pairwise;
import static dev.rlhf.trainer.prefs.Feedback.rating;
import static dev.rlhf.trainer.prefs.Feedback.thumbs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;

import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.Interaction;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.proto.v1.PreferenceRule;
import dev.rlhf.trainer.prefs.PreferenceRules.Outcome;
import dev.rlhf.trainer.prefs.PreferenceRules.Result;
import dev.rlhf.trainer.prefs.PreferenceRules.Settings;

/** The normaliser's rules on hand-made event sequences; no Kafka. */
class PreferenceRulesTest {

    private static final String PROMPT = "Name a prime number.";
    private static final PreferenceRule RATING = PreferenceRule.PREFERENCE_RULE_RATING_PAIR;
    private static final PreferenceRule THUMBS = PreferenceRule.PREFERENCE_RULE_THUMBS_PAIR;

    private final PreferenceRules<String> rules = new PreferenceRules<>(Settings.defaults());

    /** Known interactions i1..i4 of PROMPT answering "2", "3", "4", "5"; i9 of another prompt. */
    private void interactions(PreferenceRules<String> r) {
        r.interaction(interaction("i1", PROMPT, "2"), 0);
        r.interaction(interaction("i2", PROMPT, "3"), 0);
        r.interaction(interaction("i3", PROMPT, "4"), 0);
        r.interaction(interaction("i4", PROMPT, "5"), 0);
        r.interaction(interaction("i9", "Name an even number.", "4"), 0);
    }

    private static Set<String> pairs(List<Preference> ps) {
        return ps.stream().map(p -> p.getChosen() + ">" + p.getRejected()).collect(Collectors.toSet());
    }

    // ---- PAIRWISE -------------------------------------------------------------------------

    @Test
    void aPairwiseChoiceIsOnePairAsIs() {
        Result<String> r = rules.feedback(pairwise("e1", PROMPT, "7", "9", 2), 0, "src");
        assertEquals(List.of(Outcome.PAIRED), r.outcomes());
        Preference p = r.preferences().get(0);
        assertEquals(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_PAIRWISE, List.of("e1")),
                p.getPreferenceId());
        assertEquals(PreferenceRule.PREFERENCE_RULE_PAIRWISE, p.getRule());
        assertEquals(PROMPT, p.getPrompt());
        assertEquals(PreferenceIds.promptHash(PROMPT), p.getPromptHash());
        assertEquals("7", p.getChosen());
        assertEquals("9", p.getRejected());
        assertEquals(2.0, p.getMargin(), "margin = strength x margin.per-strength (1.0)");
        assertEquals(1.0, p.getWeight());
        assertEquals(List.of("e1"), p.getSourceEventIdsList());
        assertEquals("annotator-1", p.getAnnotatorId());
        assertEquals("ib", p.getChosenInteractionId());
        assertEquals("ia", p.getRejectedInteractionId());
        assertEquals(Feedback.POLICY_3, p.getChosenModel());
        assertFalse(p.hasRejectedModel());
        assertEquals(Map.of("task", "test"), p.getLabelsMap());
        assertFalse(p.hasCreatedAt(), "the plumbing stamps created_at when it writes");
    }

    @Test
    void aTieIsDropped() {
        Result<String> r = rules.feedback(Feedback.tie("e1", PROMPT, "7", "9"), 0, "src");
        assertEquals(List.of(), r.preferences());
        assertEquals(List.of(Outcome.TIE), r.outcomes());
    }

    @Test
    void aPairwiseChoiceBetweenEqualTextsMakesNoPair() {
        Result<String> r = rules.feedback(pairwise("e1", PROMPT, "7", "7", 0), 0, "src");
        assertEquals(List.of(), r.preferences());
        assertEquals(List.of(Outcome.SAME_RESPONSE), r.outcomes());
    }

    // ---- RATING_PAIR ----------------------------------------------------------------------

    @Test
    void ratingsOfResponsesToTheSamePromptPairHigherOverLowerWithTheDifferenceAsMargin() {
        interactions(rules);
        assertEquals(List.of(Outcome.NO_COUNTERPART), rules.feedback(rating("r1", "i1", 5, 10), 0, "s").outcomes());
        Result<String> second = rules.feedback(rating("r2", "i2", 2, 20), 0, "s");
        assertEquals(List.of(Outcome.PAIRED), second.outcomes());
        Preference p = second.preferences().get(0);
        assertEquals(RATING, p.getRule());
        assertEquals("2", p.getChosen());
        assertEquals("3", p.getRejected());
        assertEquals(3.0, p.getMargin());
        assertEquals(1.0, p.getWeight());
        assertEquals(List.of("r1", "r2"), p.getSourceEventIdsList(), "chosen's event, then rejected's");
        assertEquals(PreferenceIds.preferenceId(RATING, List.of("r2", "r1")), p.getPreferenceId());
        assertEquals("user-20", p.getAnnotatorId(), "the later event's user");
        assertEquals(Map.of("t", "20"), p.getLabelsMap(), "the later event's label wins");
        assertEquals("i1", p.getChosenInteractionId());
        assertEquals("i2", p.getRejectedInteractionId());
        assertEquals(Feedback.POLICY_3, p.getRejectedModel());
        assertEquals(PreferenceIds.promptHash(PROMPT), p.getPromptHash());

        Result<String> third = rules.feedback(rating("r3", "i3", 4, 30), 0, "s");
        assertEquals(Set.of("2>4", "4>3"), pairs(third.preferences()), "a third response pairs with both");
        assertEquals(Set.of(1.0, 2.0), third.preferences().stream().map(Preference::getMargin).collect(Collectors.toSet()));
    }

    @Test
    void equalRatingsAreATieAndMakeNoPair() {
        interactions(rules);
        rules.feedback(rating("r1", "i1", 4, 10), 0, "s");
        Result<String> r = rules.feedback(rating("r2", "i2", 4, 20), 0, "s");
        assertEquals(List.of(), r.preferences());
        assertEquals(List.of(Outcome.TIE), r.outcomes());
    }

    @Test
    void ratingsOfDifferentPromptsDoNotPair() {
        interactions(rules);
        rules.feedback(rating("r1", "i3", 5, 10), 0, "s");
        Result<String> r = rules.feedback(rating("r2", "i9", 1, 20), 0, "s");
        assertEquals(List.of(), r.preferences());
        assertEquals(List.of(Outcome.NO_COUNTERPART), r.outcomes());
    }

    @Test
    void twoInteractionsWithTheSameTextAreOneResponse() {
        interactions(rules);
        rules.interaction(interaction("i1-again", PROMPT, "2"), 0);
        rules.feedback(rating("r1", "i1", 5, 10), 0, "s");
        Result<String> r = rules.feedback(rating("r2", "i1-again", 1, 20), 0, "s");
        assertEquals(List.of(), r.preferences(), "chosen and rejected would be the same text");
    }

    @Test
    void theLatestRatingByEventTimeCountsAndAnOlderOneIsIgnored() {
        interactions(rules);
        rules.feedback(rating("r1", "i1", 5, 10), 0, "s");
        assertEquals(Set.of("2>3"), pairs(rules.feedback(rating("r2", "i2", 3, 10), 0, "s").preferences()));
        // the person changes their mind about "2": now the worse one
        assertEquals(Set.of("3>2"), pairs(rules.feedback(rating("r3", "i1", 1, 20), 0, "s").preferences()));
        // a rating of "2" that was given before r3 but arrives after it is not the latest
        Result<String> late = rules.feedback(rating("r4", "i1", 4, 15), 0, "s");
        assertEquals(List.of(), late.preferences());
        assertEquals(List.of(Outcome.SUPERSEDED), late.outcomes());
        // and "4" is compared with the latest of "2" (1), not with r1 or r4
        Result<String> next = rules.feedback(rating("r5", "i3", 2, 30), 0, "s");
        assertEquals(Set.of("4>2", "3>4"), pairs(next.preferences()));
    }

    // ---- THUMBS_PAIR ----------------------------------------------------------------------

    @Test
    void thumbsUpAndDownOnTheSamePromptPairUpOverDownAtLowerWeight() {
        interactions(rules);
        assertEquals(List.of(Outcome.NO_COUNTERPART), rules.feedback(thumbs("t1", "i1", true, 10), 0, "s").outcomes());
        Result<String> down = rules.feedback(thumbs("t2", "i2", false, 20), 0, "s");
        Preference p = down.preferences().get(0);
        assertEquals(THUMBS, p.getRule());
        assertEquals("2", p.getChosen());
        assertEquals("3", p.getRejected());
        assertEquals(0.0, p.getMargin());
        assertEquals(0.5, p.getWeight(), "weight.thumbs");
        assertEquals(PreferenceIds.preferenceId(THUMBS, List.of("t1", "t2")), p.getPreferenceId());
        // a second UP pairs with the DOWN, not with the other UP
        assertEquals(Set.of("4>3"), pairs(rules.feedback(thumbs("t3", "i3", true, 30), 0, "s").preferences()));
    }

    @Test
    void thumbsInTheSameDirectionAreATie() {
        interactions(rules);
        rules.feedback(thumbs("t1", "i1", true, 10), 0, "s");
        Result<String> r = rules.feedback(thumbs("t2", "i2", true, 20), 0, "s");
        assertEquals(List.of(), r.preferences());
        assertEquals(List.of(Outcome.TIE), r.outcomes());
    }

    @Test
    void ratingsAndThumbsDoNotPairWithEachOther() {
        interactions(rules);
        rules.feedback(rating("r1", "i1", 5, 10), 0, "s");
        assertEquals(List.of(), rules.feedback(thumbs("t1", "i2", false, 20), 0, "s").preferences());
    }

    // ---- EDIT -----------------------------------------------------------------------------

    @Test
    void anEditIsEditedOverOriginal() {
        Result<String> r = rules.feedback(edit("d1", "", PROMPT, "9", "7"), 0, "s");
        Preference p = r.preferences().get(0);
        assertEquals(PreferenceRule.PREFERENCE_RULE_EDIT, p.getRule());
        assertEquals("7", p.getChosen());
        assertEquals("9", p.getRejected());
        assertEquals(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_EDIT, List.of("d1")), p.getPreferenceId());
        assertEquals(0.0, p.getMargin());
        assertEquals(1.0, p.getWeight());
        assertEquals("editor", p.getAnnotatorId());
    }

    @Test
    void anEditOfAServedAnswerRecoversPromptAndOriginalFromItsInteraction() {
        interactions(rules);
        Result<String> r = rules.feedback(edit("d1", "i3", "", "", "7"), 0, "s");
        Preference p = r.preferences().get(0);
        assertEquals(PROMPT, p.getPrompt());
        assertEquals("7", p.getChosen());
        assertEquals("4", p.getRejected());
        assertEquals("i3", p.getRejectedInteractionId());
        assertEquals(Feedback.POLICY_3, p.getRejectedModel());
    }

    @Test
    void anAnswerWrittenFromScratchIsSftDataOnlyAndAnUnchangedEditNoPair() {
        Result<String> scratch = rules.feedback(edit("d1", "", PROMPT, "", "7"), 0, "s");
        assertEquals(List.of(), scratch.preferences());
        assertEquals(List.of(Outcome.SFT_ONLY), scratch.outcomes());
        Result<String> unchanged = rules.feedback(edit("d2", "", PROMPT, "7", "7"), 0, "s");
        assertEquals(List.of(), unchanged.preferences());
        assertEquals(List.of(Outcome.SAME_RESPONSE), unchanged.outcomes());
    }

    @Test
    void commentsMakeNoPair() {
        FeedbackEvent c = FeedbackEvent.newBuilder().setEventId("c1").setInteractionId("i1")
                .setComment(dev.rlhf.proto.v1.Comment.newBuilder().setText("nice")).build();
        assertEquals(List.of(Outcome.IGNORED), rules.feedback(c, 0, "s").outcomes());
    }

    // ---- duplicates -----------------------------------------------------------------------

    @Test
    void theSameEventTwiceIsDroppedTheSecondTime() {
        interactions(rules);
        rules.feedback(rating("r1", "i1", 5, 10), 0, "s");
        FeedbackEvent r2 = rating("r2", "i2", 1, 20);
        assertEquals(1, rules.feedback(r2, 0, "s").preferences().size());
        Result<String> again = rules.feedback(r2, 0, "s");
        assertEquals(List.of(), again.preferences());
        assertEquals(List.of(Outcome.DUPLICATE_EVENT), again.outcomes());
        FeedbackEvent p = pairwise("p1", PROMPT, "7", "9", 0);
        assertEquals(1, rules.feedback(p, 0, "s").preferences().size());
        assertEquals(List.of(), rules.feedback(p, 0, "s").preferences());
    }

    @Test
    void aRepeatBeyondTheEventMemoryStillEmitsNoPairTwice() {
        Settings d = Settings.defaults();
        PreferenceRules<String> forgetful = new PreferenceRules<>(new Settings(1, 1, 0.5, 1, 1, 1, 0, 100, 16, 100, 100,
                Duration.ofHours(1), 1, d.maxSeenPreferences()));
        interactions(forgetful);
        forgetful.feedback(rating("r1", "i1", 5, 10), 0, "s");
        FeedbackEvent r2 = rating("r2", "i2", 1, 20);
        assertEquals(1, forgetful.feedback(r2, 0, "s").preferences().size());
        FeedbackEvent p1 = pairwise("p1", PROMPT, "7", "9", 0);
        assertEquals(1, forgetful.feedback(p1, 0, "s").preferences().size()); // pushes r2 out of the event memory
        Result<String> ratingAgain = forgetful.feedback(r2, 0, "s");
        assertEquals(List.of(), ratingAgain.preferences(), "r2 is the kept rating of its response already");
        assertEquals(List.of(Outcome.DUPLICATE_EVENT), ratingAgain.outcomes());
        forgetful.feedback(thumbs("t1", "i1", true, 30), 0, "s"); // pushes p1 out of the event memory
        Result<String> pairwiseAgain = forgetful.feedback(p1, 0, "s");
        assertEquals(List.of(), pairwiseAgain.preferences(), "its pair's id was emitted already");
        assertEquals(List.of(Outcome.DUPLICATE_PREFERENCE), pairwiseAgain.outcomes());
    }

    @Test
    void preferenceIdsDoNotDependOnArrivalOrder() {
        PreferenceRules<String> forward = new PreferenceRules<>(Settings.defaults());
        PreferenceRules<String> backward = new PreferenceRules<>(Settings.defaults());
        interactions(forward);
        interactions(backward);
        List<FeedbackEvent> events = List.of(rating("r1", "i1", 5, 10), rating("r2", "i2", 1, 20),
                rating("r3", "i3", 3, 30), thumbs("t1", "i1", true, 40), thumbs("t2", "i4", false, 50),
                pairwise("p1", PROMPT, "7", "9", 1), edit("d1", "i2", "", "", "11"));
        List<Preference> a = new ArrayList<>();
        List<Preference> b = new ArrayList<>();
        events.forEach(e -> a.addAll(forward.feedback(e, 0, "s").preferences()));
        List<FeedbackEvent> reversed = new ArrayList<>(events);
        Collections.reverse(reversed);
        reversed.forEach(e -> b.addAll(backward.feedback(e, 0, "s").preferences()));
        assertEquals(3 + 1 + 1 + 1, a.size());
        assertEquals(a.stream().map(Preference::getPreferenceId).collect(Collectors.toSet()),
                b.stream().map(Preference::getPreferenceId).collect(Collectors.toSet()));
        assertEquals(new HashSet<>(a), new HashSet<>(b), "the very same records");
    }

    // ---- the join -------------------------------------------------------------------------

    @Test
    void feedbackBeforeItsInteractionWaitsAndPairsWhenItArrives() {
        rules.interaction(interaction("i1", PROMPT, "2"), 0);
        rules.feedback(rating("r1", "i1", 5, 10), 0, "s");
        Result<String> early = rules.feedback(rating("r2", "i2", 1, 20), 0, "s");
        assertEquals(List.of(Outcome.WAITING), early.outcomes());
        assertEquals(List.of(), early.preferences());
        assertEquals(1, rules.pending());
        Result<String> arrival = rules.interaction(interaction("i2", PROMPT, "3"), 0);
        assertEquals(Set.of("2>3"), pairs(arrival.preferences()));
        assertEquals(List.of(Outcome.PAIRED), arrival.outcomes());
        assertEquals(0, rules.pending());
        // a duplicate of the event that waited is dropped as such
        assertEquals(List.of(Outcome.DUPLICATE_EVENT), rules.feedback(rating("r2", "i2", 1, 20), 0, "s").outcomes());
    }

    @Test
    void feedbackAfterItsInteractionPairsAtOnce() {
        rules.interaction(interaction("i1", PROMPT, "2"), 0);
        rules.interaction(interaction("i2", PROMPT, "3"), 0);
        rules.feedback(thumbs("t1", "i1", false, 10), 0, "s");
        assertEquals(Set.of("3>2"), pairs(rules.feedback(thumbs("t2", "i2", true, 20), 0, "s").preferences()));
        assertEquals(0, rules.pending());
    }

    @Test
    void feedbackWhoseInteractionNeverComesIsDeadLetteredOnceTheJoinWindowPassed() {
        long hour = Duration.ofHours(1).toMillis();
        rules.feedback(rating("r1", "lost", 5, 10), 1_000, "record-of-r1");
        rules.interaction(interaction("i1", PROMPT, "2"), 1_000 + hour); // exactly the window: still waits
        assertEquals(List.of(), rules.expire().deadLetters());
        rules.interaction(interaction("i2", PROMPT, "3"), 1_001 + hour);
        Result<String> expired = rules.expire();
        assertEquals(1, expired.deadLetters().size());
        assertEquals("record-of-r1", expired.deadLetters().get(0).source());
        assertTrue(expired.deadLetters().get(0).reason().startsWith("unknown interaction lost"),
                expired.deadLetters().get(0).reason());
        assertEquals(List.of(Outcome.EXPIRED), expired.outcomes());
        assertEquals(0, rules.pending());
        // the interaction comes after all: it resolves nothing by itself, but a replay of the dead letter works
        rules.interaction(interaction("lost", PROMPT, "5"), 2_000 + hour);
        rules.feedback(rating("r0", "i1", 1, 5), 0, "s");
        assertEquals(Set.of("5>2"), pairs(rules.feedback(rating("r1", "lost", 5, 10), 0, "s").preferences()));
    }

    @Test
    void beyondMaxPendingTheOldestWaitingFeedbackIsDeadLettered() {
        PreferenceRules<String> small = new PreferenceRules<>(new Settings(1, 1, 0.5, 1, 1, 1, 0, 100, 16, 100, 2,
                Duration.ofHours(1), 100, 100));
        small.feedback(rating("r1", "x1", 5, 10), 0, "first");
        small.feedback(rating("r2", "x2", 5, 10), 0, "second");
        small.feedback(rating("r3", "x3", 5, 10), 0, "third");
        Result<String> expired = small.expire();
        assertEquals(List.of("first"), expired.deadLetters().stream().map(PreferenceRules.DeadLetter::source).toList());
        assertTrue(expired.deadLetters().get(0).reason().contains("max-pending=2"));
        assertEquals(2, small.pending());
    }

    @Test
    void anEditWaitsForItsInteractionWhenItLeavesTheOriginalOut() {
        assertEquals(List.of(Outcome.WAITING), rules.feedback(edit("d1", "i7", PROMPT, "", "7"), 0, "s").outcomes());
        Result<String> r = rules.interaction(interaction("i7", PROMPT, "9"), 0);
        assertEquals(Set.of("7>9"), pairs(r.preferences()));
    }

    @Test
    void aResponseWithoutTextMakesNoPair() {
        rules.interaction(interaction("i1", PROMPT, "2"), 0);
        rules.interaction(interaction("cancelled", PROMPT, ""), 0);
        rules.feedback(rating("r1", "i1", 5, 10), 0, "s");
        Result<String> r = rules.feedback(rating("r2", "cancelled", 1, 20), 0, "s");
        assertEquals(List.of(), r.preferences());
        assertEquals(List.of(Outcome.EMPTY_TEXT), r.outcomes());
    }

    // ---- unusable events ------------------------------------------------------------------

    @Test
    void unusableEventsAreHandedBackAsDeadLettersWithTheReason() {
        FeedbackEvent noKind = FeedbackEvent.newBuilder().setEventId("x").build();
        FeedbackEvent outOfRange = rating("r1", "i1", 7, 10);
        FeedbackEvent noId = rating("", "i1", 3, 10);
        FeedbackEvent choosesNobody = pairwise("p1", PROMPT, "7", "9", 0).toBuilder()
                .setPairwise(pairwise("p1", PROMPT, "7", "9", 0).getPairwise().toBuilder().setChosenResponseId("c"))
                .build();
        for (FeedbackEvent e : List.of(noKind, outOfRange, noId, choosesNobody)) {
            Result<String> r = rules.feedback(e, 0, "bad");
            assertEquals(List.of(Outcome.INVALID), r.outcomes(), e.toString());
            assertEquals("bad", r.deadLetters().get(0).source());
        }
        assertEquals("rating.value must be in 1..5, was 7",
                PreferenceRules.problem(outOfRange).orElseThrow());
    }

    // ---- invariant against a naive oracle -----------------------------------------------

    /**
     * With one rating per response, whatever the order, the rating pairs are exactly the
     * naive all-pairs list: every two responses of one prompt with different ratings, the
     * higher chosen, margin the difference.
     */
    @Test
    void ratingPairsEqualTheNaiveAllPairsOracleInAnyOrder() {
        Random random = new Random(7);
        for (int round = 0; round < 20; round++) {
            List<Interaction> served = new ArrayList<>();
            List<FeedbackEvent> ratings = new ArrayList<>();
            for (int prompt = 0; prompt < 3; prompt++) {
                for (int response = 0; response < 5; response++) {
                    String id = "i" + prompt + "-" + response;
                    served.add(interaction(id, "prompt " + prompt, "response " + response));
                    ratings.add(rating("r" + prompt + "-" + response, id, 1 + random.nextInt(5), random.nextInt(100)));
                }
            }
            // the oracle: a plain double loop over all events
            Set<String> expected = new HashSet<>();
            for (FeedbackEvent a : ratings) {
                for (FeedbackEvent b : ratings) {
                    String pa = a.getInteractionId().split("-")[0];
                    String pb = b.getInteractionId().split("-")[0];
                    if (pa.equals(pb) && a.getRating().getValue() > b.getRating().getValue()) {
                        expected.add(PreferenceIds.preferenceId(RATING, List.of(a.getEventId(), b.getEventId()))
                                + " margin " + (double) (a.getRating().getValue() - b.getRating().getValue()));
                    }
                }
            }
            Collections.shuffle(served, random);
            Collections.shuffle(ratings, random);
            PreferenceRules<String> r = new PreferenceRules<>(Settings.defaults());
            List<Preference> out = new ArrayList<>();
            // interleave: half the interactions before the feedback, half after (joins both ways)
            served.subList(0, served.size() / 2).forEach(i -> out.addAll(r.interaction(i, 0).preferences()));
            ratings.forEach(e -> out.addAll(r.feedback(e, 0, "s").preferences()));
            served.subList(served.size() / 2, served.size()).forEach(i -> out.addAll(r.interaction(i, 0).preferences()));
            Set<String> got = out.stream().map(p -> p.getPreferenceId() + " margin " + p.getMargin())
                    .collect(Collectors.toSet());
            assertEquals(out.size(), got.size(), "no id twice");
            assertEquals(expected, got, "round " + round);
            out.forEach(p -> assertNotEquals(p.getChosen(), p.getRejected()));
            assertEquals(0, r.pending());
        }
    }
}
