package io.dltrain.runtime.nn.loss;

import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.MSELoss(), mean reduction: mean of (output - target)^2 over all elements; FP32 target of the same shape. */
public class MSELoss implements Loss {
    @Override public Tensor compute(Tensor output, Tensor target) { return Losses.mse(output, target); }

    @Override public String name() { return "mse"; }

    @Override public String toString() { return "MSELoss()"; }
}
