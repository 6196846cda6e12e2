package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A module used twice (tied weights): PyTorch's named_parameters() lists its parameters once, under the first name,
 * while state_dict() keeps every name. namedParameters() listed them twice, so parameterCount() counted them twice
 * and an optimiser made from it could not step at all ("shares its memory with an earlier parameter").
 */
class SharedParametersTest {
    @Test
    void aModuleUsedTwiceHasItsParametersListedOnceAndTrainsOncePerStep() {
        try (CpuBackend be = new CpuBackend(1)) {
            Linear fc = Scope.outside(() -> new Linear(new Context(be, 5), 2, 2));
            try (Sequential model = new Sequential(fc, new ReLU(), fc);
                 SGD opt = new SGD(model.namedParameters(), 0.1)) {
                assertEquals(List.of("0.weight", "0.bias"), List.copyOf(model.namedParameters().keySet()));
                assertEquals(6, model.parameterCount());
                assertEquals(List.of("0.weight", "0.bias", "2.weight", "2.bias"), List.copyOf(model.stateDict().keySet()),
                        "state_dict keeps every name, as PyTorch's does");

                float[] w = fc.weight().toFloatArray();
                try (Scope s = Scope.open()) {
                    Tensor out = model.forward(be.fromHost(new float[] {1f, -2f, 0.5f, 3f}, Shape.of(2, 2)));
                    Losses.mse(out, be.fromHost(new float[] {1f, 0f, 0f, 1f}, Shape.of(2, 2))).backward();
                    float[] g = fc.weight().grad().toFloatArray();   // both uses' contributions, summed
                    opt.step();
                    float[] expected = new float[w.length];
                    for (int i = 0; i < w.length; i++) expected[i] = w[i] - 0.1f * g[i];
                    assertArrayEquals(expected, fc.weight().toFloatArray(), "one SGD update of the shared weight");
                }
            }
        }
    }

    /**
     * A layer in two models (PyTorch lets a module have two parents: a shared encoder under two heads): closing the
     * first model closed the layer too, so the second model's next forward failed, naming the first model
     * ("0.weight of a Sequential that was closed") though the second was still open. Now a model's close closes a child
     * only when no other open model holds it: the second keeps working, and its own close frees the layer, naming itself.
     */
    @Test
    void aLayerInTwoModelsStaysOpenUntilTheLastOfThemIsClosed() {
        try (CpuBackend be = new CpuBackend(1)) {
            Linear shared = Scope.outside(() -> new Linear(new Context(be, 5), 2, 2));
            Sequential first = new Sequential(shared, new ReLU());
            Sequential second = Scope.outside(() -> new Sequential(new Flatten(), shared, new Linear(new Context(be, 6), 2, 3)));
            float[] x = {1f, -2f, 0.5f, 3f};
            float[] before;
            try (Scope s = Scope.open()) { before = second.forward(be.fromHost(x, Shape.of(2, 2))).toFloatArray(); }
            Tensor firstsOwn = first.namedParameters().get("0.weight");
            first.close();
            assertTrue(firstsOwn == shared.weight() && !shared.weight().isClosed(), "the shared layer is still open: the second model holds it");
            try (Scope s = Scope.open()) {
                assertArrayEquals(before, second.forward(be.fromHost(x, Shape.of(2, 2))).toFloatArray(), "the second model after the first's close");
            }
            first.close();   // a second close of the same model must not count as another owner's release
            assertFalse(shared.weight().isClosed(), "closing the first model twice releases the layer once");
            Tensor third = second.namedParameters().get("2.weight");
            second.close();
            assertTrue(shared.weight().isClosed() && shared.bias().isClosed() && third.isClosed(), "the last owner's close frees the layer");
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> shared.weight().toFloatArray());
            assertTrue(e.getMessage().contains("1.weight of a Sequential that was closed"), e.getMessage());
        }
    }
}
