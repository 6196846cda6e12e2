package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Tensor;

/** Log-softmax over the last dimension: PyTorch's nn.LogSoftmax(dim=-1). */
public class LogSoftmax extends Module {
    @Override
    public Tensor forward(Tensor x) {
        try {
            return Activations.logSoftmax(x);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }

    @Override public String toString() { return "LogSoftmax(dim=-1)"; }
}
