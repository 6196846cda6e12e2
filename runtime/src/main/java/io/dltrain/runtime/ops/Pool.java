package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Differentiable 2-D pooling: {@link #pool2d} mirrors PyTorch's {@code max_pool2d} / {@code avg_pool2d}
 * (kernel, stride, padding, ceil_mode, count_include_pad) and {@link #adaptiveAvgPool2d} mirrors
 * {@code adaptive_avg_pool2d}. Inputs are [N, C, H, W].
 */
public final class Pool {
    private Pool() {}

    public static Tensor pool2d(Tensor x, PoolParams p) {
        if (x.rank() != 4)
            throw new IllegalArgumentException("pool2d: input must be [N, C, H, W], got " + x.shape()
                    + (x.rank() == 3 ? " (add a batch dimension of 1 for a single image)" : ""));
        int H = x.dim(2), W = x.dim(3);
        if (H + 2 * p.padH() < p.kH() || W + 2 * p.padW() < p.kW())
            throw new IllegalArgumentException("pool2d: kernel " + p.kH() + "x" + p.kW() + " is larger than the padded input "
                    + (H + 2 * p.padH()) + "x" + (W + 2 * p.padW()) + " (input " + x.shape() + ")");
        int P = p.outH(H), Q = p.outW(W);
        if (P < 1 || Q < 1)
            throw new IllegalArgumentException("pool2d: output size " + P + "x" + Q + " is empty for input " + x.shape() + " and " + p);
        Backend be = x.backend();
        Tensor y = be.empty(Shape.of(x.dim(0), x.dim(1), P, Q));
        be.poolForward(x, y, p);
        String op = p.kind() == PoolParams.Kind.MAX ? "max_pool2d" : "avg_pool2d";
        return Autograd.record(op, y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.poolBackward(x, y, dy, dx, p);
            return new Tensor[] {dx};
        });
    }

    public static Tensor adaptiveAvgPool2d(Tensor x, int outH, int outW) {
        if (x.rank() != 4)
            throw new IllegalArgumentException("adaptiveAvgPool2d: input must be [N, C, H, W], got " + x.shape());
        if (outH < 1 || outW < 1)
            throw new IllegalArgumentException("adaptiveAvgPool2d: output size must be >= 1, got " + outH + "x" + outW);
        Backend be = x.backend();
        Tensor y = be.empty(Shape.of(x.dim(0), x.dim(1), outH, outW));
        be.adaptiveAvgPoolForward(x, y);
        return Autograd.record("adaptive_avg_pool2d", y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.adaptiveAvgPoolBackward(dy, dx);
            return new Tensor[] {dx};
        });
    }
}
