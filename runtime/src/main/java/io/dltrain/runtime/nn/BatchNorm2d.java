package io.dltrain.runtime.nn;

import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1) over images [N, C, H, W]; see {@link BatchNorm}. */
public class BatchNorm2d extends BatchNorm {
    public BatchNorm2d(Context ctx, int channels) { this(ctx, channels, DEFAULT_EPS, DEFAULT_MOMENTUM); }

    public BatchNorm2d(Context ctx, int channels, float eps, float momentum) { super(ctx, channels, eps, momentum); }

    @Override
    protected void checkInput(Tensor x) {
        if (x.rank() != 4)
            throw new IllegalArgumentException("BatchNorm2d: expected input [N, C, H, W], got " + x.shape()
                    + " (use BatchNorm1d for [N, C] features)");
    }
}
