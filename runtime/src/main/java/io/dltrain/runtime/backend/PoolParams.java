package io.dltrain.runtime.backend;

/**
 * Geometry of 2-D pooling (cuDNN's pooling descriptor). Output size is
 * floor((H + 2*padH - kH) / strideH) + 1 (ceil when {@code ceilMode}), as in PyTorch.
 * For average pooling {@code countIncludePad} says whether padded zeros count in the divisor (PyTorch's default: true).
 */
public record PoolParams(Kind kind, int kH, int kW, int strideH, int strideW, int padH, int padW,
                         boolean countIncludePad, boolean ceilMode) {
    public enum Kind { MAX, AVG }

    public PoolParams {
        if (kH < 1 || kW < 1) throw new IllegalArgumentException("pool kernel must be >= 1, got " + kH + "x" + kW);
        if (strideH < 1 || strideW < 1) throw new IllegalArgumentException("pool stride must be >= 1, got " + strideH + "x" + strideW);
        if (padH < 0 || padW < 0 || padH * 2 > kH || padW * 2 > kW)
            throw new IllegalArgumentException("pool padding must be between 0 and half the kernel, got " + padH + "x" + padW);
    }

    public static PoolParams max(int k, int stride, int pad) { return new PoolParams(Kind.MAX, k, k, stride, stride, pad, pad, true, false); }

    public static PoolParams avg(int k, int stride, int pad) { return new PoolParams(Kind.AVG, k, k, stride, stride, pad, pad, true, false); }

    public int outH(int h) { return out(h, kH, strideH, padH); }

    public int outW(int w) { return out(w, kW, strideW, padW); }

    private int out(int size, int k, int stride, int pad) {
        int span = size + 2 * pad - k;
        int o = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
        // PyTorch: in ceil mode the last window must start inside the input or left padding.
        if (ceilMode && (o - 1) * stride >= size + pad) o--;
        return o;
    }
}
