package dev.rlhf.kafka.support;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;

/**
 * Follows every partition of a topic from its end, on a thread of its own, and hands each
 * record's value, parsed as {@code T}, to a {@link Handler}. Made for broadcast topics that
 * every replica of a service reads in full, such as the compacted {@code rlhf.models.v1}
 * announcements: partitions are assigned, not shared by a consumer group, and nothing is
 * committed.
 *
 * <p>Lifecycle: {@link #position} resolves the end of every partition on the caller's
 * thread; {@link #start} delivers every record from there on; {@link #close} stops. A caller
 * that loads the current state at start-up (e.g. the latest stored model versions) calls
 * {@code position()} before that load and {@code start()} after it, so a record written
 * during the load is delivered rather than missed, and no delivery races the load.
 *
 * <p>Failures (broker unreachable, topic missing, a handler that throws) go to
 * {@link Handler#failed} and are retried every 2 s with a new consumer positioned at the end
 * again: records written while disconnected are not delivered. Unreadable values go to
 * {@link Handler#unreadable} and never stop the follower. Nothing is logged here: the
 * handler logs and counts in its service's terms. It is called on the follower's thread, one
 * record at a time, in offset order per partition.
 *
 * @param <T> the message type of the record values
 */
public final class TopicFollower<T extends Message> implements AutoCloseable {

    /** What a follower calls for its records, on its own thread. */
    public interface Handler<T> {

        /** A readable record's value; a null value (a tombstone) parses as the empty message. */
        void message(T message);

        /** A record whose value does not parse as {@code T}; the follower goes on with the next. */
        void unreadable(ConsumerRecord<String, byte[]> record, InvalidProtocolBufferException e);

        /** The consumer has resolved the end of {@code partitions}; called at each (re)connection. */
        default void positioned(List<TopicPartition> partitions) {
        }

        /**
         * Following failed (broker unreachable, topic missing, a handler threw): the follower
         * retries with a new consumer positioned at the end, after {@link TopicFollower#RETRY}
         * (or when started, for a failed {@link TopicFollower#position}). Log it: records
         * written meanwhile are not delivered.
         */
        void failed(RuntimeException e);
    }

    /** The wait between a failure and the next attempt. */
    public static final Duration RETRY = Duration.ofSeconds(2);

    /** How long partition metadata and end offsets may take before the attempt fails. */
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final Duration POLL = Duration.ofMillis(200);

    private final String topic;
    private final String threadName;
    private final Parser<T> parser;
    private final Handler<T> handler;
    private final Properties properties = new Properties();

    private final Object lock = new Object();
    /** A consumer {@link #position} made, until the follower's thread takes it (guarded by lock). */
    private KafkaConsumer<String, byte[]> positioned;
    /** The follower's thread once started (guarded by lock). */
    private Thread thread;
    private volatile boolean running = true;
    /** The consumer to wake up on close. */
    private volatile KafkaConsumer<String, byte[]> current;

    /**
     * @param bootstrap  Kafka bootstrap servers
     * @param topic      the topic followed
     * @param clientId   the consumers' client id (make it unique per replica, e.g. with a UUID)
     * @param threadName the follower thread's name
     * @param parser     parses a record value, e.g. {@code ModelVersion.parser()}
     * @param handler    receives the records
     */
    public TopicFollower(String bootstrap, String topic, String clientId, String threadName, Parser<T> parser,
            Handler<T> handler) {
        if (bootstrap == null || bootstrap.isBlank()) {
            throw new IllegalArgumentException("bootstrap servers must be set");
        }
        if (topic == null || topic.isBlank()) {
            throw new IllegalArgumentException("the topic to follow must be set");
        }
        this.topic = topic;
        this.threadName = Objects.requireNonNull(threadName, "threadName");
        this.parser = Objects.requireNonNull(parser, "parser");
        this.handler = Objects.requireNonNull(handler, "handler");
        properties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        properties.put(ConsumerConfig.CLIENT_ID_CONFIG, Objects.requireNonNull(clientId, "clientId"));
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        properties.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        properties.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    }

    /**
     * Resolves the end of every partition now, on the caller's thread (each step waits at most
     * 10 s for a broker that does not answer): once this returns true, every record written
     * afterwards is delivered after {@link #start}. On false (reported to
     * {@link Handler#failed}), the follower positions itself when started, and records written
     * before that are not delivered. Call it at most once, before {@code start()}.
     *
     * @return whether the follower is positioned
     */
    public boolean position() {
        if (!running) {
            return false;
        }
        try {
            KafkaConsumer<String, byte[]> c = connect();
            synchronized (lock) {
                if (running && thread == null && positioned == null) {
                    positioned = c;
                    return true;
                }
            }
            c.close(); // closed or started meanwhile, or positioned twice
            return false;
        } catch (WakeupException | InterruptException e) {
            return false;
        } catch (RuntimeException e) {
            handler.failed(e);
            return false;
        }
    }

    /**
     * Starts delivering on the follower's thread (a daemon): from where {@link #position} left
     * it, or else from the end.
     */
    public void start() {
        synchronized (lock) {
            if (thread != null) {
                throw new IllegalStateException("the follower of " + topic + " is started already");
            }
            if (!running) {
                throw new IllegalStateException("the follower of " + topic + " is closed; make a new one");
            }
            thread = new Thread(this::follow, threadName);
            thread.setDaemon(true);
            thread.start();
        }
    }

    /** Stops the follower: its consumer is woken up and closed; waits up to 5 s for its thread. */
    @Override
    public void close() {
        running = false;
        KafkaConsumer<String, byte[]> unused;
        Thread t;
        synchronized (lock) {
            unused = positioned;
            positioned = null;
            t = thread;
        }
        if (unused != null) {
            unused.close(); // positioned but never taken by a thread
        }
        KafkaConsumer<String, byte[]> c = current;
        if (c != null) {
            c.wakeup(); // the follower's thread leaves with a WakeupException and closes it
        }
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** A consumer assigned every partition of the topic, its position resolved at their end. */
    private KafkaConsumer<String, byte[]> connect() {
        KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(properties);
        current = c;
        try {
            List<TopicPartition> partitions = c.partitionsFor(topic, TIMEOUT).stream()
                    .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            if (partitions.isEmpty()) {
                throw new IllegalStateException("topic " + topic + " has no partitions; create it");
            }
            c.assign(partitions);
            c.seekToEnd(partitions);
            partitions.forEach(p -> c.position(p, TIMEOUT)); // seekToEnd is lazy: resolve "end" now
            handler.positioned(partitions);
            return c;
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    private void follow() {
        KafkaConsumer<String, byte[]> next;
        synchronized (lock) {
            next = positioned;
            positioned = null;
        }
        try {
            while (running) {
                try {
                    KafkaConsumer<String, byte[]> c = next != null ? next : connect();
                    next = null;
                    poll(c);
                } catch (WakeupException | InterruptException e) {
                    return;
                } catch (RuntimeException e) {
                    if (!running) {
                        return;
                    }
                    handler.failed(e);
                    try {
                        Thread.sleep(RETRY.toMillis());
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        } finally {
            if (next != null) {
                next.close(); // closed before its first poll
            }
        }
    }

    /** Delivers the consumer's records until stopped or failed; closes it. */
    private void poll(KafkaConsumer<String, byte[]> consumer) {
        current = consumer; // a close() that came before is seen by running, one after wakes it up
        try (consumer) {
            while (running) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(POLL)) {
                    deliver(r);
                }
            }
        }
    }

    private void deliver(ConsumerRecord<String, byte[]> r) {
        T message;
        try {
            message = parser.parseFrom(r.value() == null ? new byte[0] : r.value());
        } catch (InvalidProtocolBufferException e) {
            handler.unreadable(r, e);
            return;
        }
        handler.message(message);
    }
}
