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
}
