package io.dltrain.runtime.nn.loss;

import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.BCEWithLogitsLoss(), mean reduction: binary cross-entropy of logits against FP32 targets in [0, 1] of the same shape, computed stably as max(x, 0) - x t + log(1 + exp(-|x|)). */
public class BCEWithLogitsLoss implements Loss {
    @Override public Tensor compute(Tensor output, Tensor target) { return Losses.bceWithLogits(output, target); }

    @Override public String name() { return "bce_with_logits"; }

    @Override public String toString() { return "BCEWithLogitsLoss()"; }
}
