package io.dltrain.runtime.backend;

/**
 * Geometry of a 2-D convolution, as cuDNN's convolution descriptor holds it.
 * Input x is [N, C, H, W], weight w is [K, C/groups, R, S], output y is [N, K, P, Q] with
 * P = (H + 2*padH - dilH*(R-1) - 1) / strideH + 1, and Q likewise.
 */
public record ConvParams(int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, int groups) {
    public ConvParams {
        if (strideH < 1 || strideW < 1) throw new IllegalArgumentException("stride must be >= 1, got " + strideH + "x" + strideW);
        if (padH < 0 || padW < 0) throw new IllegalArgumentException("padding must be >= 0, got " + padH + "x" + padW);
        if (dilationH < 1 || dilationW < 1) throw new IllegalArgumentException("dilation must be >= 1, got " + dilationH + "x" + dilationW);
        if (groups < 1) throw new IllegalArgumentException("groups must be >= 1, got " + groups);
    }

    public static ConvParams of(int stride, int pad) { return new ConvParams(stride, stride, pad, pad, 1, 1, 1); }

    public int outH(int h, int r) { return (h + 2 * padH - dilationH * (r - 1) - 1) / strideH + 1; }

    public int outW(int w, int s) { return (w + 2 * padW - dilationW * (s - 1) - 1) / strideW + 1; }
}
