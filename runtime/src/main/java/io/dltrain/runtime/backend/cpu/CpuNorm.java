package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU batch normalisation. */
final class CpuNorm {
    private CpuNorm() {}

    static void forwardTraining(CpuBackend be, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        throw new UnsupportedOperationException("CpuNorm: not implemented yet");
    }

    static void forwardInference(CpuBackend be, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y) {
        throw new UnsupportedOperationException("CpuNorm: not implemented yet");
    }

    static void backward(CpuBackend be, Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        throw new UnsupportedOperationException("CpuNorm: not implemented yet");
    }
}
