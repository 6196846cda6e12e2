package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.GELU() (approximate='none'): x * Phi(x) with the exact normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2. */
public class GELU extends Module {
    @Override public Tensor forward(Tensor x) { return Activations.apply(x, Activation.GELU); }

    @Override public String toString() { return "GELU()"; }
}
