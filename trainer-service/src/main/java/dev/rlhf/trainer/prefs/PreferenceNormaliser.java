package dev.rlhf.trainer.prefs;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import com.google.protobuf.Timestamp;

import dev.rlhf.kafka.support.DeadLetterQueue;
import dev.rlhf.kafka.support.ReliableProducers;
import dev.rlhf.proto.v1.FeedbackEvent;
import dev.rlhf.proto.v1.Interaction;
import dev.rlhf.proto.v1.Preference;
import dev.rlhf.proto.v1.PreferenceRule;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The Kafka side of the preference normaliser: consumer group {@code rlhf-normaliser} on
 * rlhf.feedback.v1 and rlhf.interactions.v1, {@link PreferenceRules} in the middle,
 * rlhf.preferences.v1 (key: prompt hash) and rlhf.feedback.dlq.v1 out. One thread.
 *
 * <h2>Delivery: at least once, with deterministic ids</h2>
 * <ol>
 * <li>Poll a batch from both topics; feed each record to the rules in order.</li>
 * <li>Send the preferences it returns, and unreadable or unusable records (and feedback whose
 * interaction never came) to the dead-letter topic with {@link DeadLetterQueue}; producers
 * are {@link ReliableProducers} ({@code acks=all}, idempotent).</li>
 * <li>Wait until every one of those sends is acknowledged, and only then commit the batch's
 * offsets (both topics). A failed send or commit commits nothing: the consumer is closed, the
 * state dropped, and the loop starts over from the committed offsets.</li>
 * </ol>
 * A crash anywhere therefore replays from the last commit and never loses an acknowledged
 * record; what it may do is write a preference again, with the same {@code preference_id}
 * (derived from the rule and the source event ids, {@link PreferenceIds}), which consumers
 * drop. Dead letters are at least once too (a repeat carries the same source coordinates).
 *
 * <h2>State after a restart or rebalance</h2>
 * The rules' memory (latest votes per prompt, interactions for the join, feedback waiting for
 * its interaction, ids seen) is rebuilt whenever partitions are assigned: the feedback
 * partitions, then the interactions partitions, are read from their beginning up to the
 * group's committed offsets and fed to fresh rules <em>without emitting</em> — everything
 * they produce up to that cut was acknowledged before the cut was committed. Feedback still
 * waiting at the cut waits again, and may be dead-lettered again (at least once). The cost is
 * one read of both topics up to the cut per start (bounded by their retention); it runs inside
 * the consumer's rebalance callback, so {@code max-poll-interval} must exceed it.
 *
 * <p>Pairing ratings and thumbs across partitions needs every partition in one instance: run
 * one normaliser (one replica). A second one splits the partitions and each pairs only within
 * its own share; nothing is lost, pairs across the split are missed.
 */
public final class PreferenceNormaliser implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(PreferenceNormaliser.class);
    /** Header naming the value's protobuf type, as the feedback gateway writes it. */
    static final String TYPE_HEADER = "rlhf.type";
    private static final byte[] TYPE = Preference.getDescriptor().getFullName().getBytes(StandardCharsets.UTF_8);
    private static final Duration POLL = Duration.ofMillis(200);
    private static final Duration REBUILD_STALL = Duration.ofSeconds(60);

    /**
     * Where and how to talk to Kafka.
     *
     * @param bootstrap       {@code kafka.bootstrap.servers}
     * @param groupId         consumer group whose committed offsets mark what is done
     * @param feedback        topic of FeedbackEvents (rlhf.feedback.v1)
     * @param interactions    topic of Interactions (rlhf.interactions.v1)
     * @param preferences     topic the Preferences go to (rlhf.preferences.v1)
     * @param deadLetters     dead-letter topic (rlhf.feedback.dlq.v1)
     * @param produceTimeout  longest wait for an acknowledgement, >= 2 s
     * @param maxPollInterval the consumer's max.poll.interval.ms; must exceed a state rebuild
     * @param retryBackoff    pause before starting over after a failure
     */
    public record Wiring(String bootstrap, String groupId, String feedback, String interactions, String preferences,
            String deadLetters, Duration produceTimeout, Duration maxPollInterval, Duration retryBackoff) {
        public Wiring {
            for (String[] kv : new String[][] {{"kafka.bootstrap.servers", bootstrap},
                    {"rlhf.normaliser.group-id", groupId}, {"rlhf.normaliser.topics.feedback", feedback},
                    {"rlhf.normaliser.topics.interactions", interactions},
                    {"rlhf.normaliser.topics.preferences", preferences},
                    {"rlhf.normaliser.topics.dead-letters", deadLetters}}) {
                if (kv[1] == null || kv[1].isBlank()) {
                    throw new IllegalArgumentException(kv[0] + " must be set");
                }
            }
            if (produceTimeout.toMillis() < 2000) {
                throw new IllegalArgumentException("rlhf.normaliser.produce-timeout must be at least 2s, got "
                        + produceTimeout);
            }
            if (maxPollInterval.toMillis() < 10_000) {
                throw new IllegalArgumentException("rlhf.normaliser.max-poll-interval must be at least 10s, got "
                        + maxPollInterval);
            }
        }
    }

    private final Wiring wiring;
    private final PreferenceRules.Settings settings;
    private final MeterRegistry meters;
    private final Clock clock;
    private final KafkaProducer<String, byte[]> producer;
    private final DeadLetterQueue dlq;
    private final Map<PreferenceRule, Counter> written = new HashMap<>();
    private final Counter rebuilds;
    private final Counter failures;
    private final AtomicInteger pendingJoins = new AtomicInteger();
    private final AtomicInteger interactionsKept = new AtomicInteger();
    private final AtomicInteger promptsKept = new AtomicInteger();
    private volatile boolean running = true;
    private volatile KafkaConsumer<String, byte[]> consumer;
    private volatile IntConsumer beforeCommit = sent -> { };
    // the rules of the current assignment; null while unassigned (touched by the polling thread only)
    private PreferenceRules<ConsumerRecord<String, byte[]>> rules;
    private Thread thread;

    public PreferenceNormaliser(Wiring wiring, PreferenceRules.Settings settings, MeterRegistry meters, Clock clock) {
        this.wiring = wiring;
        this.settings = settings;
        this.meters = meters;
        this.clock = clock;
        this.producer = ReliableProducers.create(wiring.bootstrap(), "rlhf-normaliser", wiring.produceTimeout());
        this.dlq = new DeadLetterQueue(producer, wiring.deadLetters(), wiring.groupId(),
                wiring.produceTimeout().toMillis());
        for (PreferenceRule rule : PreferenceRule.values()) {
            if (rule != PreferenceRule.PREFERENCE_RULE_UNSPECIFIED && rule != PreferenceRule.UNRECOGNIZED) {
                written.put(rule, Counter.builder("rlhf.normaliser.preferences")
                        .description("Preferences written to rlhf.preferences.v1 and acknowledged, by rule"
                                + " (a replay after a crash counts again)")
                        .tag("rule", ruleTag(rule)).register(meters));
            }
        }
        this.rebuilds = Counter.builder("rlhf.normaliser.rebuilds")
                .description("State rebuilds from the committed offsets (start-up and rebalances)").register(meters);
        this.failures = Counter.builder("rlhf.normaliser.failures")
                .description("Batches not committed because a send, commit or read failed (they are replayed)")
                .register(meters);
        Gauge.builder("rlhf.normaliser.pending.joins", pendingJoins, AtomicInteger::get)
                .strongReference(true)
                .description("Feedback events waiting for their interaction").register(meters);
        Gauge.builder("rlhf.normaliser.interactions", interactionsKept, AtomicInteger::get)
                .strongReference(true)
                .description("Interactions remembered for the join").register(meters);
        Gauge.builder("rlhf.normaliser.prompts", promptsKept, AtomicInteger::get)
                .strongReference(true)
                .description("Prompts remembered for rating and thumbs pairing").register(meters);
    }

    /** {@code PREFERENCE_RULE_RATING_PAIR} → {@code rating_pair}. */
    static String ruleTag(PreferenceRule rule) {
        return rule.name().substring("PREFERENCE_RULE_".length()).toLowerCase(java.util.Locale.ROOT);
    }

    /** Starts the consumer thread. */
    public synchronized void start() {
        if (thread != null) {
            throw new IllegalStateException("already started");
        }
        thread = new Thread(this::run, "preference-normaliser");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Stops the thread and closes the clients. The batch in progress is finished and committed
     * when that takes less than the produce timeout; otherwise the consumer is woken up and the
     * batch is left uncommitted (it is replayed by the next start, with the same ids).
     */
    @Override
    public void close() {
        running = false;
        if (!awaitTermination(wiring.produceTimeout().plusSeconds(5))) {
            KafkaConsumer<String, byte[]> c = consumer;
            if (c != null) {
                c.wakeup();
            }
            awaitTermination(Duration.ofSeconds(10));
        }
        producer.close(Duration.ofSeconds(5));
    }

    /** Waits for the thread to end; returns whether it did. */
    public boolean awaitTermination(Duration timeout) {
        Thread t;
        synchronized (this) {
            t = thread;
        }
        if (t == null) {
            return true;
        }
        try {
            t.join(timeout.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !t.isAlive();
    }

    /**
     * Test hook: runs after a batch's sends were acknowledged, before its offsets are
     * committed, with the number of preferences the batch wrote.
     */
    void beforeCommit(IntConsumer hook) {
        this.beforeCommit = hook;
    }

    // ---- the loop ----------------------------------------------------------------------

    private void run() {
        while (running) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(consumerProperties())) {
                consumer = c;
                if (!running) {
                    return;
                }
                c.subscribe(List.of(wiring.feedback(), wiring.interactions()), new Rebuild(c));
                LOG.infof("normalising %s (+ %s) into %s as group %s", wiring.feedback(), wiring.interactions(),
                        wiring.preferences(), wiring.groupId());
                while (running) {
                    ConsumerRecords<String, byte[]> records = c.poll(POLL);
                    if (rules != null) {
                        process(records, c);
                    }
                }
            } catch (RuntimeException e) { // WakeupException on close included
                if (!running) {
                    return;
                }
                failed(e);
            } finally {
                consumer = null;
                rules = null;
            }
        }
    }

    private void failed(RuntimeException e) {
        failures.increment();
        LOG.warnf(e, "normaliser batch failed, nothing of it committed; starting over from the committed offsets in %s",
                wiring.retryBackoff());
        try {
            Thread.sleep(wiring.retryBackoff().toMillis());
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    private Properties consumerProperties() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, wiring.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, wiring.groupId());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, wiring.groupId() + "-" + UUID.randomUUID().toString().substring(0, 8));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // eager rebalancing: every assignment hands over the whole set, and the state is rebuilt for it
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
        p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, Long.toString(wiring.maxPollInterval().toMillis()));
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return p;
    }

    /**
     * 1. feed the batch to the rules; 2. send preferences and dead letters; 3. wait for every
     * acknowledgement; 4. commit.
     */
    private void process(ConsumerRecords<String, byte[]> records, KafkaConsumer<String, byte[]> c) {
        List<CompletableFuture<RecordMetadata>> acks = new ArrayList<>();
        List<Preference> sent = new ArrayList<>();
        Timestamp now = now();
        // 1. + 2.
        for (ConsumerRecord<String, byte[]> r : records) {
            if (r.topic().equals(wiring.interactions())) {
                Optional<Interaction> i = decode(r, Interaction.parser(), "rlhf.v1.Interaction", acks);
                if (i.isPresent()) {
                    if (i.get().getInteractionId().isEmpty()) {
                        deadLetter(r, "interaction without interaction_id", "invalid", acks);
                    } else {
                        send(rules.interaction(i.get(), r.timestamp()), "invalid", now, acks, sent);
                    }
                }
            } else {
                Optional<FeedbackEvent> e = decode(r, FeedbackEvent.parser(), "rlhf.v1.FeedbackEvent", acks);
                if (e.isPresent()) {
                    send(rules.feedback(e.get(), r.timestamp(), r), "invalid", now, acks, sent);
                }
            }
        }
        send(rules.expire(), "unknown-interaction", now, acks, sent);
        pendingJoins.set(rules.pending());
        interactionsKept.set(rules.interactions());
        promptsKept.set(rules.prompts());
        if (records.isEmpty() && acks.isEmpty()) {
            return;
        }
        // 3.
        awaitAll(acks);
        sent.forEach(p -> written.get(p.getRule()).increment());
        // 4.
        beforeCommit.accept(sent.size());
        if (!records.isEmpty()) {
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (TopicPartition tp : records.partitions()) {
                List<ConsumerRecord<String, byte[]>> rs = records.records(tp);
                offsets.put(tp, new OffsetAndMetadata(rs.get(rs.size() - 1).offset() + 1));
            }
            c.commitSync(offsets);
        }
    }

    private <T extends Message> Optional<T> decode(ConsumerRecord<String, byte[]> r, Parser<T> parser, String type,
            List<CompletableFuture<RecordMetadata>> acks) {
        if (r.value() == null) {
            deadLetter(r, "empty value (a tombstone) where a " + type + " was expected", "unreadable", acks);
            return Optional.empty();
        }
        try {
            return Optional.of(parser.parseFrom(r.value()));
        } catch (InvalidProtocolBufferException e) {
            meters.counter("rlhf.normaliser.dead.letters", "reason", "unreadable").increment();
            acks.add(dlq.send(r, "not a " + type + ": " + e.getMessage(), e));
            return Optional.empty();
        }
    }

    private void deadLetter(ConsumerRecord<String, byte[]> r, String reason, String tag,
            List<CompletableFuture<RecordMetadata>> acks) {
        meters.counter("rlhf.normaliser.dead.letters", "reason", tag).increment();
        acks.add(dlq.send(r, reason, null));
    }

    private void send(PreferenceRules.Result<ConsumerRecord<String, byte[]>> result, String deadLetterTag,
            Timestamp now, List<CompletableFuture<RecordMetadata>> acks, List<Preference> sent) {
        for (PreferenceRules.Outcome o : result.outcomes()) {
            meters.counter("rlhf.normaliser.feedback", "outcome", o.tag()).increment();
        }
        for (PreferenceRules.DeadLetter<ConsumerRecord<String, byte[]>> d : result.deadLetters()) {
            deadLetter(d.source(), d.reason(), deadLetterTag, acks);
        }
        for (Preference p : result.preferences()) {
            Preference stamped = p.toBuilder().setCreatedAt(now).build();
            ProducerRecord<String, byte[]> record = new ProducerRecord<>(wiring.preferences(), p.getPromptHash(),
                    stamped.toByteArray());
            record.headers().add(TYPE_HEADER, TYPE);
            CompletableFuture<RecordMetadata> ack = new CompletableFuture<>();
            try {
                producer.send(record, (meta, e) -> {
                    if (e != null) {
                        ack.completeExceptionally(e);
                    } else {
                        ack.complete(meta);
                    }
                });
            } catch (RuntimeException e) {
                ack.completeExceptionally(e);
            }
            acks.add(ack);
            sent.add(p);
        }
    }

    private void awaitAll(List<CompletableFuture<RecordMetadata>> acks) {
        try {
            CompletableFuture.allOf(acks.toArray(CompletableFuture[]::new))
                    .get(wiring.produceTimeout().toMillis() + 5_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException(e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("sends to " + wiring.preferences() + " / " + wiring.deadLetters()
                    + " were not all acknowledged; the batch is not committed and will be replayed", e);
        }
    }

    private Timestamp now() {
        Instant t = clock.instant();
        return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
    }

    // ---- rebuilding the state ------------------------------------------------------------

    /** Rebuilds the rules' state whenever partitions are assigned; drops it when they go. */
    private final class Rebuild implements ConsumerRebalanceListener {
        private final KafkaConsumer<String, byte[]> c;

        Rebuild(KafkaConsumer<String, byte[]> c) {
            this.c = c;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // every batch was committed before the next poll: nothing to save
            rules = null;
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            rules = null;
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            rules = rebuild(c, partitions);
        }
    }

    /**
     * Fresh rules fed, silently, every record of {@code partitions} below the group's committed
     * offsets: 1. the feedback, 2. the interactions (which resolve the feedback waiting for them).
     */
    private PreferenceRules<ConsumerRecord<String, byte[]>> rebuild(KafkaConsumer<String, byte[]> c,
            Collection<TopicPartition> partitions) {
        long started = System.nanoTime();
        Map<TopicPartition, OffsetAndMetadata> committed = c.committed(new HashSet<>(partitions), Duration.ofSeconds(30));
        Map<TopicPartition, Long> cut = new HashMap<>();
        for (TopicPartition tp : partitions) {
            OffsetAndMetadata o = committed.get(tp);
            if (o != null && o.offset() > 0) {
                cut.put(tp, o.offset());
            }
        }
        PreferenceRules<ConsumerRecord<String, byte[]>> fresh = new PreferenceRules<>(settings);
        // 1. feedback up to the cut
        long n = replay(filter(cut, wiring.feedback()),
                r -> parse(r, FeedbackEvent.parser()).ifPresent(e -> fresh.feedback(e, r.timestamp(), r)));
        // 2. interactions up to the cut
        n += replay(filter(cut, wiring.interactions()),
                r -> parse(r, Interaction.parser()).ifPresent(i -> fresh.interaction(i, r.timestamp())));
        rebuilds.increment();
        pendingJoins.set(fresh.pending());
        interactionsKept.set(fresh.interactions());
        promptsKept.set(fresh.prompts());
        LOG.infof("state rebuilt from %d records below the committed offsets of %d partitions in %d ms"
                + " (%d prompts, %d interactions, %d feedback events waiting)", n, partitions.size(),
                (System.nanoTime() - started) / 1_000_000, fresh.prompts(), fresh.interactions(), fresh.pending());
        return fresh;
    }

    private static Map<TopicPartition, Long> filter(Map<TopicPartition, Long> cut, String topic) {
        Map<TopicPartition, Long> out = new HashMap<>();
        cut.forEach((tp, end) -> {
            if (tp.topic().equals(topic)) {
                out.put(tp, end);
            }
        });
        return out;
    }

    private static <T extends Message> Optional<T> parse(ConsumerRecord<String, byte[]> r, Parser<T> parser) {
        try {
            return r.value() == null ? Optional.empty() : Optional.of(parser.parseFrom(r.value()));
        } catch (InvalidProtocolBufferException e) {
            return Optional.empty(); // dead-lettered when it was first read
        }
    }

    /** Reads each partition from its beginning to {@code end} (exclusive) into {@code sink}; returns the count. */
    private long replay(Map<TopicPartition, Long> end, Consumer<ConsumerRecord<String, byte[]>> sink) {
        if (end.isEmpty()) {
            return 0;
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, wiring.bootstrap());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, wiring.groupId() + "-rebuild");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        long n = 0;
        try (KafkaConsumer<String, byte[]> reader = new KafkaConsumer<>(p)) {
            reader.assign(end.keySet());
            reader.seekToBeginning(end.keySet());
            long lastProgress = System.nanoTime();
            while (end.entrySet().stream().anyMatch(e -> reader.position(e.getKey()) < e.getValue())) {
                if (!running) {
                    throw new WakeupException();
                }
                ConsumerRecords<String, byte[]> batch = reader.poll(POLL);
                for (ConsumerRecord<String, byte[]> r : batch) {
                    if (r.offset() < end.get(new TopicPartition(r.topic(), r.partition()))) {
                        sink.accept(r);
                        n++;
                    }
                }
                if (!batch.isEmpty()) {
                    lastProgress = System.nanoTime();
                } else if (System.nanoTime() - lastProgress > REBUILD_STALL.toNanos()) {
                    throw new IllegalStateException("rebuilding the normaliser state made no progress for "
                            + REBUILD_STALL + " reading " + end.keySet());
                }
            }
        }
        return n;
    }
}
