package dev.rlhf.trainer.ppo;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * The entropy of the policy's next-token distribution, H_t = −Σ_v p_t(v) log p_t(v) with
 * p_t = softmax(logits_t), averaged over the response tokens: the bonus of PPO's
 * objective (Schulman et al. 2017, eq. 9), subtracted from the loss times
 * PpoConfig.entropy_coef. Differentiable in the logits.
 */
public final class TokenEntropy {

    private TokenEntropy() {
    }

    /**
     * @param logits [B, T, V] the policy's logits at the positions that predict the response tokens
     * @return [B, T] H_t
     */
    public static NDArray perToken(NDArray logits) {
        int vocabAxis = logits.getShape().dimension() - 1;
        NDArray logp = logits.logSoftmax(vocabAxis); // [B, T, V]
        return logp.exp().mul(logp).sum(new int[] {vocabAxis}).neg();
    }

    /** The mean over this batch's tokens (n = Σ mask). */
    public static NDArray maskedMean(NDArray logits, NDArray mask) {
        return maskedMean(logits, mask, MaskedStatistics.tokens(mask));
    }

    /**
     * @param logits [B, T, V]
     * @param mask   [B, T] 1 = a response token
     * @param tokens n: Σ mask, or the whole minibatch's token count
     * @return scalar Σ_t mask_t H_t / n
     */
    public static NDArray maskedMean(NDArray logits, NDArray mask, double tokens) {
        return MaskedStatistics.mean(perToken(logits), mask.toType(DataType.FLOAT32, false), tokens);
    }
}
