package io.dltrain.runtime.autograd;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * backward() from a tensor that was closed (its Scope ended: the natural slip of computing the loss inside a
 * try-with-resources and calling backward after it) returned without error and without a gradient, since closing drops
 * the tensor's graph: the step that followed updated nothing, or with stale gradients. It must fail, like every other
 * use of a closed tensor, and say what to do.
 */
class BackwardAfterCloseTest {
    static final float[] X = {0.5f, -1.25f, 2f, 0.75f, -0.5f, 1.5f};

    @Test
    void backwardFromALossWhoseScopeClosedIsRefused() {
        try (CpuBackend be = new CpuBackend(1); Linear fc = new Linear(new Context(be, 3), 3, 2)) {
            Tensor loss;
            try (Scope s = Scope.open()) {
                loss = Losses.mse(fc.forward(be.fromHost(X, Shape.of(2, 3))), be.zeros(Shape.of(2, 2)));
            }
            var e = assertThrows(IllegalStateException.class, loss::backward);
            assertTrue(e.getMessage().contains("was closed"), e.getMessage());
            assertTrue(e.getMessage().contains("inside the Scope"), e.getMessage());
            assertNull(fc.weight().grad(), "no gradient was written");
        }
    }

    @Test
    void backwardThroughAClosedIntermediateIsRefused() {
        // add's backward passes dy on without reading its inputs: a closed input was taken for a leaf, got a gradient
        // of its own (never freed) and the parameters behind it got none
        try (CpuBackend be = new CpuBackend(1); Linear fc = new Linear(new Context(be, 3), 3, 2);
             Scope s = Scope.open()) {
            Tensor h = fc.forward(be.fromHost(X, Shape.of(2, 3)));
            Tensor sum = Basic.add(h, be.zeros(Shape.of(2, 2)));
            Tensor loss = Losses.mse(sum, be.zeros(Shape.of(2, 2)));
            h.close();
            var e = assertThrows(IllegalStateException.class, loss::backward);
            assertTrue(e.getMessage().contains("'add'") && e.getMessage().contains("was closed"), e.getMessage());
            assertNull(fc.weight().grad(), "no gradient was written");
        }
    }
}
