package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Pool;
import io.dltrain.runtime.tensor.Tensor;

/** Adaptive average pooling to a fixed output size, PyTorch's {@code nn.AdaptiveAvgPool2d((outH, outW))}; no parameters. */
public class AdaptiveAvgPool2d extends Module {
    private final int outH, outW;

    public AdaptiveAvgPool2d(int outH, int outW) {
        if (outH < 1 || outW < 1) throw new IllegalArgumentException("AdaptiveAvgPool2d: output size must be >= 1, got " + outH + "x" + outW);
        this.outH = outH;
        this.outW = outW;
    }

    @Override
    public Tensor forward(Tensor x) {
        try {
            return Pool.adaptiveAvgPool2d(x, outH, outW);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }

    @Override public String toString() { return "AdaptiveAvgPool2d(" + outH + "x" + outW + ")"; }
}
