package dev.rlhf.trainer.engine;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.rlhf.model.Tensor;

/**
 * AdamW: Adam with decoupled weight decay (Loshchilov &amp; Hutter 2019), in place on DJL
 * arrays.
 * <pre>
 * m ← β₁m + (1−β₁)g        v ← β₂v + (1−β₂)g²
 * p ← p − lr·( m/(1−β₁ᵗ) / (√(v/(1−β₂ᵗ)) + ε) + λ·p )      (λ only for decayed parameters)
 * </pre>
 * The moments live in the optimizer's own manager, outside any per-step {@code NDScope}.
 * Call {@link #step} outside a gradient collector, inside an NDScope.
 */
public final class AdamW implements AutoCloseable {

    /**
     * @param decays which parameters (by HF name) get weight decay; the usual choice
     *               excludes norms and embeddings: {@link #decayMatricesOnly()}
     */
    public record Options(double beta1, double beta2, double eps, double weightDecay, Predicate<String> decays) {
        public Options {
            if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) {
                throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
            }
            if (!(eps > 0) || weightDecay < 0) {
                throw new IllegalArgumentException("need eps > 0 and weight decay >= 0");
            }
        }

        public static Options defaults(double weightDecay) {
            return new Options(0.9, 0.95, 1e-8, weightDecay, decayMatricesOnly());
        }
    }

    /** Weight decay on projection matrices only: not on norms, embeddings or the tied head. */
    public static Predicate<String> decayMatricesOnly() {
        return name -> !name.endsWith("norm.weight") && !name.contains("embed_tokens");
    }

    private final Map<String, NDArray> params;
    private final Options o;
    private final NDManager state;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private long t;

    public AdamW(Map<String, NDArray> params, Options options, NDManager parent) {
        this.params = params;
        this.o = options;
        this.state = parent.newSubManager();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            m.put(e.getKey(), state.zeros(e.getValue().getShape()));
            v.put(e.getKey(), state.zeros(e.getValue().getShape()));
        }
    }

    /** One update with learning rate {@code lr} from the parameters' current gradients. */
    public void step(double lr) {
        t++;
        double bc1 = 1 - Math.pow(o.beta1(), t);
        double bc2 = 1 - Math.pow(o.beta2(), t);
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            // a detached view shares the parameter's storage: updating it in place is allowed
            // whatever the calling thread's grad mode (libtorch defaults it on in new threads)
            NDArray p = e.getValue().stopGradient();
            NDArray g = e.getValue().getGradient();
            NDArray mi = m.get(e.getKey());
            NDArray vi = v.get(e.getKey());
            // 1. moments
            mi.muli(o.beta1()).addi(g.mul(1 - o.beta1()));
            vi.muli(o.beta2()).addi(g.square().mul(1 - o.beta2()));
            // 2. bias-corrected Adam direction, 3. decoupled decay
            NDArray update = mi.div(bc1).div(vi.div(bc2).sqrt().add(o.eps()));
            if (o.weightDecay() > 0 && o.decays().test(e.getKey())) {
                update = update.add(p.mul(o.weightDecay()));
            }
            p.subi(update.mul(lr));
        }
    }

    /** Updates done so far. */
    public long steps() {
        return t;
    }

    /** The moments, as tensors named {@code m/<param>} and {@code v/<param>}: what a checkpoint stores. */
    public List<Tensor> moments() {
        List<Tensor> out = new ArrayList<>();
        m.forEach((k, a) -> out.add(new Tensor("m/" + k, a.getShape().getShape(), a.toFloatArray())));
        v.forEach((k, a) -> out.add(new Tensor("v/" + k, a.getShape().getShape(), a.toFloatArray())));
        return out;
    }

    /**
     * Restores {@link #moments()} and the update count saved from an optimizer over the same
     * parameters.
     *
     * @throws IllegalArgumentException naming the first moment that is missing or of another shape
     */
    public void restore(Map<String, Tensor> moments, long steps) {
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            for (Map<String, NDArray> which : List.of(m, v)) {
                String name = (which == m ? "m/" : "v/") + e.getKey();
                Tensor saved = moments.get(name);
                if (saved == null || !java.util.Arrays.equals(saved.shape(), e.getValue().getShape().getShape())) {
                    throw new IllegalArgumentException("optimizer state: " + name + (saved == null ? " is missing"
                            : " has shape " + java.util.Arrays.toString(saved.shape()) + ", the parameter "
                                    + e.getValue().getShape()));
                }
                which.put(e.getKey(), state.create(saved.data(), e.getValue().getShape())).close();
            }
        }
        t = steps;
    }

    @Override
    public void close() {
        state.close();
    }
}
