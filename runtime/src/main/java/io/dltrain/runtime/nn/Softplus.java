package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.Softplus(beta=1, threshold=20): log(1 + exp(beta x)) / beta, and x where beta x > 20. */
public class Softplus extends Module {
    private final float beta;

    public Softplus() { this(1f); }

    public Softplus(float beta) {
        if (!(beta > 0f) || !Float.isFinite(beta)) throw new IllegalArgumentException("Softplus: beta must be a positive number, got " + beta);
        this.beta = beta;
    }

    public float beta() { return beta; }

    @Override public Tensor forward(Tensor x) { return Activations.apply(x, Activation.softplus(beta)); }

    @Override public String toString() { return "Softplus(beta=" + beta + ", threshold=20)"; }
}
