package dev.rlhf.trainer.engine;

import ai.djl.ndarray.NDArray;

/**
 * Next-token cross-entropy averaged over the positions where {@code lossMask} is 1
 * (response tokens in SFT):
 * L = −Σ_{b,t} mask[b,t] · log softmax(logits[b,t])[target[b,t]] / Σ mask.
 */
public final class CausalLmLoss {

    private CausalLmLoss() {
    }

    /**
     * @param logits   [B, T, V] predictions for the next token at each position
     * @param targets  [B, T] int64, the token that follows each position
     * @param lossMask [B, T] float, 1 where the prediction counts
     * @return scalar loss
     */
    public static NDArray of(NDArray logits, NDArray targets, NDArray lossMask) {
        NDArray picked = logits.logSoftmax(-1).gather(targets.expandDims(-1), -1).squeeze(-1); // [B, T]
        return picked.mul(lossMask).sum().neg().div(lossMask.sum().maximum(1f));
    }
}
