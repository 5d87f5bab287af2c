package dev.rlhf.trainer.rm;

import ai.djl.ndarray.NDArray;
import dev.rlhf.trainer.engine.Scalars;

/**
 * The Bradley–Terry preference loss of a reward model (InstructGPT §3.5; margin as in
 * Llama 2 §3.2.2), per ensemble member and weighted:
 * <pre>
 *   L = Σ_{i,k} w[i,k] · −log σ(r_c[i,k] − r_r[i,k] − m[i]) / Σ_{i,k} w[i,k]
 *       + coef · mean((r_c + r_r)²)
 * </pre>
 * with −log σ(x) = softplus(−x) computed stably as max(−x, 0) + log(1 + exp(−|x|)). The
 * weights carry Preference.weight times each member's bootstrap count; the last term keeps
 * rewards centred on 0 (TRL's {@code center_rewards_coefficient}).
 */
public final class BradleyTerry {

    private BradleyTerry() {
    }

    /**
     * @param chosen   [B, K] rewards of the preferred responses, one column per member
     * @param rejected [B, K] rewards of the other responses
     * @param margin   [B, 1] required gap (0 = none)
     * @param weight   [B, K] weight of each pair for each member (≥ 0)
     * @param l2Coef   coefficient of the centring penalty (0 = off)
     * @return scalar loss
     */
    public static NDArray loss(NDArray chosen, NDArray rejected, NDArray margin, NDArray weight, double l2Coef) {
        NDArray x = chosen.sub(rejected).sub(margin);
        // softplus(−x)
        NDArray nll = x.neg().maximum(Scalars.of(x, 0)).add(x.abs().neg().exp().add(Scalars.of(x, 1)).log());
        NDArray loss = nll.mul(weight).sum().div(weight.sum().maximum(1e-12f));
        if (l2Coef > 0) {
            NDArray meanSquare = chosen.add(rejected).square().mean();
            loss = loss.add(meanSquare.mul(Scalars.of(meanSquare, l2Coef)));
        }
        return loss;
    }
}
