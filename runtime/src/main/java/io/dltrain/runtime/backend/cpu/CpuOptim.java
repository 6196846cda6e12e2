package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.*;
import io.dltrain.runtime.tensor.Tensor;

/** CPU fused optimiser updates (torch.optim formulas). */
final class CpuOptim {
    private CpuOptim() {}

    static void step(CpuBackend be, OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        throw new UnsupportedOperationException("CpuOptim: not implemented yet");
    }
}
