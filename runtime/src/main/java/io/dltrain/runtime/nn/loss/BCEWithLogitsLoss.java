package io.dltrain.runtime.nn.loss;

import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.BCEWithLogitsLoss(), mean reduction: binary cross-entropy of logits against FP32 targets in [0, 1] of the same shape, computed stably as PyTorch does, (1 - t) x - min(x, 0) + log(1 + exp(-|x|)) (which is also PyTorch's value at infinite logits: inf for x = +inf and t < 1, NaN for x = -inf). */
public class BCEWithLogitsLoss implements Loss {
    @Override public Tensor compute(Tensor output, Tensor target) { return Losses.bceWithLogits(output, target); }

    @Override public String name() { return "bce_with_logits"; }

    @Override public String toString() { return "BCEWithLogitsLoss()"; }
}
