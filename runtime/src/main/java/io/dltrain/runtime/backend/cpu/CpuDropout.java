package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU inverted dropout with counter-based masks. */
final class CpuDropout {
    private CpuDropout() {}

    static void forward(CpuBackend be, Tensor x, Tensor y, Tensor mask, float p, long seed) {
        throw new UnsupportedOperationException("CpuDropout: not implemented yet");
    }
}
