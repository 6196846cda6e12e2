package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU max / average / adaptive average pooling. */
final class CpuPool {
    private CpuPool() {}

    static void forward(CpuBackend be, Tensor x, Tensor y, PoolParams p) {
        throw new UnsupportedOperationException("CpuPool: not implemented yet");
    }

    static void backward(CpuBackend be, Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) {
        throw new UnsupportedOperationException("CpuPool: not implemented yet");
    }

    static void adaptiveAvgForward(CpuBackend be, Tensor x, Tensor y) {
        throw new UnsupportedOperationException("CpuPool: not implemented yet");
    }

    static void adaptiveAvgBackward(CpuBackend be, Tensor dy, Tensor dx) {
        throw new UnsupportedOperationException("CpuPool: not implemented yet");
    }
}
