package io.dltrain.runtime.backend;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Argument checks every backend makes before it touches memory, in one place so that a bad call fails with the same
 * message on the CPU and on the GPU (tests compare them).
 */
public final class Checks {
    private Checks() {}

    /** a and b hold the same number of elements. */
    public static void sameSize(Tensor a, Tensor b, String op) {
        if (a.numel() != b.numel())
            throw new IllegalArgumentException(op + ": sizes differ: " + a.shape() + " vs " + b.shape());
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
    public static void gemmBias(String op, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
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
}
