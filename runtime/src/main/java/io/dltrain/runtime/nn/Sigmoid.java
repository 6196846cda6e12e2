package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.Sigmoid: 1 / (1 + exp(-x)). */
public class Sigmoid extends Module {
    @Override public Tensor forward(Tensor x) { return Activations.sigmoid(x); }

    @Override public String toString() { return "Sigmoid()"; }
}
