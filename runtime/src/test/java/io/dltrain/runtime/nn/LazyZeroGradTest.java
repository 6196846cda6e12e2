package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.CountingBackend;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * zeroGrad() only marks gradients zero (Tensor.zeroGrad); backward's first contribution is copied over a marked
 * gradient, and a gradient read while still marked reads zeros. Checked against gradients computed from scratch, and
 * by counting the backend calls: no fill for a gradient that backward overwrites.
 */
class LazyZeroGradTest {
    static final float[] X = {0.5f, -1.25f, 2f, 0.75f, -0.5f, 1.5f}, Y = {1f, -2f, 0.25f, 0.5f, 3f, -1f};

    /** mse(fc(x), t) for a 3 -> 2 Linear on a batch of 2, then backward. */
    static void backward(Linear fc, CountingBackend be, float[] x) {
        try (Scope s = Scope.open()) {
            Tensor in = be.fromHost(x, Shape.of(2, 3));
            Losses.mse(fc.forward(in), be.fromHost(new float[] {1f, 0f, 0f, 1f}, Shape.of(2, 2))).backward();
        }
    }

    @Test
    void gradientsAfterALazyZeroEqualGradientsFromScratch() {
        try (CountingBackend be = new CountingBackend(new CpuBackend(1));
             Linear a = Scope.outside(() -> new Linear(new Context(be, 3), 3, 2));
             Linear b = Scope.outside(() -> new Linear(new Context(be, 4), 3, 2));
             Linear fresh = Scope.outside(() -> new Linear(new Context(be, 3), 3, 2));
             SGD opt = new SGD(a.namedParameters(), 0.1)) {
            backward(a, be, X);
            backward(b, be, X);
            // a: zeroed through its optimiser, then a new backward; b: zeroed through the module, then never written
            opt.zeroGrad();
            b.zeroGrad();
            be.reset();
            backward(a, be, Y);
            // one fill: backward's seed gradient dL/dL = 1, none for the zeroed weight and bias gradients, which are overwritten
            assertEquals(1L, be.countsByOp().get("fill"), "backward filled no zeroed gradient: " + be.countsByOp());
            assertEquals(2L, be.countsByOp().get("copy"), "the first contribution is copied over each zeroed gradient: " + be.countsByOp());
            assertNull(be.countsByOp().get("add"), "nothing is added to zeros: " + be.countsByOp());
            backward(fresh, be, Y);
            for (String p : new String[] {"weight", "bias"})
                assertArrayEquals(fresh.namedParameters().get(p).grad().toFloatArray(), a.namedParameters().get(p).grad().toFloatArray(),
                        "a's " + p + " gradient after zeroGrad + backward equals one computed from scratch");

            be.reset();
            assertNull(be.countsByOp().get("fill"));
            assertArrayEquals(new float[6], b.namedParameters().get("weight").grad().toFloatArray(), "a zeroed gradient reads as zeros");
            assertEquals(1L, be.countsByOp().get("fill"), "reading it filled it, once: " + be.countsByOp());
            assertArrayEquals(new float[6], b.namedParameters().get("weight").grad().toFloatArray());
            assertEquals(1L, be.countsByOp().get("fill"));

            // Without zeroGrad, a second backward adds: gradient = 2 x the single one.
            backward(fresh, be, Y);
            float[] once = a.namedParameters().get("weight").grad().toFloatArray(), twice = fresh.namedParameters().get("weight").grad().toFloatArray();
            for (int i = 0; i < once.length; i++) assertEquals(2 * once[i], twice[i], "accumulated element " + i + " (g + g = 2g exactly)");
        }
    }
}
