package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.Arrays;

/**
 * [N, d1*d2*...] to [N, d1, d2, ...]: PyTorch's {@code nn.Unflatten(1, (d1, d2, ...))}, the inverse of
 * {@link Flatten} (a view, no copy). A dense decoder uses it to give its output the image shape of its input.
 */
public class Unflatten extends Module {
    private final int[] dims;

    public Unflatten(int... dims) {
        if (dims.length == 0) throw new IllegalArgumentException("Unflatten: give at least one dimension");
        for (int d : dims) if (d < 1) throw new IllegalArgumentException("Unflatten: dimensions must be >= 1, got " + Arrays.toString(dims));
        this.dims = dims.clone();
    }

    @Override
    public Tensor forward(Tensor x) {
        int size = 1;
        for (int d : dims) size *= d;
        if (x.rank() != 2 || x.dim(1) != size)
            throw refused(new IllegalArgumentException("Unflatten" + Arrays.toString(dims) + ": input must be [N, " + size + "], got " + x.shape()));
        int[] to = new int[dims.length + 1];
        to[0] = x.dim(0);
        System.arraycopy(dims, 0, to, 1, dims.length);
        return Basic.reshape(x, Shape.of(to));
    }

    @Override public String toString() { return "Unflatten" + Arrays.toString(dims); }
}
