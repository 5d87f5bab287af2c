package dev.rlhf.trainer.prefs;

import static dev.rlhf.trainer.prefs.Feedback.edit;
import static dev.rlhf.trainer.prefs.Feedback.id;
import static dev.rlhf.trainer.prefs.Feedback.interaction;
import static dev.rlhf.trainer.prefs.Feedback.pairwise;
import static dev.rlhf.trainer.prefs.Feedback.rating;
import static dev.rlhf.trainer.prefs.NormaliserKafka.await;
import static dev.rlhf.trainer.prefs.NormaliserKafka.countById;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;

import dev.rlhf.kafka.support.DeadLetterQueue;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.Interaction;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.proto.v1.PreferenceRule;
import dev.rlhf.testkit.TopicReader;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * The normaliser on the real broker: dead letters, offsets committed only after the
 * preferences are acknowledged, a crash between produce and commit, and a restart that
 * rebuilds the state from the committed offsets. Each test has its own topics and group.
 */
class PreferenceNormaliserTest {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final PreferenceRule RATING = PreferenceRule.PREFERENCE_RULE_RATING_PAIR;

    /** Thrown by the commit hook: the normaliser's thread dies as if the process were killed there. */
    private static final class SimulatedCrash extends Error {
        SimulatedCrash() {
            super("simulated crash between produce and commit");
        }
    }

    private static String rid(String prefix) {
        return prefix + "-" + id();
    }

    private static void interactions(NormaliserKafka k, Interaction... is) throws Exception {
        for (Interaction i : is) {
            k.send(k.interactions, i.getInteractionId(), i.toByteArray());
        }
    }

    private static void feedback(NormaliserKafka k, FeedbackEvent... es) throws Exception {
        for (FeedbackEvent e : es) {
            k.send(k.feedback, e.getInteractionId().isEmpty() ? "prompt" : e.getInteractionId(), e.toByteArray());
        }
    }

    private static double count(MeterRegistry m, String name, String tag, String value) {
        var c = m.find(name).tag(tag, value).counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void unreadableAndUnusableRecordsGoToTheDeadLetterTopicAndAreCommitted() throws Exception {
        try (NormaliserKafka k = new NormaliserKafka("dlq", true)) {
            byte[] garbage = {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01};
            RecordMetadata badFeedback = k.send(k.feedback, "k1", garbage);
            RecordMetadata badInteraction = k.send(k.interactions, "k2", garbage);
            FeedbackEvent outOfRange = rating(id(), "i1", 9, 10);
            RecordMetadata invalid = k.send(k.feedback, "i1", outOfRange.toByteArray());
            // a rating whose interaction never comes: the interactions topic moves 2 h past it
            long now = System.currentTimeMillis();
            FeedbackEvent orphan = rating(id(), "never-served", 4, 10);
            RecordMetadata orphaned = k.send(k.feedback, "never-served", orphan.toByteArray(),
                    now - Duration.ofHours(2).toMillis());
            interactions(k, interaction("i-late", "some prompt", "some answer"));
            FeedbackEvent good = pairwise(id(), "Pick one.", "yes", "no", 1);
            feedback(k, good);

            MeterRegistry meters = new SimpleMeterRegistry();
            try (PreferenceNormaliser n = k.normaliser(meters)) {
                n.start();
                await("committed to the end of both topics", WAIT, k::caughtUp);
            }

            List<ConsumerRecord<String, byte[]>> dead = TopicReader.readAll(k.bootstrap, k.deadLetters);
            Map<String, ConsumerRecord<String, byte[]>> bySource = new HashMap<>();
            for (ConsumerRecord<String, byte[]> r : dead) {
                bySource.put(header(r, DeadLetterQueue.TOPIC) + "-" + header(r, DeadLetterQueue.PARTITION) + "@"
                        + header(r, DeadLetterQueue.OFFSET), r);
                assertEquals(k.group, header(r, DeadLetterQueue.CONSUMER));
            }
            assertEquals(4, dead.size(), "four dead letters, once each: " + bySource.keySet());
            assertTrue(reason(bySource, badFeedback).startsWith("not a rlhf.v1.FeedbackEvent"));
            assertTrue(reason(bySource, badInteraction).startsWith("not a rlhf.v1.Interaction"));
            assertEquals("rating.value must be in 1..5, was 9", reason(bySource, invalid));
            assertTrue(reason(bySource, orphaned).startsWith("unknown interaction never-served"));
            assertArrayEquals(garbage, bySource.get(coordinates(badFeedback)).value(), "the record, unchanged");
            assertArrayEquals(orphan.toByteArray(), bySource.get(coordinates(orphaned)).value());

            assertEquals(List.of(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_PAIRWISE,
                    List.of(good.getEventId()))), k.preferences().stream().map(Preference::getPreferenceId).toList());
            assertEquals(2.0, count(meters, "rlhf.normaliser.dead.letters", "reason", "unreadable"));
            assertEquals(1.0, count(meters, "rlhf.normaliser.dead.letters", "reason", "invalid"));
            assertEquals(1.0, count(meters, "rlhf.normaliser.dead.letters", "reason", "unknown-interaction"));
            assertEquals(1.0, count(meters, "rlhf.normaliser.preferences", "rule", "pairwise"));
            assertEquals(0.0, meters.get("rlhf.normaliser.pending.joins").gauge().value());
        }
    }

    @Test
    void offsetsAreCommittedOnlyAfterThePreferencesAreAcknowledged() throws Exception {
        try (NormaliserKafka k = new NormaliserKafka("ack", false)) { // the preferences topic is missing at first
            FeedbackEvent good = pairwise(id(), "Pick one.", "yes", "no", 0);
            feedback(k, good);
            MeterRegistry meters = new SimpleMeterRegistry();
            try (PreferenceNormaliser n = k.normaliser(meters)) {
                n.start();
                await("a failed batch", WAIT, () -> meters.get("rlhf.normaliser.failures").counter().count() >= 1);
                assertEquals(Map.of(), k.committed(), "nothing committed while the preference cannot be written");
                k.createPreferences();
                await("committed to the end of both topics", WAIT, k::caughtUp);
            }
            assertEquals(List.of(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_PAIRWISE,
                    List.of(good.getEventId()))), k.preferences().stream().map(Preference::getPreferenceId).toList());
        }
    }

    @Test
    void aCrashBetweenProduceAndCommitLosesNothingAndRepeatsOnlyIdenticalRecords() throws Exception {
        try (NormaliserKafka k = new NormaliserKafka("crash", true)) {
            String prompt = "crash prompt " + id();
            Interaction a = interaction(rid("ia"), prompt, "A");
            Interaction b = interaction(rid("ib"), prompt, "B");
            Interaction c = interaction(rid("ic"), prompt, "C");
            interactions(k, a, b, c);
            FeedbackEvent ra = rating(rid("ra"), a.getInteractionId(), 5, 10);
            FeedbackEvent rb = rating(rid("rb"), b.getInteractionId(), 3, 20);
            FeedbackEvent rc = rating(rid("rc"), c.getInteractionId(), 4, 30);
            FeedbackEvent p = pairwise(rid("p"), prompt, "A", "B", 2);
            FeedbackEvent d = edit(rid("d"), "", prompt, "B", "A+");
            feedback(k, ra, rb, rc, p, d);
            feedback(k, rb); // the gateway delivered one twice
            Set<String> expected = Set.of(
                    PreferenceIds.preferenceId(RATING, List.of(ra.getEventId(), rb.getEventId())),
                    PreferenceIds.preferenceId(RATING, List.of(ra.getEventId(), rc.getEventId())),
                    PreferenceIds.preferenceId(RATING, List.of(rc.getEventId(), rb.getEventId())),
                    PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_PAIRWISE, List.of(p.getEventId())),
                    PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_EDIT, List.of(d.getEventId())));

            // 1. the first instance dies after its preferences were acknowledged, before their offsets are committed
            PreferenceNormaliser first = k.normaliser(new SimpleMeterRegistry());
            first.beforeCommit(written -> {
                if (written > 0) {
                    throw new SimulatedCrash();
                }
            });
            first.start();
            assertTrue(first.awaitTermination(WAIT), "the first instance crashed");
            first.close();
            Set<String> writtenBeforeCrash = countById(k.preferences()).keySet();
            assertFalse(writtenBeforeCrash.isEmpty(), "it wrote preferences before it crashed");
            assertFalse(k.caughtUp(), "and did not commit them");

            // 2. a second instance takes over from the committed offsets
            try (PreferenceNormaliser second = k.normaliser(new SimpleMeterRegistry())) {
                second.start();
                await("committed to the end of both topics", WAIT, k::caughtUp);
            }
            List<Preference> all = k.preferences();
            Map<String, Long> counts = countById(all);
            assertEquals(expected, counts.keySet(), "nothing lost, nothing extra");
            for (var e : counts.entrySet()) {
                long times = writtenBeforeCrash.contains(e.getKey()) ? 2 : 1;
                assertEquals(times, e.getValue(), "written once, or once more by the replay: " + e.getKey());
            }
            // a repeat is the same record (only created_at, the write time, differs)
            Map<String, Preference> first1 = new HashMap<>();
            for (Preference pref : all) {
                Preference timeless = pref.toBuilder().clearCreatedAt().build();
                Preference seen = first1.putIfAbsent(pref.getPreferenceId(), timeless);
                if (seen != null) {
                    assertEquals(seen, timeless);
                }
            }
        }
    }

    @Test
    void aRestartRebuildsTheStateFromTheCommittedOffsets() throws Exception {
        try (NormaliserKafka k = new NormaliserKafka("restart", true)) {
            String prompt = "restart prompt " + id();
            Interaction a = interaction(rid("ia"), prompt, "A");
            Interaction b = interaction(rid("ib"), prompt, "B");
            Interaction c = interaction(rid("ic"), prompt, "C");
            Interaction dd = interaction(rid("id"), prompt, "D");
            Interaction e = interaction(rid("ie"), prompt, "E");
            interactions(k, a, b, c);
            FeedbackEvent ra = rating(rid("ra"), a.getInteractionId(), 5, 10);
            FeedbackEvent rb = rating(rid("rb"), b.getInteractionId(), 3, 20);
            FeedbackEvent rc = rating(rid("rc"), c.getInteractionId(), 4, 30);
            FeedbackEvent re = rating(rid("re"), e.getInteractionId(), 1, 40); // its interaction comes later
            feedback(k, ra, rb, rc, re);

            MeterRegistry before = new SimpleMeterRegistry();
            try (PreferenceNormaliser n = k.normaliser(before)) {
                n.start();
                await("the first three pairs", WAIT, () -> k.caughtUp() && k.preferences().size() == 3);
                assertEquals(1.0, before.get("rlhf.normaliser.pending.joins").gauge().value(), "re waits");
            }
            Set<String> old = countById(k.preferences()).keySet();

            // restart, then: a new rating (must pair with the ratings given before the restart) and the
            // interaction the waiting rating needs (it must still be waiting)
            MeterRegistry after = new SimpleMeterRegistry();
            try (PreferenceNormaliser n = k.normaliser(after)) {
                n.start();
                FeedbackEvent rd = rating(rid("rd"), dd.getInteractionId(), 2, 50);
                interactions(k, dd);
                feedback(k, rd);
                interactions(k, e);
                Set<String> fresh = new HashSet<>();
                for (FeedbackEvent older : List.of(ra, rb, rc)) {
                    fresh.add(PreferenceIds.preferenceId(RATING, List.of(older.getEventId(), rd.getEventId())));
                    fresh.add(PreferenceIds.preferenceId(RATING, List.of(older.getEventId(), re.getEventId())));
                }
                fresh.add(PreferenceIds.preferenceId(RATING, List.of(rd.getEventId(), re.getEventId())));
                await("seven new pairs", WAIT, () -> k.caughtUp() && k.preferences().size() >= 10);
                List<Preference> all = k.preferences();
                List<String> added = new ArrayList<>();
                all.stream().map(Preference::getPreferenceId).filter(id -> !old.contains(id)).forEach(added::add);
                assertEquals(10, all.size(), "no old pair written again");
                assertEquals(fresh, new HashSet<>(added));
                assertEquals(7, added.size());
                assertEquals(1.0, after.get("rlhf.normaliser.rebuilds").counter().count());
                assertEquals(0.0, after.get("rlhf.normaliser.pending.joins").gauge().value());
            }
        }
    }

    private static String header(ConsumerRecord<String, byte[]> r, String name) {
        var h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static String coordinates(RecordMetadata m) {
        return m.topic() + "-" + m.partition() + "@" + m.offset();
    }

    private static String reason(Map<String, ConsumerRecord<String, byte[]>> bySource, RecordMetadata m) {
        ConsumerRecord<String, byte[]> r = bySource.get(coordinates(m));
        assertTrue(r != null, "no dead letter for " + coordinates(m) + " among " + bySource.keySet());
        return header(r, DeadLetterQueue.REASON);
    }
}
