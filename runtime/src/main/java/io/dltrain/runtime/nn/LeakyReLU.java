package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.LeakyReLU(negative_slope=0.01): x for x > 0, slope * x otherwise. */
public class LeakyReLU extends Module {
    private final float slope;

    public LeakyReLU() { this(0.01f); }

    public LeakyReLU(float slope) {
        if (!Float.isFinite(slope)) throw new IllegalArgumentException("LeakyReLU: negative slope must be finite, got " + slope);
        this.slope = slope;
    }

    public float slope() { return slope; }

    @Override public Tensor forward(Tensor x) { return Activations.apply(x, Activation.leakyRelu(slope)); }

    @Override public String toString() { return "LeakyReLU(negative_slope=" + slope + ")"; }
}
