package dev.rlhf.model;

/**
 * Rotary position embedding tables (Su et al. 2021, "RoFormer"), in Hugging Face's
 * rotate-half layout: for position p and channel i of a head of size hd,
 * θᵢ = theta^(−2·(i mod hd/2)/hd), cos[p][i] = cos(p·θᵢ), sin[p][i] = sin(p·θᵢ).
 * One implementation for the training decoder and the ONNX graph, so both see the same
 * numbers.
 */
public final class Rotary {

    private Rotary() {
    }

    /** {cos, sin}, each [max_position_embeddings, head_dim] row-major. */
    public static float[][] tables(ModelConfig c) {
        int hd = c.headDim();
        int half = hd / 2;
        int positions = c.maxPositionEmbeddings();
        float[] cos = new float[positions * hd];
        float[] sin = new float[positions * hd];
        for (int k = 0; k < half; k++) {
            // HF: inv_freq = 1 / base^(arange(0, hd, 2) / hd), in float32
            float invFreq = (float) (1.0 / Math.pow(c.ropeTheta(), (2.0 * k) / hd));
            for (int p = 0; p < positions; p++) {
                float angle = (float) p * invFreq;
                float cs = (float) Math.cos(angle);
                float sn = (float) Math.sin(angle);
                cos[p * hd + k] = cs;
                cos[p * hd + k + half] = cs;
                sin[p * hd + k] = sn;
                sin[p * hd + k + half] = sn;
            }
        }
        return new float[][] {cos, sin};
    }
}
