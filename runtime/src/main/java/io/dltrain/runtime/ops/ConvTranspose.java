package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Differentiable 2-D transposed convolution, mirroring PyTorch's {@code torch.nn.functional.conv_transpose2d(x, w,
 * bias, stride, padding, output_padding, groups, dilation)}: x [N, C_in, H, W], w [C_in, C_out/groups, R, S], bias
 * [C_out] or null, y [N, C_out, H_out, W_out] with H_out = (H - 1) * stride - 2 * padding + dilation * (R - 1)
 * + output_padding + 1 (W_out likewise).
 *
 * <p>A transposed convolution is the gradient of a convolution with respect to its input: the convolution that maps
 * y [N, C_out, H_out, W_out] to x with weight w (K = C_in output channels, C_out/groups input channels per group) and
 * the same {@link ConvParams}. So it is built from the backend's convolution ops alone: the forward pass is
 * {@link Backend#convBackwardData}, dx is {@link Backend#convForward} of dy with w, and dw is
 * {@link Backend#convBackwardFilter} with dy in the role of that convolution's input and x in the role of its output.
 * output_padding only chooses H_out among the sizes that convolve back to H (it adds rows at the bottom / right that
 * no input touches, except through the bias).
 */
public final class ConvTranspose {
    private ConvTranspose() {}

    /** H_out of a transposed convolution (the inverse of {@link ConvParams#outH}). */
    public static int outH(ConvParams p, int h, int r, int outputPaddingH) {
        return (h - 1) * p.strideH() - 2 * p.padH() + p.dilationH() * (r - 1) + outputPaddingH + 1;
    }

    /** W_out of a transposed convolution. */
    public static int outW(ConvParams p, int w, int s, int outputPaddingW) {
        return (w - 1) * p.strideW() - 2 * p.padW() + p.dilationW() * (s - 1) + outputPaddingW + 1;
    }

    public static Tensor convTranspose2d(Tensor x, Tensor w, Tensor bias, ConvParams p, int outputPaddingH, int outputPaddingW) {
        if (x.rank() != 4)
            throw new IllegalArgumentException("conv_transpose2d: input must be [N, C_in, H, W], got " + x.shape()
                    + (x.rank() == 3 ? " (add a batch dimension of 1 for a single image)" : ""));
        if (w.rank() != 4)
            throw new IllegalArgumentException("conv_transpose2d: weight must be [C_in, C_out/groups, R, S], got " + w.shape());
        int N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), R = w.dim(2), S = w.dim(3), G = p.groups();
        if (w.dim(0) != C)
            throw new IllegalArgumentException("conv_transpose2d: input " + x.shape() + " has " + C + " channels but weight "
                    + w.shape() + " expects " + w.dim(0) + " (weight dim 0 is C_in): build the layer for " + C + " input channels, or make"
                    + " the input have " + w.dim(0));
        if (C % G != 0)
            throw new IllegalArgumentException("conv_transpose2d: groups=" + G + " must divide the input channels (" + C + ", input " + x.shape() + ")");
        int K = w.dim(1) * G;
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != K))
            throw new IllegalArgumentException("conv_transpose2d: bias " + bias.shape() + " should be [" + K + "] for weight " + w.shape()
                    + " with groups=" + G + " (C_out = weight dim 1 * groups)");
        checkOutputPadding(p, outputPaddingH, outputPaddingW);
        int P = outH(p, H, R, outputPaddingH), Q = outW(p, W, S, outputPaddingW);
        if (P < 1 || Q < 1)
            throw new IllegalArgumentException("conv_transpose2d: the output would be " + P + "x" + Q + " for input " + x.shape()
                    + ", kernel " + R + "x" + S + ", " + p + "; reduce the padding");
        Backend be = x.backend();
        Tensor y = be.empty(Shape.of(N, K, P, Q));
        be.convBackwardData(x, w, y, p);
        if (bias != null) be.addBias(y, bias);
        return Autograd.record("conv_transpose2d", y, new Tensor[] {x, w, bias}, (dy, needs) -> {
            Tensor dx = null, dw = null, db = null;
            if (needs[0]) {
                dx = be.empty(x.shape());
                be.convForward(dy, w, null, dx, p);
            }
            if (needs[1]) {
                dw = be.empty(w.shape());
                be.convBackwardFilter(dy, x, dw, p, false);
            }
            if (bias != null && needs[2]) {
                db = be.empty(bias.shape());
                be.biasGrad(dy, db, false);
            }
            return new Tensor[] {dx, dw, db};
        });
    }

    /**
     * PyTorch's rule is output_padding < stride or < dilation; only the first is a size the backward-data path can
     * produce (a larger one would convolve back to more than H rows), so that is the rule here.
     */
    static void checkOutputPadding(ConvParams p, int oph, int opw) {
        if (oph < 0 || opw < 0)
            throw new IllegalArgumentException("conv_transpose2d: output_padding must be >= 0, got " + oph + "x" + opw);
        if (oph >= p.strideH() || opw >= p.strideW())
            throw new IllegalArgumentException("conv_transpose2d: output_padding " + oph + "x" + opw + " must be smaller than the stride "
                    + p.strideH() + "x" + p.strideW());
    }
}
