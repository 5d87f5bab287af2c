package dev.rlhf.trainer.ppo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.api.Test;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * The invariant of gradient accumulation: the losses and diagnostics of two micro-batches,
 * each normalised by the whole minibatch's token count, add up to those of the minibatch
 * (although the halves hold different numbers of tokens).
 */
class MicroBatchInvarianceTest {

    private static final int B = 6;
    private static final int T = 5;
    private static final int V = 4;

    @Test
    void policyValueAndEntropyOfTwoHalvesAddUpToTheWhole() {
        Random rnd = new Random(9);
        int[] lengths = {5, 1, 3, 2, 4, 5};
        boolean[][] mask = TokenArrays.rightPadded(lengths, T);
        double[][] logp = new double[B][T];
        double[][] old = new double[B][T];
        double[][] adv = new double[B][T];
        double[][] values = new double[B][T];
        double[][] oldValues = new double[B][T];
        double[][] returns = new double[B][T];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                old[b][t] = -1 - rnd.nextDouble();
                logp[b][t] = old[b][t] + 0.4 * rnd.nextGaussian(); // many ratios outside 1 ± 0.2
                adv[b][t] = rnd.nextGaussian();
                oldValues[b][t] = rnd.nextGaussian();
                values[b][t] = oldValues[b][t] + 0.4 * rnd.nextGaussian();
                returns[b][t] = rnd.nextGaussian();
            }
        }
        float[] logits = new float[B * T * V];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) rnd.nextGaussian();
        }
        ClippedPolicyLoss pg = new ClippedPolicyLoss(0.2);
        ClippedValueLoss vf = new ClippedValueLoss(0.2);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray mk = TokenArrays.toNDArray(m, mask);
            NDArray lg = m.create(logits, new Shape(B, T, V));
            double n = MaskedStatistics.tokens(mk);
            assertEquals(20, n);
            var pgAll = pg.of(TokenArrays.toNDArray(m, logp), TokenArrays.toNDArray(m, old), TokenArrays.toNDArray(m, adv), mk);
            var vfAll = vf.of(TokenArrays.toNDArray(m, values), TokenArrays.toNDArray(m, oldValues),
                    TokenArrays.toNDArray(m, returns), mk);
            double hAll = TokenEntropy.maskedMean(lg, mk).getFloat();
            double pgSum = 0;
            double clipSum = 0;
            double klSum = 0;
            double vfSum = 0;
            double vClipSum = 0;
            double hSum = 0;
            for (String rows : new String[] {"0:2", "2:6"}) { // 6 and 14 tokens
                NDArray mh = mk.get(rows);
                var p = pg.of(TokenArrays.toNDArray(m, logp).get(rows), TokenArrays.toNDArray(m, old).get(rows),
                        TokenArrays.toNDArray(m, adv).get(rows), mh, n);
                var v = vf.of(TokenArrays.toNDArray(m, values).get(rows), TokenArrays.toNDArray(m, oldValues).get(rows),
                        TokenArrays.toNDArray(m, returns).get(rows), mh, n);
                pgSum += p.loss().getFloat();
                clipSum += p.clipFraction();
                klSum += p.approxKl();
                vfSum += v.loss().getFloat();
                vClipSum += v.clipFraction();
                hSum += TokenEntropy.maskedMean(lg.get(rows), mh, n).getFloat();
            }
            assertEquals(pgAll.loss().getFloat(), pgSum, 1e-5);
            assertEquals(pgAll.clipFraction(), clipSum, 1e-6);
            assertEquals(pgAll.approxKl(), klSum, 1e-6);
            assertEquals(vfAll.loss().getFloat(), vfSum, 1e-5);
            assertEquals(vfAll.clipFraction(), vClipSum, 1e-6);
            assertEquals(hAll, hSum, 1e-5);
        }
    }
}
