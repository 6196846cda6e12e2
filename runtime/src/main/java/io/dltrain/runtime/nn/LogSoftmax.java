package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** Log-softmax over the last dimension: PyTorch's nn.LogSoftmax(dim=-1). */
public class LogSoftmax extends Module {
    @Override public Tensor forward(Tensor x) { return Activations.logSoftmax(x); }

    @Override public String toString() { return "LogSoftmax(dim=-1)"; }
}
