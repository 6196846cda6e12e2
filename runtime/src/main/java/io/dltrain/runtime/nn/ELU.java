package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.ELU(alpha=1): x for x > 0, alpha * (exp(x) - 1) otherwise. */
public class ELU extends Module {
    private final float alpha;

    public ELU() { this(1f); }

    public ELU(float alpha) {
        if (!Float.isFinite(alpha)) throw new IllegalArgumentException("ELU: alpha must be finite, got " + alpha);
        this.alpha = alpha;
    }

    public float alpha() { return alpha; }

    @Override public Tensor forward(Tensor x) { return Activations.apply(x, Activation.elu(alpha)); }

    @Override public String toString() { return "ELU(alpha=" + alpha + ")"; }
}
