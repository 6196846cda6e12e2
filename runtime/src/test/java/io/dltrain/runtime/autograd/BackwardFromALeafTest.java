package io.dltrain.runtime.autograd;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * backward() from a one-element tensor that requires grad and was made by no op (a leaf: a scalar parameter, or a
 * loss term a user passes through unchanged) returned without a gradient, since the walk only visits tensors with a
 * producer: grad() stayed null, and an optimiser step skipped the tensor. PyTorch gives d x / d x = 1, accumulated.
 */
class BackwardFromALeafTest {
    @Test
    void aLeafGetsAGradientOfOneThatAccumulates() {
        try (CpuBackend be = new CpuBackend(1); Scope s = Scope.open()) {
            Tensor x = be.fromHost(new float[] {3f}, Shape.of(1)).requiresGrad(true);
            x.backward();
            assertNotNull(x.grad(), "backward() from a leaf left no gradient");
            assertArrayEquals(new float[] {1f}, x.grad().toFloatArray());
            x.backward();
            assertArrayEquals(new float[] {2f}, x.grad().toFloatArray(), "a second backward adds, as for every leaf");
            x.zeroGrad();
            x.backward();
            assertArrayEquals(new float[] {1f}, x.grad().toFloatArray(), "after zeroGrad the gradient starts again from 0");
        }
    }
}
