package dev.rlhf.policy.engine;

import java.util.List;

import dev.rlhf.model.ort.OrtDecoder;

/**
 * The batchers of one model version, each a lane with its own thread, KV slots and batch
 * (requests never move between lanes). A request goes to the lane with the fewest requests
 * outstanding; the samples of one request (submitted one after another with the same prompt
 * array) stay in one lane, so that they share its prefill.
 *
 * <p>Why lanes: a decode step of a small model is about 300 short operators; spread over
 * several threads, each operator ends at a barrier where every thread waits for the
 * slowest, which on a loaded server is often one that gRPC or the client took the core from.
 * Two single-threaded lanes on 2 cores decode more rows per second than one batch on both
 * (README, policy-service).
 */
public final class Lanes implements AutoCloseable {

    private final List<ContinuousBatcher> lanes;
    // the last submission, under this: the next sample of the same request goes to the same lane
    private int[] lastPrompt;
    private int lastLane;

    public Lanes(List<ContinuousBatcher> lanes) {
        if (lanes.isEmpty()) {
            throw new IllegalArgumentException("need at least one lane");
        }
        this.lanes = List.copyOf(lanes);
    }

    /**
     * Queues a generation on the least-loaded lane (the previous one for the same prompt array).
     *
     * @throws ContinuousBatcher.Overloaded when that lane's queue is full
     */
    public synchronized void submit(int[] prompt, OrtDecoder.Sampling sampling, ContinuousBatcher.Sink sink) {
        int lane = prompt == lastPrompt ? lastLane : leastLoaded();
        lanes.get(lane).submit(prompt, sampling, sink);
        lastPrompt = prompt;
        lastLane = lane;
    }

    private int leastLoaded() {
        int best = 0;
        for (int i = 1; i < lanes.size(); i++) {
            if (lanes.get(i).outstanding() < lanes.get(best).outstanding()) {
                best = i;
            }
        }
        return best;
    }

    public List<ContinuousBatcher> lanes() {
        return lanes;
    }

    /** Whether every lane is idle ({@link ContinuousBatcher#idle}). */
    public boolean idle() {
        return lanes.stream().allMatch(ContinuousBatcher::idle);
    }

    /** Requests waiting, all lanes. */
    public int queueDepth() {
        return lanes.stream().mapToInt(ContinuousBatcher::queueDepth).sum();
    }

    /** Rows decoding, all lanes. */
    public int batchSize() {
        return lanes.stream().mapToInt(ContinuousBatcher::batchSize).sum();
    }

    /** Prefill rows run so far, all lanes. */
    public long prefills() {
        return lanes.stream().mapToLong(ContinuousBatcher::prefills).sum();
    }

    @Override
    public void close() {
        lanes.forEach(ContinuousBatcher::close);
    }
}
