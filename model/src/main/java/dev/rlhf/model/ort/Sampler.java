package dev.rlhf.model.ort;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from one row of logits: greedy, or temperature sampling with
 * optional top-k and top-p (nucleus, Holtzman et al. 2020) filtering.
 *
 * <p>The reported log-probability is that of the chosen token under the temperature-scaled
 * distribution, log softmax(logits / T), before top-k/top-p filtering (the trainer's
 * behaviour policy; greedy: T = 1). Plain math, no ONNX Runtime.
 */
public final class Sampler {

    /** A chosen token and its log-probability. */
    public record Choice(int token, float logprob) {
    }

    private Sampler() {
    }

    /**
     * @param logits      [V] one row of next-token logits
     * @param temperature 0 = greedy; otherwise &gt; 0
     * @param topK        0 = off
     * @param topP        in (0, 1]; 1 = off
     */
    public static Choice pick(float[] logits, float temperature, int topK, float topP, SplittableRandom rng) {
        if (temperature == 0f) {
            int best = argmax(logits);
            return new Choice(best, logSoftmax(logits, 1f)[best]);
        }
        // 1. behaviour distribution: log softmax(logits / T)
        float[] logp = logSoftmax(logits, temperature);
        if (topK <= 0 && topP >= 1f) {
            return sampleAll(logp, rng);
        }
        // 2. candidates: indices sorted by probability, cut by top-k and top-p
        Integer[] order = new Integer[logp.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logp[b], logp[a]));
        int keep = topK > 0 ? Math.min(topK, order.length) : order.length;
        if (topP < 1f) {
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += Math.exp(logp[order[i]]);
                if (cumulative >= topP) {
                    keep = i + 1;
                    break;
                }
            }
        }
        // 3. sample from the renormalised candidates
        double total = 0;
        for (int i = 0; i < keep; i++) {
            total += Math.exp(logp[order[i]]);
        }
        double u = rng.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            u -= Math.exp(logp[order[i]]);
            if (u <= 0) {
                return new Choice(order[i], logp[order[i]]);
            }
        }
        int last = order[keep - 1];
        return new Choice(last, logp[last]);
    }

    private static Choice sampleAll(float[] logp, SplittableRandom rng) {
        double u = rng.nextDouble();
        for (int i = 0; i < logp.length; i++) {
            u -= Math.exp(logp[i]);
            if (u <= 0) {
                return new Choice(i, logp[i]);
            }
        }
        int best = argmax(logp); // rounding left u > 0: the most likely token
        return new Choice(best, logp[best]);
    }

    /** log softmax(x / t), computed stably in double. */
    public static float[] logSoftmax(float[] x, float t) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) {
            max = Math.max(max, v / t);
        }
        double sum = 0;
        for (float v : x) {
            sum += Math.exp(v / t - max);
        }
        double logZ = max + Math.log(sum);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) (x[i] / t - logZ);
        }
        return out;
    }

    /** Index of the largest value (the first on ties). */
    public static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }
}
