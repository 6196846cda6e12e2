package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.Tanh. */
public class Tanh extends Module {
    @Override public Tensor forward(Tensor x) { return Activations.tanh(x); }

    @Override public String toString() { return "Tanh()"; }
}
