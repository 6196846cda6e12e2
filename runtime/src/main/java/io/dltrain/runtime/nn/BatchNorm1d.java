package io.dltrain.runtime.nn;

import io.dltrain.runtime.tensor.Tensor;

/** PyTorch's nn.BatchNorm1d(features, eps=1e-5, momentum=0.1) over inputs [N, C] or [N, C, L]; see {@link BatchNorm}. */
public class BatchNorm1d extends BatchNorm {
    public BatchNorm1d(Context ctx, int features) { this(ctx, features, DEFAULT_EPS, DEFAULT_MOMENTUM); }

    public BatchNorm1d(Context ctx, int features, float eps, float momentum) { super(ctx, features, eps, momentum); }

    @Override
    protected void checkInput(Tensor x) {
        if (x.rank() != 2 && x.rank() != 3)
            throw new IllegalArgumentException("BatchNorm1d: expected input [N, C] or [N, C, L], got " + x.shape()
                    + " (use BatchNorm2d for images)");
    }
}
