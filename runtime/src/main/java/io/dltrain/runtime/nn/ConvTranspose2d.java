package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.ops.ConvTranspose;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * 2-D transposed convolution layer ("deconvolution"), PyTorch's {@code nn.ConvTranspose2d}: parameters
 * {@code weight} [C_in, C_out/groups, R, S] and {@code bias} [C_out] (optional), initialised as PyTorch does
 * (kaiming_uniform(a = sqrt 5) for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias, where PyTorch's
 * fan_in of this weight is its dim 1 * R * S = C_out/groups * R * S). Used to upsample, e.g. in a convolutional
 * decoder: kernel 3, stride 2, padding 1, output_padding 1 doubles the height and width.
 */
public class ConvTranspose2d extends Module {
    private final int inChannels, outChannels;
    private final int kernelH, kernelW, outputPaddingH, outputPaddingW;
    private final ConvParams params;
    private final Tensor weight, bias;

    /** Square kernel, stride, padding and output_padding; no dilation, one group, with bias (PyTorch's defaults). */
    public ConvTranspose2d(Context ctx, int inChannels, int outChannels, int kernel, int stride, int padding, int outputPadding) {
        this(ctx, inChannels, outChannels, kernel, kernel, stride, stride, padding, padding, outputPadding, outputPadding, 1, 1, 1, true);
    }

    public ConvTranspose2d(Context ctx, int inChannels, int outChannels, int kernelH, int kernelW, int strideH, int strideW,
                           int padH, int padW, int outputPaddingH, int outputPaddingW, int dilationH, int dilationW,
                           int groups, boolean bias) {
        Conv2d.checkGeometry("ConvTranspose2d", inChannels, outChannels, kernelH, kernelW, groups);
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.kernelH = kernelH;
        this.kernelW = kernelW;
        this.params = new ConvParams(strideH, strideW, padH, padW, dilationH, dilationW, groups);
        if (outputPaddingH < 0 || outputPaddingW < 0 || outputPaddingH >= strideH || outputPaddingW >= strideW)
            throw new IllegalArgumentException("ConvTranspose2d: output_padding " + outputPaddingH + "x" + outputPaddingW
                    + " must be >= 0 and smaller than the stride " + strideH + "x" + strideW);
        this.outputPaddingH = outputPaddingH;
        this.outputPaddingW = outputPaddingW;
        this.weight = addParameter("weight", ctx.backend().empty(Shape.of(inChannels, outChannels / groups, kernelH, kernelW)));
        Init.pytorchDefaultWeight(weight, ctx.rng());
        if (bias) {
            this.bias = addParameter("bias", ctx.backend().empty(Shape.of(outChannels)));
            Init.pytorchDefaultBias(this.bias, Init.fanIn(weight), ctx.rng());
        } else this.bias = null;
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    public ConvParams params() { return params; }

    @Override
    public Tensor forward(Tensor x) {
        try {
            return ConvTranspose.convTranspose2d(x, weight, bias, params, outputPaddingH, outputPaddingW);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }

    @Override
    public String toString() {
        ConvParams p = params;
        StringBuilder b = new StringBuilder("ConvTranspose2d(").append(inChannels).append(" -> ").append(outChannels);
        b.append(", k").append(kernelH == kernelW ? "" + kernelH : kernelH + "x" + kernelW);
        b.append(", s").append(p.strideH() == p.strideW() ? "" + p.strideH() : p.strideH() + "x" + p.strideW());
        b.append(", p").append(p.padH() == p.padW() ? "" + p.padH() : p.padH() + "x" + p.padW());
        if (outputPaddingH != 0 || outputPaddingW != 0)
            b.append(", op").append(outputPaddingH == outputPaddingW ? "" + outputPaddingH : outputPaddingH + "x" + outputPaddingW);
        if (p.dilationH() != 1 || p.dilationW() != 1)
            b.append(", d").append(p.dilationH() == p.dilationW() ? "" + p.dilationH() : p.dilationH() + "x" + p.dilationW());
        if (p.groups() != 1) b.append(", g").append(p.groups());
        if (bias == null) b.append(", no bias");
        return b.append(')').toString();
    }
}
