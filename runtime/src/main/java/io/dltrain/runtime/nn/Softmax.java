package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** Softmax over the last dimension: PyTorch's nn.Softmax(dim=-1). */
public class Softmax extends Module {
    @Override
    public Tensor forward(Tensor x) {
        try {
            return Activations.softmax(x);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }

    @Override public String toString() { return "Softmax(dim=-1)"; }
}
