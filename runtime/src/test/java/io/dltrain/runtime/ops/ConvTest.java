package io.dltrain.runtime.ops;

import io.dltrain.runtime.testing.ConvScratch;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * conv2d (PyTorch's F.conv2d): forward, backward-data and backward-filter against direct loops in double over many
 * geometries (stride, padding, dilation, groups, depthwise, 1x1, non-square, batches that split over threads or
 * not), autograd against finite differences, accumulation, determinism, shape errors and the Conv2d layer.
 */
class ConvTest {
    static final CpuBackend be = new CpuBackend(2);
    static final CpuBackend be1 = new CpuBackend(1);

    @AfterAll static void close() { be.close(); be1.close(); }

    /** Forward / backward results are sums of at most a few hundred O(1) products in float: 1e-4 abs + rel. */
    static final double TOL = 1e-4;

    /** One test geometry: x [N, C, H, W], w [K, C/G, R, S]. */
    record Geo(String name, int N, int C, int H, int W, int K, int R, int S, ConvParams p, boolean bias) {
        int P() { return (H + 2 * p.padH() - p.dilationH() * (R - 1) - 1) / p.strideH() + 1; }
        int Q() { return (W + 2 * p.padW() - p.dilationW() * (S - 1) - 1) / p.strideW() + 1; }
        int Cg() { return C / p.groups(); }
    }

    static ConvParams cp(int sh, int sw, int ph, int pw, int dh, int dw, int g) { return new ConvParams(sh, sw, ph, pw, dh, dw, g); }

    static List<Geo> geometries() {
        List<Geo> g = new ArrayList<>();
        g.add(new Geo("lenet conv1 (pad 2)", 5, 1, 12, 12, 6, 5, 5, ConvParams.of(1, 2), true));
        g.add(new Geo("lenet conv2", 6, 6, 14, 14, 16, 5, 5, ConvParams.of(1, 0), true));
        g.add(new Geo("stride 2 pad 1", 3, 3, 9, 8, 4, 3, 3, ConvParams.of(2, 1), true));
        g.add(new Geo("dilation 2", 4, 2, 10, 9, 3, 3, 3, cp(1, 1, 2, 2, 2, 2, 1), true));
        g.add(new Geo("dilation 2 stride 2", 3, 2, 11, 10, 3, 3, 2, cp(2, 2, 1, 0, 2, 2, 1), false));
        g.add(new Geo("groups 2", 4, 4, 7, 7, 6, 3, 3, cp(1, 1, 1, 1, 1, 1, 2), true));
        g.add(new Geo("depthwise stride 2", 3, 4, 9, 9, 4, 3, 3, cp(2, 2, 1, 1, 1, 1, 4), true));
        g.add(new Geo("depthwise x2 multiplier", 3, 3, 6, 6, 6, 3, 3, cp(1, 1, 1, 1, 1, 1, 3), false));
        g.add(new Geo("1x1 no bias", 4, 5, 6, 7, 3, 1, 1, ConvParams.of(1, 0), false));
        g.add(new Geo("1x1 groups 2", 3, 4, 5, 5, 6, 1, 1, cp(1, 1, 0, 0, 1, 1, 2), true));
        g.add(new Geo("1x1 stride 2", 3, 3, 7, 6, 4, 1, 1, ConvParams.of(2, 0), true));
        g.add(new Geo("1x1 pad 1", 2, 2, 4, 5, 3, 1, 1, ConvParams.of(1, 1), true));
        g.add(new Geo("non-square kernel/stride/pad", 3, 2, 7, 11, 3, 3, 5, cp(1, 2, 1, 2, 1, 1, 1), true));
        g.add(new Geo("non-square kernel, stride 1 (wide path)", 3, 2, 7, 11, 3, 3, 5, cp(1, 1, 1, 2, 1, 1, 1), true));
        g.add(new Geo("non-square dilation, groups 2, stride 1", 3, 4, 8, 9, 4, 2, 3, cp(1, 1, 1, 0, 3, 2, 2), true));
        g.add(new Geo("non-square stride rows", 3, 2, 9, 8, 3, 2, 3, cp(2, 1, 0, 1, 1, 1, 1), true));
        g.add(new Geo("kernel = padded input", 2, 2, 3, 3, 2, 5, 5, ConvParams.of(1, 1), true));
        g.add(new Geo("single image (threads split the GEMM)", 1, 3, 10, 10, 5, 3, 3, ConvParams.of(1, 1), true));
        g.add(new Geo("single image stride 2", 1, 3, 10, 10, 5, 3, 3, ConvParams.of(2, 1), true));
        g.add(new Geo("single image 1x1", 1, 6, 5, 5, 4, 1, 1, ConvParams.of(1, 0), true));
        g.add(new Geo("resnet-like 3x3 block", 4, 16, 12, 12, 16, 3, 3, ConvParams.of(1, 1), false));
        g.add(new Geo("resnet-like 1x1 projection", 4, 32, 8, 8, 16, 1, 1, ConvParams.of(1, 0), false));
        g.add(new Geo("resnet-like stem 7x7 s2 p3", 2, 3, 20, 20, 8, 7, 7, ConvParams.of(2, 3), false));
        g.add(new Geo("many small images", 37, 3, 5, 5, 4, 3, 3, ConvParams.of(1, 1), true));
        g.add(new Geo("many small images stride 2", 29, 3, 6, 6, 4, 3, 3, ConvParams.of(2, 1), true));
        // Column stride 1, row stride 2 (im2col copies whole rows): tap 0's columns all lie in the left padding and tap 1's
        // in the right padding (padW 3 > W 2, column dilation 6), so their copies start before the input or past its end.
        g.add(new Geo("stride 2x1, taps wholly in the column padding", 2, 3, 5, 2, 2, 1, 2, cp(2, 1, 0, 3, 1, 6, 1), true));
        // Stride 1 with >= 16 channels per group: forward and backward filter take one GEMM per kernel tap (CpuConv.perTap).
        g.add(new Geo("per tap: groups 2, dilation, non-square", 3, 32, 7, 9, 4, 3, 2, cp(1, 1, 2, 1, 2, 2, 2), true));
        g.add(new Geo("per tap: no padding 5x5", 3, 16, 9, 9, 5, 5, 5, ConvParams.of(1, 0), true));
        g.add(new Geo("per tap: single image (threads split the GEMM)", 1, 16, 6, 6, 8, 3, 3, ConvParams.of(1, 1), true));
        g.add(new Geo("per tap: 4x4 planes", 9, 16, 4, 4, 16, 3, 3, ConvParams.of(1, 1), false));
        // Stride > 1 with >= 16 channels per group: the same per-tap GEMMs on the input split into phase planes (PHASED).
        g.add(new Geo("phased: stride 2 pad 1, odd sizes", 3, 16, 9, 7, 8, 3, 3, ConvParams.of(2, 1), true));
        g.add(new Geo("phased: stride 2 pad 0, even sizes", 4, 16, 8, 10, 6, 3, 3, ConvParams.of(2, 0), false));
        g.add(new Geo("phased: 2x2 dilation 2 stride 2 (one phase of four)", 3, 16, 7, 6, 8, 2, 2, cp(2, 2, 0, 1, 2, 2, 1), true));
        g.add(new Geo("phased: groups 2, column dilation 2, strides 2x3 (4 phases of 6)", 2, 32, 11, 10, 4, 3, 2, cp(2, 3, 1, 2, 1, 2, 2), true));
        g.add(new Geo("phased: single image (threads split the GEMM)", 1, 16, 10, 10, 8, 3, 3, ConvParams.of(2, 1), true));
        g.add(new Geo("phased: 5x5 stride 3 pad 2, batch > threads", 5, 16, 12, 11, 4, 5, 5, ConvParams.of(3, 2), false));
        return g;
    }

    // ------------------------------------------------------------------ direct reference loops (double)

    /** The input coordinate that output (p, q) meets at kernel tap (r, s), or -1 outside the input. */
    static int inH(Geo g, int p, int r) { int h = p * g.p.strideH() - g.p.padH() + r * g.p.dilationH(); return h >= 0 && h < g.H ? h : -1; }
    static int inW(Geo g, int q, int s) { int w = q * g.p.strideW() - g.p.padW() + s * g.p.dilationW(); return w >= 0 && w < g.W ? w : -1; }

    static double[] refForward(Geo g, float[] x, float[] w, float[] b) {
        int P = g.P(), Q = g.Q(), Cg = g.Cg(), Kg = g.K / g.p.groups();
        double[] y = new double[g.N * g.K * P * Q];
        for (int n = 0; n < g.N; n++) for (int k = 0; k < g.K; k++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            double acc = b == null ? 0 : b[k];
            int grp = k / Kg;
            for (int c = 0; c < Cg; c++) for (int r = 0; r < g.R; r++) for (int s = 0; s < g.S; s++) {
                int h = inH(g, p, r), ww = inW(g, q, s);
                if (h < 0 || ww < 0) continue;
                acc += (double) x[((n * g.C + grp * Cg + c) * g.H + h) * g.W + ww] * w[((k * Cg + c) * g.R + r) * g.S + s];
            }
            y[((n * g.K + k) * P + p) * Q + q] = acc;
        }
        return y;
    }

    static double[] refBackwardData(Geo g, float[] dy, float[] w) {
        int P = g.P(), Q = g.Q(), Cg = g.Cg(), Kg = g.K / g.p.groups();
        double[] dx = new double[g.N * g.C * g.H * g.W];
        for (int n = 0; n < g.N; n++) for (int k = 0; k < g.K; k++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            double d = dy[((n * g.K + k) * P + p) * Q + q];
            int grp = k / Kg;
            for (int c = 0; c < Cg; c++) for (int r = 0; r < g.R; r++) for (int s = 0; s < g.S; s++) {
                int h = inH(g, p, r), ww = inW(g, q, s);
                if (h < 0 || ww < 0) continue;
                dx[((n * g.C + grp * Cg + c) * g.H + h) * g.W + ww] += d * w[((k * Cg + c) * g.R + r) * g.S + s];
            }
        }
        return dx;
    }

    static double[] refBackwardFilter(Geo g, float[] x, float[] dy) {
        int P = g.P(), Q = g.Q(), Cg = g.Cg(), Kg = g.K / g.p.groups();
        double[] dw = new double[g.K * Cg * g.R * g.S];
        for (int n = 0; n < g.N; n++) for (int k = 0; k < g.K; k++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            double d = dy[((n * g.K + k) * P + p) * Q + q];
            int grp = k / Kg;
            for (int c = 0; c < Cg; c++) for (int r = 0; r < g.R; r++) for (int s = 0; s < g.S; s++) {
                int h = inH(g, p, r), ww = inW(g, q, s);
                if (h < 0 || ww < 0) continue;
                dw[((k * Cg + c) * g.R + r) * g.S + s] += d * x[((n * g.C + grp * Cg + c) * g.H + h) * g.W + ww];
            }
        }
        return dw;
    }

    // ------------------------------------------------------------------ backend ops against the references

    @Test
    void forwardBackwardDataAndFilterMatchDirectLoops() {
        for (CpuBackend b : List.of(be, be1)) {
            SplittableRandom rng = new SplittableRandom(11);
            for (Geo g : geometries()) {
                try (Scope s = Scope.open()) {
                    String what = g.name() + " (threads " + b.threads() + ")";
                    float[] x = Check.uniform(rng, g.N * g.C * g.H * g.W, -1, 1);
                    float[] w = Check.uniform(rng, g.K * g.Cg() * g.R * g.S, -1, 1);
                    float[] bias = g.bias() ? Check.uniform(rng, g.K, -1, 1) : null;
                    float[] dy = Check.uniform(rng, g.N * g.K * g.P() * g.Q(), -1, 1);
                    Tensor xt = b.fromHost(x, Shape.of(g.N, g.C, g.H, g.W)), wt = b.fromHost(w, Shape.of(g.K, g.Cg(), g.R, g.S));
                    Tensor bt = bias == null ? null : b.fromHost(bias, Shape.of(g.K));
                    Tensor dyt = b.fromHost(dy, Shape.of(g.N, g.K, g.P(), g.Q()));

                    Tensor y = b.empty(Shape.of(g.N, g.K, g.P(), g.Q()));
                    b.fill(y, Float.NaN); // every element must be written
                    b.convForward(xt, wt, bt, y, g.p());
                    Check.close(what + " forward", refForward(g, x, w, bias), y.toFloatArray(), TOL, TOL);

                    Tensor dx = b.empty(xt.shape());
                    b.fill(dx, Float.NaN);
                    b.convBackwardData(dyt, wt, dx, g.p());
                    Check.close(what + " backward data", refBackwardData(g, dy, w), dx.toFloatArray(), TOL, TOL);

                    Tensor dw = b.empty(wt.shape());
                    b.fill(dw, Float.NaN);
                    b.convBackwardFilter(xt, dyt, dw, g.p(), false);
                    Check.close(what + " backward filter", refBackwardFilter(g, x, dy), dw.toFloatArray(), TOL, TOL);
                }
            }
        }
    }

    @Test
    void backwardFilterAccumulateAdds() {
        SplittableRandom rng = new SplittableRandom(12);
        List<Geo> all = geometries();
        for (Geo g : List.of(all.get(1), all.get(2), all.get(5), all.get(8), all.get(15), all.get(all.size() - 10), all.get(all.size() - 8),
                all.get(all.size() - 6), all.get(all.size() - 3), all.get(all.size() - 2))) {
            for (CpuBackend b : List.of(be, be1)) {
                try (Scope s = Scope.open()) {
                    float[] x = Check.uniform(rng, g.N * g.C * g.H * g.W, -1, 1);
                    float[] dy = Check.uniform(rng, g.N * g.K * g.P() * g.Q(), -1, 1);
                    float[] prev = Check.uniform(rng, g.K * g.Cg() * g.R * g.S, -1, 1);
                    Tensor dw = b.fromHost(prev, Shape.of(g.K, g.Cg(), g.R, g.S));
                    b.convBackwardFilter(b.fromHost(x, Shape.of(g.N, g.C, g.H, g.W)), b.fromHost(dy, Shape.of(g.N, g.K, g.P(), g.Q())), dw, g.p(), true);
                    double[] want = refBackwardFilter(g, x, dy);
                    for (int i = 0; i < want.length; i++) want[i] += prev[i];
                    Check.close(g.name() + " accumulate (threads " + b.threads() + ")", want, dw.toFloatArray(), TOL, TOL);
                }
            }
        }
    }

    /**
     * Edge geometries of the phased path (stride > 1, 16-64 channels per group): strides 2x1, 1x2 and 3x3, padding
     * unequal, larger than the stride or than the input, dilation 2 at stride 2 (every tap on one phase), 2x2, 4x4, 1x3
     * and 3x1 kernels, 1x1 outputs, the 15/16 and 64/65 channel boundaries of the path choice, groups 4.
     */
    static List<Geo> phasedEdgeGeometries() {
        List<Geo> g = new ArrayList<>();
        g.add(new Geo("phased edge: stride 2x1", 3, 16, 9, 8, 5, 3, 3, cp(2, 1, 1, 1, 1, 1, 1), true));
        g.add(new Geo("phased edge: stride 1x2, pad 1x0", 2, 16, 9, 8, 5, 3, 3, cp(1, 2, 1, 0, 1, 1, 1), false));
        g.add(new Geo("phased edge: stride 3x3", 2, 16, 10, 11, 5, 3, 3, cp(3, 3, 1, 1, 1, 1, 1), true));
        g.add(new Geo("phased edge: pad 0x3 > stride", 3, 16, 8, 7, 4, 3, 3, cp(2, 2, 0, 3, 1, 1, 1), true));
        g.add(new Geo("phased edge: pad 5x4 > input 3x4", 2, 16, 3, 4, 4, 3, 3, cp(2, 2, 5, 4, 1, 1, 1), true));
        g.add(new Geo("phased edge: 3x3 dilation 2 stride 2 (one phase)", 3, 16, 11, 10, 4, 3, 3, cp(2, 2, 1, 2, 2, 2, 1), true));
        g.add(new Geo("phased edge: 2x2 stride 2 pad 0, odd sizes", 3, 16, 9, 7, 4, 2, 2, ConvParams.of(2, 0), true));
        g.add(new Geo("phased edge: 4x4 stride 2 pad 1", 3, 16, 8, 9, 4, 4, 4, ConvParams.of(2, 1), false));
        g.add(new Geo("phased edge: 1x3 stride 2", 3, 16, 8, 9, 4, 1, 3, cp(2, 2, 0, 1, 1, 1, 1), true));
        g.add(new Geo("phased edge: 3x1 stride 1x2", 3, 16, 8, 9, 4, 3, 1, cp(1, 2, 1, 0, 1, 1, 1), true));
        g.add(new Geo("phased edge: 1x1 input, 5x5 pad 2 (output 1x1)", 3, 16, 1, 1, 4, 5, 5, ConvParams.of(2, 2), true));
        g.add(new Geo("phased edge: output 1x1, strides 7x9", 3, 16, 5, 4, 4, 3, 3, cp(7, 9, 1, 0, 1, 1, 1), true));
        g.add(new Geo("phased edge: 15 channels (im2col)", 2, 15, 7, 7, 4, 3, 3, ConvParams.of(2, 1), true));
        g.add(new Geo("phased edge: 17 channels", 2, 17, 7, 8, 5, 3, 3, ConvParams.of(2, 1), true));
        g.add(new Geo("phased edge: 64 channels", 2, 64, 6, 7, 5, 3, 3, ConvParams.of(2, 1), false));
        g.add(new Geo("phased edge: 65 channels (im2col)", 2, 65, 6, 7, 5, 3, 3, ConvParams.of(2, 1), true));
        g.add(new Geo("phased edge: groups 4 of 16, stride 2x1, column dilation 2", 2, 64, 6, 7, 12, 3, 2, cp(2, 1, 0, 2, 1, 2, 4), false));
        g.add(new Geo("phased edge: batch 3, 32 channels", 3, 32, 9, 9, 8, 3, 3, ConvParams.of(2, 1), true));
        return g;
    }

    /**
     * The phased edge geometries, each right after convolutions of NaNs on every path have left NaNs in each thread's
     * scratch (padded / phase planes, GEMM outputs, tap-major weights): a read of scratch beyond what the op zeroed or
     * wrote shows as NaN. With 1, 2 and 3 threads (batches of 2-3 images: fewer images than threads, or as many).
     */
    @Test
    void phasedEdgeGeometriesMatchDirectLoopsOverStaleScratch() {
        try (CpuBackend be3 = new CpuBackend(3)) {
            for (CpuBackend b : List.of(be1, be, be3)) {
                SplittableRandom rng = new SplittableRandom(15);
                for (Geo g : phasedEdgeGeometries()) {
                    leaveNaNsInScratch(b);
                    try (Scope s = Scope.open()) {
                        String what = g.name() + " (threads " + b.threads() + ")";
                        float[] x = Check.uniform(rng, g.N * g.C * g.H * g.W, -1, 1);
                        float[] w = Check.uniform(rng, g.K * g.Cg() * g.R * g.S, -1, 1);
                        float[] bias = g.bias() ? Check.uniform(rng, g.K, -1, 1) : null;
                        float[] dy = Check.uniform(rng, g.N * g.K * g.P() * g.Q(), -1, 1);
                        float[] prev = Check.uniform(rng, g.K * g.Cg() * g.R * g.S, -1, 1);
                        Tensor xt = b.fromHost(x, Shape.of(g.N, g.C, g.H, g.W)), wt = b.fromHost(w, Shape.of(g.K, g.Cg(), g.R, g.S));
                        Tensor dyt = b.fromHost(dy, Shape.of(g.N, g.K, g.P(), g.Q()));
                        Tensor y = b.empty(Shape.of(g.N, g.K, g.P(), g.Q()));
                        b.convForward(xt, wt, bias == null ? null : b.fromHost(bias, Shape.of(g.K)), y, g.p());
                        Check.close(what + " forward", refForward(g, x, w, bias), y.toFloatArray(), TOL, TOL);
                        Tensor dx = b.empty(xt.shape());
                        b.fill(dx, Float.NaN);
                        b.convBackwardData(dyt, wt, dx, g.p());
                        Check.close(what + " backward data", refBackwardData(g, dy, w), dx.toFloatArray(), TOL, TOL);
                        Tensor dw = b.fromHost(prev, wt.shape());
                        b.convBackwardFilter(xt, dyt, dw, g.p(), true);
                        double[] want = refBackwardFilter(g, x, dy);
                        for (int i = 0; i < want.length; i++) want[i] += prev[i];
                        Check.close(what + " backward filter, accumulated", want, dw.toFloatArray(), TOL, TOL);
                    }
                }
            }
        }
    }

    /** Convolutions of NaNs (4 images of 32 channels, 12x12) on the phased, the unpadded wide and the im2col paths. */
    private static void leaveNaNsInScratch(CpuBackend b) {
        for (ConvParams p : List.of(ConvParams.of(2, 1), ConvParams.of(3, 0), ConvParams.of(1, 0))) {
            for (int C : new int[]{3, 32}) {
                ConvScratch.convolveNaNs(b, 4, C, 12, 32, p);
            }
        }
    }

    @Test
    void biasGradientOfLargePlanesIsAccurate() {
        // The bias gradient sums dy over N and the plane: [2, 2, 1024, 1024] is 2M values per channel. Channel 0 is
        // dy = 0.1 throughout (every partial sum rounds the same way), channel 1 random in [0.5, 1.5). PyTorch's
        // cascade sum is within 2e-7 of the exact sum here (104857.617 per image of 0.1f against 104857.602); float
        // partial sums of 1024 values were 9.7e-7 off, blocks of 128 are 1.5e-7 off: 2.5e-7 relative.
        int N = 2, C = 2, plane = 1 << 20;
        float[] dy = new float[N * C * plane];
        SplittableRandom rng = new SplittableRandom(21);
        double[] want = new double[C];
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < plane; i++) {
                    float v = c == 0 ? 0.1f : (float) (rng.nextDouble() + 0.5);
                    dy[(n * C + c) * plane + i] = v;
                    want[c] += v;
                }
        try (Scope s = Scope.open()) {
            Tensor db = be.empty(Shape.of(C));
            be.biasGrad(be.fromHost(dy, Shape.of(N, C, 1024, 1024)), db, false);
            Check.close("bias gradient over 2 x 1024 x 1024", want, db.toFloatArray(), 0, 2.5e-7);
        }
    }

    @Test
    void backwardFilterIsBitIdenticalAcrossRuns() {
        SplittableRandom rng = new SplittableRandom(13);
        for (Geo g : List.of(new Geo("lenet conv2 batch 32", 32, 6, 14, 14, 16, 5, 5, ConvParams.of(1, 0), true),
                new Geo("stride 2 batch 32", 32, 3, 9, 9, 4, 3, 3, ConvParams.of(2, 1), true),
                new Geo("per tap batch 32", 32, 16, 6, 6, 8, 3, 3, ConvParams.of(1, 1), true),
                new Geo("phased batch 32", 32, 16, 9, 9, 8, 3, 3, ConvParams.of(2, 1), true))) {
            try (Scope s = Scope.open()) {
                Tensor x = b(rng, g.N, g.C, g.H, g.W), dy = b(rng, g.N, g.K, g.P(), g.Q());
                Tensor dw1 = be.empty(Shape.of(g.K, g.Cg(), g.R, g.S)), dw2 = be.empty(dw1.shape());
                be.convBackwardFilter(x, dy, dw1, g.p(), false);
                be.convBackwardFilter(x, dy, dw2, g.p(), false);
                assertArrayEquals(dw1.toFloatArray(), dw2.toFloatArray(), g.name() + ": dW differs between two identical runs");
                // And the other ops, for good measure.
                Tensor w = b(rng, g.K, g.Cg(), g.R, g.S);
                Tensor dx1 = be.empty(x.shape()), dx2 = be.empty(x.shape());
                be.convBackwardData(dy, w, dx1, g.p());
                be.convBackwardData(dy, w, dx2, g.p());
                assertArrayEquals(dx1.toFloatArray(), dx2.toFloatArray(), g.name() + ": dx differs between two identical runs");
            }
        }
    }

    private static Tensor b(SplittableRandom rng, int... dims) {
        return be.fromHost(Check.uniform(rng, Shape.of(dims).size(), -1, 1), Shape.of(dims));
    }

    // ------------------------------------------------------------------ autograd

    @Test
    void gradientsMatchFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(14);
        List<Geo> small = List.of(
                new Geo("pad 1", 2, 2, 5, 5, 3, 3, 3, ConvParams.of(1, 1), true),
                new Geo("stride 2 pad 1 non-square", 2, 2, 6, 5, 2, 3, 2, cp(2, 1, 1, 1, 1, 1, 1), true),
                new Geo("dilation 2", 2, 1, 6, 6, 2, 2, 2, cp(1, 1, 1, 1, 2, 2, 1), true),
                new Geo("groups 2", 2, 4, 4, 4, 2, 3, 3, cp(1, 1, 1, 1, 1, 1, 2), true),
                new Geo("1x1 no bias", 2, 3, 3, 3, 2, 1, 1, ConvParams.of(1, 0), false));
        for (Geo g : small) {
            try (Tensor x = Check.param(be, rng, -1, 1, g.N, g.C, g.H, g.W);
                 Tensor w = Check.param(be, rng, -1, 1, g.K, g.Cg(), g.R, g.S);
                 Tensor bias = g.bias() ? Check.param(be, rng, -1, 1, g.K) : null) {
                List<Tensor> inputs = bias == null ? List.of(x, w) : List.of(x, w, bias);
                Check.gradients("conv2d " + g.name(), in -> Conv.conv2d(in.get(0), in.get(1), in.size() > 2 ? in.get(2) : null, g.p()),
                        inputs, Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
    }

    @Test
    void inputGradientIsSkippedWhenNotNeeded() {
        SplittableRandom rng = new SplittableRandom(15);
        try (Scope s = Scope.open(); Tensor w = Check.param(be, rng, -1, 1, 2, 1, 3, 3)) {
            Tensor x = b(rng, 2, 1, 5, 5); // data: no grad
            Tensor y = Conv.conv2d(x, w, null, ConvParams.of(1, 1));
            io.dltrain.runtime.autograd.Autograd.backward(y, be.fromHost(Check.uniform(rng, y.shape().size(), -1, 1), y.shape()));
            assertNull(x.grad());
            assertEquals(w.shape(), w.grad().shape());
        }
    }

    // ------------------------------------------------------------------ errors and the layer

    @Test
    void shapeErrorsSayWhatIsWrong() {
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2d(be.zeros(Shape.of(1, 3, 8, 8)), be.zeros(Shape.of(4, 2, 3, 3)), null, ConvParams.of(1, 1)));
            assertTrue(e.getMessage().contains("3 channels") && e.getMessage().contains("[4, 2, 3, 3]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2d(be.zeros(Shape.of(1, 4, 8, 8)), be.zeros(Shape.of(3, 2, 3, 3)), null, cp(1, 1, 0, 0, 1, 1, 2)));
            assertTrue(e.getMessage().contains("groups=2"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2d(be.zeros(Shape.of(1, 1, 4, 4)), be.zeros(Shape.of(2, 1, 5, 5)), null, ConvParams.of(1, 0)));
            assertTrue(e.getMessage().contains("larger than the padded input"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2d(be.zeros(Shape.of(3, 8, 8)), be.zeros(Shape.of(2, 3, 3, 3)), null, ConvParams.of(1, 0)));
            assertTrue(e.getMessage().contains("[N, C, H, W]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2d(be.zeros(Shape.of(1, 3, 8, 8)), be.zeros(Shape.of(2, 3, 3, 3)), be.zeros(Shape.of(3)), ConvParams.of(1, 0)));
            assertTrue(e.getMessage().contains("bias"), e.getMessage());
        }
    }

    /**
     * An input with another number of channels than the weight's says what to do, as linear's refusal does: it named
     * the mismatch only, also to a model's first layer fed grayscale images where it was built for colour ones.
     */
    @Test
    void aChannelMismatchSaysWhatToDo() {
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2d(be.zeros(Shape.of(2, 1, 32, 32)), be.zeros(Shape.of(64, 3, 7, 7)), null, ConvParams.of(2, 3)));
            assertEquals("conv2d: input [2, 1, 32, 32] has 1 channels but weight [64, 3, 7, 7] with groups=1 expects 3 (weight dim 1 is"
                    + " C / groups): build the layer for 1 input channels, or make the input have 3 (for a model's first layer: build the"
                    + " model for 1-channel images, or give it 3-channel ones)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Conv.conv2d(be.zeros(Shape.of(1, 6, 8, 8)), be.zeros(Shape.of(4, 2, 3, 3)), null, cp(1, 1, 0, 0, 1, 1, 2)));
            assertEquals("conv2d: input [1, 6, 8, 8] has 6 channels but weight [4, 2, 3, 3] with groups=2 expects 4 (weight dim 1 is"
                    + " C / groups): build the layer for 6 input channels, or make the input have 4 (for a model's first layer: build the"
                    + " model for 6-channel images, or give it 4-channel ones)", e.getMessage());
        }
    }

    @Test
    void conv2dLayerHasPytorchParametersAndInit() {
        try (Conv2d c = new Conv2d(new Context(be, 7), 1, 6, 5, 1, 2);
             Conv2d d = new Conv2d(new Context(be, 7), 4, 8, 3, 1, 2, 2, 1, 0, 2, 1, 2, false)) {
            assertEquals("Conv2d(1 -> 6, k5, s1, p2)", c.toString());
            assertEquals(List.of("weight", "bias"), List.copyOf(c.namedParameters().keySet()));
            assertEquals(Shape.of(6, 1, 5, 5), c.weight().shape());
            assertEquals(Shape.of(6), c.bias().shape());
            double bound = 1 / Math.sqrt(25); // PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 1*5*5
            for (float v : c.weight().toFloatArray()) assertTrue(Math.abs(v) <= bound, "weight " + v + " outside +-" + bound);
            for (float v : c.bias().toFloatArray()) assertTrue(Math.abs(v) <= bound, "bias " + v + " outside +-" + bound);
            assertEquals(Shape.of(8, 2, 3, 1), d.weight().shape());
            assertNull(d.bias());
            assertEquals("Conv2d(4 -> 8, k3x1, s2, p1x0, d2x1, g2, no bias)", d.toString());
            try (Scope s = Scope.open()) {
                Tensor y = c.forward(be.zeros(Shape.of(2, 1, 28, 28)));
                assertEquals(Shape.of(2, 6, 28, 28), y.shape());
                Tensor z = d.forward(be.zeros(Shape.of(2, 4, 9, 9)));
                assertEquals(Shape.of(2, 8, 4, 5), z.shape()); // P = (9+2-2*2-1)/2+1 = 4, Q = (9-1)/2+1 = 5
            }
        }
    }
}
