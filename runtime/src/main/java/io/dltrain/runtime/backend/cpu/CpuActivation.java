package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU activations (ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softplus, GELU): forward and backward. */
final class CpuActivation {
    private CpuActivation() {}

    static void forward(CpuBackend be, Activation act, Tensor x, Tensor y) {
        throw new UnsupportedOperationException("CpuActivation: not implemented yet");
    }

    static void backward(CpuBackend be, Activation act, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        throw new UnsupportedOperationException("CpuActivation: not implemented yet");
    }
}
