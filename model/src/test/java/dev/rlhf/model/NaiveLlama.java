package dev.rlhf.model;

import java.util.Map;

/**
 * The Llama decoder as plain loops in double precision: the oracle the ONNX graph (and the
 * training decoder) are checked against. One sequence, positions 0..T−1, no cache. Slow on
 * purpose: every formula is visible.
 */
public final class NaiveLlama {

    private final ModelConfig c;
    private final Map<String, Tensor> w;

    public NaiveLlama(ModelConfig config, Map<String, Tensor> weights) {
        this.c = config;
        this.w = weights;
    }

    /** Logits [T][V] of {@code tokens}. */
    public double[][] logits(int[] tokens) {
        return head(hidden(tokens), c.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight");
    }

    /** Final hidden states [T][D] (after the last norm). */
    public double[][] hidden(int[] tokens) {
        int t = tokens.length;
        int d = c.hiddenSize();
        double[][] x = new double[t][d];
        float[] emb = w.get("model.embed_tokens.weight").data();
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < d; j++) {
                x[i][j] = emb[tokens[i] * d + j];
            }
        }
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] h = rmsNorm(x, p + "input_layernorm.weight");
            double[][] attn = linear(attention(h, p), p + "self_attn.o_proj.weight");
            add(x, attn);
            double[][] h2 = rmsNorm(x, p + "post_attention_layernorm.weight");
            double[][] gate = linear(h2, p + "mlp.gate_proj.weight");
            double[][] up = linear(h2, p + "mlp.up_proj.weight");
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < gate[i].length; j++) {
                    double g = gate[i][j];
                    gate[i][j] = g / (1 + Math.exp(-g)) * up[i][j];
                }
            }
            add(x, linear(gate, p + "mlp.down_proj.weight"));
        }
        return rmsNorm(x, "model.norm.weight");
    }

    /** Causal grouped-query attention with rotary embeddings; returns [T][H·hd]. */
    private double[][] attention(double[][] h, String p) {
        int t = h.length;
        int heads = c.numAttentionHeads();
        int kvHeads = c.numKeyValueHeads();
        int hd = c.headDim();
        double[][] q = rope(linear(h, p + "self_attn.q_proj.weight"), heads);
        double[][] k = rope(linear(h, p + "self_attn.k_proj.weight"), kvHeads);
        double[][] v = linear(h, p + "self_attn.v_proj.weight");
        double[][] out = new double[t][heads * hd];
        for (int head = 0; head < heads; head++) {
            int kvHead = head / (heads / kvHeads);
            for (int i = 0; i < t; i++) {
                double[] scores = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double s = 0;
                    for (int e = 0; e < hd; e++) {
                        s += q[i][head * hd + e] * k[j][kvHead * hd + e];
                    }
                    scores[j] = s / Math.sqrt(hd);
                    max = Math.max(max, scores[j]);
                }
                double z = 0;
                for (int j = 0; j <= i; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    z += scores[j];
                }
                for (int j = 0; j <= i; j++) {
                    for (int e = 0; e < hd; e++) {
                        out[i][head * hd + e] += scores[j] / z * v[j][kvHead * hd + e];
                    }
                }
            }
        }
        return out;
    }

    /** Rotate-half rotary embedding of every head of x [T][n·hd], position = row index. */
    private double[][] rope(double[][] x, int n) {
        int hd = c.headDim();
        int half = hd / 2;
        float[][] tables = Rotary.tables(c);
        double[][] out = new double[x.length][x[0].length];
        for (int pos = 0; pos < x.length; pos++) {
            for (int head = 0; head < n; head++) {
                for (int e = 0; e < hd; e++) {
                    double rotated = e < half ? -x[pos][head * hd + e + half] : x[pos][head * hd + e - half];
                    out[pos][head * hd + e] = x[pos][head * hd + e] * tables[0][pos * hd + e]
                            + rotated * tables[1][pos * hd + e];
                }
            }
        }
        return out;
    }

    private double[][] rmsNorm(double[][] x, String name) {
        float[] g = w.get(name).data();
        double[][] out = new double[x.length][x[0].length];
        for (int i = 0; i < x.length; i++) {
            double ms = 0;
            for (double v : x[i]) {
                ms += v * v;
            }
            double inv = 1 / Math.sqrt(ms / x[i].length + c.rmsNormEps());
            for (int j = 0; j < x[i].length; j++) {
                out[i][j] = x[i][j] * inv * g[j];
            }
        }
        return out;
    }

    /** x [T][in] · Wᵀ with W [out, in] (HF layout). */
    private double[][] linear(double[][] x, String name) {
        Tensor wt = w.get(name);
        int out = (int) wt.shape()[0];
        int in = (int) wt.shape()[1];
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int j = 0; j < in; j++) {
                    s += x[i][j] * wt.data()[o * in + j];
                }
                y[i][o] = s;
            }
        }
        return y;
    }

    private double[][] head(double[][] x, String name) {
        return linear(x, name);
    }

    private static void add(double[][] x, double[][] y) {
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < x[i].length; j++) {
                x[i][j] += y[i][j];
            }
        }
    }
}
