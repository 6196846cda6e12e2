package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU softmax and log-softmax over the last dimension. */
final class CpuSoftmax {
    private CpuSoftmax() {}

    static void forward(CpuBackend be, Tensor x, Tensor y, boolean log) {
        throw new UnsupportedOperationException("CpuSoftmax: not implemented yet");
    }

    static void backward(CpuBackend be, Tensor y, Tensor dy, Tensor dx, boolean log) {
        throw new UnsupportedOperationException("CpuSoftmax: not implemented yet");
    }
}
