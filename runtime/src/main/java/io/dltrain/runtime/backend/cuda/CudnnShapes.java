package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.Shape;

import static org.bytedeco.cuda.global.cudnn.CUDNN_ACTIVATION_ELU;
import static org.bytedeco.cuda.global.cudnn.CUDNN_ACTIVATION_RELU;
import static org.bytedeco.cuda.global.cudnn.CUDNN_ACTIVATION_SIGMOID;
import static org.bytedeco.cuda.global.cudnn.CUDNN_ACTIVATION_TANH;
import static org.bytedeco.cuda.global.cudnn.CUDNN_BATCHNORM_PER_ACTIVATION;
import static org.bytedeco.cuda.global.cudnn.CUDNN_BATCHNORM_SPATIAL;
import static org.bytedeco.cuda.global.cudnn.CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
import static org.bytedeco.cuda.global.cudnn.CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING;
import static org.bytedeco.cuda.global.cudnn.CUDNN_POOLING_MAX_DETERMINISTIC;

/**
 * The pure-Java half of {@link CudnnOps}: how our tensors, {@link ConvParams}, {@link PoolParams} and
 * {@link Activation}s become cuDNN descriptor dimensions, strides and enum values, checked with the same rules and
 * messages as the CPU backend. Nothing here touches the GPU or loads a native library (the cuDNN enum constants are
 * compile-time constants that javac inlines), so all of it is tested on machines without CUDA.
 *
 * <p>Shape letters: N batch, C channels, H x W input plane, K output channels, R x S kernel, P x Q output plane,
 * G groups. Every descriptor we build is 4-D NCHW FP32.
 */
final class CudnnShapes {
    private CudnnShapes() {}

    /** Packed NCHW strides of 4-D dims (elements). */
    static int[] packedStrides(int[] dims) {
        int[] s = new int[dims.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            s[i] = Math.toIntExact(acc);
            acc *= Math.max(1, dims[i]);
        }
        return s;
    }

    /**
     * Throws when a tensor that one cuDNN call must see whole (batch-norm training and its backward: the statistics
     * span the batch) is too large for cuDNN's 32-bit element counts. CudaBackend never sends such a call (it trains
     * those batches on norm.cu); this names the problem for anyone calling CudnnOps directly.
     */
    static void checkSize(long numel, long maxElements, String op, Object shape) {
        if (numel > maxElements)
            throw new IllegalArgumentException(op + ": tensor " + shape + " has " + numel + " elements; cuDNN takes at most "
                    + count(maxElements) + " elements per tensor, and this call cannot be split (its statistics span the"
                    + " batch); CudaBackend trains such batches on its own kernels (norm.cu, see CudnnOps.cudnnTrains)");
    }

    /** 2^31-1 as people write it; other limits (lowered by tests) as numbers. */
    private static String count(long maxElements) {
        return maxElements == Integer.MAX_VALUE ? "2^31-1" : String.valueOf(maxElements);
    }

    /**
     * How many of a batch's N samples one cuDNN call gets where samples are independent (convolutions, pooling,
     * activations, softmax, batch-norm inference): at most {@link CudnnOps#MAX_N_PER_CALL}, and few enough that no
     * tensor of the call has more than {@code maxElements} elements (2^31-1 on a GPU: cuDNN's legacy descriptors count
     * elements in 32 bits and refuse larger tensors; PyTorch splits its cuDNN convolutions' batches for the same reason).
     * {@code perSample}: the elements of one sample of each tensor the call reads or writes. Throws when one sample
     * alone has too many. N >= 1.
     */
    static int samplesPerCall(String op, Object shape, int N, long maxElements, long... perSample) {
        long largest = 1;
        for (long e : perSample) largest = Math.max(largest, e);
        checkSample(largest, maxElements, op, shape);
        return (int) Math.min(Math.min(N, CudnnOps.MAX_N_PER_CALL), maxElements / largest);
    }

    /** Throws when one sample has more elements than one cuDNN call takes per tensor ({@link #samplesPerCall}). */
    static void checkSample(long perSample, long maxElements, String op, Object shape) {
        if (perSample > maxElements)
            throw new IllegalArgumentException(op + ": one sample of " + shape + " has " + perSample + " elements, more than the "
                    + count(maxElements) + " cuDNN takes per tensor (its legacy API counts elements in 32 bits), so the batch"
                    + " cannot be split small enough; make the samples smaller (image size, channels)");
    }

    // ------------------------------------------------------------------ convolution

    /** The sizes of one convolution, checked against x [N, C, H, W], w [K, C/G, R, S], y [N, K, P, Q]. */
    record Conv(int N, int C, int H, int W, int K, int R, int S, int P, int Q, int G) {
        int[] xDims() { return new int[] {N, C, H, W}; }
        int[] wDims() { return new int[] {K, C / G, R, S}; }
        int[] yDims() { return new int[] {N, K, P, Q}; }
        /** True when there is nothing to compute (cuDNN rejects zero-sized dimensions). */
        boolean empty() { return N == 0 || C == 0 || K == 0 || H == 0 || W == 0 || P <= 0 || Q <= 0; }
        /** Elements of one sample of x (and dx), and of y (and dy). */
        long xPerSample() { return (long) C * H * W; }
        long yPerSample() { return (long) K * Math.max(P, 0) * Math.max(Q, 0); }
        /** Elements of w (and dw). */
        long wElements() { return (long) K * (C / G) * R * S; }
        /** The same convolution on n samples (a slice of the batch). */
        Conv withN(int n) { return new Conv(n, C, H, W, K, R, S, P, Q, G); }
    }

    /** The geometry, checked as on the CPU ({@link Checks#convShapes}). */
    static Conv conv(String op, Shape x, Shape w, Shape y, ConvParams p) {
        Checks.convShapes(op, x, w, y, p);
        int N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
        int K = w.dim(0), R = w.dim(2), S = w.dim(3), G = p.groups();
        int P = p.outH(H, R), Q = p.outW(W, S);
        return new Conv(N, C, H, W, K, R, S, P, Q, G);
    }

    // ------------------------------------------------------------------ pooling

    /**
     * How one pooling call maps onto cuDNN. Normally x and y are described as they are and the descriptor holds
     * the window, symmetric padding and stride. cuDNN has no ceil mode and computes floor((H + 2 pad - k) / s) + 1
     * windows; when the CPU's ceil-mode rule gives one more ({@code explicitPad}), max pooling instead runs on a
     * padded copy of x, [N, C, paddedH, paddedW] filled with -infinity, x at row padH and column padW, with
     * descriptor padding 0: window i then covers input rows [i*s - padH, i*s - padH + k) exactly as on the CPU, and
     * -infinity never wins a max (a window with no input element yields -infinity on both backends).
     */
    record Pool(int mode, int kH, int kW, int padH, int padW, int strideH, int strideW, int N, int C, int H, int W,
                int P, int Q, boolean explicitPad, int paddedH, int paddedW) {
        /** Padding in the cuDNN descriptor (0 when x is padded explicitly). */
        int descPadH() { return explicitPad ? 0 : padH; }
        int descPadW() { return explicitPad ? 0 : padW; }
        /** Offset in elements of x's first element inside the padded copy. */
        long interiorOffset() { return (long) padH * paddedW + padW; }
        /** Strides of x's view inside the padded copy [N, C, paddedH, paddedW]. */
        int[] interiorStrides() { return new int[] {Math.toIntExact((long) C * paddedH * paddedW), paddedH * paddedW, paddedW, 1}; }
        int[] paddedDims() { return new int[] {N, C, paddedH, paddedW}; }
        long paddedElements() { return (long) N * C * paddedH * paddedW; }
        int[] xDims() { return new int[] {N, C, H, W}; }
        int[] yDims() { return new int[] {N, C, P, Q}; }
        boolean empty() { return N == 0 || C == 0 || H == 0 || W == 0; }
        /** Elements of one sample of x (and dx), and of y (and dy). */
        long xPerSample() { return (long) C * H * W; }
        long yPerSample() { return (long) C * P * Q; }
        /** Elements of one sample of the padded copy of x (ceil-mode max pooling; 0 without one). */
        long paddedPerSample() { return explicitPad ? (long) C * paddedH * paddedW : 0; }
        /** The same call on n samples (a slice of the batch). */
        Pool withN(int n) { return new Pool(mode, kH, kW, padH, padW, strideH, strideW, n, C, H, W, P, Q, explicitPad, paddedH, paddedW); }
    }

    /** cuDNN's own output size: floor((size + 2 pad - k) / stride) + 1. */
    static int cudnnPoolOut(int size, int k, int pad, int stride) { return (size + 2 * pad - k) / stride + 1; }

    /**
     * Whether this is average pooling where ceil mode adds a window to cuDNN's floor rule: cuDNN cannot compute it
     * (explicit zero padding would count the ceil-mode extension in the divisor or, excluding padding, count the
     * symmetric padding as input, where PyTorch clips the window to H + pad), so CudaBackend runs it on pool.cu's
     * avg_pool kernels. False for a shape that is not [N, C, H, W] (the caller's checks then report it).
     */
    static boolean avgCeilAddsWindow(Shape x, PoolParams p) {
        if (p.kind() != PoolParams.Kind.AVG || x.rank() != 4) return false;
        return p.outH(x.dim(2)) != cudnnPoolOut(x.dim(2), p.kH(), p.padH(), p.strideH())
                || p.outW(x.dim(3)) != cudnnPoolOut(x.dim(3), p.kW(), p.padW(), p.strideW());
    }

    static Pool pool(String op, Shape x, Shape y, PoolParams p) {
        Checks.poolShapes(op, x, y, p);
        int N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), P = p.outH(H), Q = p.outW(W);
        int mode = switch (p.kind()) {
            // The deterministic max mode: overlapping windows (3x3 stride 2) would otherwise add gradients with atomics.
            case MAX -> CUDNN_POOLING_MAX_DETERMINISTIC;
            case AVG -> p.countIncludePad() ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
        };
        boolean extra = P != cudnnPoolOut(H, p.kH(), p.padH(), p.strideH()) || Q != cudnnPoolOut(W, p.kW(), p.padW(), p.strideW());
        if (!extra)
            return new Pool(mode, p.kH(), p.kW(), p.padH(), p.padW(), p.strideH(), p.strideW(), N, C, H, W, P, Q, false, H, W);
        if (p.kind() == PoolParams.Kind.AVG)
            // avgCeilAddsWindow: CudaBackend sends these to pool.cu and never here.
            throw new UnsupportedOperationException(op + ": average pooling with ceil_mode=True where ceil mode adds a window ("
                    + "input " + x + ", " + p + ", output " + P + "x" + Q + " instead of cuDNN's "
                    + cudnnPoolOut(H, p.kH(), p.padH(), p.strideH()) + "x" + cudnnPoolOut(W, p.kW(), p.padW(), p.strideW())
                    + ") has no cuDNN equivalent; CudaBackend runs it on pool.cu's avg_pool kernels");
        int hp = Math.max(H + 2 * p.padH(), (P - 1) * p.strideH() + p.kH());
        int wp = Math.max(W + 2 * p.padW(), (Q - 1) * p.strideW() + p.kW());
        return new Pool(mode, p.kH(), p.kW(), p.padH(), p.padW(), p.strideH(), p.strideW(), N, C, H, W, P, Q, true, hp, wp);
    }

    // ------------------------------------------------------------------ activations

    /** The activations cuDNN computes with PyTorch's formulas: ReLU, Sigmoid, Tanh and ELU (alpha = coef). */
    static boolean supports(Activation a) {
        return switch (a.kind()) {
            case RELU, SIGMOID, TANH, ELU -> true;
            case LEAKY_RELU, SOFTPLUS, GELU -> false;
        };
    }

    /**
     * Whether the backward of an activation {@link #supports cuDNN has} goes to cuDNN too: Sigmoid and Tanh only. ReLU's
     * and ELU's derivatives are conventions at the kink (x = 0) and at a NaN x: PyTorch, and so the CPU and our
     * {@code activation_backward_f32}, take the x &lt;= 0 branch at 0 (0 for ReLU, alpha * dy for ELU) and pass dy
     * through at a NaN, while NVIDIA's cuDNN API reference only names the functions (cudnnActivationMode_t: "Selects
     * the rectified linear function", "... the exponential linear function") and says nothing of either point, and
     * nothing checked it on a GPU (the emulated cuDNN gives 0 at a NaN). So their backward runs on our kernel, which
     * computes PyTorch's branches by construction, and only their forward (NaN propagated, CUDNN_PROPAGATE_NAN) on cuDNN.
     */
    static boolean backwardOnCudnn(Activation a) {
        // never without its forward there: leaving a kind out of supports() sends both to our kernels
        return supports(a) && switch (a.kind()) {
            case SIGMOID, TANH -> true;
            case RELU, ELU, LEAKY_RELU, SOFTPLUS, GELU -> false;
        };
    }

    static int activationMode(Activation a) {
        return switch (a.kind()) {
            case RELU -> CUDNN_ACTIVATION_RELU;
            case SIGMOID -> CUDNN_ACTIVATION_SIGMOID;
            case TANH -> CUDNN_ACTIVATION_TANH;
            case ELU -> CUDNN_ACTIVATION_ELU;
            default -> throw new IllegalArgumentException("cuDNN has no " + a.kind()
                    + " activation; the CUDA backend runs it with its own kernel (activation_forward_f32)");
        };
    }

    /**
     * cuDNN's coef: ELU's alpha; for RELU the largest double, because cuDNN's API reference (cudnnSetActivationDescriptor)
     * says "when the activation mode is set to CUDNN_ACTIVATION_RELU, this input specifies the upper bound": 0 there
     * would be a bound of 0, the largest double bounds no float (PyTorch passes std::numeric_limits<double>::max() for
     * the same reason). Unused (0) for SIGMOID and TANH.
     */
    static double activationCoef(Activation a) {
        return switch (a.kind()) {
            case ELU -> a.alpha();
            case RELU -> Double.MAX_VALUE;
            default -> 0.0;
        };
    }

    /**
     * Point-wise ops (cuDNN's activations) see a tensor of shape [d0, ...] as [d0, numel / d0, 1, 1]: the batch stays
     * cuDNN's N and everything else goes in C, as CuPy has described arrays to cuDNN's activations for years
     * (cupy/cudnn.pyx, _create_tensor_descriptor_as4darray). Earlier all elements went in N ([numel, 1, 1, 1]):
     * millions of "samples", where cuDNN has refused N >= 65536 in other calls (CudnnOps.MAX_N_PER_CALL); whether its
     * activations do is unverified, so the layout with a record of working is used, and a batch of more than
     * MAX_N_PER_CALL goes in slices all the same. A rank-0 tensor is [1, 1, 1, 1].
     */
    static int[] flatDims(Shape shape, String op) {
        long numel = shape.numel();
        int d0 = shape.rank() == 0 ? 1 : shape.dim(0);
        checkSample(numel / d0, Integer.MAX_VALUE, op, shape);
        return new int[] {d0, (int) (numel / d0), 1, 1};
    }

    // ------------------------------------------------------------------ softmax

    /**
     * Softmax over the last dimension as cuDNN's INSTANCE mode, which normalises over C*H*W per image: rows become
     * N, the last dimension C, H = W = 1. A rank-0 tensor is one row of length 1 (as CpuSoftmax). Returns null for
     * an empty tensor (nothing to do).
     */
    static int[] softmaxDims(Shape x, String op) {
        int L = x.rank() == 0 ? 1 : x.dim(-1);
        if (x.numel() == 0 || L == 0) return null;
        long rows = x.numel() / L;
        if (rows > Integer.MAX_VALUE)
            throw new IllegalArgumentException(op + ": " + x + " has " + rows + " rows (all but the last dimension); cuDNN takes"
                    + " at most 2^31-1 (reshape the input so that rows are longer)");
        return new int[] {(int) rows, L, 1, 1};
    }

    // ------------------------------------------------------------------ batch norm

    /** cuDNN mode and x's 4-D description for batch norm; the per-channel tensors are always [1, C, 1, 1]. */
    record BatchNorm(int mode, int N, int C, int inner, int[] xDims) {
        long perChannel() { return (long) N * inner; }
        /** Elements of one sample. */
        long perSample() { return (long) C * inner; }
        int[] paramDims() { return new int[] {1, C, 1, 1}; }
    }

    /**
     * [N, C] (BatchNorm1d on features) uses PER_ACTIVATION on [N, C, 1, 1], as PyTorch's cuDNN path does; any
     * higher rank uses SPATIAL with the trailing dimensions folded into H: [N, C, inner, 1] (a rank-4 input keeps
     * its [N, C, H, W]). Both give per-channel statistics over N and the trailing dimensions, like CpuNorm.
     */
    static BatchNorm batchNorm(String op, Shape x) {
        if (x.rank() < 2) throw new IllegalArgumentException(op + ": expected input [N, C] or [N, C, ...], got " + x);
        int N = x.dim(0), C = x.dim(1), inner = x.sizeFrom(2);
        if (x.rank() == 2) return new BatchNorm(CUDNN_BATCHNORM_PER_ACTIVATION, N, C, 1, new int[] {N, C, 1, 1});
        int[] dims = x.rank() == 4 ? new int[] {N, C, x.dim(2), x.dim(3)} : new int[] {N, C, inner, 1};
        return new BatchNorm(CUDNN_BATCHNORM_SPATIAL, N, C, inner, dims);
    }

    /** Checks a per-channel tensor, with CpuNorm's message. */
    static void perChannel(Shape t, String what, int C, Shape x, String op) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " is required");
        if (t.numel() != C)
            throw new IllegalArgumentException(op + ": " + what + " has shape " + t + ", expected [" + C
                    + "] (one per channel of input " + x + ")");
    }
}
