package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.testing.ConvScratch;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.cpu.CpuConv.Path;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every CpuConv path (POINTWISE, WIDE, PHASED, SHIFTED, GENERAL) on its edge geometries against direct loops in double:
 * each case names the path it takes, and, for the shifted path's shapes, the path they take with
 * {@code CpuConv.shiftedOn = false} (wide, phased or im2col), which is checked the same way, so the paths the shifted one
 * replaced on inputs at most 8 wide stay covered. Forward (bias added to y written in place), backward data and backward
 * filter (fresh and accumulated), over NaN-filled outputs, with 1-4 threads (batches of 1, fewer images than threads and
 * not a multiple of them), each case right after convolutions of NaNs on the same threads (shifted, wide and phased), so
 * a read of a stale scratch tail shows as NaN.
 */
class CpuConvPathsTest {
    /** Sums of at most ~1,200 O(1) products in float: ConvTest's 1e-4 absolute + relative. */
    static final double TOL = 1e-4;

    record Case(String name, int N, int C, int H, int W, int K, int R, int S, ConvParams p, Path path, Path withoutShifted) {
        int P() { return p.outH(H, R); }
        int Q() { return p.outW(W, S); }
        int Cg() { return C / p.groups(); }
    }

    static ConvParams cp(int sh, int sw, int ph, int pw, int dh, int dw, int g) { return new ConvParams(sh, sw, ph, pw, dh, dw, g); }

    static Case c(String name, int N, int C, int H, int W, int K, int R, int S, ConvParams p, Path path, Path withoutShifted) {
        return new Case(name, N, C, H, W, K, R, S, p, path, withoutShifted);
    }

    static Case c(String name, int N, int C, int H, int W, int K, int R, int S, ConvParams p, Path path) {
        return new Case(name, N, C, H, W, K, R, S, p, path, path);
    }

    static final Path PW = Path.POINTWISE, WIDE = Path.WIDE, PH = Path.PHASED, SH = Path.SHIFTED, GEN = Path.GENERAL;

    static List<Case> cases() {
        List<Case> l = new ArrayList<>();
        // Shifted, stride 1, Q == W: the block copy (forShiftedBlocks).
        l.add(c("block: 3x3 pad 1, 8x8", 3, 16, 8, 8, 8, 3, 3, ConvParams.of(1, 1), SH, WIDE));
        l.add(c("block: 7x7 pad 3 > input 2x2", 2, 16, 2, 2, 4, 7, 7, ConvParams.of(1, 3), SH, WIDE));
        l.add(c("block: pad 3x1 > row reach, 3x3", 2, 16, 5, 6, 4, 3, 3, cp(1, 1, 3, 1, 1, 1, 1), SH, WIDE));
        l.add(c("block: dilation 2 pad 2", 2, 16, 5, 7, 4, 3, 3, cp(1, 1, 2, 2, 2, 2, 1), SH, WIDE));
        l.add(c("block: 1x5 pad 0x2", 2, 16, 4, 5, 4, 1, 5, cp(1, 1, 0, 2, 1, 1, 1), SH, WIDE));
        l.add(c("block: 64x4, 3x3 pad 1", 2, 16, 64, 4, 4, 3, 3, ConvParams.of(1, 1), SH, WIDE));
        l.add(c("block: W = 1, 3x3 pad 1", 2, 16, 9, 1, 4, 3, 3, ConvParams.of(1, 1), SH, WIDE));
        // Shifted, runs (forShiftedRuns).
        l.add(c("runs: pad 4x0 > kernel reach", 2, 16, 5, 6, 4, 3, 3, cp(1, 1, 4, 0, 1, 1, 1), SH, WIDE));
        l.add(c("runs: pad 3 > input 2x3", 2, 16, 2, 3, 4, 3, 3, ConvParams.of(1, 3), SH, WIDE));
        l.add(c("runs: P = 1 (3x3 on 3x8, pad 0)", 3, 16, 3, 8, 4, 3, 3, ConvParams.of(1, 0), SH, WIDE));
        l.add(c("runs: Q = 1 (1x5 on 6x5, pad 0)", 3, 16, 6, 5, 4, 1, 5, ConvParams.of(1, 0), SH, WIDE));
        l.add(c("runs: W = 1 stride 2", 3, 16, 9, 1, 4, 3, 3, ConvParams.of(2, 1), SH, PH));
        l.add(c("runs: 64x4 stride 2", 2, 16, 64, 4, 4, 3, 3, ConvParams.of(2, 1), SH, PH));
        l.add(c("runs: dilation 2 stride 2 (one row phase)", 3, 16, 8, 8, 4, 3, 3, cp(2, 2, 2, 2, 2, 2, 1), SH, PH));
        l.add(c("runs: dilation 3 stride 2 (both row phases)", 2, 16, 8, 8, 4, 3, 3, cp(2, 2, 3, 3, 3, 3, 1), SH, PH));
        l.add(c("runs: stride 2x1, dilation 2", 2, 16, 7, 8, 4, 3, 3, cp(2, 1, 2, 2, 2, 2, 1), SH, PH));
        l.add(c("runs: stride 1x2, dilation 3x2", 2, 16, 8, 7, 4, 3, 3, cp(1, 2, 2, 1, 3, 2, 1), SH, PH));
        l.add(c("runs: 2x2 stride 3 > kernel", 2, 16, 8, 8, 4, 2, 2, ConvParams.of(3, 0), SH, PH));
        l.add(c("runs: 3x3 stride 4 pad 1", 2, 16, 8, 7, 4, 3, 3, ConvParams.of(4, 1), SH, PH));
        l.add(c("runs: output 1x1, strides 7x9", 3, 16, 5, 4, 4, 3, 3, cp(7, 9, 1, 0, 1, 1, 1), SH, PH));
        l.add(c("runs: pad 5x4 > input 3x4, stride 2", 2, 16, 3, 4, 4, 3, 3, cp(2, 2, 5, 4, 1, 1, 1), SH, PH));
        l.add(c("runs: 2x2 stride 2 pad 0, odd 7x7", 3, 16, 7, 7, 4, 2, 2, ConvParams.of(2, 0), SH, PH));
        l.add(c("runs: 64 channels stride 2 (phased's largest)", 2, 64, 6, 7, 5, 3, 3, ConvParams.of(2, 1), SH, PH));
        l.add(c("runs: 65 channels stride 2 (im2col without shifted)", 2, 65, 6, 7, 5, 3, 3, ConvParams.of(2, 1), SH, GEN));
        l.add(c("runs: C128 4x4 stride 2", 2, 128, 4, 4, 8, 3, 3, ConvParams.of(2, 1), SH, GEN));
        l.add(c("groups 2 of 16, one output channel each", 3, 32, 6, 6, 2, 3, 3, cp(1, 1, 1, 1, 1, 1, 2), SH, WIDE));
        l.add(c("groups 4 of 16, stride 2x1, column dilation 2", 2, 64, 6, 7, 12, 3, 2, cp(2, 1, 0, 2, 1, 2, 4), SH, PH));
        l.add(c("one image, C128 4x4", 1, 128, 4, 4, 8, 3, 3, ConvParams.of(1, 1), SH, WIDE));
        l.add(c("5 images, 8x8 stride 2", 5, 16, 8, 8, 8, 3, 3, ConvParams.of(2, 1), SH, PH));
        l.add(c("7 images, 4x4", 7, 32, 4, 4, 8, 3, 3, ConvParams.of(1, 1), SH, WIDE));
        // The boundaries of the shifted path's guard: none of these take it.
        l.add(c("W = 9 (wide)", 2, 16, 5, 9, 4, 3, 3, ConvParams.of(1, 1), WIDE));
        l.add(c("W = 9 stride 2 (phased)", 2, 16, 7, 9, 4, 3, 3, ConvParams.of(2, 1), PH));
        l.add(c("15 channels per group, stride 1 (wide, im2col)", 2, 15, 6, 6, 4, 3, 3, ConvParams.of(1, 1), WIDE));
        l.add(c("15 channels per group, stride 2 (im2col)", 2, 30, 7, 7, 4, 3, 3, cp(2, 2, 1, 1, 1, 1, 2), GEN));
        l.add(c("depthwise 32 channels (wide)", 2, 32, 6, 6, 32, 3, 3, cp(1, 1, 1, 1, 1, 1, 32), WIDE));
        l.add(c("depthwise 32 channels stride 2 (im2col)", 2, 32, 7, 7, 32, 3, 3, cp(2, 2, 1, 1, 1, 1, 32), GEN));
        l.add(c("1x1 (pointwise)", 2, 32, 5, 6, 8, 1, 1, ConvParams.of(1, 0), PW));
        l.add(c("1x1 pad 1 (wide)", 2, 32, 5, 6, 8, 1, 1, ConvParams.of(1, 1), WIDE));
        l.add(c("1x1 stride 2 (im2col)", 3, 32, 7, 6, 8, 1, 1, ConvParams.of(2, 0), GEN));
        // The phased path on its edge geometries above 8 wide (the ones at most 8 wide are shifted above).
        l.add(c("phased: stride 2x1", 3, 16, 9, 10, 5, 3, 3, cp(2, 1, 1, 1, 1, 1, 1), PH));
        l.add(c("phased: stride 1x2, pad 1x0", 2, 16, 9, 10, 5, 3, 3, cp(1, 2, 1, 0, 1, 1, 1), PH));
        l.add(c("phased: pad 0x3 > stride", 3, 16, 8, 9, 4, 3, 3, cp(2, 2, 0, 3, 1, 1, 1), PH));
        l.add(c("phased: pad 5x6 > input 3x9", 2, 16, 3, 9, 4, 3, 3, cp(2, 2, 5, 6, 1, 1, 1), PH));
        l.add(c("phased: output 1x1, strides 7x13", 3, 16, 5, 10, 4, 3, 3, cp(7, 13, 1, 0, 1, 1, 1), PH));
        l.add(c("phased: 2x2 stride 2 pad 0, odd 9x11", 3, 16, 9, 11, 4, 2, 2, ConvParams.of(2, 0), PH));
        l.add(c("phased: groups 4 of 16, stride 2x1, column dilation 2", 2, 64, 6, 10, 12, 3, 2, cp(2, 1, 0, 2, 1, 2, 4), PH));
        l.add(c("phased: 2x2 stride 3 (Q == phase width: y written in place)", 2, 16, 7, 10, 4, 2, 2, cp(3, 3, 1, 1, 1, 1, 1), PH));
        // Wide and phased with Q equal to their row width (a kernel one column wide): y and dy used in place, as on the shifted path.
        l.add(c("wide: 3x1 pad 1x0, 16 channels (y written in place)", 2, 16, 6, 10, 4, 3, 1, cp(1, 1, 1, 0, 1, 1, 1), WIDE));
        l.add(c("wide: 3x1 pad 1x0, 4 channels (im2col forward, dy read in place)", 2, 4, 6, 10, 4, 3, 1, cp(1, 1, 1, 0, 1, 1, 1), WIDE));
        l.add(c("phased: 3x1 stride 2, pad 1 (Q == phase width)", 3, 16, 7, 11, 4, 3, 1, ConvParams.of(2, 1), PH));
        return l;
    }

    @Test
    void everyPathMatchesDirectLoopsOnItsEdgeGeometries() {
        Map<Path, Double> worst = new EnumMap<>(Path.class);
        List<CpuBackend> backends = List.of(new CpuBackend(1), new CpuBackend(2), new CpuBackend(3), new CpuBackend(4));
        try {
            SplittableRandom rng = new SplittableRandom(41);
            for (Case g : cases()) {
                float[] x = Check.uniform(rng, g.N() * g.C() * g.H() * g.W(), -1, 1);
                float[] w = Check.uniform(rng, g.K() * g.Cg() * g.R() * g.S(), -1, 1);
                float[] bias = Check.uniform(rng, g.K(), -1, 1);
                float[] dy = Check.uniform(rng, g.N() * g.K() * g.P() * g.Q(), -1, 1);
                float[] prev = Check.uniform(rng, w.length, -1, 1);
                double[][] want = reference(g, x, w, bias, dy);
                for (int i = 0; i < prev.length; i++) want[3][i] += prev[i];
                for (CpuBackend b : backends) {
                    for (boolean on : new boolean[]{true, false}) {
                        Path path = on ? g.path() : g.withoutShifted();
                        if (!on && path == g.path()) continue; // the switch changes nothing: checked once
                        String what = g.name() + " (" + path + ", threads " + b.threads() + ")";
                        leaveNaNsInScratch(b);
                        CpuConv.shiftedOn = on;
                        try {
                            float[][] got = run(b, g, path, x, w, bias, dy, prev);
                            String[] op = {" forward", " backward data", " backward filter", " backward filter, accumulated"};
                            for (int i = 0; i < op.length; i++) compare(what + op[i], want[i], got[i], path, worst);
                        } finally {
                            CpuConv.shiftedOn = true;
                        }
                    }
                }
            }
        } finally {
            backends.forEach(CpuBackend::close);
        }
        for (Path p : Path.values()) assertTrue(worst.containsKey(p), p + " was not checked");
        System.out.println("CpuConvPathsTest: max abs error against double loops, by path: " + worst);
    }

    /** y (over NaNs), dx (over NaNs), dW (over NaNs) and prev + dW on the backend, after checking the path taken. */
    private static float[][] run(CpuBackend b, Case g, Path path, float[] x, float[] w, float[] bias, float[] dy, float[] prev) {
        try (Scope s = Scope.open()) {
            Tensor xt = b.fromHost(x, Shape.of(g.N(), g.C(), g.H(), g.W())), wt = b.fromHost(w, Shape.of(g.K(), g.Cg(), g.R(), g.S()));
            Tensor dyt = b.fromHost(dy, Shape.of(g.N(), g.K(), g.P(), g.Q()));
            Tensor y = b.empty(dyt.shape());
            assertEquals(path, CpuConv.geometry("test", xt, wt, y, g.p()).path(), g.name() + ": path");
            b.fill(y, Float.NaN);
            b.convForward(xt, wt, b.fromHost(bias, Shape.of(g.K())), y, g.p());
            Tensor dx = b.empty(xt.shape());
            b.fill(dx, Float.NaN);
            b.convBackwardData(dyt, wt, dx, g.p());
            Tensor dw = b.empty(wt.shape());
            b.fill(dw, Float.NaN);
            b.convBackwardFilter(xt, dyt, dw, g.p(), false);
            Tensor acc = b.fromHost(prev, wt.shape());
            b.convBackwardFilter(xt, dyt, acc, g.p(), true);
            return new float[][]{y.toFloatArray(), dx.toFloatArray(), dw.toFloatArray(), acc.toFloatArray()};
        }
    }

    private static void compare(String what, double[] want, float[] got, Path path, Map<Path, Double> worst) {
        Check.close(what, want, got, TOL, TOL);
        double max = 0;
        for (int i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]));
        worst.merge(path, max, Math::max);
    }

    /**
     * Convolutions of NaNs (4 images of 16 channels, 3x3) on the shifted path (8x8, stride 1 and 2), the wide and the
     * phased paths (10x10, stride 1 and 2), larger than most cases: NaNs in every thread's scratch arrays.
     */
    private static void leaveNaNsInScratch(CpuBackend b) {
        for (int H : new int[]{8, 10}) {
            for (ConvParams p : List.of(ConvParams.of(1, 1), ConvParams.of(2, 1))) {
                ConvScratch.convolveNaNs(b, 4, 16, H, 16, p);
            }
        }
    }

    // ------------------------------------------------------------------ direct loops in double

    /** The input row (column) that output row p (column q) meets at kernel row r (column s), or -1 in the padding. */
    private static int inH(Case g, int p, int r) { int h = p * g.p().strideH() - g.p().padH() + r * g.p().dilationH(); return h >= 0 && h < g.H() ? h : -1; }
    private static int inW(Case g, int q, int s) { int w = q * g.p().strideW() - g.p().padW() + s * g.p().dilationW(); return w >= 0 && w < g.W() ? w : -1; }

    /** y (with the bias), dx and dW of one convolution in one pass over its products: {y, dx, dW, dW}. */
    static double[][] reference(Case g, float[] x, float[] w, float[] bias, float[] dy) {
        int P = g.P(), Q = g.Q(), Cg = g.Cg(), Kg = g.K() / g.p().groups();
        double[] y = new double[g.N() * g.K() * P * Q], dx = new double[x.length], dw = new double[w.length];
        for (int n = 0; n < g.N(); n++) for (int k = 0; k < g.K(); k++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            int yi = ((n * g.K() + k) * P + p) * Q + q;
            double acc = bias[k], d = dy[yi];
            for (int c = 0; c < Cg; c++) for (int r = 0; r < g.R(); r++) for (int s = 0; s < g.S(); s++) {
                int h = inH(g, p, r), ww = inW(g, q, s);
                if (h < 0 || ww < 0) continue;
                int xi = ((n * g.C() + k / Kg * Cg + c) * g.H() + h) * g.W() + ww, wi = ((k * Cg + c) * g.R() + r) * g.S() + s;
                acc += (double) x[xi] * w[wi];
                dx[xi] += d * w[wi];
                dw[wi] += d * x[xi];
            }
            y[yi] = acc;
        }
        return new double[][]{y, dx, dw, dw.clone()};
    }
}
