package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;

/**
 * Differentiable structural ops: linear (GEMM + bias), add, scale by a constant, pow with a constant exponent, sum and
 * mean to one element, reshape, concatenation along channels. With {@link Sequence#mul} and the activations, scale, pow,
 * sum and mean are what a loss of one's own is built from (a weighted MSE, a focal loss): see README's "Using the library".
 * Pattern for every op in this package: check shapes with a message a person can act on, allocate the output,
 * call the backend, then {@link Autograd#record} a backward function that calls the backend's backward ops.
 */
public final class Basic {
    private Basic() {}

    /** y = x W^T + b for x [N, in], W [out, in] (PyTorch's layout), b [out] or null. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        checkLinear(x, w);
        Backend be = x.backend();
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        Tensor y = be.empty(Shape.of(n, out));
        // With a bias, one call: the CUDA backend fuses it into the GEMM (cuBLASLt epilogue), the CPU runs gemm + addBias.
        if (b != null) be.gemmBias(false, true, n, out, in, x, w, b, y);
        else be.gemm(false, true, n, out, in, 1f, x, 0, in, w, 0, in, 0f, y, 0, out);
        return Autograd.record("linear", y, new Tensor[] {x, w, b}, (dy, needs) -> linearBackward(be, x, w, b, dy, needs));
    }

    /** x [N, in] for w [out, in]; otherwise what to do about the input it got (not flattened, no batch dimension, other features). */
    private static void checkLinear(Tensor x, Tensor w) {
        if (w.rank() != 2) throw new IllegalArgumentException("linear: weight must be [out, in], got " + w.shape());
        if (x.rank() == 2 && x.dim(1) == w.dim(1)) return;
        int in = w.dim(1);
        String head = "linear: input " + x.shape() + " does not fit weight " + w.shape() + ": ";
        if (x.rank() == 2)
            throw new IllegalArgumentException(head + "the layer takes " + in + " features per sample, the input has " + x.dim(1)
                    + "; build the layer with " + x.dim(1) + " inputs, or make the one before it give " + in);
        if (x.rank() < 2) {
            long n = x.numel();
            throw new IllegalArgumentException(head + "it takes [N, " + in + "]" + (n == in
                    ? "; give a single sample a batch dimension of 1 ([1, " + in + "])"
                    : n > 0 && n % in == 0 ? "; reshape the input to [" + n / in + ", " + in + "], one sample per row"
                    : ", and the input holds " + n + " values, not a whole number of samples of " + in + "; for one sample of " + n
                      + " values, build the layer with " + n + " inputs and give it [1, " + n + "]"));
        }
        long perSample = x.shape().sizeFrom(1);
        throw new IllegalArgumentException(head + "it takes [N, " + in + "]" + (perSample == in
                ? "; flatten the input to [N, " + in + "] first (a Flatten layer before it)"
                : ", and the input holds " + perSample + " values per sample; flatten it (a Flatten layer before it) and build the layer"
                        + " with " + perSample + " inputs"));
    }

    /** dx = dy W, dW = dy^T x, db = column sums of dy, each only where needed. */
    private static Tensor[] linearBackward(Backend be, Tensor x, Tensor w, Tensor b, Tensor dy, boolean[] needs) {
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        Tensor dx = null, dw = null, db = null;
        if (needs[0]) {
            dx = be.empty(x.shape());
            be.gemm(false, false, n, in, out, 1f, dy, 0, out, w, 0, in, 0f, dx, 0, in);
        }
        if (needs[1]) {
            dw = be.empty(w.shape());
            be.gemm(true, false, out, in, n, 1f, dy, 0, out, x, 0, in, 0f, dw, 0, in);
        }
        if (b != null && needs[2]) {
            db = be.empty(b.shape());
            be.biasGrad(dy, db, false);
        }
        return new Tensor[] {dx, dw, db};
    }

    /**
     * relu(x W^T + b): a Linear followed by a ReLU as one op (Sequential fuses the pair). Forward is one
     * {@code gemmBiasRelu} (on CUDA one cuBLASLt matmul with the RELU_BIAS epilogue); the pre-activation is never
     * kept. Backward masks dy by y > 0 (the same mask as x W^T + b > 0, NaN and -0 included: ReLU maps each to
     * itself or +0) and then runs linear's backward. Without a bias: linear, then relu.
     */
    public static Tensor linearRelu(Tensor x, Tensor w, Tensor b) {
        if (b == null) return Activations.relu(linear(x, w, null));
        checkLinear(x, w);
        Backend be = x.backend();
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        Tensor y = be.empty(Shape.of(n, out));
        be.gemmBiasRelu(false, true, n, out, in, x, w, b, y);
        return Autograd.record("linear_relu", y, new Tensor[] {x, w, b}, (dy, needs) -> {
            try (Tensor dz = be.empty(y.shape())) {
                be.activationBackward(Activation.RELU, y, y, dy, dz);
                return linearBackward(be, x, w, b, dz, needs);
            }
        });
    }

    /** a + b, same shapes (residual connections). */
    public static Tensor add(Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape())) throw new IllegalArgumentException("add: shapes differ: " + a.shape() + " vs " + b.shape());
        Backend be = a.backend();
        Tensor y = be.empty(a.shape());
        be.add(a, b, y);
        return Autograd.record("add", y, new Tensor[] {a, b}, (dy, needs) -> new Tensor[] {dy, dy});
    }

    /** alpha * x, element by element (torch.mul by a Python number); subtraction is {@code add(a, scale(b, -1))}. */
    public static Tensor scale(Tensor x, float alpha) {
        Backend be = x.backend();
        Tensor y = be.empty(x.shape());
        be.scale(x, alpha, y);
        return Autograd.record("scale", y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.scale(dy, alpha, dx);
            return new Tensor[] {dx};
        });
    }

    /**
     * x^p for a constant exponent p, element by element: torch.pow(x, p) with a Python number, for a focal loss's (1 - p_t)^gamma,
     * a Charbonnier loss's (d^2 + eps^2)^0.5 or an Lp norm. PyTorch's values and gradients: p = 0 gives 1 and gradient 0,
     * p = 2 is x * x, a negative x with a non-integer p gives NaN, and 0^p for 0 < p < 1 an infinite gradient (see
     * {@link Backend#pow}).
     */
    public static Tensor pow(Tensor x, float p) {
        Backend be = x.backend();
        Tensor y = be.empty(x.shape());
        be.pow(x, p, y);
        return Autograd.record("pow", y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.powBackward(x, p, dy, dx);
            return new Tensor[] {dx};
        });
    }

    /** The sum of every element of x, a one-element tensor (shape [], as torch.sum) that stays on the device. */
    public static Tensor sum(Tensor x) { return sum("sum", x, 1f); }

    /** The mean of every element of x, a one-element tensor (shape [], as torch.mean) that stays on the device. */
    public static Tensor mean(Tensor x) {
        if (x.numel() == 0) throw new IllegalArgumentException("mean: the tensor " + x.shape() + " has no elements");
        return sum("mean", x, (float) (1.0 / x.numel()));
    }

    /**
     * alpha * (sum of x). Backward spreads alpha * dy over x's shape on the device (zeros, then dy added as the one
     * "channel" bias of a [1, 1, ...x's dimensions] view, then scaled): no read of dy back to the host, which would cost a
     * GPU a sync. The view keeps x's int dimensions, so a GPU tensor of more than 2^31-1 elements is one channel of a long
     * count, where an [n, 1] view could not hold n.
     */
    private static Tensor sum(String op, Tensor x, float alpha) {
        Backend be = x.backend();
        Tensor y = be.empty(Shape.SCALAR);
        be.sum(x, alpha, y);
        return Autograd.record(op, y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.fill(dx, 0f);
            int[] dims = x.shape().dims(), oneChannel = new int[dims.length + 2];
            oneChannel[0] = oneChannel[1] = 1;
            System.arraycopy(dims, 0, oneChannel, 2, dims.length);
            be.addBias(dx.view(Shape.of(oneChannel)), dy);
            if (alpha != 1f) be.scale(dx, alpha, dx);
            return new Tensor[] {dx};
        });
    }

    /** The same elements with a new shape (a view: no copy). */
    public static Tensor reshape(Tensor x, Shape shape) {
        Tensor y = x.view(shape);
        return Autograd.record("reshape", y, new Tensor[] {x}, (dy, needs) -> new Tensor[] {dy.view(x.shape())});
    }

    /** [N, d1, d2, ...] to [N, d1*d2*...]. */
    public static Tensor flatten(Tensor x) {
        if (x.rank() < 2) // as PyTorch's flatten(x, 1), which has no dimension 1 to start from
            throw new IllegalArgumentException("flatten: the input must be [N, ...], a batch of samples, got " + x.shape()
                    + "; give a single sample a batch dimension of 1 (reshape it to [1, ...])");
        return reshape(x, Shape.of(x.dim(0), x.shape().sizeFrom(1)));
    }

    /** Whether a and b, of one rank of at least 2, have the same size in every dimension but 1 (channels). */
    public static boolean agreeOutsideChannels(Shape a, Shape b) {
        if (a.rank() != b.rank() || a.rank() < 2) return false;
        for (int d = 0; d < a.rank(); d++) if (d != 1 && a.dim(d) != b.dim(d)) return false;
        return true;
    }

    /** Concatenation along dimension 1 (channels) of tensors that agree in every other dimension. */
    public static Tensor concatChannels(List<Tensor> xs) {
        if (xs.isEmpty()) throw new IllegalArgumentException("concat: no inputs");
        Tensor first = xs.getFirst();
        if (first.rank() < 2) throw new IllegalArgumentException("concat: the inputs must be [N, C, ...] to be joined along C, got " + first.shape());
        int n = first.dim(0), inner = first.shape().sizeFrom(2), c = 0;
        for (Tensor t : xs) {
            // every dimension but 1, not their product: [2, 8] maps and [4, 4] ones hold as many elements, and would be joined
            if (!agreeOutsideChannels(t.shape(), first.shape()))
                throw new IllegalArgumentException("concat: " + t.shape() + " does not match " + first.shape() + " outside dimension 1");
            c += t.dim(1);
        }
        Backend be = first.backend();
        Tensor y = be.empty(first.shape().withDim(1, c));
        int total = c;
        long at = 0;
        for (Tensor t : xs) {
            long block = (long) t.dim(1) * inner;
            be.copyBlocks(t, 0, block, y, at * inner, (long) total * inner, block, n);
            at += t.dim(1);
        }
        Tensor[] inputs = xs.toArray(new Tensor[0]);
        return Autograd.record("concat", y, inputs, (dy, needs) -> {
            Tensor[] g = new Tensor[inputs.length];
            long pos = 0;
            for (int i = 0; i < inputs.length; i++) {
                long block = (long) inputs[i].dim(1) * inner;
                if (needs[i]) {
                    g[i] = be.empty(inputs[i].shape());
                    be.copyBlocks(dy, pos * inner, (long) total * inner, g[i], 0, block, block, n);
                }
                pos += inputs[i].dim(1);
            }
            return g;
        });
    }
}
