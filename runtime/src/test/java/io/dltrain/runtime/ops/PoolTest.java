package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.AdaptiveAvgPool2d;
import io.dltrain.runtime.nn.AvgPool2d;
import io.dltrain.runtime.nn.MaxPool2d;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * max_pool2d / avg_pool2d / adaptive_avg_pool2d (PyTorch semantics): forward and backward against direct loops,
 * output sizes in floor and ceil mode, tie-breaking, count_include_pad, autograd against finite differences.
 */
class PoolTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** Averages of a few O(1) values in float: 1e-5 abs + rel. Max pooling is exact. */
    static final double TOL = 1e-5;

    static PoolParams max(int k, int s, int pad, boolean ceil) { return new PoolParams(PoolParams.Kind.MAX, k, k, s, s, pad, pad, true, ceil); }

    static PoolParams avg(int kh, int kw, int sh, int sw, int ph, int pw, boolean includePad, boolean ceil) {
        return new PoolParams(PoolParams.Kind.AVG, kh, kw, sh, sw, ph, pw, includePad, ceil);
    }

    /** PyTorch's pooling_output_shape, written out independently of PoolParams. */
    static int outSize(int in, int k, int s, int pad, boolean ceil) {
        int num = in + 2 * pad - k + (ceil ? s - 1 : 0);
        int o = Math.floorDiv(num, s) + 1;
        if (ceil && (o - 1) * s >= in + pad) o--;
        return o;
    }

    record Case(String name, int N, int C, int H, int W, PoolParams p) {
        int P() { return outSize(H, p.kH(), p.strideH(), p.padH(), p.ceilMode()); }
        int Q() { return outSize(W, p.kW(), p.strideW(), p.padW(), p.ceilMode()); }
    }

    static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        c.add(new Case("max 2x2 s2 (lenet)", 3, 4, 8, 8, max(2, 2, 0, false)));
        c.add(new Case("max 2x2 s2 odd sizes", 2, 3, 7, 9, max(2, 2, 0, false)));
        c.add(new Case("max 2x2 s2 ceil odd", 2, 3, 7, 9, max(2, 2, 0, true)));
        c.add(new Case("max 3x3 s2 p1 (resnet)", 2, 3, 9, 8, max(3, 2, 1, false)));
        c.add(new Case("max 3x3 s2 ceil", 2, 2, 6, 7, max(3, 2, 0, true)));
        c.add(new Case("max 2x2 s2 p1 ceil (last window dropped)", 2, 2, 5, 5, max(2, 2, 1, true)));
        c.add(new Case("max 3x3 s1 p1", 2, 2, 5, 6, max(3, 1, 1, false)));
        c.add(new Case("avg 2x2 s2", 3, 4, 8, 8, avg(2, 2, 2, 2, 0, 0, true, false)));
        c.add(new Case("avg 3x3 s2 p1 include pad", 2, 3, 7, 8, avg(3, 3, 2, 2, 1, 1, true, false)));
        c.add(new Case("avg 3x3 s2 p1 exclude pad", 2, 3, 7, 8, avg(3, 3, 2, 2, 1, 1, false, false)));
        c.add(new Case("avg 3x3 s2 p1 ceil include pad", 2, 3, 8, 6, avg(3, 3, 2, 2, 1, 1, true, true)));
        c.add(new Case("avg 3x3 s2 p1 ceil exclude pad", 2, 3, 8, 6, avg(3, 3, 2, 2, 1, 1, false, true)));
        c.add(new Case("avg non-square", 2, 2, 9, 7, avg(3, 2, 2, 1, 1, 0, true, false)));
        c.add(new Case("avg 3x3 s1 p1 exclude pad", 2, 2, 5, 4, avg(3, 3, 1, 1, 1, 1, false, false)));
        return c;
    }

    // ------------------------------------------------------------------ direct reference loops

    /** Flat index (in the plane) of the first maximum of window (p, q) scanning row-major, ignoring padding. */
    static int refArgMax(float[] x, int base, Case c, int p, int q) {
        int best = -1;
        for (int i = 0; i < c.p().kH(); i++) for (int j = 0; j < c.p().kW(); j++) {
            int h = p * c.p().strideH() - c.p().padH() + i, w = q * c.p().strideW() - c.p().padW() + j;
            if (h < 0 || h >= c.H() || w < 0 || w >= c.W()) continue;
            if (best < 0 || x[base + h * c.W() + w] > x[base + best]) best = h * c.W() + w;
        }
        return best;
    }

    /** PyTorch's avg_pool2d divisor: window clipped to the padded input (include pad) or to the input itself. */
    static int refDivisor(Case c, int p, int q) {
        PoolParams pp = c.p();
        int h0 = p * pp.strideH() - pp.padH(), w0 = q * pp.strideW() - pp.padW();
        int cnt = 0, cntPad = 0;
        for (int i = 0; i < pp.kH(); i++) for (int j = 0; j < pp.kW(); j++) {
            int h = h0 + i, w = w0 + j;
            if (h < c.H() + pp.padH() && w < c.W() + pp.padW()) cntPad++;
            if (h >= 0 && h < c.H() && w >= 0 && w < c.W()) cnt++;
        }
        return pp.countIncludePad() ? cntPad : cnt;
    }

    static double[] refForward(Case c, float[] x) {
        int P = c.P(), Q = c.Q();
        double[] y = new double[c.N() * c.C() * P * Q];
        for (int pl = 0; pl < c.N() * c.C(); pl++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            int base = pl * c.H() * c.W();
            if (c.p().kind() == PoolParams.Kind.MAX) {
                y[(pl * P + p) * Q + q] = x[base + refArgMax(x, base, c, p, q)];
            } else {
                double s = 0;
                for (int i = 0; i < c.p().kH(); i++) for (int j = 0; j < c.p().kW(); j++) {
                    int h = p * c.p().strideH() - c.p().padH() + i, w = q * c.p().strideW() - c.p().padW() + j;
                    if (h >= 0 && h < c.H() && w >= 0 && w < c.W()) s += x[base + h * c.W() + w];
                }
                y[(pl * P + p) * Q + q] = s / refDivisor(c, p, q);
            }
        }
        return y;
    }

    static double[] refBackward(Case c, float[] x, float[] dy) {
        int P = c.P(), Q = c.Q();
        double[] dx = new double[x.length];
        for (int pl = 0; pl < c.N() * c.C(); pl++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            int base = pl * c.H() * c.W();
            double g = dy[(pl * P + p) * Q + q];
            if (c.p().kind() == PoolParams.Kind.MAX) {
                dx[base + refArgMax(x, base, c, p, q)] += g;
            } else {
                int div = refDivisor(c, p, q);
                for (int i = 0; i < c.p().kH(); i++) for (int j = 0; j < c.p().kW(); j++) {
                    int h = p * c.p().strideH() - c.p().padH() + i, w = q * c.p().strideW() - c.p().padW() + j;
                    if (h >= 0 && h < c.H() && w >= 0 && w < c.W()) dx[base + h * c.W() + w] += g / div;
                }
            }
        }
        return dx;
    }

    // ------------------------------------------------------------------ tests

    @Test
    void outputSizesFollowPytorch() {
        // Worked examples of PyTorch's formula (floor / ceil, and ceil mode's "last window must start inside" rule).
        assertEquals(3, max(2, 2, 0, false).outH(7));
        assertEquals(4, max(2, 2, 0, true).outH(7));
        assertEquals(2, max(3, 2, 0, false).outH(6));
        assertEquals(3, max(3, 2, 0, true).outH(6));
        assertEquals(3, max(2, 2, 1, true).outH(5)); // (5+2-2+1)/2+1 = 4, but window 3 would start in the right padding
        for (Case c : cases()) {
            assertEquals(c.P(), c.p().outH(c.H()), c.name());
            assertEquals(c.Q(), c.p().outW(c.W()), c.name());
        }
    }

    @Test
    void forwardAndBackwardMatchDirectLoops() {
        SplittableRandom rng = new SplittableRandom(21);
        for (Case c : cases()) {
            try (Scope s = Scope.open()) {
                float[] x = Check.uniform(rng, c.N() * c.C() * c.H() * c.W(), -1, 1);
                float[] dy = Check.uniform(rng, c.N() * c.C() * c.P() * c.Q(), -1, 1);
                Tensor xt = be.fromHost(x, Shape.of(c.N(), c.C(), c.H(), c.W()));
                Tensor y = Pool.pool2d(xt, c.p());
                assertEquals(Shape.of(c.N(), c.C(), c.P(), c.Q()), y.shape(), c.name());
                Check.close(c.name() + " forward", refForward(c, x), y.toFloatArray(), TOL, TOL);
                Tensor dx = be.empty(xt.shape());
                be.fill(dx, Float.NaN); // every element must be written
                be.poolBackward(xt, y, be.fromHost(dy, y.shape()), dx, c.p());
                Check.close(c.name() + " backward", refBackward(c, x, dy), dx.toFloatArray(), TOL, TOL);
            }
        }
    }

    @Test
    void maxPoolTiesGoToTheFirstMaximum() {
        // After ReLU many windows are all zeros: the gradient must go to the first element (row-major) only.
        for (PoolParams p : List.of(max(2, 2, 0, false), max(3, 2, 1, false))) {
            try (Scope s = Scope.open()) {
                Case c = new Case("ties", 1, 2, 6, 6, p);
                float[] x = new float[2 * 36];
                for (int i = 36; i < 72; i++) x[i] = (i % 3 == 0) ? 1f : 0.5f; // ties between equal maxima too
                float[] dy = new float[2 * c.P() * c.Q()];
                for (int i = 0; i < dy.length; i++) dy[i] = i + 1;
                Tensor xt = be.fromHost(x, Shape.of(1, 2, 6, 6));
                Tensor y = Pool.pool2d(xt, p);
                Tensor dx = be.empty(xt.shape());
                be.poolBackward(xt, y, be.fromHost(dy, y.shape()), dx, p);
                double[] want = refBackward(c, x, dy);
                float[] got = dx.toFloatArray();
                for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 0.0, "ties, " + p + ", element " + i);
                // The all-zero plane of the 2x2 case: only window corners receive gradient.
                if (p.kH() == 2) {
                    for (int h = 0; h < 6; h++) for (int w = 0; w < 6; w++) {
                        float expect = (h % 2 == 0 && w % 2 == 0) ? dy[(h / 2) * 3 + w / 2] : 0f;
                        assertEquals(expect, got[h * 6 + w], 0f, "zero plane at " + h + "," + w);
                    }
                }
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(22);
        for (Case c : cases()) {
            int n = c.N() * c.C() * c.H() * c.W();
            float[] v = new float[n];
            if (c.p().kind() == PoolParams.Kind.MAX) {
                // Distinct values 0.05 apart (step +-0.01 never crosses a tie), shuffled.
                for (int i = 0; i < n; i++) v[i] = (float) (0.05 * (i - n / 2));
                for (int i = n - 1; i > 0; i--) { int j = rng.nextInt(i + 1); float t = v[i]; v[i] = v[j]; v[j] = t; }
            } else v = Check.uniform(rng, n, -1, 1);
            try (Tensor x = be.fromHost(v, Shape.of(c.N(), c.C(), c.H(), c.W())).requiresGrad(true)) {
                Check.gradients(c.name(), in -> Pool.pool2d(in.get(0), c.p()), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
    }

    // ------------------------------------------------------------------ adaptive average pooling

    static double[] refAdaptive(float[] x, int planes, int H, int W, int P, int Q) {
        double[] y = new double[planes * P * Q];
        for (int pl = 0; pl < planes; pl++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            int hs = (int) Math.floor((double) p * H / P), he = (int) Math.ceil((double) (p + 1) * H / P);
            int ws = (int) Math.floor((double) q * W / Q), we = (int) Math.ceil((double) (q + 1) * W / Q);
            double s = 0;
            for (int h = hs; h < he; h++) for (int w = ws; w < we; w++) s += x[(pl * H + h) * W + w];
            y[(pl * P + p) * Q + q] = s / ((he - hs) * (we - ws));
        }
        return y;
    }

    static double[] refAdaptiveBackward(float[] dy, int planes, int H, int W, int P, int Q) {
        double[] dx = new double[planes * H * W];
        for (int pl = 0; pl < planes; pl++) for (int p = 0; p < P; p++) for (int q = 0; q < Q; q++) {
            int hs = (int) Math.floor((double) p * H / P), he = (int) Math.ceil((double) (p + 1) * H / P);
            int ws = (int) Math.floor((double) q * W / Q), we = (int) Math.ceil((double) (q + 1) * W / Q);
            double g = dy[(pl * P + p) * Q + q] / ((he - hs) * (we - ws));
            for (int h = hs; h < he; h++) for (int w = ws; w < we; w++) dx[(pl * H + h) * W + w] += g;
        }
        return dx;
    }

    @Test
    void adaptiveAvgPoolMatchesDirectLoops() {
        SplittableRandom rng = new SplittableRandom(23);
        int[][] sizes = {{5, 7, 3, 2}, {7, 5, 2, 3}, {6, 6, 6, 6}, {6, 4, 1, 1}, {3, 2, 5, 4}, {10, 9, 4, 4}};
        for (int[] sz : sizes) {
            int N = 2, C = 3, H = sz[0], W = sz[1], P = sz[2], Q = sz[3];
            String what = "adaptive " + H + "x" + W + " -> " + P + "x" + Q;
            try (Scope s = Scope.open()) {
                float[] x = Check.uniform(rng, N * C * H * W, -1, 1), dy = Check.uniform(rng, N * C * P * Q, -1, 1);
                Tensor xt = be.fromHost(x, Shape.of(N, C, H, W));
                Tensor y = Pool.adaptiveAvgPool2d(xt, P, Q);
                assertEquals(Shape.of(N, C, P, Q), y.shape());
                Check.close(what + " forward", refAdaptive(x, N * C, H, W, P, Q), y.toFloatArray(), TOL, TOL);
                Tensor dx = be.empty(xt.shape());
                be.fill(dx, Float.NaN);
                be.adaptiveAvgPoolBackward(be.fromHost(dy, y.shape()), dx);
                Check.close(what + " backward", refAdaptiveBackward(dy, N * C, H, W, P, Q), dx.toFloatArray(), TOL, TOL);
            }
            try (Tensor x = Check.param(be, rng, -1, 1, 1, 2, H, W)) {
                Check.gradients(what, in -> Pool.adaptiveAvgPool2d(in.get(0), P, Q), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
    }

    @Test
    void globalAdaptiveAvgPoolOfALargePlaneIsAccurate() {
        // Global average pooling (output 1x1) of 512x512 planes: 262,144 values in one window. Plane 0 is 0.1
        // throughout, plane 1 random in [0.5, 1.5). PyTorch's adaptive_avg_pool2d is within 2e-7 of the exact mean.
        int H = 512, W = 512;
        SplittableRandom rng = new SplittableRandom(29);
        float[] x = new float[2 * H * W];
        for (int i = 0; i < H * W; i++) { x[i] = 0.1f; x[H * W + i] = (float) (rng.nextDouble() + 0.5); }
        try (Scope s = Scope.open()) {
            Tensor y = Pool.adaptiveAvgPool2d(be.fromHost(x, Shape.of(1, 2, H, W)), 1, 1);
            Check.close("global adaptive average of 512x512", refAdaptive(x, 2, H, W, 1, 1), y.toFloatArray(), 0, 2e-7);
        }
    }

    // ------------------------------------------------------------------ layers and errors

    @Test
    void layersApplyTheirParameters() {
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(24);
            float[] x = Check.uniform(rng, 2 * 3 * 7 * 7, -1, 1);
            Tensor xt = be.fromHost(x, Shape.of(2, 3, 7, 7));
            MaxPool2d mp = new MaxPool2d(2, 2, 0, true);
            AvgPool2d ap = new AvgPool2d(3, 2, 1);
            AvgPool2d apx = new AvgPool2d(3, 2, 1, false, false);
            assertEquals(Shape.of(2, 3, 4, 4), mp.forward(xt).shape());
            assertTrue(ap.params().countIncludePad(), "AvgPool2d counts padding by default, like PyTorch");
            Check.close("AvgPool2d", refForward(new Case("", 2, 3, 7, 7, ap.params()), x), ap.forward(xt).toFloatArray(), TOL, TOL);
            Check.close("AvgPool2d exclude pad", refForward(new Case("", 2, 3, 7, 7, apx.params()), x), apx.forward(xt).toFloatArray(), TOL, TOL);
            assertEquals(Shape.of(2, 3, 1, 1), new AdaptiveAvgPool2d(1, 1).forward(xt).shape());
            assertEquals("MaxPool2d(k2, s2, p0, ceil)", mp.toString());
            assertEquals(0, mp.parameterCount());
        }
    }

    @Test
    void errorsNameTheShapes() {
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> Pool.pool2d(be.zeros(Shape.of(3, 8, 8)), max(2, 2, 0, false)));
            assertTrue(e.getMessage().contains("[3, 8, 8]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Pool.pool2d(be.zeros(Shape.of(1, 1, 2, 2)), max(3, 1, 0, false)));
            assertTrue(e.getMessage().contains("larger than the padded input"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Pool.adaptiveAvgPool2d(be.zeros(Shape.of(1, 1, 2, 2)), 0, 1));
            assertTrue(e.getMessage().contains("0x1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> new PoolParams(PoolParams.Kind.MAX, 2, 2, 0, 2, 0, 0, true, false));
            assertEquals("pool stride must be >= 1, got 0x2", e.getMessage());
        }
    }

    @Test
    void maxPoolPropagatesNaNAndRoutesItsGradientToTheLastNaNAsPyTorch() {
        try (Scope s = Scope.open()) {
            float nan = Float.NaN;
            float[] x = {1, nan, 3, 4, 5, 6, nan, 8, 9, 10, 11, 12, 13, 14, 15, nan};
            Tensor xt = be.fromHost(x, Shape.of(1, 1, 4, 4));
            for (PoolParams p : List.of(max(2, 2, 0, false), max(2, 2, 1, false), max(3, 1, 1, false))) {
                Case c = new Case("NaN", 1, 1, 4, 4, p);
                Tensor y = Pool.pool2d(xt, p);
                float[] dy = new float[c.P() * c.Q()];
                for (int i = 0; i < dy.length; i++) dy[i] = i + 1;
                Tensor dx = be.empty(xt.shape());
                be.poolBackward(xt, y, be.fromHost(dy, y.shape()), dx, p);
                double[] want = new double[16];
                float[] yv = y.toFloatArray();
                for (int pp = 0; pp < c.P(); pp++) for (int q = 0; q < c.Q(); q++) {
                    // Reference: a window holding NaN outputs NaN and its last NaN (row-major) gets the gradient.
                    int lastNaN = -1;
                    for (int i = 0; i < p.kH(); i++) for (int j = 0; j < p.kW(); j++) {
                        int h = pp * p.strideH() - p.padH() + i, w = q * p.strideW() - p.padW() + j;
                        if (h >= 0 && h < 4 && w >= 0 && w < 4 && Float.isNaN(x[h * 4 + w])) lastNaN = h * 4 + w;
                    }
                    int at = lastNaN >= 0 ? lastNaN : refArgMax(x, 0, c, pp, q);
                    assertEquals(lastNaN >= 0, Float.isNaN(yv[pp * c.Q() + q]), p + ": output " + pp + "," + q + " is " + yv[pp * c.Q() + q]);
                    want[at] += dy[pp * c.Q() + q];
                }
                Check.close(p + " backward with NaN", want, dx.toFloatArray(), 0, 0);
            }
            assertArrayEquals(new float[] {Float.NaN, Float.NaN, 14, Float.NaN},
                    Pool.pool2d(xt, max(2, 2, 0, false)).toFloatArray());
        }
    }

    /**
     * Windows with several NaNs and with tied maxima, against torch 2.13 (CPU, float32):
     * x = tensor(X).reshape(1, 1, 4, 4); y = F.max_pool2d(x, k, s, p); y.backward(arange(1, y.numel() + 1)); x.grad.
     * The gradient goes to a window's LAST NaN (PyTorch's kernel takes val > max || isnan(val)) and, without NaN, to
     * its FIRST maximum.
     */
    @Test
    void maxPoolBackwardMatchesTorchOnNaNsAndTies() {
        float nan = Float.NaN;
        float[] twoNaNs = {nan, nan, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, nan, nan};
        float[] ties = {1, 2, 2, 1, 2, 1, 1, 2, 0, 0, 0, 0, 5, 5, 5, 5};
        Object[][] cases = {
            {twoNaNs, max(2, 2, 0, false), new float[] {0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4}},
            {twoNaNs, max(3, 1, 1, false), new float[] {0, 24, 0, 0, 0, 0, 0, 4, 0, 0, 0, 8, 0, 22, 24, 54}},
            {twoNaNs, max(3, 2, 1, false), new float[] {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4}},
            {ties, max(2, 2, 0, false), new float[] {0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 0}},
            {ties, max(3, 1, 1, false), new float[] {0, 24, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 46, 26, 28, 0}},
            {ties, max(3, 2, 1, false), new float[] {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0}},
        };
        for (Object[] c : cases) {
            try (Scope s = Scope.open()) {
                float[] x = (float[]) c[0];
                PoolParams p = (PoolParams) c[1];
                Tensor xt = be.fromHost(x, Shape.of(1, 1, 4, 4));
                Tensor y = Pool.pool2d(xt, p);
                float[] dy = new float[(int) y.numel()];
                for (int i = 0; i < dy.length; i++) dy[i] = i + 1;
                Tensor dx = be.empty(xt.shape());
                be.poolBackward(xt, y, be.fromHost(dy, y.shape()), dx, p);
                assertArrayEquals((float[]) c[2], dx.toFloatArray(), (x == ties ? "ties, " : "two NaNs, ") + p);
            }
        }
    }
}
