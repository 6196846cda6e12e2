package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU 2-D convolution (im2col + GEMM). */
final class CpuConv {
    private CpuConv() {}

    static void forward(CpuBackend be, Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) {
        throw new UnsupportedOperationException("CpuConv: not implemented yet");
    }

    static void backwardData(CpuBackend be, Tensor dy, Tensor w, Tensor dx, ConvParams p) {
        throw new UnsupportedOperationException("CpuConv: not implemented yet");
    }

    static void backwardFilter(CpuBackend be, Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) {
        throw new UnsupportedOperationException("CpuConv: not implemented yet");
    }
}
