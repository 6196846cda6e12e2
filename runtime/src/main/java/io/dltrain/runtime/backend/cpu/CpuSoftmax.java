package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.n;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU softmax and log-softmax over the last dimension (PyTorch's {@code softmax(x, dim=-1)} and
 * {@code log_softmax(x, dim=-1)}). A tensor of any rank is treated as rows of length {@code L = dim(-1)}; rows are
 * independent and split over {@link Parallel}. Each row subtracts its maximum before exponentiating (no overflow for
 * any finite logits) and sums in double, so a row's result does not depend on the thread count.
 */
final class CpuSoftmax {
    private CpuSoftmax() {}

    /** Row elements per parallel chunk. */
    private static final int GRAIN = 1 << 14;

    static int rowLength(Tensor t) { return t.rank() == 0 ? 1 : t.dim(-1); }

    static void forward(CpuBackend be, Tensor x, Tensor y, boolean log) {
        Checks.elementwise(log ? "logSoftmax" : "softmax", Device.CPU, x, y);
        int L = rowLength(x), rows = L == 0 ? 0 : n(x) / L;
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y);
        be.par.forRange(rows, Math.max(1, GRAIN / Math.max(1, L)), (s, e) -> {
            for (int r = s; r < e; r++) {
                int xb = xo + r * L, yb = yo + r * L;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < L; j++) max = Math.max(max, X[xb + j]);
                // A row of all -inf (everything masked) has no finite maximum; shifting by 0 then gives NaN like PyTorch.
                // A +inf maximum is subtracted as PyTorch does: inf - inf is NaN, so the whole row is NaN (shifting
                // by 0 instead left the other entries at 0, or -inf for log-softmax).
                float shift = max == Float.NEGATIVE_INFINITY ? 0f : max;
                double sum = 0;
                if (log) {
                    for (int j = 0; j < L; j++) sum += Math.exp((double) X[xb + j] - shift);
                    // (x - max) - log(sum) in double, not x - (max + log sum) in float, which would lose the
                    // small log-probabilities of large logits to rounding.
                    double logSum = Math.log(sum);
                    for (int j = 0; j < L; j++) Y[yb + j] = (float) (((double) X[xb + j] - shift) - logSum);
                } else {
                    // Keep exp(x - max) in y, then scale: one exponential per element.
                    for (int j = 0; j < L; j++) { float ez = (float) Math.exp((double) X[xb + j] - shift); Y[yb + j] = ez; sum += ez; }
                    float inv = (float) (1.0 / sum);
                    for (int j = 0; j < L; j++) Y[yb + j] *= inv;
                }
            }
        });
    }

    /**
     * softmax: dx = y * (dy - sum_j dy_j y_j); log-softmax: dx = dy - exp(y) * sum_j dy_j
     * (PyTorch's _softmax_backward_data / _log_softmax_backward_data).
     */
    static void backward(CpuBackend be, Tensor y, Tensor dy, Tensor dx, boolean log) {
        String op = log ? "logSoftmax backward" : "softmax backward";
        Checks.elementwise(op, Device.CPU, y, dy, dx);
        int L = rowLength(y), rows = L == 0 ? 0 : n(y) / L;
        float[] Y = f(y), D = f(dy), G = f(dx);
        int yo = off(y), dyo = off(dy), dxo = off(dx);
        be.par.forRange(rows, Math.max(1, GRAIN / Math.max(1, L)), (s, e) -> {
            for (int r = s; r < e; r++) {
                int yb = yo + r * L, db = dyo + r * L, gb = dxo + r * L;
                double acc = 0;
                if (log) {
                    for (int j = 0; j < L; j++) acc += D[db + j];
                    float sum = (float) acc;
                    for (int j = 0; j < L; j++) G[gb + j] = D[db + j] - (float) Math.exp(Y[yb + j]) * sum;
                } else {
                    for (int j = 0; j < L; j++) acc += (double) D[db + j] * Y[yb + j];
                    float dot = (float) acc;
                    for (int j = 0; j < L; j++) G[gb + j] = Y[yb + j] * (D[db + j] - dot);
                }
            }
        });
    }
}
