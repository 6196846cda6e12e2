package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A name registers one parameter, buffer or child: a second registration replaced the first, whose weights were then
 * left out of parameters() (never trained), of the state_dict (never saved) and of close() (leaked), without a word.
 */
class ModuleNamesTest {
    static final class TwoHeads extends Module {
        final Linear a, b;
        TwoHeads(Context ctx) { a = addModule("fc", new Linear(ctx, 4, 4)); b = addModule("fc", new Linear(ctx, 4, 2)); }
        @Override public Tensor forward(Tensor x) { return b.forward(a.forward(x)); }
    }

    static final class Scaled extends Module {
        Scaled(CpuBackend be) { addParameter("w", be.zeros(Shape.of(2))); addBuffer("w", be.zeros(Shape.of(2))); }
        @Override public Tensor forward(Tensor x) { return x; }
    }

    static final class NullWeight extends Module {
        Tensor w;
        NullWeight() { addParameter("w", w); }   // registered before it is made
        @Override public Tensor forward(Tensor x) { return x; }
    }

    @Test
    void aNameTakenTwiceIsRefused() {
        try (CpuBackend be = new CpuBackend(1)) {
            var e = assertThrows(IllegalArgumentException.class, () -> new TwoHeads(new Context(be, 1)));
            assertEquals("TwoHeads: cannot add a child module named 'fc': a child module has that name already (the first would be dropped:"
                    + " not trained, saved or closed); give each its own name", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new Scaled(be));
            assertEquals("Scaled: cannot add a buffer named 'w': a parameter has that name already (the first would be dropped: not"
                    + " trained, saved or closed); give each its own name", e.getMessage());
        }
    }

    /**
     * A null child or tensor is refused where it is registered, naming the module and the name: Sequential(fc, null) and
     * Residual(null) were accepted, and the first parameters(), state_dict or close() threw a NullPointerException from
     * inside Module (or a Learner's constructor did, far from the mistake).
     */
    @Test
    void aNullIsRefusedWhereItIsRegistered() {
        try (CpuBackend be = new CpuBackend(1); Linear fc = new Linear(new Context(be, 1), 4, 4)) {
            var e = assertThrows(IllegalArgumentException.class, () -> new Sequential(fc, null));
            assertEquals("Sequential: cannot add a child module named '1': it is null; give a module (a Module subclass: register it after"
                    + " creating it)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new Residual(null));
            assertEquals("Residual: cannot add a child module named 'body': it is null; give a module (a Module subclass: register it after"
                    + " creating it)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, NullWeight::new);
            assertEquals("NullWeight: cannot add a parameter named 'w': it is null; give a tensor (a Module subclass: register it after"
                    + " creating it)", e.getMessage());
        }
    }
}
