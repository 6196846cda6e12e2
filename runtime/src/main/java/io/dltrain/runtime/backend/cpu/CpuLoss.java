package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU losses and the top-k metric. */
final class CpuLoss {
    private CpuLoss() {}

    static void crossEntropyForward(CpuBackend be, Tensor logits, Tensor labels, float labelSmoothing, Tensor probs, Tensor loss) {
        throw new UnsupportedOperationException("CpuLoss: not implemented yet");
    }

    static void crossEntropyBackward(CpuBackend be, Tensor probs, Tensor labels, float labelSmoothing, Tensor dloss, Tensor dlogits) {
        throw new UnsupportedOperationException("CpuLoss: not implemented yet");
    }

    static void forward(CpuBackend be, LossKind kind, Tensor pred, Tensor target, Tensor loss) {
        throw new UnsupportedOperationException("CpuLoss: not implemented yet");
    }

    static void backward(CpuBackend be, LossKind kind, Tensor pred, Tensor target, Tensor dloss, Tensor dpred) {
        throw new UnsupportedOperationException("CpuLoss: not implemented yet");
    }

    static void countTopK(CpuBackend be, Tensor logits, Tensor labels, int k, Tensor count) {
        throw new UnsupportedOperationException("CpuLoss: not implemented yet");
    }
}
