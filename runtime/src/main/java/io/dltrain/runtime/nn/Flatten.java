package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Tensor;

/** [N, d1, d2, ...] to [N, d1*d2*...]. */
public class Flatten extends Module {
    @Override
    public Tensor forward(Tensor x) {
        try {
            return Basic.flatten(x);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }
}
