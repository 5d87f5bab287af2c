package dev.rlhf.trainer.prefs;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import com.google.protobuf.Timestamp;

import dev.rlhf.proto.v1.CandidateResponse;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.Interaction;
import dev.rlhf.proto.v1.ModelRef;
import dev.rlhf.proto.v1.PairwiseChoice;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.proto.v1.PreferenceRule;
import dev.rlhf.proto.v1.Thumbs;

/**
 * The preference normaliser's rules: turns {@link FeedbackEvent}s (rlhf.feedback.v1), joined
 * with {@link Interaction}s (rlhf.interactions.v1), into {@link Preference} pairs
 * "chosen ≻ rejected" (rlhf.preferences.v1). Plain logic, no Kafka: fed events in order, it
 * returns what to emit. Not thread-safe; one instance per consumer thread.
 *
 * <h2>Rules</h2>
 * <ol>
 * <li><b>PAIRWISE</b> — a {@link PairwiseChoice} is one pair as is: the chosen candidate ≻ the
 * other; margin = {@code strength × margin-per-strength}; weight {@code weight.pairwise};
 * interaction ids and models from the candidates. No join (the event is self-contained;
 * its event-level interaction_id is ignored).</li>
 * <li><b>RATING_PAIR</b> — per prompt (prompt hash) the normaliser keeps, per distinct
 * response text, the latest rating. A new rating of response R is paired with the latest
 * rating of every <em>other</em> response of the same prompt whose value differs: the
 * higher value is chosen, margin = {@code |difference| × margin-per-rating-point}, weight
 * {@code weight.rating}. Ratings by different people pair too (the proto's annotator rule
 * takes the later event's user).</li>
 * <li><b>THUMBS_PAIR</b> — likewise with the latest thumbs per response: an UP pairs with
 * the latest DOWN of every other response of the prompt (UP chosen), a DOWN with every
 * UP; margin 0 (none stated), weight {@code weight.thumbs} (0.5 by default: weaker
 * evidence). Ratings and thumbs never pair with each other.</li>
 * <li><b>EDIT</b> — an {@code EditedAnswer} becomes (edited ≻ original), margin
 * {@code margin.edit} (0), weight {@code weight.edit}; prompt and original come from the
 * event, or from its interaction where the event leaves them empty. An answer written
 * from scratch (no original, no interaction) makes no pair. Every edit stays SFT data where
 * it is: SftConfig reads demonstrations from the EditedAnswer events of rlhf.feedback.v1,
 * so the normaliser writes nothing else for it.</li>
 * <li>Comments make no pair.</li>
 * </ol>
 *
 * <h2>Latest, ties, duplicates</h2>
 * <ul>
 * <li>"Latest" is by event time ({@code created_at}, else {@code received_at}, else the
 * record timestamp; equal times by event id), not by arrival, so the kept state does not
 * depend on the order in which partitions are read. A rating or thumbs older than the one
 * kept for that response is ignored (outcome {@code superseded}); a newer one replaces it
 * and pairs anew; pairs emitted from the replaced one stay.</li>
 * <li><b>Tie rule: ties are dropped.</b> A PairwiseChoice with {@code tie = true}, two
 * equal ratings, and two thumbs in the same direction make no pair: a Bradley–Terry pair
 * states a winner, and a tie has none (emitting it both ways at half weight would only pull
 * the two rewards together and double-count). Counted as outcome {@code tie}.</li>
 * <li>Two responses with the same text are one response (a pair needs chosen ≠
 * rejected); a pairwise choice or edit whose two texts are equal makes no pair (outcome
 * {@code same-response}).</li>
 * <li>Duplicates: a feedback event whose {@code event_id} was already seen is dropped
 * (the gateway may deliver a retry twice), and a preference whose
 * {@code preference_id} ({@link PreferenceIds}) was already emitted is not emitted again.
 * Both memories are bounded ({@code max-seen-events}, {@code max-seen-preferences}, oldest
 * forgotten first); beyond them a repeat is still harmless: state updates are idempotent
 * and the repeated pair carries the same id, which downstream consumers drop.</li>
 * </ul>
 *
 * <h2>The join with rlhf.interactions.v1</h2>
 * Thumbs and ratings (and edits that leave prompt or original empty) name an interaction;
 * the last {@code max-interactions} interactions are kept (id → prompt, response, model;
 * oldest evicted first). Feedback whose interaction is not known yet <em>waits</em> and is
 * applied when the interaction arrives. It waits until the interactions topic's newest
 * record timestamp passes the feedback record's timestamp plus {@code join-window}, or
 * until more than {@code max-pending} events wait (oldest first); then {@link #expire()}
 * hands it back as a dead letter with reason "unknown interaction" (and forgets its event
 * id, so a replay of the dead letter is processed). Feedback about a response with empty
 * prompt or response text (a cancelled generation) makes no pair (outcome
 * {@code empty-text}).
 *
 * <h2>Bounds</h2>
 * At most {@code max-prompts} prompts are remembered for rating/thumbs pairing (least
 * recently touched evicted) and {@code max-responses-per-prompt} responses per prompt
 * (least recently touched evicted); feedback on an evicted response can no longer pair
 * with later feedback.
 *
 * @param <S> what the caller uses to point at a feedback record (its Kafka record), handed
 *            back with dead letters
 */
public final class PreferenceRules<S> {

    /**
     * The rules' configuration (the {@code rlhf.normaliser.*} keys of the same names).
     *
     * @param pairwiseWeight        weight of PAIRWISE pairs, > 0
     * @param ratingWeight          weight of RATING_PAIR pairs, > 0
     * @param thumbsWeight          weight of THUMBS_PAIR pairs, > 0
     * @param editWeight            weight of EDIT pairs, > 0
     * @param marginPerStrength     margin per step of PairwiseChoice.strength (1..3), >= 0
     * @param marginPerRatingPoint  margin per point of rating difference (1..4), >= 0
     * @param editMargin            margin of EDIT pairs, >= 0
     * @param maxPrompts            prompts remembered for rating/thumbs pairing, >= 1
     * @param maxResponsesPerPrompt responses remembered per prompt, >= 2
     * @param maxInteractions       interactions remembered for the join, >= 1
     * @param maxPending            feedback events that may wait for their interaction, >= 1
     * @param joinWindow            how far the interactions topic may move past a waiting
     *                              feedback record before it is given up, > 0
     * @param maxSeenEvents         feedback event ids remembered for dropping repeats, >= 1
     * @param maxSeenPreferences    preference ids remembered for dropping repeats, >= 1
     */
    public record Settings(double pairwiseWeight, double ratingWeight, double thumbsWeight, double editWeight,
            double marginPerStrength, double marginPerRatingPoint, double editMargin, int maxPrompts,
            int maxResponsesPerPrompt, int maxInteractions, int maxPending, Duration joinWindow, int maxSeenEvents,
            int maxSeenPreferences) {

        public Settings {
            positive("weight.pairwise", pairwiseWeight);
            positive("weight.rating", ratingWeight);
            positive("weight.thumbs", thumbsWeight);
            positive("weight.edit", editWeight);
            nonNegative("margin.per-strength", marginPerStrength);
            nonNegative("margin.per-rating-point", marginPerRatingPoint);
            nonNegative("margin.edit", editMargin);
            atLeast("max-prompts", maxPrompts, 1);
            atLeast("max-responses-per-prompt", maxResponsesPerPrompt, 2);
            atLeast("max-interactions", maxInteractions, 1);
            atLeast("max-pending", maxPending, 1);
            atLeast("max-seen-events", maxSeenEvents, 1);
            atLeast("max-seen-preferences", maxSeenPreferences, 1);
            if (joinWindow == null || joinWindow.isNegative() || joinWindow.isZero()) {
                throw new IllegalArgumentException("rlhf.normaliser.join-window must be positive, got " + joinWindow);
            }
        }

        /** The defaults of {@code rlhf.normaliser.*}. */
        public static Settings defaults() {
            return new Settings(1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 0.0, 20_000, 16, 100_000, 10_000, Duration.ofHours(1),
                    200_000, 200_000);
        }

        private static void positive(String key, double v) {
            if (!(v > 0) || Double.isInfinite(v)) {
                throw new IllegalArgumentException("rlhf.normaliser." + key + " must be a finite number > 0, got " + v);
            }
        }

        private static void nonNegative(String key, double v) {
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new IllegalArgumentException("rlhf.normaliser." + key + " must be a finite number >= 0, got " + v);
            }
        }

        private static void atLeast(String key, int v, int min) {
            if (v < min) {
                throw new IllegalArgumentException("rlhf.normaliser." + key + " must be >= " + min + ", got " + v);
            }
        }
    }

    /** What became of one feedback event (a metric tag: {@link #tag()}). */
    public enum Outcome {
        /** At least one new preference. */
        PAIRED,
        /** Usable, but no counterpart to pair with (yet). */
        NO_COUNTERPART,
        /** A tie: dropped by the tie rule. */
        TIE,
        /** Its event id was seen before. */
        DUPLICATE_EVENT,
        /** Every pair it made had been emitted before. */
        DUPLICATE_PREFERENCE,
        /** Waits for its interaction (not final: it is counted again when decided). */
        WAITING,
        /** Older than the rating / thumbs already kept for that response. */
        SUPERSEDED,
        /** Chosen and rejected would be the same text. */
        SAME_RESPONSE,
        /** An edit with no original: a demonstration only (it stays in rlhf.feedback.v1 for SFT). */
        SFT_ONLY,
        /** A comment: no pair. */
        IGNORED,
        /** The interaction's prompt or response is empty. */
        EMPTY_TEXT,
        /** Not usable: dead-lettered. */
        INVALID,
        /** Its interaction never came: dead-lettered. */
        EXPIRED;

        /** Lowercase, hyphenated: {@code duplicate-event}. */
        public String tag() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }

    /** A feedback record to dead-letter, and why. */
    public record DeadLetter<S>(S source, String reason) {
    }

    /** What one call produced: preferences to emit (in order), dead letters, and per-event outcomes. */
    public static final class Result<S> {
        private final List<Preference> preferences = new ArrayList<>();
        private final List<DeadLetter<S>> deadLetters = new ArrayList<>();
        private final List<Outcome> outcomes = new ArrayList<>();

        public List<Preference> preferences() {
            return Collections.unmodifiableList(preferences);
        }

        public List<DeadLetter<S>> deadLetters() {
            return Collections.unmodifiableList(deadLetters);
        }

        public List<Outcome> outcomes() {
            return Collections.unmodifiableList(outcomes);
        }

        void addAll(Result<S> other) {
            preferences.addAll(other.preferences);
            deadLetters.addAll(other.deadLetters);
            outcomes.addAll(other.outcomes);
        }
    }

    /** The part of an interaction the join needs. */
    private record Joined(String interactionId, String prompt, String promptHash, String response, ModelRef model) {
    }

    /** The latest rating (value 1..5) or thumbs (+1 up, -1 down) of one response. */
    private record Vote(String eventId, int value, long time, String userId, Map<String, String> labels,
            String response, String interactionId, ModelRef model) {
    }

    private static final class ResponseState {
        Vote rating;
        Vote thumbs;
    }

    private static final class PromptState {
        final String prompt;
        final String hash;
        final LinkedHashMap<String, ResponseState> responses;

        PromptState(String prompt, String hash, int maxResponses) {
            this.prompt = prompt;
            this.hash = hash;
            this.responses = new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, ResponseState> eldest) {
                    return size() > maxResponses;
                }
            };
        }
    }

    private record Pending<S>(FeedbackEvent event, long recordTime, S source) {
    }

    private final Settings settings;
    // feedback event ids seen (insertion order, oldest forgotten)
    private final BoundedSet seenEvents;
    // preference ids emitted (insertion order, oldest forgotten)
    private final BoundedSet emitted;
    // interaction id -> joined texts (insertion order, oldest evicted)
    private final LinkedHashMap<String, Joined> interactions;
    // prompt hash -> responses with their latest votes (access order, least recently touched evicted)
    private final LinkedHashMap<String, PromptState> prompts;
    // event id -> feedback waiting for its interaction (arrival order)
    private final LinkedHashMap<String, Pending<S>> pending = new LinkedHashMap<>();
    // interaction id -> event ids waiting for it
    private final Map<String, List<String>> pendingByInteraction = new HashMap<>();
    // newest record timestamp seen on the interactions topic
    private long interactionsWatermark = Long.MIN_VALUE;

    public PreferenceRules(Settings settings) {
        this.settings = settings;
        this.seenEvents = new BoundedSet(settings.maxSeenEvents());
        this.emitted = new BoundedSet(settings.maxSeenPreferences());
        this.interactions = new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Joined> eldest) {
                return size() > settings.maxInteractions();
            }
        };
        this.prompts = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, PromptState> eldest) {
                return size() > settings.maxPrompts();
            }
        };
    }

    /** Feedback events waiting for their interaction. */
    public int pending() {
        return pending.size();
    }

    /** Interactions remembered for the join. */
    public int interactions() {
        return interactions.size();
    }

    /** Prompts remembered for rating / thumbs pairing. */
    public int prompts() {
        return prompts.size();
    }

    /**
     * Why {@code e} cannot be used (the dead-letter reason), or empty when it can. The same
     * rules the gateway checks, because not every producer of the topic is the gateway.
     */
    public static Optional<String> problem(FeedbackEvent e) {
        if (e.getEventId().isEmpty()) {
            return Optional.of("feedback event without event_id");
        }
        switch (e.getKindCase()) {
            case THUMBS -> {
                if (e.getInteractionId().isEmpty()) {
                    return Optional.of("thumbs without interaction_id");
                }
                if (e.getThumbs().getDirection() != Thumbs.Direction.UP
                        && e.getThumbs().getDirection() != Thumbs.Direction.DOWN) {
                    return Optional.of("thumbs.direction must be UP or DOWN, was " + e.getThumbs().getDirection());
                }
            }
            case RATING -> {
                if (e.getInteractionId().isEmpty()) {
                    return Optional.of("rating without interaction_id");
                }
                int v = e.getRating().getValue();
                if (v < 1 || v > 5) {
                    return Optional.of("rating.value must be in 1..5, was " + v);
                }
            }
            case PAIRWISE -> {
                return pairwiseProblem(e.getPairwise());
            }
            case EDIT -> {
                if (e.getEdit().getEditedResponse().isEmpty()) {
                    return Optional.of("edit.edited_response is empty");
                }
                if (e.getInteractionId().isEmpty() && e.getEdit().getPrompt().isEmpty()) {
                    return Optional.of("an edit needs interaction_id or edit.prompt");
                }
            }
            case COMMENT -> {
                // nothing to check: comments make no pair
            }
            default -> {
                return Optional.of("feedback event without a kind (thumbs, rating, pairwise, edit or comment)");
            }
        }
        return Optional.empty();
    }

    private static Optional<String> pairwiseProblem(PairwiseChoice c) {
        if (c.getPrompt().isEmpty()) {
            return Optional.of("pairwise.prompt is empty");
        }
        if (c.getResponsesCount() != 2) {
            return Optional.of("pairwise.responses must hold exactly two candidates, had " + c.getResponsesCount());
        }
        CandidateResponse a = c.getResponses(0);
        CandidateResponse b = c.getResponses(1);
        if (a.getResponseId().isEmpty() || b.getResponseId().isEmpty() || a.getResponseId().equals(b.getResponseId())) {
            return Optional.of("pairwise.responses need distinct, non-empty response ids");
        }
        if (a.getText().isEmpty() || b.getText().isEmpty()) {
            return Optional.of("pairwise.responses[].text is empty");
        }
        if (c.getTie() != c.getChosenResponseId().isEmpty()) {
            return Optional.of("pairwise: chosen_response_id must be set unless tie is true, and empty when it is");
        }
        if (!c.getTie() && !c.getChosenResponseId().equals(a.getResponseId())
                && !c.getChosenResponseId().equals(b.getResponseId())) {
            return Optional.of("pairwise.chosen_response_id '" + c.getChosenResponseId() + "' names no candidate");
        }
        if (c.getStrength() < 0 || c.getStrength() > 3) {
            return Optional.of("pairwise.strength must be in 0..3, was " + c.getStrength());
        }
        return Optional.empty();
    }

    /**
     * An interaction arrived: remember it for the join, and apply the feedback that waited for it.
     *
     * @param recordTime the record's timestamp (ms), which moves the join window
     */
    public Result<S> interaction(Interaction i, long recordTime) {
        Result<S> out = new Result<>();
        if (i.getInteractionId().isEmpty()) {
            return out;
        }
        Joined joined = new Joined(i.getInteractionId(), i.getPrompt(), PreferenceIds.promptHash(i.getPrompt()),
                i.getResponse(), i.hasModel() ? i.getModel() : null);
        interactions.put(joined.interactionId(), joined);
        interactionsWatermark = Math.max(interactionsWatermark, recordTime);
        List<String> waiting = pendingByInteraction.remove(joined.interactionId());
        if (waiting != null) {
            for (String eventId : waiting) {
                Pending<S> p = pending.remove(eventId);
                if (p != null) {
                    out.addAll(apply(p.event(), p.recordTime(), joined));
                }
            }
        }
        return out;
    }

    /**
     * A feedback event arrived: pair it, make it wait for its interaction, or drop it.
     *
     * @param recordTime the record's timestamp (ms): event time when the event carries none,
     *                   and the start of its join window
     * @param source     handed back if the event is dead-lettered
     */
    public Result<S> feedback(FeedbackEvent e, long recordTime, S source) {
        Result<S> out = new Result<>();
        Optional<String> problem = problem(e);
        if (problem.isPresent()) {
            out.deadLetters.add(new DeadLetter<>(source, problem.get()));
            out.outcomes.add(Outcome.INVALID);
            return out;
        }
        if (!seenEvents.add(e.getEventId())) {
            out.outcomes.add(Outcome.DUPLICATE_EVENT);
            return out;
        }
        switch (e.getKindCase()) {
            case PAIRWISE -> out.addAll(pairwise(e));
            case COMMENT -> out.outcomes.add(Outcome.IGNORED);
            case EDIT -> {
                if (!needsJoin(e)) {
                    out.addAll(edit(e, null));
                    break;
                }
                out.addAll(joinOrWait(e, recordTime, source));
            }
            default -> out.addAll(joinOrWait(e, recordTime, source));
        }
        return out;
    }

    /**
     * Gives up on feedback that waited too long for its interaction (the join window passed,
     * or more than max-pending wait: oldest first). Call after each batch.
     */
    public Result<S> expire() {
        Result<S> out = new Result<>();
        int over = pending.size() - settings.maxPending();
        long window = settings.joinWindow().toMillis();
        Iterator<Pending<S>> it = pending.values().iterator();
        while (it.hasNext()) {
            Pending<S> p = it.next();
            String why;
            if (over > 0) {
                over--;
                why = "more than rlhf.normaliser.max-pending=" + settings.maxPending() + " feedback events waited";
            } else if (interactionsWatermark != Long.MIN_VALUE && interactionsWatermark - window > p.recordTime()) {
                why = "the interactions topic moved " + settings.joinWindow() + " (rlhf.normaliser.join-window) past it";
            } else {
                continue;
            }
            it.remove();
            String interactionId = p.event().getInteractionId();
            List<String> waiting = pendingByInteraction.get(interactionId);
            if (waiting != null) {
                waiting.remove(p.event().getEventId());
                if (waiting.isEmpty()) {
                    pendingByInteraction.remove(interactionId);
                }
            }
            // a replay of the dead letter must not be taken for a repeat
            seenEvents.remove(p.event().getEventId());
            out.deadLetters.add(new DeadLetter<>(p.source(), "unknown interaction " + interactionId
                    + ": not on the interactions topic, gave up because " + why
                    + "; replay this record once the interaction is there"));
            out.outcomes.add(Outcome.EXPIRED);
        }
        return out;
    }

    private static boolean needsJoin(FeedbackEvent e) {
        if (e.hasEdit()) {
            return !e.getInteractionId().isEmpty()
                    && (e.getEdit().getPrompt().isEmpty() || e.getEdit().getOriginalResponse().isEmpty());
        }
        return true;
    }

    private Result<S> joinOrWait(FeedbackEvent e, long recordTime, S source) {
        Joined joined = interactions.get(e.getInteractionId());
        if (joined != null) {
            return apply(e, recordTime, joined);
        }
        pending.put(e.getEventId(), new Pending<>(e, recordTime, source));
        pendingByInteraction.computeIfAbsent(e.getInteractionId(), k -> new ArrayList<>()).add(e.getEventId());
        Result<S> out = new Result<>();
        out.outcomes.add(Outcome.WAITING);
        return out;
    }

    private Result<S> apply(FeedbackEvent e, long recordTime, Joined joined) {
        return switch (e.getKindCase()) {
            case RATING -> vote(PreferenceRule.PREFERENCE_RULE_RATING_PAIR, e, e.getRating().getValue(), recordTime,
                    joined);
            case THUMBS -> vote(PreferenceRule.PREFERENCE_RULE_THUMBS_PAIR, e,
                    e.getThumbs().getDirection() == Thumbs.Direction.UP ? 1 : -1, recordTime, joined);
            case EDIT -> edit(e, joined);
            default -> throw new IllegalStateException("no join for " + e.getKindCase());
        };
    }

    // ---- PAIRWISE --------------------------------------------------------------------

    private Result<S> pairwise(FeedbackEvent e) {
        Result<S> out = new Result<>();
        PairwiseChoice c = e.getPairwise();
        if (c.getTie()) {
            out.outcomes.add(Outcome.TIE);
            return out;
        }
        boolean firstChosen = c.getChosenResponseId().equals(c.getResponses(0).getResponseId());
        CandidateResponse chosen = c.getResponses(firstChosen ? 0 : 1);
        CandidateResponse rejected = c.getResponses(firstChosen ? 1 : 0);
        if (chosen.getText().equals(rejected.getText())) {
            out.outcomes.add(Outcome.SAME_RESPONSE);
            return out;
        }
        Preference.Builder p = Preference.newBuilder()
                .setPreferenceId(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_PAIRWISE,
                        List.of(e.getEventId())))
                .setRule(PreferenceRule.PREFERENCE_RULE_PAIRWISE)
                .setPrompt(c.getPrompt())
                .setPromptHash(PreferenceIds.promptHash(c.getPrompt()))
                .setChosen(chosen.getText())
                .setRejected(rejected.getText())
                .setMargin(c.getStrength() * settings.marginPerStrength())
                .setWeight(settings.pairwiseWeight())
                .addSourceEventIds(e.getEventId())
                .setAnnotatorId(e.getUserId())
                .setChosenInteractionId(chosen.getInteractionId())
                .setRejectedInteractionId(rejected.getInteractionId())
                .putAllLabels(e.getLabelsMap());
        if (chosen.hasModel()) {
            p.setChosenModel(chosen.getModel());
        }
        if (rejected.hasModel()) {
            p.setRejectedModel(rejected.getModel());
        }
        out.outcomes.add(emit(p.build(), out) ? Outcome.PAIRED : Outcome.DUPLICATE_PREFERENCE);
        return out;
    }

    // ---- EDIT ------------------------------------------------------------------------

    /** @param joined the event's interaction, or null when the event carries prompt and original itself */
    private Result<S> edit(FeedbackEvent e, Joined joined) {
        Result<S> out = new Result<>();
        String prompt = !e.getEdit().getPrompt().isEmpty() ? e.getEdit().getPrompt()
                : joined == null ? "" : joined.prompt();
        String original = !e.getEdit().getOriginalResponse().isEmpty() ? e.getEdit().getOriginalResponse()
                : joined == null ? "" : joined.response();
        String edited = e.getEdit().getEditedResponse();
        if (joined == null && original.isEmpty()) {
            out.outcomes.add(Outcome.SFT_ONLY); // written from scratch: a demonstration, not a comparison
            return out;
        }
        if (prompt.isEmpty() || original.isEmpty()) {
            out.outcomes.add(Outcome.EMPTY_TEXT);
            return out;
        }
        if (edited.equals(original)) {
            out.outcomes.add(Outcome.SAME_RESPONSE);
            return out;
        }
        Preference.Builder p = Preference.newBuilder()
                .setPreferenceId(PreferenceIds.preferenceId(PreferenceRule.PREFERENCE_RULE_EDIT,
                        List.of(e.getEventId())))
                .setRule(PreferenceRule.PREFERENCE_RULE_EDIT)
                .setPrompt(prompt)
                .setPromptHash(PreferenceIds.promptHash(prompt))
                .setChosen(edited)
                .setRejected(original)
                .setMargin(settings.editMargin())
                .setWeight(settings.editWeight())
                .addSourceEventIds(e.getEventId())
                .setAnnotatorId(e.getUserId())
                .setRejectedInteractionId(e.getInteractionId())
                .putAllLabels(e.getLabelsMap());
        if (joined != null && joined.model() != null && e.getEdit().getOriginalResponse().isEmpty()) {
            p.setRejectedModel(joined.model());
        }
        out.outcomes.add(emit(p.build(), out) ? Outcome.PAIRED : Outcome.DUPLICATE_PREFERENCE);
        return out;
    }

    // ---- RATING_PAIR and THUMBS_PAIR -------------------------------------------------

    /**
     * 1. keep the vote as the response's latest (unless an older one); 2. pair it with the
     * latest vote of every other response of the prompt that differs in value.
     */
    private Result<S> vote(PreferenceRule rule, FeedbackEvent e, int value, long recordTime, Joined joined) {
        Result<S> out = new Result<>();
        if (joined.prompt().isEmpty() || joined.response().isEmpty()) {
            out.outcomes.add(Outcome.EMPTY_TEXT);
            return out;
        }
        boolean rating = rule == PreferenceRule.PREFERENCE_RULE_RATING_PAIR;
        Vote v = new Vote(e.getEventId(), value, eventTime(e, recordTime), e.getUserId(), e.getLabelsMap(),
                joined.response(), joined.interactionId(), joined.model());
        // 1. the response's latest vote
        PromptState ps = prompts.computeIfAbsent(joined.promptHash(),
                h -> new PromptState(joined.prompt(), h, settings.maxResponsesPerPrompt()));
        ResponseState rs = ps.responses.computeIfAbsent(joined.response(), r -> new ResponseState());
        Vote kept = rating ? rs.rating : rs.thumbs;
        if (kept != null && kept.eventId().equals(v.eventId())) {
            out.outcomes.add(Outcome.DUPLICATE_EVENT); // a repeat the event memory forgot: it is already kept
            return out;
        }
        if (kept != null && !newer(v, kept)) {
            out.outcomes.add(Outcome.SUPERSEDED);
            return out;
        }
        if (rating) {
            rs.rating = v;
        } else {
            rs.thumbs = v;
        }
        // 2. pairs with the other responses' latest votes
        boolean tie = false;
        boolean repeat = false;
        for (ResponseState other : ps.responses.values()) {
            Vote o = rating ? other.rating : other.thumbs;
            if (other == rs || o == null) {
                continue;
            }
            if (o.value() == v.value()) {
                tie = true;
                continue;
            }
            Vote chosen = v.value() > o.value() ? v : o;
            Vote rejected = chosen == v ? o : v;
            double margin = rating ? Math.abs(v.value() - o.value()) * settings.marginPerRatingPoint() : 0.0;
            double weight = rating ? settings.ratingWeight() : settings.thumbsWeight();
            repeat |= !emit(pair(rule, ps, chosen, rejected, margin, weight), out);
        }
        if (!out.preferences.isEmpty()) {
            out.outcomes.add(Outcome.PAIRED);
        } else {
            out.outcomes.add(repeat ? Outcome.DUPLICATE_PREFERENCE : tie ? Outcome.TIE : Outcome.NO_COUNTERPART);
        }
        return out;
    }

    private static Preference pair(PreferenceRule rule, PromptState ps, Vote chosen, Vote rejected, double margin,
            double weight) {
        Vote later = newer(chosen, rejected) ? chosen : rejected;
        Vote earlier = later == chosen ? rejected : chosen;
        Map<String, String> labels = new LinkedHashMap<>(earlier.labels());
        labels.putAll(later.labels()); // the later event wins a conflict
        Preference.Builder p = Preference.newBuilder()
                .setPreferenceId(PreferenceIds.preferenceId(rule, List.of(chosen.eventId(), rejected.eventId())))
                .setRule(rule)
                .setPrompt(ps.prompt)
                .setPromptHash(ps.hash)
                .setChosen(chosen.response())
                .setRejected(rejected.response())
                .setMargin(margin)
                .setWeight(weight)
                .addSourceEventIds(chosen.eventId())
                .addSourceEventIds(rejected.eventId())
                .setAnnotatorId(later.userId())
                .setChosenInteractionId(chosen.interactionId())
                .setRejectedInteractionId(rejected.interactionId())
                .putAllLabels(labels);
        if (chosen.model() != null) {
            p.setChosenModel(chosen.model());
        }
        if (rejected.model() != null) {
            p.setRejectedModel(rejected.model());
        }
        return p.build();
    }

    /** Adds {@code p} unless its id was emitted before; returns whether it was added. */
    private boolean emit(Preference p, Result<S> out) {
        if (!emitted.add(p.getPreferenceId())) {
            return false;
        }
        out.preferences.add(p);
        return true;
    }

    /** Event time (ms): created_at, else received_at, else the record timestamp. */
    static long eventTime(FeedbackEvent e, long recordTime) {
        if (e.hasCreatedAt()) {
            return millis(e.getCreatedAt());
        }
        if (e.hasReceivedAt()) {
            return millis(e.getReceivedAt());
        }
        return recordTime;
    }

    private static long millis(Timestamp t) {
        return t.getSeconds() * 1000 + t.getNanos() / 1_000_000;
    }

    /** Whether {@code a} is later than {@code b}: by event time, equal times by event id. */
    private static boolean newer(Vote a, Vote b) {
        return a.time() != b.time() ? a.time() > b.time() : a.eventId().compareTo(b.eventId()) > 0;
    }

    /** A set that forgets its oldest entries beyond a bound. */
    private static final class BoundedSet {
        private final Set<String> set;

        BoundedSet(int max) {
            this.set = Collections.newSetFromMap(new LinkedHashMap<>() {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > max;
                }
            });
        }

        boolean add(String s) {
            return set.add(s);
        }

        void remove(String s) {
            set.remove(s);
        }
    }
}
