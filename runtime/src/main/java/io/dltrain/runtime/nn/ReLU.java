package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.ReLU: max(x, 0) element by element. */
public class ReLU extends Module {
    @Override public Tensor forward(Tensor x) { return Activations.relu(x); }

    @Override public String toString() { return "ReLU()"; }
}
