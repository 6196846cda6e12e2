package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Differentiable inverted dropout (PyTorch's {@code F.dropout(x, p, training=True)}): y = x * mask with mask 0 (with
 * probability p) or 1/(1-p). The mask is a pure function of (seed, element index), so a seed reproduces it exactly;
 * it is kept for backward, dx = dy * mask.
 */
public final class Dropouts {
    private Dropouts() {}

    public static Tensor dropout(Tensor x, float p, long seed) {
        if (!(p >= 0f && p <= 1f)) throw new IllegalArgumentException("dropout: p must be in [0, 1], got " + p);
        Backend be = x.backend();
        Tensor y = be.empty(x.shape());
        Tensor mask = be.empty(x.shape());
        be.dropoutForward(x, y, mask, p, seed);
        return Autograd.record("dropout", y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.mul(dy, mask, dx);
            return new Tensor[] {dx};
        });
    }
}
