package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU 2-D pooling with PyTorch's semantics: max pooling ({@code max_pool2d}: padding counts as -infinity, the
 * first maximal element of a window in row-major order receives the gradient; a NaN counts as the maximum and
 * propagates, and the last NaN of the window receives the gradient, as PyTorch's kernels, which take
 * {@code val > max || isnan(val)}), average pooling ({@code avg_pool2d}
 * with {@code count_include_pad} and {@code ceil_mode}) and adaptive average pooling ({@code adaptive_avg_pool2d}:
 * window i spans [floor(i*H/outH), ceil((i+1)*H/outH))).
 *
 * <p>Every op works plane by plane ([H, W] of one image and channel) and runs the N*C planes in parallel chunks;
 * planes are independent, so results do not depend on the thread count. The common 2x2 stride-2 max pool without
 * padding has its own branch-free loops; its backward finds each window's maximum from the forward output y and
 * writes each dx element exactly once (the windows tile the input).
 */
final class CpuPool {
    private CpuPool() {}

    /** Elements per parallel chunk below which splitting costs more than it saves. */
    private static final int GRAIN = 1 << 14;

    private static int planesPerChunk(int planeElements) { return Math.max(1, GRAIN / Math.max(1, planeElements)); }

    /** True for the fast path: 2x2 windows, stride 2, no padding (ceil mode only matters when it adds a window). */
    private static boolean isMax2x2(PoolParams p, int H, int W, int P, int Q) {
        return p.kind() == PoolParams.Kind.MAX && p.kH() == 2 && p.kW() == 2 && p.strideH() == 2 && p.strideW() == 2
                && p.padH() == 0 && p.padW() == 0 && P == H / 2 && Q == W / 2;
    }

    // ------------------------------------------------------------------ max / average pooling

    static void forward(CpuBackend be, Tensor x, Tensor y, PoolParams p) {
        Checks.pool("poolForward", Device.CPU, x, y, p);
        int H = x.dim(2), W = x.dim(3), P = p.outH(H), Q = p.outW(W);
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y), planes = x.dim(0) * x.dim(1), hw = H * W, pq = P * Q;
        boolean fast = isMax2x2(p, H, W, P, Q);
        be.par.forRange(planes, planesPerChunk(hw), (s, e) -> {
            for (int pl = s; pl < e; pl++) {
                int xb = xo + pl * hw, yb = yo + pl * pq;
                if (fast) max2x2Forward(X, xb, W, Y, yb, P, Q);
                else if (p.kind() == PoolParams.Kind.MAX) maxForward(X, xb, H, W, Y, yb, P, Q, p);
                else avgForward(X, xb, H, W, Y, yb, P, Q, p);
            }
        });
    }

    static void backward(CpuBackend be, Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) {
        Checks.poolBackward(Device.CPU, x, y, dy, dx, p);
        int H = x.dim(2), W = x.dim(3), P = p.outH(H), Q = p.outW(W);
        float[] X = f(x), Y = f(y), DY = f(dy), DX = f(dx);
        int xo = off(x), yo = off(y), dyo = off(dy), dxo = off(dx), planes = x.dim(0) * x.dim(1), hw = H * W, pq = P * Q;
        boolean fast = isMax2x2(p, H, W, P, Q);
        be.par.forRange(planes, planesPerChunk(hw), (s, e) -> {
            for (int pl = s; pl < e; pl++) {
                int xb = xo + pl * hw, dyb = dyo + pl * pq, dxb = dxo + pl * hw;
                if (fast) { max2x2Backward(X, xb, H, W, Y, yo + pl * pq, DY, dyb, DX, dxb, P, Q); continue; }
                java.util.Arrays.fill(DX, dxb, dxb + hw, 0f);
                if (p.kind() == PoolParams.Kind.MAX) maxBackward(X, xb, H, W, DY, dyb, DX, dxb, P, Q, p);
                else avgBackward(H, W, DY, dyb, DX, dxb, P, Q, p);
            }
        });
    }

    /**
     * 2x2 stride-2 max: Math.max is branch-free (random data would mispredict half the branches of a compare chain)
     * and returns NaN when either argument is NaN. It may return +0 where the first element was -0; they compare equal.
     */
    private static void max2x2Forward(float[] X, int xb, int W, float[] Y, int yb, int P, int Q) {
        for (int pp = 0; pp < P; pp++) {
            int r0 = xb + 2 * pp * W, r1 = r0 + W, o = yb + pp * Q;
            for (int q = 0; q < Q; q++)
                Y[o + q] = Math.max(Math.max(X[r0 + 2 * q], X[r0 + 2 * q + 1]), Math.max(X[r1 + 2 * q], X[r1 + 2 * q + 1]));
        }
    }

    /**
     * dx = dy at each window's first element equal to the forward output y (the first maximum) and 0 elsewhere;
     * rows/columns outside every window (odd H, W) get 0. Branch-free: the choice becomes an all-ones or all-zeros
     * bit mask on dy's bits. A window whose maximum is NaN (rare, so the branch predicts well) routes dy to its
     * last NaN, as PyTorch.
     */
    private static void max2x2Backward(float[] X, int xb, int H, int W, float[] Y, int yb, float[] DY, int dyb,
                                       float[] DX, int dxb, int P, int Q) {
        for (int pp = 0; pp < P; pp++) {
            int r0 = xb + 2 * pp * W, r1 = r0 + W, d0 = dxb + 2 * pp * W, d1 = d0 + W, yo = yb + pp * Q, o = dyb + pp * Q;
            for (int q = 0; q < Q; q++) {
                float m = Y[yo + q];
                float a = X[r0 + 2 * q], b = X[r0 + 2 * q + 1], c = X[r1 + 2 * q];
                if (m != m) {
                    float g = DY[o + q], d = X[r1 + 2 * q + 1];
                    int at = d != d ? 3 : c != c ? 2 : b != b ? 1 : 0;
                    DX[d0 + 2 * q] = at == 0 ? g : 0f;
                    DX[d0 + 2 * q + 1] = at == 1 ? g : 0f;
                    DX[d1 + 2 * q] = at == 2 ? g : 0f;
                    DX[d1 + 2 * q + 1] = at == 3 ? g : 0f;
                    continue;
                }
                int g = Float.floatToRawIntBits(DY[o + q]);
                int ea = a == m ? -1 : 0, eb = b == m ? -1 : 0, ec = c == m ? -1 : 0;
                DX[d0 + 2 * q] = Float.intBitsToFloat(g & ea);
                DX[d0 + 2 * q + 1] = Float.intBitsToFloat(g & eb & ~ea);
                DX[d1 + 2 * q] = Float.intBitsToFloat(g & ec & ~(ea | eb));
                DX[d1 + 2 * q + 1] = Float.intBitsToFloat(g & ~(ea | eb | ec));
            }
            if ((W & 1) != 0) { DX[d0 + W - 1] = 0f; DX[d1 + W - 1] = 0f; }
        }
        if ((H & 1) != 0) java.util.Arrays.fill(DX, dxb + (H - 1) * W, dxb + H * W, 0f);
    }

    /**
     * Index (in the plane) of window (pp, q)'s first maximum, or its last NaN if it holds one (PyTorch's rule: a value
     * replaces the running maximum when greater or NaN); -1 if the window holds no input element.
     */
    private static int argMax(float[] X, int xb, int H, int W, int pp, int q, PoolParams p) {
        int h0 = pp * p.strideH() - p.padH(), w0 = q * p.strideW() - p.padW();
        int hs = Math.max(h0, 0), he = Math.min(h0 + p.kH(), H), ws = Math.max(w0, 0), we = Math.min(w0 + p.kW(), W);
        int best = -1;
        float m = Float.NEGATIVE_INFINITY;
        for (int h = hs; h < he; h++) {
            for (int w = ws; w < we; w++) {
                float v = X[xb + h * W + w];
                if (best < 0 || v > m || v != v) { m = v; best = h * W + w; }
            }
        }
        return best;
    }

    private static void maxForward(float[] X, int xb, int H, int W, float[] Y, int yb, int P, int Q, PoolParams p) {
        for (int pp = 0; pp < P; pp++)
            for (int q = 0; q < Q; q++) {
                int at = argMax(X, xb, H, W, pp, q, p);
                Y[yb + pp * Q + q] = at < 0 ? Float.NEGATIVE_INFINITY : X[xb + at];
            }
    }

    private static void maxBackward(float[] X, int xb, int H, int W, float[] DY, int dyb, float[] DX, int dxb, int P, int Q, PoolParams p) {
        for (int pp = 0; pp < P; pp++)
            for (int q = 0; q < Q; q++) {
                int at = argMax(X, xb, H, W, pp, q, p);
                if (at >= 0) DX[dxb + at] += DY[dyb + pp * Q + q];
            }
    }

    /**
     * PyTorch's avg_pool2d divisor: the window clipped to the padded input when padding counts, else the window
     * clipped to the input itself. Returns 0 for a window that holds no input element.
     */
    private static int divisor(int hStart, int wStart, int H, int W, PoolParams p) {
        int hEnd = Math.min(hStart + p.kH(), H + p.padH()), wEnd = Math.min(wStart + p.kW(), W + p.padW());
        int padded = (hEnd - hStart) * (wEnd - wStart);
        int hs = Math.max(hStart, 0), ws = Math.max(wStart, 0), he = Math.min(hEnd, H), we = Math.min(wEnd, W);
        if (hs >= he || ws >= we) return 0;
        return p.countIncludePad() ? padded : (he - hs) * (we - ws);
    }

    private static void avgForward(float[] X, int xb, int H, int W, float[] Y, int yb, int P, int Q, PoolParams p) {
        for (int pp = 0; pp < P; pp++) {
            int h0 = pp * p.strideH() - p.padH(), hs = Math.max(h0, 0), he = Math.min(h0 + p.kH(), H);
            for (int q = 0; q < Q; q++) {
                int w0 = q * p.strideW() - p.padW(), ws = Math.max(w0, 0), we = Math.min(w0 + p.kW(), W);
                int div = divisor(h0, w0, H, W, p);
                float s = 0f;
                for (int h = hs; h < he; h++) for (int w = ws; w < we; w++) s += X[xb + h * W + w];
                Y[yb + pp * Q + q] = div == 0 ? 0f : s / div;
            }
        }
    }

    private static void avgBackward(int H, int W, float[] DY, int dyb, float[] DX, int dxb, int P, int Q, PoolParams p) {
        for (int pp = 0; pp < P; pp++) {
            int h0 = pp * p.strideH() - p.padH(), hs = Math.max(h0, 0), he = Math.min(h0 + p.kH(), H);
            for (int q = 0; q < Q; q++) {
                int w0 = q * p.strideW() - p.padW(), ws = Math.max(w0, 0), we = Math.min(w0 + p.kW(), W);
                int div = divisor(h0, w0, H, W, p);
                if (div == 0) continue;
                float g = DY[dyb + pp * Q + q] / div;
                for (int h = hs; h < he; h++) for (int w = ws; w < we; w++) DX[dxb + h * W + w] += g;
            }
        }
    }

    // ------------------------------------------------------------------ adaptive average pooling

    private static int start(int i, int in, int out) { return (int) ((long) i * in / out); }

    private static int end(int i, int in, int out) { return (int) (((long) (i + 1) * in + out - 1) / out); }

    static void adaptiveAvgForward(CpuBackend be, Tensor x, Tensor y) {
        Checks.adaptiveAvgPool(false, Device.CPU, x, y);
        int H = x.dim(2), W = x.dim(3), P = y.dim(2), Q = y.dim(3), hw = H * W, pq = P * Q;
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y);
        be.par.forRange(x.dim(0) * x.dim(1), planesPerChunk(hw), (s, e) -> {
            for (int pl = s; pl < e; pl++) {
                int xb = xo + pl * hw, yb = yo + pl * pq;
                for (int pp = 0; pp < P; pp++) {
                    int hs = start(pp, H, P), he = end(pp, H, P);
                    for (int q = 0; q < Q; q++) {
                        int ws = start(q, W, Q), we = end(q, W, Q);
                        // In double: a window can be the whole plane (global pooling), where a float sum drifts.
                        double sum = 0;
                        for (int h = hs; h < he; h++) for (int w = ws; w < we; w++) sum += X[xb + h * W + w];
                        Y[yb + pp * Q + q] = (float) (sum / ((he - hs) * (we - ws)));
                    }
                }
            }
        });
    }

    static void adaptiveAvgBackward(CpuBackend be, Tensor dy, Tensor dx) {
        Checks.adaptiveAvgPool(true, Device.CPU, dx, dy);
        int H = dx.dim(2), W = dx.dim(3), P = dy.dim(2), Q = dy.dim(3), hw = H * W, pq = P * Q;
        float[] DY = f(dy), DX = f(dx);
        int dyo = off(dy), dxo = off(dx);
        be.par.forRange(dx.dim(0) * dx.dim(1), planesPerChunk(hw), (s, e) -> {
            for (int pl = s; pl < e; pl++) {
                int dxb = dxo + pl * hw, dyb = dyo + pl * pq;
                java.util.Arrays.fill(DX, dxb, dxb + hw, 0f);
                for (int pp = 0; pp < P; pp++) {
                    int hs = start(pp, H, P), he = end(pp, H, P);
                    for (int q = 0; q < Q; q++) {
                        int ws = start(q, W, Q), we = end(q, W, Q);
                        float g = DY[dyb + pp * Q + q] / ((he - hs) * (we - ws));
                        for (int h = hs; h < he; h++) for (int w = ws; w < we; w++) DX[dxb + h * W + w] += g;
                    }
                }
            }
        });
    }
}
