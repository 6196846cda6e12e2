package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.ops.Conv;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * 2-D convolution layer, PyTorch's {@code nn.Conv2d}: parameters {@code weight} [K, C/groups, R, S] and
 * {@code bias} [K] (optional), initialised as PyTorch does (kaiming_uniform(a = sqrt 5) for the weight,
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias, fan_in = C/groups * R * S).
 */
public class Conv2d extends Module {
    private final int inChannels, outChannels;
    private final int kernelH, kernelW;
    private final ConvParams params;
    private final Tensor weight, bias;

    /** Square kernel, stride and padding; no dilation, one group, with bias (PyTorch's defaults). */
    public Conv2d(Context ctx, int inChannels, int outChannels, int kernel, int stride, int padding) {
        this(ctx, inChannels, outChannels, kernel, kernel, stride, stride, padding, padding, 1, 1, 1, true);
    }

    public Conv2d(Context ctx, int inChannels, int outChannels, int kernelH, int kernelW, int strideH, int strideW,
                  int padH, int padW, int dilationH, int dilationW, int groups, boolean bias) {
        checkGeometry("Conv2d", inChannels, outChannels, kernelH, kernelW, groups);
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.kernelH = kernelH;
        this.kernelW = kernelW;
        this.params = new ConvParams(strideH, strideW, padH, padW, dilationH, dilationW, groups);
        this.weight = addParameter("weight", ctx.backend().empty(Shape.of(outChannels, inChannels / groups, kernelH, kernelW)));
        Init.pytorchDefaultWeight(weight, ctx.rng());
        if (bias) {
            this.bias = addParameter("bias", ctx.backend().empty(Shape.of(outChannels)));
            Init.pytorchDefaultBias(this.bias, Init.fanIn(weight), ctx.rng());
        } else this.bias = null;
    }

    /** The checks PyTorch's _ConvNd makes: channels and kernel >= 1, groups dividing both channel counts. */
    static void checkGeometry(String layer, int inChannels, int outChannels, int kernelH, int kernelW, int groups) {
        if (inChannels < 1 || outChannels < 1)
            throw new IllegalArgumentException(layer + ": channels must be >= 1, got " + inChannels + " -> " + outChannels);
        if (kernelH < 1 || kernelW < 1) throw new IllegalArgumentException(layer + ": kernel must be >= 1, got " + kernelH + "x" + kernelW);
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new IllegalArgumentException(layer + ": groups=" + groups + " must divide in_channels=" + inChannels
                    + " and out_channels=" + outChannels);
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    public ConvParams params() { return params; }

    @Override
    public Tensor forward(Tensor x) {
        try {
            return Conv.conv2d(x, weight, bias, params);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }

    @Override
    public String toString() {
        ConvParams p = params;
        StringBuilder b = new StringBuilder("Conv2d(").append(inChannels).append(" -> ").append(outChannels);
        b.append(", k").append(kernelH == kernelW ? "" + kernelH : kernelH + "x" + kernelW);
        b.append(", s").append(p.strideH() == p.strideW() ? "" + p.strideH() : p.strideH() + "x" + p.strideW());
        b.append(", p").append(p.padH() == p.padW() ? "" + p.padH() : p.padH() + "x" + p.padW());
        if (p.dilationH() != 1 || p.dilationW() != 1)
            b.append(", d").append(p.dilationH() == p.dilationW() ? "" + p.dilationH() : p.dilationH() + "x" + p.dilationW());
        if (p.groups() != 1) b.append(", g").append(p.groups());
        if (bias == null) b.append(", no bias");
        return b.append(')').toString();
    }
}
