package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU 2-D convolution: forward, backward-data and backward-filter (cuDNN's three convolution calls, with the
 * semantics of PyTorch's {@code torch.nn.functional.conv2d} and its autograd), by im2col + OpenBLAS SGEMM.
 *
 * <p>Layout: x [N, C, H, W], w [K, C/G, R, S], y [N, K, P, Q]; per group g the weights are a matrix
 * W_g [K/G, (C/G)*R*S] and one image's im2col buffer is col [(C/G)*R*S, P*Q], so y_g = W_g col (forward),
 * dcol = W_g^T dy_g followed by col2im (backward data) and dW_g += dy_g col^T (backward filter).
 * 1x1 convolutions with stride 1 and no padding skip im2col: the input plane already is the col matrix.
 *
 * <p>Parallelism: when the batch has at least as many images as threads, each {@link Parallel} chunk takes a
 * contiguous range of images and calls the single-threaded {@link CpuGemm#gemmSerial} on them, with its own
 * scratch buffers. The filter gradient sums per-chunk partials in chunk order, so it is bit-identical from run to
 * run for a given thread count. Small batches (inference on one image) instead go image by image and split each
 * GEMM over the threads.
 *
 * <p>To keep GEMMs from being too thin when an image's output plane is small (P*Q in the tens or hundreds),
 * several images share one GEMM: their columns sit side by side in the col buffer (col [rows, nb*P*Q]).
 */
public final class CpuConv {
    private CpuConv() {}

    /** Target size in floats of one chunk's col buffer when several images share one GEMM (about L2-sized). */
    static final int COL_TARGET = 1 << 16;

    /** Per-thread scratch arrays, grown on demand and reused across calls (no allocation in steady state). */
    static final class Scratch {
        private float[] col = new float[0], tmp = new float[0], partial = new float[0];

        float[] col(int n) { if (col.length < n) col = new float[n]; return col; }
        float[] tmp(int n) { if (tmp.length < n) tmp = new float[n]; return tmp; }
        float[] partial(int n) { if (partial.length < n) partial = new float[n]; return partial; }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    static Scratch scratch() { return SCRATCH.get(); }

    /** The sizes of one convolution, checked against the tensors. */
    record Geo(int N, int C, int H, int W, int K, int R, int S, int P, int Q, int G, int Cg, int Kg, ConvParams p) {
        int rows() { return Cg * R * S; }
        int pq() { return P * Q; }
        int hw() { return H * W; }
        boolean pointwise() { return R == 1 && S == 1 && p.strideH() == 1 && p.strideW() == 1 && p.padH() == 0 && p.padW() == 0; }
    }

    static Geo geometry(String op, Tensor x, Tensor w, Tensor y, ConvParams p) {
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4)
            throw new IllegalArgumentException(op + ": expected x [N, C, H, W], w [K, C/groups, R, S] and y [N, K, P, Q], got "
                    + x.shape() + ", " + w.shape() + ", " + y.shape());
        int N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
        int K = w.dim(0), R = w.dim(2), S = w.dim(3), G = p.groups();
        if (C % G != 0 || K % G != 0 || w.dim(1) * G != C)
            throw new IllegalArgumentException(op + ": input " + x.shape() + " and weight " + w.shape() + " do not fit groups=" + G
                    + " (need C % groups == 0, K % groups == 0 and weight dim 1 == C / groups)");
        if (H + 2 * p.padH() < p.dilationH() * (R - 1) + 1 || W + 2 * p.padW() < p.dilationW() * (S - 1) + 1)
            throw new IllegalArgumentException(op + ": the (dilated) kernel " + R + "x" + S + " does not fit the padded input "
                    + x.shape() + " with " + p);
        int P = p.outH(H, R), Q = p.outW(W, S);
        if (y.dim(0) != N || y.dim(1) != K || y.dim(2) != P || y.dim(3) != Q)
            throw new IllegalArgumentException(op + ": output " + y.shape() + " should be [" + N + ", " + K + ", " + P + ", " + Q + "] for input "
                    + x.shape() + " and weight " + w.shape() + " with " + p);
        return new Geo(N, C, H, W, K, R, S, P, Q, G, C / G, K / G, p);
    }

    /** Images per GEMM: enough to make the col buffer about COL_TARGET floats, at most the chunk's images. */
    private static int imagesPerGemm(Geo g, int chunkImages) {
        long perImage = (long) g.rows() * g.pq();
        return (int) Math.max(1, Math.min(chunkImages, COL_TARGET / Math.max(1, perImage)));
    }

    // ------------------------------------------------------------------ forward

    static void forward(CpuBackend be, Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) {
        Geo g = geometry("convForward", x, w, y, p);
        if (bias != null && bias.numel() != g.K)
            throw new IllegalArgumentException("convForward: bias " + bias.shape() + " should have " + g.K + " elements (one per output channel)");
        float[] X = f(x), Wt = f(w), Y = f(y), B = bias == null ? null : f(bias);
        int xo = off(x), wo = off(w), yo = off(y), bo = bias == null ? 0 : off(bias);
        int threads = be.par.threads();
        if (g.N >= threads || threads == 1) {
            be.par.forChunks(g.N, be.par.chunks(g.N, 1), (ch, n0, n1) -> {
                Scratch sc = scratch();
                for (int n = n0; n < n1; ) {
                    int nb = g.pointwise() ? 1 : imagesPerGemm(g, n1 - n);
                    forwardImages(g, X, xo, Wt, wo, B, bo, Y, yo, n, nb, sc, null);
                    n += nb;
                }
            });
        } else {
            Scratch sc = scratch();
            for (int n = 0; n < g.N; n++) forwardImages(g, X, xo, Wt, wo, B, bo, Y, yo, n, 1, sc, be.par);
        }
    }

    /** y for images [n, n+nb): im2col of all nb images side by side, one GEMM per group. par != null splits the GEMM. */
    private static void forwardImages(Geo g, float[] X, int xo, float[] Wt, int wo, float[] B, int bo, float[] Y, int yo,
                                      int n, int nb, Scratch sc, Parallel par) {
        int rows = g.rows(), pq = g.pq(), hw = g.hw(), ld = nb * pq;
        float[] col = g.pointwise() ? null : sc.col(rows * ld);
        float[] out = nb == 1 ? Y : sc.tmp(g.Kg * ld);
        for (int gr = 0; gr < g.G; gr++) {
            if (col != null) {
                for (int j = 0; j < nb; j++)
                    im2col(X, xo + ((n + j) * g.C + gr * g.Cg) * hw, g, col, j * pq, ld, par);
            }
            int outOff = nb == 1 ? yo + (n * g.K + gr * g.Kg) * pq : 0;
            float beta = 0f;
            if (B != null && nb == 1) {
                // Start from the bias and let the GEMM add to it (beta = 1): one pass over y instead of two.
                for (int k = 0; k < g.Kg; k++) java.util.Arrays.fill(Y, outOff + k * pq, outOff + (k + 1) * pq, B[bo + gr * g.Kg + k]);
                beta = 1f;
            }
            float[] bMat = col != null ? col : X;
            int bOff = col != null ? 0 : xo + (n * g.C + gr * g.Cg) * hw;
            gemm(par, false, false, g.Kg, ld, rows, Wt, wo + gr * g.Kg * rows, rows, bMat, bOff, ld, beta, out, outOff, ld);
            if (nb > 1) {
                // Scatter [Kg, nb*PQ] back to NCHW, adding the bias on the way.
                for (int j = 0; j < nb; j++) {
                    for (int k = 0; k < g.Kg; k++) {
                        int src = k * ld + j * pq, dst = yo + ((n + j) * g.K + gr * g.Kg + k) * pq;
                        if (B == null) System.arraycopy(out, src, Y, dst, pq);
                        else {
                            float b = B[bo + gr * g.Kg + k];
                            for (int i = 0; i < pq; i++) Y[dst + i] = out[src + i] + b;
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ backward data

    static void backwardData(CpuBackend be, Tensor dy, Tensor w, Tensor dx, ConvParams p) {
        Geo g = geometry("convBackwardData", dx, w, dy, p);
        float[] DY = f(dy), Wt = f(w), DX = f(dx);
        int dyo = off(dy), wo = off(w), dxo = off(dx);
        int threads = be.par.threads();
        if (g.N >= threads || threads == 1) {
            be.par.forChunks(g.N, be.par.chunks(g.N, 1), (ch, n0, n1) -> {
                Scratch sc = scratch();
                for (int n = n0; n < n1; ) {
                    int nb = g.pointwise() ? 1 : imagesPerGemm(g, n1 - n);
                    backwardDataImages(g, DY, dyo, Wt, wo, DX, dxo, n, nb, sc, null);
                    n += nb;
                }
            });
        } else {
            Scratch sc = scratch();
            for (int n = 0; n < g.N; n++) backwardDataImages(g, DY, dyo, Wt, wo, DX, dxo, n, 1, sc, be.par);
        }
    }

    private static void backwardDataImages(Geo g, float[] DY, int dyo, float[] Wt, int wo, float[] DX, int dxo,
                                           int n, int nb, Scratch sc, Parallel par) {
        int rows = g.rows(), pq = g.pq(), hw = g.hw(), ld = nb * pq;
        for (int gr = 0; gr < g.G; gr++) {
            int wOff = wo + gr * g.Kg * rows;
            if (g.pointwise()) {
                // dx_g [Cg, HW] = W_g^T [Cg, Kg] dy_g [Kg, HW]
                gemm(par, true, false, g.Cg, pq, g.Kg, Wt, wOff, rows, DY, dyo + (n * g.K + gr * g.Kg) * pq, pq,
                        0f, DX, dxo + (n * g.C + gr * g.Cg) * hw, hw);
                continue;
            }
            float[] dyMat = DY;
            int dyOff = dyo + (n * g.K + gr * g.Kg) * pq;
            if (nb > 1) {
                // Gather dy of nb images into [Kg, nb*PQ] so one GEMM serves them all.
                float[] t = sc.tmp(g.Kg * ld);
                for (int j = 0; j < nb; j++)
                    for (int k = 0; k < g.Kg; k++)
                        System.arraycopy(DY, dyo + ((n + j) * g.K + gr * g.Kg + k) * pq, t, k * ld + j * pq, pq);
                dyMat = t;
                dyOff = 0;
            }
            float[] col = sc.col(rows * ld);
            gemm(par, true, false, rows, ld, g.Kg, Wt, wOff, rows, dyMat, dyOff, ld, 0f, col, 0, ld);
            for (int j = 0; j < nb; j++)
                col2im(col, j * pq, ld, g, DX, dxo + ((n + j) * g.C + gr * g.Cg) * hw, par);
        }
    }

    // ------------------------------------------------------------------ backward filter

    static void backwardFilter(CpuBackend be, Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) {
        Geo g = geometry("convBackwardFilter", x, dw, dy, p);
        float[] X = f(x), DY = f(dy), DW = f(dw);
        int xo = off(x), dyo = off(dy), dwo = off(dw);
        int size = g.K * g.rows();
        int threads = be.par.threads();
        if (g.N >= threads || threads == 1) {
            int chunks = be.par.chunks(g.N, 1);
            // With one chunk and no accumulation, the single partial is dW itself.
            boolean direct = chunks == 1 && !accumulate;
            float[] partials = direct ? DW : scratch().partial(chunks * size);
            be.par.forChunks(g.N, chunks, (ch, n0, n1) -> {
                Scratch sc = scratch();
                int pOff = direct ? dwo : ch * size;
                boolean first = true;
                for (int n = n0; n < n1; ) {
                    int nb = imagesPerGemm(g, n1 - n);
                    backwardFilterImages(g, X, xo, DY, dyo, partials, pOff, n, nb, first ? 0f : 1f, sc, null);
                    first = false;
                    n += nb;
                }
            });
            if (!direct) {
                // Sum the partials in chunk order (deterministic), onto dW when accumulating.
                for (int i = 0; i < size; i++) {
                    float s = accumulate ? DW[dwo + i] : 0f;
                    for (int c = 0; c < chunks; c++) s += partials[c * size + i];
                    DW[dwo + i] = s;
                }
            }
        } else {
            Scratch sc = scratch();
            for (int n = 0; n < g.N; n++)
                backwardFilterImages(g, X, xo, DY, dyo, DW, dwo, n, 1, accumulate || n > 0 ? 1f : 0f, sc, be.par);
        }
    }

    /** dW (beta = 1: +=) over images [n, n+nb), one GEMM per group with k = nb*P*Q. */
    private static void backwardFilterImages(Geo g, float[] X, int xo, float[] DY, int dyo, float[] DW, int dwo,
                                             int n, int nb, float beta, Scratch sc, Parallel par) {
        int rows = g.rows(), pq = g.pq(), hw = g.hw(), ld = nb * pq;
        for (int gr = 0; gr < g.G; gr++) {
            float[] dyMat = DY;
            int dyOff = dyo + (n * g.K + gr * g.Kg) * pq;
            if (nb > 1) {
                float[] t = sc.tmp(g.Kg * ld);
                for (int j = 0; j < nb; j++)
                    for (int k = 0; k < g.Kg; k++)
                        System.arraycopy(DY, dyo + ((n + j) * g.K + gr * g.Kg + k) * pq, t, k * ld + j * pq, pq);
                dyMat = t;
                dyOff = 0;
            }
            float[] bMat;
            int bOff;
            if (g.pointwise()) {
                if (nb == 1) { bMat = X; bOff = xo + (n * g.C + gr * g.Cg) * hw; }
                else {
                    bMat = sc.col(rows * ld);
                    bOff = 0;
                    for (int j = 0; j < nb; j++)
                        for (int c = 0; c < g.Cg; c++)
                            System.arraycopy(X, xo + ((n + j) * g.C + gr * g.Cg + c) * hw, bMat, c * ld + j * pq, pq);
                }
            } else {
                bMat = sc.col(rows * ld);
                bOff = 0;
                for (int j = 0; j < nb; j++) im2col(X, xo + ((n + j) * g.C + gr * g.Cg) * hw, g, bMat, j * pq, ld, par);
            }
            // dW_g [Kg, rows] (+)= dy_g [Kg, nb*PQ] col^T [nb*PQ, rows]
            gemm(par, false, true, g.Kg, rows, ld, dyMat, dyOff, ld, bMat, bOff, ld, beta, DW, dwo + gr * g.Kg * rows, rows);
        }
    }

    // ------------------------------------------------------------------ im2col / col2im

    public static final java.util.concurrent.atomic.AtomicLong GEMM_NS = new java.util.concurrent.atomic.AtomicLong();
    private static void gemm(Parallel par, boolean ta, boolean tb, int m, int n, int k, float[] a, int ao, int lda,
                             float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        long t0 = System.nanoTime(); try { gemm0(par, ta, tb, m, n, k, a, ao, lda, b, bo, ldb, beta, c, co, ldc); } finally { GEMM_NS.addAndGet(System.nanoTime() - t0); }
    }
    private static void gemm0(Parallel par, boolean ta, boolean tb, int m, int n, int k, float[] a, int ao, int lda,
                             float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        if (par == null) CpuGemm.gemmSerial(ta, tb, m, n, k, 1f, a, ao, lda, b, bo, ldb, beta, c, co, ldc);
        else CpuGemm.gemm(par, ta, tb, m, n, k, 1f, a, ao, lda, b, bo, ldb, beta, c, co, ldc);
    }

    /**
     * Unfolds one image group x[Cg, H, W] (at xo) into col[row = (c*R + r)*S + s][p*Q + q] (at co, row stride ld):
     * the input value that kernel tap (r, s) of channel c meets at output (p, q), or 0 in the padding.
     */
    static void im2col(float[] x, int xo, Geo g, float[] col, int co, int ld, Parallel par) {
        if (par != null) par.forRange(g.Cg, 1, (c0, c1) -> im2colChannels(x, xo, g, col, co, ld, c0, c1));
        else im2colChannels(x, xo, g, col, co, ld, 0, g.Cg);
    }

    private static void im2colChannels(float[] x, int xo, Geo g, float[] col, int co, int ld, int c0, int c1) {
        ConvParams p = g.p;
        int H = g.H, W = g.W, R = g.R, S = g.S, P = g.P, Q = g.Q;
        int sh = p.strideH(), sw = p.strideW(), ph = p.padH(), pw = p.padW(), dh = p.dilationH(), dw = p.dilationW();
        for (int c = c0; c < c1; c++) {
            int plane = xo + c * H * W;
            for (int r = 0; r < R; r++) {
                for (int s = 0; s < S; s++) {
                    int row = co + ((c * R + r) * S + s) * ld;
                    int wShift = s * dw - pw;
                    int qLo = qLow(wShift, sw, Q), qHi = qHigh(wShift, sw, W, Q, qLo);
                    for (int pp = 0; pp < P; pp++) {
                        int ih = pp * sh - ph + r * dh;
                        int d = row + pp * Q;
                        if (ih < 0 || ih >= H) { java.util.Arrays.fill(col, d, d + Q, 0f); continue; }
                        int src = plane + ih * W + wShift;
                        for (int q = 0; q < qLo; q++) col[d + q] = 0f;
                        if (sw == 1) System.arraycopy(x, src + qLo, col, d + qLo, qHi - qLo);
                        else for (int q = qLo; q < qHi; q++) col[d + q] = x[src + q * sw];
                        for (int q = qHi; q < Q; q++) col[d + q] = 0f;
                    }
                }
            }
        }
    }

    /** The inverse scatter of {@link #im2col}: dx[Cg, H, W] (at xo) = sum of col entries that read each input value. */
    static void col2im(float[] col, int co, int ld, Geo g, float[] dx, int xo, Parallel par) {
        if (par != null) par.forRange(g.Cg, 1, (c0, c1) -> col2imChannels(col, co, ld, g, dx, xo, c0, c1));
        else col2imChannels(col, co, ld, g, dx, xo, 0, g.Cg);
    }

    private static void col2imChannels(float[] col, int co, int ld, Geo g, float[] dx, int xo, int c0, int c1) {
        ConvParams p = g.p;
        int H = g.H, W = g.W, R = g.R, S = g.S, P = g.P, Q = g.Q;
        int sh = p.strideH(), sw = p.strideW(), ph = p.padH(), pw = p.padW(), dh = p.dilationH(), dw = p.dilationW();
        java.util.Arrays.fill(dx, xo + c0 * H * W, xo + c1 * H * W, 0f);
        for (int c = c0; c < c1; c++) {
            int plane = xo + c * H * W;
            for (int r = 0; r < R; r++) {
                for (int s = 0; s < S; s++) {
                    int row = co + ((c * R + r) * S + s) * ld;
                    int wShift = s * dw - pw;
                    int qLo = qLow(wShift, sw, Q), qHi = qHigh(wShift, sw, W, Q, qLo);
                    for (int pp = 0; pp < P; pp++) {
                        int ih = pp * sh - ph + r * dh;
                        if (ih < 0 || ih >= H) continue;
                        int d = plane + ih * W + wShift, src = row + pp * Q;
                        if (sw == 1) for (int q = qLo; q < qHi; q++) dx[d + q] += col[src + q];
                        else for (int q = qLo; q < qHi; q++) dx[d + q * sw] += col[src + q];
                    }
                }
            }
        }
    }

    /** First output column q whose input column q*sw + wShift is >= 0. */
    private static int qLow(int wShift, int sw, int Q) {
        return Math.min(Q, wShift >= 0 ? 0 : (-wShift + sw - 1) / sw);
    }

    /** One past the last output column q whose input column q*sw + wShift is < W (at least qLo). */
    private static int qHigh(int wShift, int sw, int W, int Q, int qLo) {
        int last = W - 1 - wShift;
        int hi = last < 0 ? 0 : Math.min(Q, last / sw + 1);
        return Math.max(hi, qLo);
    }
}
