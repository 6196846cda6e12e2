package io.dltrain.runtime.nn;

import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/** Fully connected layer y = x W^T + b; W is [out, in] and both are initialised as PyTorch's nn.Linear does. */
public class Linear extends Module {
    private final int in, out;
    private final Tensor weight, bias;

    public Linear(Context ctx, int in, int out) { this(ctx, in, out, true); }

    public Linear(Context ctx, int in, int out, boolean bias) {
        if (in < 1 || out < 1) throw new IllegalArgumentException("Linear: features must be >= 1, got " + in + " -> " + out);
        this.in = in;
        this.out = out;
        this.weight = addParameter("weight", ctx.backend().empty(Shape.of(out, in)));
        Init.pytorchDefaultWeight(weight, ctx.rng());
        if (bias) {
            this.bias = addParameter("bias", ctx.backend().empty(Shape.of(out)));
            Init.pytorchDefaultBias(this.bias, in, ctx.rng());
        } else this.bias = null;
    }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }

    @Override
    public Tensor forward(Tensor x) {
        try {
            return Basic.linear(x, weight, bias);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }

    @Override public String toString() { return "Linear(" + in + " -> " + out + (bias == null ? ", no bias" : "") + ")"; }
}
