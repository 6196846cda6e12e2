package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.ops.Pool;
import io.dltrain.runtime.tensor.Tensor;

/** Max pooling, PyTorch's {@code nn.MaxPool2d(kernel_size, stride, padding, ceil_mode=False)}; no parameters. */
public class MaxPool2d extends Module {
    private final PoolParams params;

    public MaxPool2d(int kernel, int stride, int padding) { this(kernel, stride, padding, false); }

    public MaxPool2d(int kernel, int stride, int padding, boolean ceilMode) {
        this.params = new PoolParams(PoolParams.Kind.MAX, kernel, kernel, stride, stride, padding, padding, true, ceilMode);
    }

    public PoolParams params() { return params; }

    @Override
    public Tensor forward(Tensor x) {
        try {
            return Pool.pool2d(x, params);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
    }

    @Override
    public String toString() {
        return "MaxPool2d(k" + params.kH() + ", s" + params.strideH() + ", p" + params.padH() + (params.ceilMode() ? ", ceil" : "") + ")";
    }
}
