package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** nn.Unflatten: PyTorch's nn.Unflatten(1, dims): [N, d1*d2*...] -> [N, d1, d2, ...], values in the same order. */
class UnflattenTest {
    @Test
    void reshapesKeepsValuesAndPassesGradientsThrough() {
        try (CpuBackend be = new CpuBackend(1); Scope s = Scope.open()) {
            Tensor x = Check.param(be, new SplittableRandom(3), -1, 1, 2, 12);
            Unflatten u = new Unflatten(3, 2, 2);
            Tensor y = u.forward(x);
            assertEquals(Shape.of(2, 3, 2, 2), y.shape());
            assertArrayEquals(x.toFloatArray(), y.toFloatArray(), "row-major order is kept (a view)");
            Check.gradients("unflatten", in -> u.forward(in.get(0)), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> u.forward(be.zeros(Shape.of(2, 11))));
            assertTrue(e.getMessage().contains("[N, 12]") && e.getMessage().contains("[2, 11]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new Unflatten(3, 0));
        }
    }
}
