package io.dltrain.runtime.train.usermodel;

import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Tensor;

/**
 * A user's model, for LearnerTest to define in a named module of its own that exports this package but does not open
 * it: its second layer is kept in a private field and never registered.
 */
public class Forgot extends Module {
    private final Linear a, b;

    public Forgot(Context ctx) {
        a = addModule("a", new Linear(ctx, 4, 4));
        b = new Linear(ctx, 4, 2);   // addModule forgotten
    }

    @Override public Tensor forward(Tensor x) { return b.forward(a.forward(x)); }

    @Override public void close() { super.close(); b.close(); }
}
