package dev.rlhf.model.ort;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

class SamplerTest {

    private static final float[] LOGITS = {2.0f, 1.0f, 0.5f, -1.0f, 3.0f};

    @Test
    void greedyPicksTheArgmaxWithItsLogSoftmax() {
        Sampler.Choice c = Sampler.pick(LOGITS, 0f, 0, 1f, new SplittableRandom(1));
        assertEquals(4, c.token());
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l);
        }
        assertEquals(3.0 - Math.log(z), c.logprob(), 1e-6);
    }

    @Test
    void topKOneAndATinyTopPAreGreedy() {
        for (int seed = 0; seed < 20; seed++) {
            assertEquals(4, Sampler.pick(LOGITS, 1f, 1, 1f, new SplittableRandom(seed)).token());
            assertEquals(4, Sampler.pick(LOGITS, 1f, 0, 0.01f, new SplittableRandom(seed)).token());
        }
    }

    @Test
    void samplingFrequenciesFollowTheTemperatureScaledDistribution() {
        float t = 0.7f;
        float[] logp = Sampler.logSoftmax(LOGITS, t);
        int[] counts = new int[LOGITS.length];
        SplittableRandom rng = new SplittableRandom(42);
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            Sampler.Choice c = Sampler.pick(LOGITS, t, 0, 1f, rng);
            counts[c.token()]++;
            assertEquals(logp[c.token()], c.logprob(), 1e-6, "the reported logprob is the behaviour distribution's");
        }
        for (int i = 0; i < LOGITS.length; i++) {
            double p = Math.exp(logp[i]);
            double sd = Math.sqrt(p * (1 - p) / n);
            assertTrue(Math.abs(counts[i] / (double) n - p) < 5 * sd + 1e-4, "token " + i);
        }
    }

    @Test
    void topKNeverPicksOutsideTheKBest() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int i = 0; i < 2000; i++) {
            int tok = Sampler.pick(LOGITS, 2f, 2, 1f, rng).token();
            assertTrue(tok == 4 || tok == 0, "token " + tok);
        }
    }
}
