package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Differentiable 2-D convolution, mirroring PyTorch's {@code torch.nn.functional.conv2d(x, w, bias, stride,
 * padding, dilation, groups)}: x [N, C, H, W], w [K, C/groups, R, S], bias [K] or null, y [N, K, P, Q].
 * The backward pass calls the backend's backward-data (dx), backward-filter (dw) and bias-gradient (db) ops,
 * each only when that input needs a gradient (the first layer's dx is never computed).
 */
public final class Conv {
    private Conv() {}

    public static Tensor conv2d(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        Tensor y = x.backend().empty(outputShape(x, w, bias, p));
        x.backend().convForward(x, w, bias, y, p);
        return Autograd.record("conv2d", y, new Tensor[] {x, w, bias}, (dy, needs) -> backward(x, w, bias, p, dy, needs));
    }

    /**
     * relu(conv2d(x, w, bias)) as one op: the numbers of the two run one after the other, bit for bit, keeping x and the
     * output for backward. Run as two ops, the convolution's output stayed allocated beside the ReLU's until the step
     * ended though no backward reads it (PyTorch's ReLU(inplace=True) writes over it): half of a VGG's activations.
     * ReLU's gradient is read from the output (y &lt;= 0 exactly where x &lt;= 0, NaN where x is NaN), as PyTorch's
     * threshold_backward on an in-place ReLU does. A {@link io.dltrain.runtime.nn.Sequential} of a Conv2d and a ReLU runs it.
     */
    public static Tensor conv2dRelu(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        Backend be = x.backend();
        Tensor y = be.empty(outputShape(x, w, bias, p));
        be.convForward(x, w, bias, y, p);
        be.activationForward(Activation.RELU, y, y);
        return Autograd.record("conv2d_relu", y, new Tensor[] {x, w, bias}, (dy, needs) -> {
            Tensor dz = be.empty(y.shape());
            be.activationBackward(Activation.RELU, y, y, dy, dz);
            Tensor[] g = backward(x, w, bias, p, dz, needs);
            dz.close();
            return g;
        });
    }

    private static Tensor[] backward(Tensor x, Tensor w, Tensor bias, ConvParams p, Tensor dy, boolean[] needs) {
        Backend be = x.backend();
        Tensor dx = null, dw = null, db = null;
        if (needs[0]) {
            dx = be.empty(x.shape());
            be.convBackwardData(dy, w, dx, p);
        }
        if (needs[1]) {
            dw = be.empty(w.shape());
            be.convBackwardFilter(x, dy, dw, p, false);
        }
        if (bias != null && needs[2]) {
            db = be.empty(bias.shape());
            be.biasGrad(dy, db, false);
        }
        return new Tensor[] {dx, dw, db};
    }

    private static Shape outputShape(Tensor x, Tensor w, Tensor bias, ConvParams p) {
        if (x.rank() != 4)
            throw new IllegalArgumentException("conv2d: input must be [N, C, H, W], got " + x.shape()
                    + (x.rank() == 3 ? " (add a batch dimension of 1 for a single image)" : ""));
        if (w.rank() != 4)
            throw new IllegalArgumentException("conv2d: weight must be [K, C/groups, R, S], got " + w.shape());
        int N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), K = w.dim(0), R = w.dim(2), S = w.dim(3), G = p.groups();
        if (C % G != 0 || K % G != 0)
            throw new IllegalArgumentException("conv2d: groups=" + G + " must divide both the input channels (" + C
                    + ", input " + x.shape() + ") and the output channels (" + K + ", weight " + w.shape() + ")");
        if (w.dim(1) * G != C)
            throw new IllegalArgumentException("conv2d: input " + x.shape() + " has " + C + " channels but weight " + w.shape()
                    + " with groups=" + G + " expects " + (w.dim(1) * G) + " (weight dim 1 is C / groups): build the layer for " + C
                    + " input channels, or make the input have " + (w.dim(1) * G) + " (for a model's first layer: build the model for " + C
                    + "-channel images, or give it " + (w.dim(1) * G) + "-channel ones)");
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != K))
            throw new IllegalArgumentException("conv2d: bias " + bias.shape() + " should be [" + K + "] for weight " + w.shape());
        int P = p.outH(H, R), Q = p.outW(W, S);
        if (P < 1 || Q < 1 || H + 2 * p.padH() < p.dilationH() * (R - 1) + 1 || W + 2 * p.padW() < p.dilationW() * (S - 1) + 1)
            throw new IllegalArgumentException("conv2d: the (dilated) kernel " + R + "x" + S + " is larger than the padded input "
                    + (H + 2 * p.padH()) + "x" + (W + 2 * p.padW()) + " (input " + x.shape() + ", " + p + "); the output would be empty");
        return Shape.of(N, K, P, Q);
    }
}
