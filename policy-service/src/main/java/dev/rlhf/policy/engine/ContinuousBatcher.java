package dev.rlhf.policy.engine;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import dev.rlhf.model.ModelConfig;
import dev.rlhf.model.ort.OrtDecoder;
import dev.rlhf.model.ort.OrtDecoder.Cache;
import dev.rlhf.model.ort.OrtDecoder.Forward;
import dev.rlhf.model.ort.OrtDecoder.RowRef;
import dev.rlhf.model.ort.Sampler;
import dev.rlhf.model.ort.SlotDecoder;

/**
 * Iteration-level ("continuous") batching on one decoder (Yu et al. 2022, "Orca"): requests
 * join the running batch between decode steps and leave it the step they finish, so a long
 * generation never holds back a short one.
 *
 * <p>One thread owns the decoder. Each loop: 1. drop rows that finished or were cancelled;
 * 2. admit queued requests while the batch has room (rows and KV-token budget) and prefill
 * them together; 3. one decode step for every row; 4. hand each row its token. Every row gets
 * one token per step: fair by construction.
 *
 * <p>Two engines keep the rows' KV caches:
 * <ul>
 * <li>a {@link SlotDecoder} (CPU, the fused-attention graph): row i is slot i of a fixed
 * cache; newcomers are prefilled straight into free slots, and a row that ends leaves at
 * once, the last row's slot copied into its place;
 * <li>an {@link OrtDecoder} (the serving graph with standard ops; CUDA, and head widths
 * that GroupQueryAttention cannot take): the cache is one left-padded tensor per layer, so
 * a membership change gathers the surviving and new rows into a new one, and changes are
 * grouped to make that rarer.
 * </ul>
 *
 * <p>The queue is bounded: {@link #submit} refuses when it is full ({@link Overloaded}).
 */
public final class ContinuousBatcher implements AutoCloseable {

    /**
     * @param maxBatch    rows decoded together
     * @param maxQueue    requests waiting beyond the batch
     * @param tokenBudget most KV entries (prompt + max new tokens, summed over rows) in the batch
     */
    public record Options(int maxBatch, int maxQueue, int tokenBudget) {
        public Options {
            if (maxBatch < 1 || maxQueue < 0 || tokenBudget < 1) {
                throw new IllegalArgumentException("need max batch >= 1, max queue >= 0, token budget >= 1");
            }
        }
    }

    /** Receives one request's tokens, on the batcher's thread: keep it quick. */
    public interface Sink {
        /** A new token and its log-probability (the first one ends the time to first token). */
        void token(int token, float logprob);

        /** The generation ended (STOP, LENGTH), after its last token. */
        void finished(OrtDecoder.Finish finish);

        /** The decoder failed; the request is over. */
        void failed(Throwable error);

        /** Checked every step: true frees the row at once (client cancelled, deadline passed). */
        boolean cancelled();
    }

    /** The queue is full: the caller should answer RESOURCE_EXHAUSTED and the client retry later. */
    public static final class Overloaded extends RuntimeException {
        Overloaded(String message) {
            super(message);
        }
    }

    private static final class Row {
        final int[] prompt;
        final OrtDecoder.Sampling sampling;
        final Sink sink;
        final SplittableRandom rng;
        final Set<Integer> stops;
        int produced;
        int lastToken;
        long nextPosition;
        int valid; // KV entries of this row in the current cache
        boolean done;

        Row(int[] prompt, OrtDecoder.Sampling sampling, Sink sink, Set<Integer> eos) {
            this.prompt = prompt;
            this.sampling = sampling;
            this.sink = sink;
            this.rng = new SplittableRandom(sampling.seed() * 0x9E3779B97F4A7C15L);
            this.stops = new HashSet<>(sampling.stopTokens());
            this.stops.addAll(eos);
        }

        int budget() {
            return prompt.length + sampling.maxNewTokens();
        }
    }

    /** One of the two engines (class javadoc); the other is null. */
    private final OrtDecoder decoder;
    private final SlotDecoder slots;
    private final ModelConfig config;
    private final Options options;
    private final BlockingQueue<Row> queue;
    private final Thread thread;
    private final AtomicInteger running = new AtomicInteger();
    /** Requests submitted and not yet ended (queued, being admitted, or decoding). */
    private final AtomicInteger outstanding = new AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong prefills = new java.util.concurrent.atomic.AtomicLong();
    private volatile boolean closing;

    // owned by the batcher thread
    private final List<Row> rows = new ArrayList<>();
    private Cache cache; // gathered cache of rows (owned), or null
    private Forward lastForward; // the forward whose present outputs are the cache, when not gathered
    private int stepsWaiting; // decode steps the head of the queue has waited

    /** A batcher on the serving graph, its cache gathered on each membership change. */
    public ContinuousBatcher(OrtDecoder decoder, Options options, String name) {
        this(decoder, null, decoder.config(), options, name);
    }

    /** A batcher on fixed KV slots, one per row: {@code options.maxBatch()} must not exceed them. */
    public ContinuousBatcher(SlotDecoder slots, Options options, String name) {
        this(null, slots, slots.config(), options, name);
        if (options.maxBatch() > slots.slots()) {
            close();
            throw new IllegalArgumentException("a batch of " + options.maxBatch() + " needs as many KV slots, the"
                    + " decoder has " + slots.slots());
        }
    }

    private ContinuousBatcher(OrtDecoder decoder, SlotDecoder slots, ModelConfig config, Options options, String name) {
        this.decoder = decoder;
        this.slots = slots;
        this.config = config;
        this.options = options;
        this.queue = new ArrayBlockingQueue<>(Math.max(1, options.maxQueue()));
        this.thread = new Thread(this::loop, "batcher-" + name);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /**
     * Queues a generation.
     *
     * @throws Overloaded when the queue is full
     */
    public void submit(int[] prompt, OrtDecoder.Sampling sampling, Sink sink) {
        if (closing) {
            throw new IllegalStateException("this decoder is shutting down");
        }
        if (prompt.length + sampling.maxNewTokens() > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("prompt (" + prompt.length + " tokens) plus max new tokens ("
                    + sampling.maxNewTokens() + ") exceed the context window of " + config.maxPositionEmbeddings());
        }
        Row row = new Row(prompt, sampling, new Ending(sink), new HashSet<>(config.eosTokenIds()));
        outstanding.incrementAndGet();
        if (!queue.offer(row)) {
            outstanding.decrementAndGet();
            throw new Overloaded("the decode queue is full (" + options.maxQueue() + " waiting, batch of "
                    + options.maxBatch() + " running)");
        }
    }

    /**
     * Whether every submitted request has ended. Unlike "queue empty and batch empty", this
     * has no gap while a request moves from the queue into the batch.
     */
    public boolean idle() {
        return outstanding.get() == 0;
    }

    /** A request's sink that counts the request as ended at its first finished or failed call. */
    private final class Ending implements Sink {
        private final Sink sink;
        private boolean ended;

        Ending(Sink sink) {
            this.sink = sink;
        }

        @Override
        public void token(int token, float logprob) {
            sink.token(token, logprob);
        }

        @Override
        public void finished(OrtDecoder.Finish finish) {
            try {
                sink.finished(finish);
            } finally {
                end();
            }
        }

        @Override
        public void failed(Throwable error) {
            try {
                sink.failed(error);
            } finally {
                end();
            }
        }

        @Override
        public boolean cancelled() {
            return sink.cancelled();
        }

        private void end() {
            if (!ended) {
                ended = true;
                outstanding.decrementAndGet();
            }
        }
    }

    /** Requests submitted and not yet ended. */
    public int outstanding() {
        return outstanding.get();
    }

    /** Requests waiting to join the batch. */
    public int queueDepth() {
        return queue.size();
    }

    /** Prefill rows run so far (distinct prompts admitted together share one). */
    public long prefills() {
        return prefills.get();
    }

    /** Rows decoding now. */
    public int batchSize() {
        return running.get();
    }

    private void loop() {
        while (!closing) {
            try {
                if (rows.isEmpty()) {
                    Row first = queue.poll(100, TimeUnit.MILLISECONDS);
                    if (first == null) {
                        continue;
                    }
                    admit(first);
                } else if (slots != null) {
                    stepSlots();
                } else {
                    step();
                }
            } catch (InterruptedException e) {
                break;
            } catch (Exception | Error e) {
                failAll(e);
            }
        }
        failAll(new IllegalStateException("the decoder was closed"));
    }

    /** 2. admission (with {@code first} already taken from the queue) and prefill. */
    private void admit(Row first) throws Exception {
        List<Row> joining = joining(first);
        if (joining.isEmpty()) {
            return;
        }
        // prefill the newcomers together, each distinct prompt once (n samples of one request
        // pass the same array: they share the prefill, then sample their own first tokens)
        List<int[]> prompts = new ArrayList<>();
        int[] source = new int[joining.size()];
        for (int r = 0; r < joining.size(); r++) {
            int found = -1;
            for (int u = 0; u < prompts.size(); u++) {
                if (prompts.get(u) == joining.get(r).prompt) {
                    found = u;
                }
            }
            if (found < 0) {
                prompts.add(joining.get(r).prompt);
                found = prompts.size() - 1;
            }
            source[r] = found;
        }
        prefills.addAndGet(prompts.size());
        if (slots != null) {
            admitToSlots(joining, prompts, source);
        } else {
            admitByGather(joining, prompts, source);
        }
    }

    /** The queued requests that join now (with {@code first}), within the rows and the token budget. */
    private List<Row> joining(Row first) {
        List<Row> joining = new ArrayList<>();
        int budget = rows.stream().mapToInt(Row::budget).sum();
        if (first != null) {
            joining.add(first);
            budget += first.budget();
        }
        while (rows.size() + joining.size() < options.maxBatch()) {
            Row next = queue.peek();
            if (next == null || budget + next.budget() > options.tokenBudget() && !(rows.isEmpty() && joining.isEmpty())) {
                break;
            }
            joining.add(queue.poll());
            budget += next.budget();
        }
        joining.removeIf(r -> {
            if (r.sink.cancelled()) {
                r.sink.finished(OrtDecoder.Finish.LENGTH);
                return true;
            }
            return false;
        });
        return joining;
    }

    /**
     * Prefills the distinct prompts into the slots after the batch's rows; a prompt's further
     * samples get copies of its slot. The newcomers join in slot order.
     */
    private void admitToSlots(List<Row> joining, List<int[]> prompts, int[] source) throws Exception {
        int base = rows.size();
        float[][] last = slots.prefill(prompts, base);
        Row[] bySlot = new Row[joining.size()];
        boolean[] taken = new boolean[prompts.size()];
        int extra = base + prompts.size();
        for (int r = 0; r < joining.size(); r++) {
            Row row = joining.get(r);
            int slot;
            if (!taken[source[r]]) {
                taken[source[r]] = true;
                slot = base + source[r];
            } else {
                slot = extra++;
                slots.move(base + source[r], slot);
            }
            bySlot[slot - base] = row;
            emit(row, last[source[r]]);
        }
        rows.addAll(List.of(bySlot));
        running.set(rows.size());
    }

    /** Prefills the prompts, then gathers the survivors' and newcomers' caches into one. */
    private void admitByGather(List<Row> joining, List<int[]> prompts, int[] source) throws Exception {
        OrtDecoder.Padded in = OrtDecoder.Padded.left(prompts, 0);
        Forward prefill = decoder.forward(in.ids(), in.mask(), in.positions(), (Forward) null);
        try {
            float[][] last = prefill.lastLogits();
            for (int r = 0; r < joining.size(); r++) {
                Row row = joining.get(r);
                row.valid = row.prompt.length;
                row.nextPosition = row.prompt.length;
                emit(row, last[source[r]]);
            }
            // gather the survivors and the newcomers into one cache
            List<RowRef> refs = new ArrayList<>();
            List<Row> order = new ArrayList<>();
            addSurvivors(refs, order);
            Cache fresh = prefill.cache();
            for (int r = 0; r < joining.size(); r++) {
                if (!joining.get(r).done) {
                    refs.add(new RowRef(fresh, source[r], joining.get(r).valid));
                    order.add(joining.get(r));
                }
            }
            replaceCache(refs.isEmpty() ? null : decoder.gather(refs), order);
        } finally {
            prefill.close();
        }
    }

    /** 1. leave, 2.–3. join, 4. one decode step, 5. tokens out. */
    private void step() throws Exception {
        // 1. rows that finished or were cancelled leave; 2. newcomers join. Every membership
        // change costs a KV gather, so changes are grouped: newcomers join when enough wait
        // (half the free slots), when the batch is at most half full, or after 8 steps of
        // waiting; finished rows ride along masked until a join or until they are the majority.
        endCancelled();
        long live = rows.stream().filter(r -> !r.done).count();
        if (joinNow(live)) {
            admit(null);
            live = rows.stream().filter(r -> !r.done).count();
        }
        boolean leaving = rows.size() - live >= Math.max(1, live);
        if (leaving) {
            List<RowRef> refs = new ArrayList<>();
            List<Row> order = new ArrayList<>();
            addSurvivors(refs, order);
            replaceCache(refs.isEmpty() ? null : decoder.gather(refs), order);
        }
        if (rows.isEmpty()) {
            return;
        }
        // 4. one decode step: every row feeds its last token
        Cache current = currentCache();
        int b = rows.size();
        int length = current.length() + 1;
        long[][] ids = new long[b][1];
        long[][] mask = new long[b][length];
        long[][] pos = new long[b][1];
        for (int r = 0; r < b; r++) {
            Row row = rows.get(r);
            ids[r][0] = row.lastToken;
            // a finished row rides along masked-out; its position stays put (within the context)
            pos[r][0] = row.done ? row.nextPosition - 1 : row.nextPosition++;
            row.valid++;
            for (int i = length - row.valid; i < length; i++) {
                mask[r][i] = 1;
            }
        }
        Forward next = decoder.step(ids, mask, pos, current);
        float[][] last = next.lastLogits();
        // the new present outputs are the cache from now on
        if (cache != null) {
            cache.close();
            cache = null;
        }
        if (lastForward != null) {
            lastForward.close();
        }
        lastForward = next;
        // 5. tokens out
        for (int r = 0; r < b; r++) {
            if (!rows.get(r).done) {
                emit(rows.get(r), last[r]);
            }
        }
    }

    /** On slots: 1. leave, 2. join, 3. one decode step, 4. tokens out. */
    private void stepSlots() throws Exception {
        endCancelled();
        // 2. joining costs a prefill pass (not a cache copy), so it is grouped as on the serving
        //    graph (joinNow)
        compactSlots();
        if (joinNow(rows.size())) {
            admit(null);
            compactSlots(); // a newcomer may have ended at its first token
        }
        if (rows.isEmpty()) {
            return;
        }
        // 3. one decode step: every row feeds its last token
        int[] feed = new int[rows.size()];
        for (int r = 0; r < feed.length; r++) {
            feed[r] = rows.get(r).lastToken;
        }
        float[][] last = slots.decode(feed);
        for (int r = 0; r < feed.length; r++) {
            emit(rows.get(r), last[r]);
        }
    }

    /** 1. rows that ended leave their slots: the last row moves into each hole. */
    private void compactSlots() {
        int i = 0;
        while (i < rows.size()) {
            if (rows.get(i).done) {
                int last = rows.size() - 1;
                slots.move(last, i);
                rows.set(i, rows.get(last));
                rows.remove(last);
                slots.clear(last);
            } else {
                i++;
            }
        }
        running.set(rows.size());
    }

    /** Ends the rows whose client cancelled (or whose deadline passed). */
    private void endCancelled() {
        for (Row r : rows) {
            if (!r.done && r.sink.cancelled()) {
                r.done = true;
                r.sink.finished(OrtDecoder.Finish.LENGTH);
            }
        }
    }

    /**
     * Whether the queued requests join now, with {@code live} rows decoding: when enough wait
     * (half the free rows), when the batch is at most half full, or after 8 steps of waiting.
     */
    private boolean joinNow(long live) {
        long free = options.maxBatch() - live;
        stepsWaiting = queue.isEmpty() ? 0 : stepsWaiting + 1;
        if (!queue.isEmpty() && free > 0
                && (queue.size() >= Math.max(1, free / 2) || live <= options.maxBatch() / 2 || stepsWaiting >= 8)) {
            stepsWaiting = 0;
            return true;
        }
        return false;
    }

    private void emit(Row row, float[] logits) {
        OrtDecoder.Sampling s = row.sampling;
        Sampler.Choice c = Sampler.pick(logits, s.temperature(), s.topK(), s.topP(), row.rng);
        row.lastToken = c.token();
        row.produced++;
        try {
            row.sink.token(c.token(), c.logprob());
            if (row.stops.contains(c.token())) {
                row.done = true;
                row.sink.finished(OrtDecoder.Finish.STOP);
            } else if (row.produced >= s.maxNewTokens()) {
                row.done = true;
                row.sink.finished(OrtDecoder.Finish.LENGTH);
            }
        } catch (RuntimeException e) {
            // a failing sink ends its own row only, never the batch
            row.done = true;
            notifyFailed(row, e);
        }
    }

    private static void notifyFailed(Row row, Throwable e) {
        try {
            row.sink.failed(e);
        } catch (RuntimeException ignored) {
            // the sink is broken; nothing more to tell it
        }
    }

    /** The unfinished rows of the batch, as references into its cache, in batch order. */
    private void addSurvivors(List<RowRef> refs, List<Row> order) {
        if (rows.isEmpty()) {
            return;
        }
        Cache current = currentCache();
        for (int i = 0; i < rows.size(); i++) {
            if (!rows.get(i).done) {
                refs.add(new RowRef(current, i, rows.get(i).valid));
                order.add(rows.get(i));
            }
        }
    }

    private Cache currentCache() {
        return cache != null ? cache : lastForward.cache();
    }

    private void replaceCache(Cache gathered, List<Row> order) {
        if (cache != null) {
            cache.close();
        }
        if (lastForward != null) {
            lastForward.close();
            lastForward = null;
        }
        cache = gathered;
        rows.clear();
        rows.addAll(order);
        running.set(rows.size());
    }

    private void failAll(Throwable e) {
        for (Row r : rows) {
            if (!r.done) {
                r.done = true;
                notifyFailed(r, e);
            }
        }
        try {
            replaceCache(null, List.of());
        } catch (RuntimeException closing) {
            rows.clear();
            running.set(0);
        }
        Row queued;
        while ((queued = queue.poll()) != null) {
            notifyFailed(queued, e);
        }
    }

    /** Stops admitting, lets the thread fail what is left, and waits for it. */
    @Override
    public void close() {
        closing = true;
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
