package io.dltrain.runtime.autograd;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A library user's own op (Autograd.record) whose backward function breaks record's contract is named with what to
 * return: one that returned fewer gradients than it has inputs failed with a bare "ArrayIndexOutOfBoundsException: Index
 * 1 out of bounds for length 1", one that returned null with a NullPointerException.
 */
class CustomOpMistakesTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    /** y = a * b, whose backward returns what it is given. */
    static Tensor product(Tensor a, Tensor b, Node.BackwardFn fn) {
        Tensor y = be.empty(a.shape());
        be.mul(a, b, y);
        return Autograd.record("my_product", y, new Tensor[] {a, b}, fn);
    }

    @Test
    void aBackwardReturningTheWrongNumberOfGradientsIsNamed() {
        try (Tensor a = be.fromHost(new float[] {1, 2, 3}, Shape.of(3)).requiresGrad(true); Tensor b = be.fromHost(new float[] {1, 2, 3}, Shape.of(3)).requiresGrad(true); Scope s = Scope.open()) {
            var e = assertThrows(IllegalStateException.class, () -> Basic.sum(product(a, b, (dy, needs) -> {
                Tensor da = be.empty(a.shape());
                be.mul(dy, b, da);
                return new Tensor[] {da};
            })).backward());
            assertEquals("autograd: the backward function of op 'my_product' returned 1 gradient for its 2 inputs; return an array"
                    + " of 2, in the order of the inputs given to Autograd.record, with null where needsGrad[i] is false", e.getMessage());
            e = assertThrows(IllegalStateException.class, () -> Basic.sum(product(a, b, (dy, needs) -> null)).backward());
            assertEquals("autograd: the backward function of op 'my_product' returned null for its 2 inputs; return an array"
                    + " of 2, in the order of the inputs given to Autograd.record, with null where needsGrad[i] is false", e.getMessage());
        }
    }
}
