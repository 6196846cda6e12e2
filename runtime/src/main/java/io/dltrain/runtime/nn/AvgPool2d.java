package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.ops.Pool;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Average pooling, PyTorch's {@code nn.AvgPool2d(kernel_size, stride, padding, ceil_mode=False,
 * count_include_pad=True)}; no parameters.
 */
public class AvgPool2d extends Module {
    private final PoolParams params;

    /** count_include_pad = true and ceil_mode = false, PyTorch's defaults. */
    public AvgPool2d(int kernel, int stride, int padding) { this(kernel, stride, padding, false, true); }

    public AvgPool2d(int kernel, int stride, int padding, boolean ceilMode, boolean countIncludePad) {
        this.params = new PoolParams(PoolParams.Kind.AVG, kernel, kernel, stride, stride, padding, padding, countIncludePad, ceilMode);
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
        return "AvgPool2d(k" + params.kH() + ", s" + params.strideH() + ", p" + params.padH() + (params.ceilMode() ? ", ceil" : "")
                + (params.countIncludePad() ? "" : ", exclude pad") + ")";
    }
}
