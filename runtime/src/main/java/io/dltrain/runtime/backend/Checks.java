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
