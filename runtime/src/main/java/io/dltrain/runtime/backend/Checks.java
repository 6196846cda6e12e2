package io.dltrain.runtime.backend;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Argument checks every backend makes before it touches memory, in one place so that a bad call fails with the same
 * message on the CPU and on the GPU (ErrorParityTest makes each wrong call on both). An op checks its tensors' device
 * and type first ({@link #fp32}), then their shapes and its scalars, all before it writes, allocates or launches
 * anything. What only one backend can check stays there: label values (the CPU reads them; the GPU would need a host
 * synchronisation) and cuDNN's own limits (CudnnShapes).
 */
public final class Checks {
    private Checks() {}

    // ------------------------------------------------------------------ device and type

    /** Each tensor (null ones skipped) is an FP32 tensor on {@code device}. */
    public static void fp32(String op, Device device, Tensor... ts) {
        for (Tensor t : ts) typed(op, device, t, DType.FP32);
    }

    /** t is an INT32 tensor on {@code device}. */
    public static void int32(String op, Device device, Tensor t) { typed(op, device, t, DType.INT32); }

    private static void typed(String op, Device device, Tensor t, DType dtype) {
        if (t == null) return;
        if (t.dtype() != dtype) throw new IllegalArgumentException(op + ": expected an " + dtype + " tensor on " + device + ", got " + t);
        on(op, device, t);
    }

    /** t lives on {@code device}. */
    public static void on(String op, Device device, Tensor t) {
        if (!device.equals(t.device()))
            throw new IllegalArgumentException(op + ": expected a tensor on " + device + ", got " + t + "; copy it to " + device + " first");
    }

    /** FP32 tensors on device of one size: the element-wise ops (add, activations, softmax...), first against each other. */
    public static void elementwise(String op, Device device, Tensor first, Tensor... others) {
        fp32(op, device, first);
        fp32(op, device, others);
        for (Tensor t : others) sameSize(first, t, op);
    }

    /** A one-element FP32 output (or input: a loss gradient, a squared norm) on device. */
    public static void scalar(Tensor out, String op, Device device) {
        fp32(op, device, out);
        oneElement(out, op);
    }

    private static void oneElement(Tensor t, String op) {
        if (t.numel() < 1) throw new IllegalArgumentException(op + ": expected a one-element tensor, got " + t.shape());
    }

    /** A reduction of x into the one-element out (sum, sumSquares, clipByNorm's norm, checkFinite's flag). */
    public static void reduction(String op, Device device, Tensor x, Tensor out) {
        fp32(op, device, x);
        scalar(out, op, device);
    }

    /** a and b hold the same number of elements. */
    public static void sameSize(Tensor a, Tensor b, String op) {
        if (a.numel() != b.numel())
            throw new IllegalArgumentException(op + ": sizes differ: " + a.shape() + " vs " + b.shape());
    }

    /**
     * {@link Backend#copyBlocks}'s arguments: FP32 tensors on device, no negative size, offset or stride, and every block
     * inside its tensor. Returns false when there is nothing to copy (no block, or empty blocks).
     */
    public static boolean copyBlocks(Device device, Tensor src, long srcOffset, long srcStride, Tensor dst, long dstOffset, long dstStride,
                                     long blockLen, int count) {
        fp32("copyBlocks", device, src, dst);
        if (count < 0 || blockLen < 0 || srcOffset < 0 || srcStride < 0 || dstOffset < 0 || dstStride < 0)
            throw new IllegalArgumentException("copyBlocks: negative count " + count + ", block length " + blockLen + ", offset ("
                    + srcOffset + ", " + dstOffset + ") or stride (" + srcStride + ", " + dstStride + ")");
        if (count == 0 || blockLen == 0) return false;
        blocks("src", src, srcOffset, srcStride, blockLen, count);
        blocks("dst", dst, dstOffset, dstStride, blockLen, count);
        return true;
    }

    private static void blocks(String name, Tensor t, long offset, long stride, long blockLen, int count) {
        long end = offset + (count - 1) * stride + blockLen;
        if (end > t.numel())
            throw new IllegalArgumentException("copyBlocks: " + count + " blocks of " + blockLen + " from offset " + offset + ", stride "
                    + stride + " reach element " + end + " of " + name + " " + t.shape() + ", which has " + t.numel());
    }

    /** copy's operands: the same number of elements of the same type. */
    public static void copy(Tensor src, Tensor dst) {
        sameSize(src, dst, "copy");
        if (src.dtype() != dst.dtype()) throw new IllegalArgumentException("copy: dtypes differ: " + src.dtype() + " vs " + dst.dtype());
    }

    /** copyFromHost's source: n values from offset inside a host array of length. */
    public static void hostSource(int length, int offset, long n, String op) {
        if (offset < 0 || (long) offset + n > length)
            throw new IllegalArgumentException(op + ": needs " + n + " values from offset " + offset + " of a host array of " + length);
    }

    /** toHost's destination: a host array of length holds every element of src. */
    public static void hostDestination(int length, Tensor src) {
        if (length < src.numel()) throw new IllegalArgumentException("toHost: host array of " + length + " is shorter than " + src.shape());
    }

    /**
     * {@link Backend#gemm}'s arguments: sizes and offsets not negative, and for each of A, B and C as stored (A is
     * k x m when transposed, m x k when not; B likewise k x n or n x k; C m x n) a row stride of at least its columns and
     * every element the product reads or writes inside its tensor. BLAS and cuBLAS check none of this against the
     * memory they are handed: a call past the end would read or write whatever lies beyond.
     */
    public static void gemm(boolean transA, boolean transB, int m, int n, int k, Tensor a, long aOffset, int lda,
                            Tensor b, long bOffset, int ldb, Tensor c, long cOffset, int ldc) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("gemm: negative size m=" + m + " n=" + n + " k=" + k);
        matrix("A", "transA", transA, a, aOffset, lda, transA ? k : m, transA ? m : k, m, k);
        matrix("B", "transB", transB, b, bOffset, ldb, transB ? n : k, transB ? k : n, k, n);
        matrix("C", null, false, c, cOffset, ldc, m, n, m, n);
    }

    private static void matrix(String name, String transName, boolean trans, Tensor t, long offset, int ld, int rows, int cols, int opRows, int opCols) {
        if (offset < 0) throw new IllegalArgumentException("gemm: negative offset " + offset + " into " + which(name, transName, trans, t, opRows, opCols));
        if (rows == 0 || cols == 0) return;
        if (ld < cols)
            throw new IllegalArgumentException("gemm: ld" + name.toLowerCase(java.util.Locale.ROOT) + " " + ld + " is less than the " + cols
                    + " columns of " + which(name, transName, trans, t, opRows, opCols) + " as stored, " + rows + " x " + cols);
        long last = offset + (long) (rows - 1) * ld + cols;
        if (last > t.numel())
            throw new IllegalArgumentException("gemm: " + which(name, transName, trans, t, opRows, opCols) + " holds " + t.numel()
                    + " elements, but its " + rows + " x " + cols + " rows at offset " + offset + ", stride " + ld + " reach element " + last);
    }

    /** A gemm operand in an error message (built only when one is thrown: gemm runs on every layer of every step). */
    private static String which(String name, String transName, boolean trans, Tensor t, int opRows, int opCols) {
        return name + " " + t.shape() + (transName == null ? "" : " (" + transName + "=" + trans + ", op(" + name + ") " + opRows + " x " + opCols + ")");
    }

    /**
     * The shapes of {@link Backend#gemmBias} and {@link Backend#gemmBiasRelu}: op(A) m x k and op(B) k x n dense in A and
     * B, C [m, n], bias [n]; checked before anything is written.
     */
    public static void gemmBias(String op, Device device, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
        fp32(op, device, a, b, bias, c);
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException(op + ": negative size m=" + m + " n=" + n + " k=" + k);
        if (a.numel() < (long) m * k || b.numel() < (long) k * n)
            throw new IllegalArgumentException(op + ": A " + a.shape() + " or B " + b.shape() + " is smaller than op(A) " + m + " x " + k
                    + " and op(B) " + k + " x " + n);
        if (c.rank() != 2 || c.dim(0) != m || c.dim(1) != n)
            throw new IllegalArgumentException(op + ": C must be [" + m + ", " + n + "], got " + c.shape());
        if (bias.numel() != n)
            throw new IllegalArgumentException(op + ": bias " + bias.shape() + " does not match the " + n + " columns of C " + c.shape());
    }

    /**
     * The LSTM cell ops' shapes: gates [N, 4H] and every other tensor [N, H] (null ones are skipped). Returns {N, H}.
     */
    public static int[] lstmCell(String op, Device device, Tensor gates, Tensor dgates, Tensor... hidden) {
        fp32(op, device, gates, dgates);
        fp32(op, device, hidden);
        int[] nh = lstmCell(op, gates, hidden);
        if (dgates != null) sameSize(gates, dgates, op);
        return nh;
    }

    /** {@link #lstmCell(String, Device, Tensor, Tensor, Tensor...)}'s shape checks alone (for autograd, before any op runs). */
    public static int[] lstmCell(String op, Tensor gates, Tensor... hidden) {
        if (gates.rank() != 2 || gates.dim(1) % 4 != 0 || gates.dim(1) == 0)
            throw new IllegalArgumentException(op + ": gates must be [N, 4H] (i, f, g, o pre-activations), got " + gates.shape());
        int n = gates.dim(0), h = gates.dim(1) / 4;
        for (Tensor t : hidden)
            if (t != null && (t.rank() != 2 || t.dim(0) != n || t.dim(1) != h))
                throw new IllegalArgumentException(op + ": expected [" + n + ", " + h + "] for gates " + gates.shape() + ", got " + t.shape());
        return new int[] {n, h};
    }

    /**
     * logits are [N, C] and labels INT32 [N]; returns {N, C}. Label values are the caller's to check (the CPU checks
     * every one; a device backend does not, as that would need a host synchronisation per step).
     */
    public static int[] logitsAndLabels(Tensor logits, Tensor labels, String op) {
        if (logits.rank() != 2)
            throw new IllegalArgumentException(op + ": expected logits [N, C], got " + logits.shape());
        int N = logits.dim(0), C = logits.dim(1);
        if (labels.dtype() != DType.INT32)
            throw new IllegalArgumentException(op + ": labels must be INT32 class indices, got " + labels.dtype() + " " + labels.shape());
        if (labels.numel() != N)
            throw new IllegalArgumentException(op + ": labels " + labels.shape() + " do not match the " + N + " rows of logits " + logits.shape());
        return new int[] {N, C};
    }

    /** Label smoothing in [0, 1]. */
    public static void smoothing(float eps, String op) {
        if (!(eps >= 0f && eps <= 1f)) throw new IllegalArgumentException(op + ": label smoothing must be in [0, 1], got " + eps);
    }

    /** An element-wise loss's prediction and FP32 target hold the same number of elements. */
    public static void lossPair(Tensor pred, Tensor target, LossKind kind) {
        if (pred.numel() != target.numel())
            throw new IllegalArgumentException(kind + " loss: prediction " + pred.shape() + " and target " + target.shape()
                    + " have different sizes");
        if (target.dtype() != DType.FP32)
            throw new IllegalArgumentException(kind + " loss: target must be FP32, got " + target.dtype());
    }

    // ------------------------------------------------------------------ bias, activations, dropout

    /** addBias / biasGrad: y (or dy) of rank >= 2 and a bias of one element per channel (dimension 1). */
    public static void bias(String op, Device device, Tensor y, Tensor bias) {
        fp32(op, device, y, bias);
        if (y.rank() < 2) throw new IllegalArgumentException(op + ": expected a tensor of rank >= 2 ([N, C, ...]), got " + y.shape());
        if (bias.numel() != y.dim(1))
            throw new IllegalArgumentException(op + ": bias " + bias.shape() + " does not match the " + y.dim(1) + " channels of " + y.shape());
    }

    /** An activation's tensors (x first) and parameter: Softplus needs a finite beta > 0. */
    public static void activation(String op, Device device, Activation act, Tensor x, Tensor... others) {
        elementwise(op, device, x, others);
        if (act.kind() == Activation.Kind.SOFTPLUS && (!(act.alpha() > 0f) || Float.isInfinite(act.alpha())))
            throw new IllegalArgumentException(op + ": Softplus beta must be a positive number, got " + act.alpha());
    }

    /** Dropout: x, y and mask of one size, p in [0, 1]. */
    public static void dropout(Device device, Tensor x, Tensor y, Tensor mask, float p) {
        elementwise("dropout", device, x, y);
        elementwise("dropout mask", device, x, mask);
        if (!(p >= 0f && p <= 1f)) throw new IllegalArgumentException("dropout: p must be in [0, 1], got " + p);
    }

    // ------------------------------------------------------------------ convolution and pooling

    /**
     * A convolution's tensors as forward sees them: x [N, C, H, W], w [K, C/groups, R, S], y [N, K, P, Q] with P x Q the
     * output size of p (backward-data passes dx, w, dy; backward-filter x, dw, dy), FP32 on device.
     */
    public static void conv(String op, Device device, Tensor x, Tensor w, Tensor y, ConvParams p) {
        fp32(op, device, x, w, y);
        convShapes(op, x.shape(), w.shape(), y.shape(), p);
    }

    /** {@link #conv}'s shape checks alone. */
    public static void convShapes(String op, Shape xs, Shape ws, Shape ys, ConvParams p) {
        if (xs.rank() != 4 || ws.rank() != 4 || ys.rank() != 4)
            throw new IllegalArgumentException(op + ": expected x [N, C, H, W], w [K, C/groups, R, S] and y [N, K, P, Q], got "
                    + xs + ", " + ws + ", " + ys);
        int N = xs.dim(0), C = xs.dim(1), H = xs.dim(2), W = xs.dim(3);
        int K = ws.dim(0), R = ws.dim(2), S = ws.dim(3), G = p.groups();
        if (C % G != 0 || K % G != 0 || ws.dim(1) * G != C)
            throw new IllegalArgumentException(op + ": input " + xs + " and weight " + ws + " do not fit groups=" + G
                    + " (need C % groups == 0, K % groups == 0 and weight dim 1 == C / groups)");
        if (H + 2 * p.padH() < p.dilationH() * (R - 1) + 1 || W + 2 * p.padW() < p.dilationW() * (S - 1) + 1)
            throw new IllegalArgumentException(op + ": the (dilated) kernel " + R + "x" + S + " does not fit the padded input "
                    + xs + " with " + p);
        int P = p.outH(H, R), Q = p.outW(W, S);
        if (ys.dim(0) != N || ys.dim(1) != K || ys.dim(2) != P || ys.dim(3) != Q)
            throw new IllegalArgumentException(op + ": output " + ys + " should be [" + N + ", " + K + ", " + P + ", " + Q + "] for input "
                    + xs + " and weight " + ws + " with " + p);
    }

    /** convForward: {@link #conv}, and a bias (when given) of one element per output channel. */
    public static void convForward(Device device, Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) {
        conv("convForward", device, x, w, y, p);
        fp32("convForward", device, bias);
        if (bias != null && bias.numel() != w.dim(0))
            throw new IllegalArgumentException("convForward: bias " + bias.shape() + " should have " + w.dim(0) + " elements (one per output channel)");
    }

    /** x is [N, C, H, W] and y [N, C, P, Q] with P x Q the (non-empty) output size of p on x. */
    public static void pool(String op, Device device, Tensor x, Tensor y, PoolParams p) {
        fp32(op, device, x, y);
        poolShapes(op, x.shape(), y.shape(), p);
    }

    /** {@link #pool}'s shape checks alone. */
    public static void poolShapes(String op, Shape xs, Shape ys, PoolParams p) {
        if (xs.rank() != 4) throw new IllegalArgumentException(op + ": expected x [N, C, H, W], got " + xs);
        int N = xs.dim(0), C = xs.dim(1), P = p.outH(xs.dim(2)), Q = p.outW(xs.dim(3));
        if (ys.rank() != 4 || ys.dim(0) != N || ys.dim(1) != C || ys.dim(2) != P || ys.dim(3) != Q)
            throw new IllegalArgumentException(op + ": input " + xs + " and output " + ys + " do not match (expected output ["
                    + N + ", " + C + ", " + P + ", " + Q + "])");
        if (P < 1 || Q < 1) throw new IllegalArgumentException(op + ": output size " + P + "x" + Q + " is empty for input " + xs + " and " + p);
    }

    /** poolBackward: {@link #pool} on x and dy, dx shaped as x, y as dy. */
    public static void poolBackward(Device device, Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) {
        String op = "poolBackward";
        fp32(op, device, y, dx);
        pool(op, device, x, dy, p);
        if (!dx.shape().equals(x.shape())) throw new IllegalArgumentException(op + ": dx " + dx.shape() + " should match x " + x.shape());
        if (!y.shape().equals(dy.shape())) throw new IllegalArgumentException(op + ": y " + y.shape() + " and dy " + dy.shape() + " differ");
    }

    /** Adaptive average pooling: the input big [N, C, H, W] and the output small [N, C, outH, outW]. */
    public static void adaptiveAvgPool(boolean backward, Device device, Tensor big, Tensor small) {
        String op = backward ? "adaptiveAvgPoolBackward" : "adaptiveAvgPoolForward";
        fp32(op, device, big, small);
        if (big.rank() != 4 || small.rank() != 4 || big.dim(0) != small.dim(0) || big.dim(1) != small.dim(1))
            throw new IllegalArgumentException(backward
                    ? op + ": expected dy [N, C, outH, outW] and dx [N, C, H, W], got " + small.shape() + ", " + big.shape()
                    : op + ": expected x [N, C, H, W] and y [N, C, outH, outW], got " + big.shape() + ", " + small.shape());
    }

    // ------------------------------------------------------------------ batch normalisation

    /** x [N, C] or [N, C, ...]; returns C. */
    private static int channels(String op, Tensor x) {
        if (x.rank() < 2) throw new IllegalArgumentException(op + ": expected input [N, C] or [N, C, ...], got " + x.shape());
        return x.dim(1);
    }

    /** Per-channel FP32 tensors on device, given as tensor, name, tensor, name...: each required, with C elements. */
    private static void perChannel(String op, Device device, Tensor x, int C, Object... tensorsAndNames) {
        for (int i = 0; i < tensorsAndNames.length; i += 2) {
            Tensor t = (Tensor) tensorsAndNames[i];
            String what = (String) tensorsAndNames[i + 1];
            if (t == null) throw new IllegalArgumentException(op + ": " + what + " is required");
            fp32(op, device, t);
            if (t.numel() != C)
                throw new IllegalArgumentException(op + ": " + what + " has shape " + t.shape() + ", expected [" + C
                        + "] (one per channel of input " + x.shape() + ")");
        }
    }

    private static void eps(String op, float eps) {
        if (!(eps > 0f) || Float.isInfinite(eps))
            throw new IllegalArgumentException(op + ": eps must be a positive number, got " + eps + " (PyTorch's default is 1e-5)");
    }

    /** Batch-norm training: per-channel tensors of C elements, y the size of x, more than one value per channel, eps > 0. */
    public static void batchNormTraining(Device device, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        String op = "batchNorm (training)";
        int C = channels(op, x);
        perChannel(op, device, x, C, gamma, "gamma (weight)", beta, "beta (bias)", runningMean, "running_mean",
                runningVar, "running_var", saveMean, "saveMean", saveInvStd, "saveInvStd");
        elementwise(op, device, x, y);
        if ((long) x.dim(0) * x.shape().sizeFrom(2) <= 1)
            throw new IllegalArgumentException(op + ": expected more than 1 value per channel when training, got input "
                    + x.shape() + " (use a batch of at least 2, or eval mode)");
        eps(op, eps);
    }

    /** Batch-norm inference: per-channel tensors of C elements, y the size of x, eps > 0. */
    public static void batchNormInference(Device device, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                          float eps, Tensor y) {
        String op = "batchNorm (inference)";
        int C = channels(op, x);
        perChannel(op, device, x, C, gamma, "gamma (weight)", beta, "beta (bias)", runningMean, "running_mean", runningVar, "running_var");
        elementwise(op, device, x, y);
        eps(op, eps);
    }

    /** Batch-norm backward: per-channel tensors of C elements, dy and dx the size of x. */
    public static void batchNormBackward(Device device, Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                         Tensor dx, Tensor dgamma, Tensor dbeta) {
        String op = "batchNorm backward";
        int C = channels(op, x);
        perChannel(op, device, x, C, gamma, "gamma (weight)", saveMean, "saveMean", saveInvStd, "saveInvStd",
                dgamma, "dgamma", dbeta, "dbeta");
        elementwise(op, device, x, dy, dx);
    }

    // ------------------------------------------------------------------ losses, metrics, optimisers

    /**
     * crossEntropyForward (probs, loss) or crossEntropyBackward (dlogits, dloss): smoothing in [0, 1], logits [N, C] and
     * INT32 labels [N], {@code same} the size of logits, a one-element {@code scalar}; returns {N, C}.
     */
    public static int[] crossEntropy(String op, Device device, Tensor logits, Tensor labels, float labelSmoothing, Tensor same, Tensor scalar) {
        smoothing(labelSmoothing, op);
        int[] nc = logitsAndLabels(logits, labels, op);
        int32(op, device, labels);
        elementwise(op, device, logits, same);
        scalar(scalar, op, device);
        return nc;
    }

    /** lossForward (grad null) or lossBackward: pred and target of one size, a one-element loss (or dloss), dpred as pred. */
    public static void loss(LossKind kind, Device device, Tensor pred, Tensor target, Tensor scalar, Tensor grad) {
        lossPair(pred, target, kind);
        String op = kind + (grad == null ? " loss" : " loss backward");
        fp32(op, device, pred, target);
        if (grad != null) elementwise(op, device, pred, grad);
        scalar(scalar, op, device);
    }

    /**
     * countTopK: k >= 1, logits [N, C], INT32 labels [N], a one-element count; returns {N, C}. The count may be INT32 on
     * the CPU only (an exact counter; the CUDA kernel adds into FP32, and says so for an INT32 count).
     */
    public static int[] countTopK(Device device, Tensor logits, Tensor labels, int k, Tensor count) {
        String op = "countTopK";
        if (k < 1) throw new IllegalArgumentException(op + ": k must be >= 1, got " + k);
        int[] nc = logitsAndLabels(logits, labels, op);
        fp32(op, device, logits);
        int32(op, device, labels);
        on(op, device, count);
        oneElement(count, op);
        return nc;
    }

    /** oneHot: INT32 labels [N], FP32 out [N, C] with C >= 1; returns {N, C}. */
    public static int[] oneHot(Device device, Tensor labels, Tensor out) {
        String op = "oneHot";
        int32(op, device, labels);
        fp32(op, device, out);
        if (labels.rank() != 1)
            throw new IllegalArgumentException(op + ": expected labels [N], got " + labels.shape());
        if (out.rank() != 2 || out.dim(1) < 1)
            throw new IllegalArgumentException(op + ": expected out [N, C] with C >= 1 classes, got " + out.shape());
        if (out.dim(0) != labels.dim(0))
            throw new IllegalArgumentException(op + ": labels " + labels.shape() + " do not match the " + out.dim(0) + " rows of out " + out.shape());
        return new int[] {labels.dim(0), out.dim(1)};
    }

    /**
     * The state buffers each optimiser reads, by index into {@link Backend#optimizerStep}'s state array (null: an index
     * this configuration does not use).
     */
    public static String[] optimizerState(OptimizerHyper hyper) {
        return switch (hyper) {
            case OptimizerHyper.Sgd h -> h.momentum() == 0f ? new String[0] : new String[] {"SGD momentum buffer"};
            case OptimizerHyper.Adagrad h -> new String[] {"Adagrad sum"};
            case OptimizerHyper.Adadelta h -> new String[] {"Adadelta square_avg", "Adadelta acc_delta"};
            case OptimizerHyper.RmsProp h -> new String[] {"RMSprop square_avg",
                    h.momentum() > 0f ? "RMSprop momentum_buffer" : null, h.centered() ? "RMSprop grad_avg" : null};
            case OptimizerHyper.Adam h -> new String[] {"Adam exp_avg", "Adam exp_avg_sq"};
        };
    }

    /** optimizerStep: param, grad and every state buffer the optimiser reads, FP32 of one size on device; step >= 1. */
    public static void optimizerStep(Device device, OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, long step) {
        String op = "optimizerStep";
        fp32(op, device, param, grad);
        sameSize(param, grad, "optimizerStep (param vs grad)");
        if (step < 1) throw new IllegalArgumentException("optimizerStep: step counts updates from 1, got " + step);
        if (state == null) throw new IllegalArgumentException("optimizerStep: state array is null; pass the optimiser's buffers (may be empty for plain SGD)");
        String[] need = optimizerState(hyper);
        for (int s = 0; s < need.length; s++) {
            if (need[s] == null) continue;
            if (state.length <= s || state[s] == null)
                throw new IllegalArgumentException("optimizerStep: missing state[" + s + "] (" + need[s] + ") for param " + param.shape());
            fp32(op, device, state[s]);
            if (state[s].numel() != param.numel()) sameSize(param, state[s], "optimizerStep (" + need[s] + ")"); // the text only when it fails
        }
    }

    /**
     * optimizerStepAll: one grad and one state array per parameter, each parameter as {@link #optimizerStep} checks it,
     * and no parameter twice (two tensors that start at the same element of the same storage), all before any update.
     */
    public static void optimizerGroup(Device device, OptimizerHyper hyper, List<Tensor> params, List<Tensor> grads, List<Tensor[]> states, long step) {
        if (params.size() != grads.size() || params.size() != states.size())
            throw new IllegalArgumentException("optimizerStepAll: " + params.size() + " params, " + grads.size() + " grads and "
                    + states.size() + " state arrays; pass one of each per parameter");
        Set<List<Object>> seen = new HashSet<>();
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            optimizerStep(device, hyper, p, grads.get(i), states.get(i), step);
            if (p.numel() > 0 && !seen.add(List.of(new Identity(p.storage()), p.offset())))
                throw new IllegalArgumentException("optimizerStepAll: params[" + i + "] " + p
                        + " shares its memory with an earlier parameter of the group; a parameter may be updated once per step");
        }
    }

    /** A key that compares by identity (storages may define equals otherwise). */
    private record Identity(Object o) {
        @Override public boolean equals(Object other) { return other instanceof Identity i && i.o == o; }
        @Override public int hashCode() { return System.identityHashCode(o); }
    }
}
