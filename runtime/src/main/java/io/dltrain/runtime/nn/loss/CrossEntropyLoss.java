package io.dltrain.runtime.nn.loss;

import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.CrossEntropyLoss(label_smoothing=eps), mean reduction: logits [N, C] against INT32 class labels [N]. */
public class CrossEntropyLoss implements Loss {
    private final float labelSmoothing;

    public CrossEntropyLoss() { this(0f); }

    public CrossEntropyLoss(float labelSmoothing) {
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new IllegalArgumentException("CrossEntropyLoss: label smoothing must be in [0, 1], got " + labelSmoothing);
        this.labelSmoothing = labelSmoothing;
    }

    public float labelSmoothing() { return labelSmoothing; }

    @Override public Tensor compute(Tensor output, Tensor target) { return Losses.crossEntropy(output, target, labelSmoothing); }

    @Override public String name() { return "cross_entropy"; }

    @Override public String toString() { return "CrossEntropyLoss(label_smoothing=" + labelSmoothing + ")"; }
}
