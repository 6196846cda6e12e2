package io.dltrain.runtime.nn.loss;

import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.L1Loss(), mean reduction: mean of |output - target| over all elements; FP32 target of the same shape. */
public class L1Loss implements Loss {
    @Override public Tensor compute(Tensor output, Tensor target) { return Losses.l1(output, target); }

    @Override public String name() { return "l1"; }

    @Override public String toString() { return "L1Loss()"; }
}
