package dev.rlhf.rollout.run;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import com.google.protobuf.InvalidProtocolBufferException;

import dev.rlhf.kafka.support.DeadLetterQueue;
import dev.rlhf.proto.v1.Prompt;
import dev.rlhf.rollout.core.OffsetTracker;
import dev.rlhf.rollout.core.RolloutRequests;

/**
 * Drives a run whose prompts come from rlhf.prompts.v1: a consumer in a group (the standing
 * run's {@code rlhf-rollouts}, or one group per run started with a {@code prompts_topic}
 * source), one polling thread, and a pool of {@code max_concurrency} workers that run each
 * prompt through the {@link PromptPipeline}.
 *
 * <h2>Delivery: at least once, with deterministic ids</h2>
 * <ol>
 * <li>Poll. Each record is noted in an {@link OffsetTracker}; an unreadable one is sent to
 * the dead-letter topic, a prompt for another run or prompt set is skipped (done at once),
 * the others wait in a buffer.</li>
 * <li>Dispatch buffered prompts while fewer than {@code max_concurrency} are in flight
 * (back-pressure: when the buffer holds {@code max_concurrency} prompts the partitions are
 * paused, so the consumer keeps polling — and its group membership — without fetching).</li>
 * <li>A prompt is done when its K rollouts (or its dead letter) are acknowledged
 * ({@code acks=all}); only then is its offset complete.</li>
 * <li>Commit, per partition, the offset below which every record is complete: prompts
 * finish out of order, and the commit never passes an unfinished one.</li>
 * </ol>
 * A crash replays from the last commit: the unfinished prompt and the finished ones after it
 * are sampled again and published with the same rollout ids ({@code RolloutIds}; with the
 * derived seed even the same tokens), which consumers drop as repeats. When Kafka does not
 * acknowledge a group or a dead letter, the consumer is closed and reopened after
 * {@code restartBackoff}, from the last commit, the same way.
 *
 * <h2>Scaling and rebalances</h2>
 * Instances in one group share the topic's partitions (cooperative-sticky assignment: a
 * rebalance moves only the partitions that change owner; the rest keep working). When a
 * partition is revoked: 1. its buffered prompts are dropped (never started); 2. its prompts
 * in flight get up to {@code revokeGrace} to finish; 3. what is complete is committed; 4. the
 * rest are cancelled — their calls are cancelled and their results, if any, are not
 * published — and the new owner replays them from the commit. A prompt whose group was being
 * written at that very moment may be published by both owners, with the same ids. A lost
 * partition (session expired) skips 2 and 3.
 *
 * <h2>Ending</h2>
 * When the run stops accepting prompts (StopRun, failure, max_prompts, max_duration), the
 * consumer pauses, drops its buffer (those offsets stay uncommitted), waits for the prompts
 * in flight (cancelled on abort or failure), commits, leaves the group and ends the run.
 */
public final class PromptConsumer extends RunDriver {

    private static final Logger LOG = Logger.getLogger(PromptConsumer.class);
    private static final Duration POLL = Duration.ofMillis(100);

    /**
     * Kafka settings.
     *
     * @param bootstrap      {@code kafka.bootstrap.servers}
     * @param topic          the prompts topic
     * @param groupId        the consumer group whose commits mark what is done
     * @param startAt        where a partition without a committed offset starts: empty = its
     *                       earliest offset; else the first offset at or after this time
     * @param revokeGrace    how long a revoked partition's prompts in flight may take to finish
     * @param restartBackoff the pause before reopening the consumer after a Kafka failure
     */
    public record Settings(String bootstrap, String topic, String groupId, Optional<Instant> startAt,
            Duration revokeGrace, Duration restartBackoff) {
    }

    /** A partition held by this consumer; a new one on every assignment, cancelled on revocation. */
    private static final class Lease {
        final TopicPartition tp;
        final Cancellation cancel;
        final AtomicInteger inFlight = new AtomicInteger();

        Lease(TopicPartition tp, Cancellation cancel) {
            this.tp = tp;
            this.cancel = cancel;
        }
    }

    private record Pending(Lease lease, ConsumerRecord<String, byte[]> record, Prompt prompt) {
    }

    private record Done(Lease lease, long offset, PromptPipeline.Outcome outcome) {
    }

    private final Settings settings;
    private final Optional<String> promptSet;
    private final PromptPipeline pipeline;
    private final DeadLetterQueue deadLetters;
    private final RolloutMetrics metrics;
    private final int maxConcurrency;
    private final ConcurrentLinkedQueue<Done> done = new ConcurrentLinkedQueue<>();
    private final AtomicInteger processed = new AtomicInteger();
    /** Prompts dispatched and dead letters sent whose {@link Done} is not yet queued. */
    private final AtomicInteger outstanding = new AtomicInteger();
    private volatile Set<TopicPartition> assignment = Set.of();
    private volatile KafkaConsumer<String, byte[]> consumer;

    // owned by the polling thread
    private OffsetTracker tracker = new OffsetTracker();
    private final ArrayDeque<Pending> buffer = new ArrayDeque<>();
    private final Map<TopicPartition, Lease> leases = new HashMap<>();
    private boolean paused;
    private String trouble;

    /**
     * @param promptSet only prompts of this set (PromptsTopicSource.prompt_set); empty = all
     */
    public PromptConsumer(Settings settings, Run run, Optional<String> promptSet, PromptPipeline pipeline,
            DeadLetterQueue deadLetters, RolloutMetrics metrics) {
        super(run, "consumer");
        this.settings = settings;
        this.promptSet = promptSet;
        this.pipeline = pipeline;
        this.deadLetters = deadLetters;
        this.metrics = metrics;
        this.maxConcurrency = run.effective().maxConcurrency();
    }

    /** The partitions it holds now. */
    public Set<TopicPartition> assignment() {
        return assignment;
    }

    /** Prompts it took to a durable result (published, given up or skipped), since start. */
    public int processed() {
        return processed.get();
    }

    // ---- the loop ----------------------------------------------------------------------

    @Override
    protected void forceStop() {
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
    }

    @Override
    protected void drove() {
        metrics.lag(this, -1);
    }

    @Override
    protected void drive() {
        while (!finished()) {
            try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(properties())) {
                consumer = c;
                c.subscribe(List.of(settings.topic()), new Rebalance(c));
                session(c);
            } catch (WakeupException e) {
                return;
            } catch (RuntimeException e) {
                if (finished()) {
                    return;
                }
                LOG.warnf("run %s: consuming %s failed (%s); what is not committed is replayed from the last commit"
                        + " in %s", run.id(), settings.topic(), e.toString(), settings.restartBackoff());
                dropAll();
                run.cancellation().sleep(settings.restartBackoff().toMillis());
            } finally {
                consumer = null;
                dropAll();
            }
        }
    }

    /** The run takes no more prompts and every started one has queued its completion. */
    private boolean finished() {
        return !run.accepting() && outstanding.get() == 0;
    }

    /** Poll, dispatch, commit until the run ends; throws on Kafka trouble. */
    private void session(KafkaConsumer<String, byte[]> c) {
        tracker = new OffsetTracker();
        trouble = null;
        while (true) {
            // 1. poll
            ConsumerRecords<String, byte[]> records = c.poll(POLL);
            for (ConsumerRecord<String, byte[]> r : records) {
                accept(r);
            }
            // 3. completions (read before draining: what finished by then is drained below)
            boolean finished = finished();
            drain();
            if (trouble != null) {
                throw new IllegalStateException(trouble);
            }
            // 2. dispatch, with back-pressure
            if (run.accepting()) {
                dispatch();
            } else {
                buffer.clear(); // never started: uncommitted, replayed by the next reader
            }
            flowControl(c);
            // 4. commit
            commit(c, tracker.advanced());
            metrics.lag(this, lag(c));
            if (finished) {
                return;
            }
        }
    }

    private void accept(ConsumerRecord<String, byte[]> r) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        Lease lease = leases.get(tp);
        if (lease == null) {
            return; // not ours (any more): never noted, so never committed here
        }
        tracker.started(tp, r.offset());
        Prompt prompt;
        try {
            if (r.value() == null) {
                throw new InvalidProtocolBufferException("empty value (a tombstone) where a rlhf.v1.Prompt was expected");
            }
            prompt = Prompt.parseFrom(r.value());
        } catch (InvalidProtocolBufferException e) {
            metrics.deadLettered("unreadable");
            metrics.prompt("dead_lettered");
            outstanding.incrementAndGet();
            try {
                deadLetters.send(r, "not a rlhf.v1.Prompt: " + e.getMessage(), e).whenComplete((meta, error) -> {
                    done.add(new Done(lease, r.offset(), new PromptPipeline.Outcome(error == null
                            ? PromptPipeline.Disposition.DONE : PromptPipeline.Disposition.KAFKA_FAILED,
                            error == null ? "" : "dead-lettering failed: " + error)));
                    outstanding.decrementAndGet();
                });
            } catch (RuntimeException sendFailed) {
                outstanding.decrementAndGet();
                throw sendFailed;
            }
            return;
        }
        if (!RolloutRequests.addressedTo(prompt, run.id(), promptSet)) {
            tracker.completed(tp, r.offset());
            metrics.prompt("skipped");
            processed.incrementAndGet();
            return;
        }
        buffer.add(new Pending(lease, r, prompt));
    }

    private void dispatch() {
        while (!buffer.isEmpty() && run.inFlight() < maxConcurrency) {
            long iteration = run.admit();
            if (iteration < 0) {
                return;
            }
            Pending p = buffer.poll();
            p.lease().inFlight.incrementAndGet();
            outstanding.incrementAndGet();
            PromptSampler.Job job = new PromptSampler.Job(run.id(), run.effective(), 0, iteration);
            try {
                workers.execute(() -> work(p, job));
            } catch (RuntimeException e) { // rejected: shutting down
                p.lease().inFlight.decrementAndGet();
                outstanding.decrementAndGet();
                run.abandoned(null);
                return;
            }
        }
    }

    private void work(Pending p, PromptSampler.Job job) {
        PromptPipeline.Outcome o;
        try (Cancellation cancel = p.lease().cancel.child()) {
            o = pipeline.process(p.prompt(), job, run, cancel, p.record());
        } catch (RuntimeException e) { // a bug; the prompt is replayed after a restart
            LOG.errorf(e, "run %s: prompt %s failed unexpectedly", run.id(), p.prompt().getPromptId());
            run.abandoned(e.toString());
            o = new PromptPipeline.Outcome(PromptPipeline.Disposition.KAFKA_FAILED, e.toString());
        } finally {
            p.lease().inFlight.decrementAndGet();
        }
        done.add(new Done(p.lease(), p.record().offset(), o));
        outstanding.decrementAndGet();
    }

    /** Applies completions of current leases; stale ones (revoked partitions, an old session) are ignored. */
    private void drain() {
        for (Done d; (d = done.poll()) != null;) {
            if (leases.get(d.lease().tp) != d.lease()) {
                continue;
            }
            switch (d.outcome().disposition()) {
                case DONE -> {
                    tracker.completed(d.lease().tp, d.offset());
                    processed.incrementAndGet();
                }
                case KAFKA_FAILED -> trouble = d.outcome().detail();
                default -> {
                    // cancelled or run failing: not done, stays uncommitted
                }
            }
        }
    }

    private void flowControl(KafkaConsumer<String, byte[]> c) {
        boolean full = buffer.size() >= maxConcurrency || !run.accepting();
        if (full && !paused) {
            c.pause(c.assignment());
            paused = true;
        } else if (!full && paused) {
            c.resume(c.paused());
            paused = false;
        }
    }

    private void commit(KafkaConsumer<String, byte[]> c, Map<TopicPartition, Long> offsets) {
        if (offsets.isEmpty()) {
            return;
        }
        Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
        offsets.forEach((tp, o) -> commit.put(tp, new OffsetAndMetadata(o)));
        try {
            c.commitSync(commit);
            tracker.committed(offsets);
        } catch (RebalanceInProgressException | CommitFailedException e) {
            // the group is rebalancing: the revocation callback commits what is done
            LOG.debugf("run %s: commit deferred by a rebalance: %s", run.id(), e.getMessage());
        }
    }

    private long lag(KafkaConsumer<String, byte[]> c) {
        long sum = buffer.size();
        for (TopicPartition tp : c.assignment()) {
            sum += c.currentLag(tp).orElse(0);
        }
        return sum;
    }

    /** Cancels every lease and forgets buffered and tracked records (after a session ends). */
    private void dropAll() {
        leases.values().forEach(l -> l.cancel.cancel());
        leases.clear();
        buffer.clear();
        tracker = new OffsetTracker();
        paused = false;
        assignment = Set.of();
    }

    private Properties properties() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, settings.groupId());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, settings.groupId() + "-" + UUID.randomUUID().toString().substring(0, 8));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(Math.max(1, maxConcurrency)));
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return p;
    }

    // ---- rebalances --------------------------------------------------------------------

    private final class Rebalance implements ConsumerRebalanceListener {
        private final KafkaConsumer<String, byte[]> c;

        Rebalance(KafkaConsumer<String, byte[]> c) {
            this.c = c;
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            for (TopicPartition tp : partitions) {
                leases.put(tp, new Lease(tp, run.cancellation().child()));
            }
            if (!partitions.isEmpty()) {
                settings.startAt().ifPresent(t -> seekToTime(partitions, t));
                if (paused) {
                    c.pause(partitions);
                }
                LOG.infof("run %s: assigned %s", run.id(), partitions);
            }
            run.running();
            assignment = Set.copyOf(c.assignment());
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            Set<TopicPartition> gone = new HashSet<>(partitions);
            // 1. drop what was never started
            buffer.removeIf(p -> gone.contains(p.lease().tp));
            // 2. let the prompts in flight finish, for a while
            long deadline = System.nanoTime() + settings.revokeGrace().toNanos();
            while (gone.stream().anyMatch(tp -> leases.containsKey(tp) && leases.get(tp).inFlight.get() > 0)
                    && System.nanoTime() < deadline) {
                drain();
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            drain();
            // 3. commit what is done
            try {
                commit(c, tracker.advanced(gone));
            } catch (RuntimeException e) {
                LOG.warnf("run %s: committing revoked %s failed (%s); the new owner replays from the previous commit",
                        run.id(), gone, e.toString());
            }
            // 4. cancel the rest
            forget(gone);
            LOG.infof("run %s: revoked %s", run.id(), gone);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            Set<TopicPartition> gone = new HashSet<>(partitions);
            buffer.removeIf(p -> gone.contains(p.lease().tp));
            forget(gone);
            LOG.warnf("run %s: lost %s; their uncommitted prompts are replayed by the new owner", run.id(), gone);
        }

        private void forget(Set<TopicPartition> gone) {
            for (TopicPartition tp : gone) {
                Lease l = leases.remove(tp);
                if (l != null) {
                    l.cancel.cancel();
                }
            }
            tracker.forget(gone);
            Set<TopicPartition> now = new HashSet<>(assignment);
            now.removeAll(gone);
            assignment = Set.copyOf(now);
        }

        /** Partitions without a committed offset start at the first record written at or after {@code t}. */
        private void seekToTime(Collection<TopicPartition> partitions, Instant t) {
            Map<TopicPartition, OffsetAndMetadata> committed = c.committed(new HashSet<>(partitions));
            Map<TopicPartition, Long> query = new HashMap<>();
            for (TopicPartition tp : partitions) {
                if (committed.get(tp) == null) {
                    query.put(tp, t.toEpochMilli());
                }
            }
            if (query.isEmpty()) {
                return;
            }
            Map<TopicPartition, OffsetAndTimestamp> found = c.offsetsForTimes(query);
            for (TopicPartition tp : query.keySet()) {
                OffsetAndTimestamp o = found.get(tp);
                if (o != null) {
                    c.seek(tp, o.offset());
                } else {
                    c.seekToEnd(List.of(tp));
                }
            }
        }
    }
}
