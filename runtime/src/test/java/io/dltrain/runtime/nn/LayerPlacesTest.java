package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A layer that refuses its input is named by its state_dict place in any model, not only under a Sequential: in a
 * library user's own Module subclass the error named only the op ("linear: input [2, 16] does not fit weight [4, 8] ..."),
 * so with several Linear layers the reader had to work out which one from the weight's shape.
 */
class LayerPlacesTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    /** A library user's model: two Linears called from its own forward, the second built for the wrong width. */
    static final class TwoLinears extends Module {
        final Linear fc1, fc2;
        TwoLinears(Context ctx) { fc1 = addModule("fc1", new Linear(ctx, 12, 16)); fc2 = addModule("fc2", new Linear(ctx, 8, 4)); }
        @Override public Tensor forward(Tensor x) { return fc2.forward(Activations.relu(fc1.forward(x))); }
    }

    /** A user's model holding a Sequential, whose last Linear is built for the wrong width. */
    static final class WithBody extends Module {
        final Sequential body;
        WithBody(Context ctx) { body = addModule("body", new Sequential(new Linear(ctx, 12, 16), new ReLU(), new Linear(ctx, 8, 4))); }
        @Override public Tensor forward(Tensor x) { return body.forward(x); }
    }

    private static final String LINEAR_16_TO_8 = "linear: input [2, 16] does not fit weight [4, 8]: the layer takes 8 features per sample,"
            + " the input has 16; build the layer with 16 inputs, or make the one before it give 8";

    /**
     * A closed model in a hand-written loop (no Learner, which refuses it itself): its forward failed with only "tensor
     * weight [4, 8] FP32 was used after close()", naming neither the model nor the fix, and an optimiser built from it was
     * accepted, to fail the same way at its first step. The error now names the tensor's state_dict place, the model and
     * what to do; the optimiser refuses the closed parameter by name.
     */
    @Test
    void aClosedModelInAHandWrittenLoopIsNamed() {
        TwoLinears m = Scope.outside(() -> new TwoLinears(new Context(be, 1)));
        m.close();
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalStateException.class, () -> m.forward(be.zeros(Shape.of(2, 12))));
            assertEquals("tensor weight [16, 12] FP32 was used after close(): it is fc1.weight of a TwoLinears that was closed"
                    + " (Module.close(), or the try-with-resources that built it, freed its weights); close a model after its last use,"
                    + " or build it again (Checkpoint.loadInto restores saved weights)", e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> new io.dltrain.runtime.optim.SGD(m.namedParameters(), 0.1));
        assertEquals("SGD: parameter 'fc1.weight' was closed (its model's Module.close() freed its weights); build the optimiser"
                + " from an open model, and close the model after the optimiser's last step", e.getMessage());
        // a child closed on its own is named from there
        TwoLinears m2 = Scope.outside(() -> new TwoLinears(new Context(be, 2)));
        m2.fc1.close();
        try (Scope s = Scope.open()) {
            var e2 = assertThrows(IllegalStateException.class, () -> m2.forward(be.zeros(Shape.of(2, 12))));
            assertTrue(e2.getMessage().startsWith("tensor weight [16, 12] FP32 was used after close(): it is weight of a Linear that was closed"),
                    e2.getMessage());
        } finally { m2.close(); }
    }

    /** A user's model whose stateDict() override reads what it exports (a derived tensor, a check of its own). */
    static final class ReadingStateDict extends Module {
        final Linear fc = addModule("fc", new Linear(new Context(be, 3), 4, 2));
        @Override public Tensor forward(Tensor x) { return fc.forward(x); }
        @Override public java.util.Map<String, Tensor> stateDict() {
            var out = super.stateDict();
            out.values().forEach(Tensor::storage); // throws once the weights are closed
            return out;
        }
    }

    @Test
    void closingAgainAModelWhoseStateDictOverrideReadsItsWeightsIsANoOp() {
        ReadingStateDict m = Scope.outside(ReadingStateDict::new);
        m.close();
        m.close(); // try-with-resources after an explicit close(): close() must not go through the overridable stateDict()
        assertTrue(m.fc.weight().isClosed());
    }

    @Test
    void aLayerOfAUsersOwnModuleIsNamedByItsPlace() {
        try (TwoLinears m = Scope.outside(() -> new TwoLinears(new Context(be, 1))); Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(be.zeros(Shape.of(2, 12))));
            assertEquals("layer fc2 of the TwoLinears, Linear(8 -> 4), refused its input: " + LINEAR_16_TO_8, e.getMessage());
            assertEquals(LINEAR_16_TO_8, e.getCause().getMessage(), "the op's own exception is the cause");
        }
    }

    /** Each place is named once, whole, whichever of a Sequential or a user's module is outside. */
    @Test
    void nestedUserModulesAndSequentialsNameThePlaceOnce() {
        Context ctx = new Context(be, 2);
        try (Sequential outer = Scope.outside(() -> new Sequential(new Linear(ctx, 12, 12), new TwoLinears(ctx)));
             WithBody inner = Scope.outside(() -> new WithBody(ctx));
             Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> outer.forward(be.zeros(Shape.of(2, 12))));
            assertEquals("layer 1.fc2 of the Sequential, Linear(8 -> 4), refused its input: " + LINEAR_16_TO_8, e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> inner.forward(be.zeros(Shape.of(2, 12))));
            assertEquals("layer body.2 of the WithBody, Linear(8 -> 4), refused its input: " + LINEAR_16_TO_8, e.getMessage());
            // the first Linear and the ReLU run fused (one op, called by the Sequential): that refusal is named too
            e = assertThrows(IllegalArgumentException.class, () -> inner.forward(be.zeros(Shape.of(2, 5))));
            assertTrue(e.getMessage().startsWith("layer body.0 of the WithBody, Linear(12 -> 16), refused its input: linear"), e.getMessage());
        }
    }

    /** A layer on its own (in no model) keeps the op's message: it has no place to name. */
    @Test
    void aLayerInNoModelKeepsTheOpsMessage() {
        try (Linear fc = Scope.outside(() -> new Linear(new Context(be, 3), 8, 4)); Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> fc.forward(be.zeros(Shape.of(2, 16))));
            assertEquals(LINEAR_16_TO_8, e.getMessage());
        }
    }
}
