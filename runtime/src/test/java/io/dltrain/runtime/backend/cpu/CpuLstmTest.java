package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * CpuLstm computes the cell in float with its own staged exponential (CpuLstm.Rows). Against float64 references:
 * sigmoid and tanh within 3 ulps of the rounded value wherever it is a normal float (measured worst 2.4 and 2.5) and
 * within 2^-149 below (subnormal results); saturation (|x| up to Float.MAX_VALUE and infinities) gives 0, 1 or -1
 * without NaN, tanh keeps the sign of -0, NaN stays NaN. The cell's outputs (forward, both backward halves) within
 * 8 float epsilons (2^-23) of the size of their terms, i.e. PyTorch's float cell's own rounding, over gates in
 * [-12, 12] and the same special values. Elements are independent: 1 and 2 threads give the same bits (NaN of either sign).
 */
class CpuLstmTest {
    static final CpuBackend one = new CpuBackend(1), two = new CpuBackend(2);
    static final float[] SPECIALS = {0f, -0f, 1e-30f, -1e-30f, Float.MIN_VALUE, -Float.MIN_VALUE, 1e-5f, -1e-5f, 0.5f, -0.75f, 8.9f, 9.1f,
            17f, -17f, 20f, -20f, 40f, -40f, 87f, -87f, 88f, -88f, 100f, -100f, 103.9f, -103.9f, 104.5f, -104.5f, 1e6f, -1e6f,
            Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
    static final double EPS = 0x1p-24;

    @AfterAll static void close() { one.close(); two.close(); }

    static double sigmoid(double x) { return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)); }

    static float[] uniform(SplittableRandom rng, int len, double lo, double hi) {
        float[] v = new float[len];
        for (int i = 0; i < len; i++) v[i] = (float) rng.nextDouble(lo, hi);
        return v;
    }

    /** uniform, the first values SPECIALS. */
    static float[] inputs(SplittableRandom rng, int len, double lo, double hi) {
        float[] v = uniform(rng, len, lo, hi);
        System.arraycopy(SPECIALS, 0, v, 0, Math.min(len, SPECIALS.length));
        return v;
    }

    /** got within maxUlps ulps of want rounded to float (or 2^-149 where that is subnormal); NaN where want is. */
    static double ulps(String what, float x, double want, float got, double maxUlps) {
        if (Double.isNaN(want)) { assertTrue(Float.isNaN(got), what + "(" + x + ") is " + got + ", not NaN"); return 0; }
        float w = (float) want;
        if (w == 0 || Math.abs(w) < Float.MIN_NORMAL) {
            assertTrue(Math.abs(got - want) <= Float.MIN_VALUE, what + "(" + x + ") is " + got + ", float64 says " + want);
            if (w == 0) assertEquals(Math.copySign(1f, w), Math.copySign(1f, got), what + "(" + x + "): the sign of zero");
            return 0;
        }
        double u = Math.abs(got - want) / Math.ulp(w);
        if (u > maxUlps) fail(String.format("%s(%s) is %s, float64 says %.12g: %.2f ulps > %s", what, x, got, want, u, maxUlps));
        return u;
    }

    @Test
    void sigmoidAndTanhAreWithin3UlpsOfFloat64AndSaturateWithoutNaN() {
        SplittableRandom rng = new SplittableRandom(3);
        int len = 1 << 18;
        double worstS = 0, worstT = 0;
        for (double[] range : new double[][] {{-120, 120}, {-10, 10}, {-1, 1}, {-1e-3, 1e-3}}) {
            float[] x = inputs(rng, len, range[0], range[1]);
            CpuLstm.Rows w = new CpuLstm.Rows(len);
            w.load(x, 0, 0, len);
            w.activate(0, 0, len);             // all sigmoid
            float[] s = w.y.clone();
            w.load(x, 0, 0, len);
            w.activate(0, len, len);           // all tanh
            for (int i = 0; i < len; i++) {
                worstS = Math.max(worstS, ulps("sigmoid", x[i], sigmoid(x[i]), s[i], 3));
                worstT = Math.max(worstT, ulps("tanh", x[i], Math.tanh(x[i]), w.y[i], 3));
            }
        }
        System.out.printf("CpuLstmTest: sigmoid worst %.2f ulps, tanh worst %.2f ulps%n", worstS, worstT);
        // sigmoid, tanh, sigmoid in one row, loaded at offsets, as the cell calls them
        float[] x = {5f, -0f, Float.NaN, -200f, 0.25f, -0f, 3f};
        CpuLstm.Rows w = new CpuLstm.Rows(8);
        w.load(x, 1, 0, 2);
        w.load(x, 1, 2, 6);
        w.activate(2, 6, 8);
        assertEquals(0.5f, w.y[0]);
        assertTrue(Float.isNaN(w.y[1]));
        assertEquals(-0f, w.y[2]);
        assertTrue(Float.isNaN(w.y[3]));
        assertEquals(-1f, w.y[4]);
        assertEquals((float) Math.tanh(0.25), w.y[5], Math.ulp(0.245f) * 3);
        assertEquals(0.5f, w.y[6]);
        assertEquals((float) sigmoid(3), w.y[7], Math.ulp(0.95f) * 3);
    }

    @Test
    void theCellIsWithinFloatRoundingOfAFloat64Cell() {
        SplittableRandom rng = new SplittableRandom(5);
        for (int[] nh : new int[][] {{1, 1}, {3, 5}, {7, 37}, {64, 128}}) {
            int n = nh[0], h = nh[1], m = n * h;
            String at = " N=" + n + " H=" + h;
            float[] gates = inputs(rng, 4 * m, -12, 12), cPrev = uniform(rng, m, -3, 3), dc = uniform(rng, m, -2, 2), dh = uniform(rng, m, -2, 2);
            float[][] got1 = run(one, gates, cPrev, dc, dh, n, h), got2 = run(two, gates, cPrev, dc, dh, n, h);
            for (int k = 0; k < got1.length; k++)
                for (int i = 0; i < got1[k].length; i++)
                    assertEquals(Float.floatToIntBits(got1[k][i]), Float.floatToIntBits(got2[k][i]), "1 vs 2 threads (any NaN alike: its sign is the vector or scalar code's), output " + k + " element " + i + at);
            float[] c = got1[0], hh = got1[1], dgC = got1[2], dcp = got1[3], dgH = got1[4], dcH = got1[5];
            for (int r = 0; r < n; r++) for (int j = 0; j < h; j++) {
                int k = r * h + j, g0 = r * 4 * h + j;
                double i = sigmoid(gates[g0]), f = sigmoid(gates[g0 + h]), g = Math.tanh(gates[g0 + 2 * h]), o = sigmoid(gates[g0 + 3 * h]);
                double cp = cPrev[k], tc = Math.tanh(c[k]), d = dc[k], e = dh[k];
                String el = " element " + k + at + " (gates " + gates[g0] + ", " + gates[g0 + h] + ", " + gates[g0 + 2 * h] + ", " + gates[g0 + 3 * h] + ")";
                near("c" + el, f * cp + i * g, Math.abs(f * cp) + Math.abs(i * g), c[k]);
                near("h" + el, o * tc, Math.abs(o * tc), hh[k]);                       // of the float c the cell returned
                near("dgates i" + el, d * g * i * (1 - i), Math.abs(d * g), dgC[g0]);
                near("dgates f" + el, d * cp * f * (1 - f), Math.abs(d * cp), dgC[g0 + h]);
                near("dgates g" + el, d * i * (1 - g * g), Math.abs(d * i), dgC[g0 + 2 * h]);
                assertEquals(0f, dgC[g0 + 3 * h], "backwardC's o quarter" + el);
                near("dcPrev" + el, d * f, Math.abs(d * f), dcp[k]);
                for (int q = 0; q < 3; q++) assertEquals(0f, dgH[g0 + q * h], "backwardH's quarter " + q + el);
                near("dgates o" + el, e * tc * o * (1 - o), Math.abs(e * tc), dgH[g0 + 3 * h]);
                near("dc" + el, e * o * (1 - tc * tc), Math.abs(e * o), dcH[k]);
            }
        }
        System.out.printf("CpuLstmTest: the cell's worst |err| %.2f float epsilons of its terms' size%n", worstCell);
    }

    static double worstCell;

    /** |got - want| <= 8 float epsilons of scale (the size of the terms); NaN where want is NaN. */
    static void near(String what, double want, double scale, float got) {
        if (Double.isNaN(want)) { assertTrue(Float.isNaN(got), what + " is " + got + ", not NaN"); return; }
        double bound = 16 * EPS * scale + Float.MIN_VALUE;
        if (scale > 1e-30) worstCell = Math.max(worstCell, Math.abs(got - want) / (2 * EPS * scale));
        if (!(Math.abs(got - want) <= bound)) fail(String.format("%s is %s, float64 says %.12g (|err| %.3g > %.3g)", what, got, want, Math.abs(got - want), bound));
    }

    /** c, h, backwardC's dgates and dcPrev, backwardH's dgates and dc (of the returned c). */
    static float[][] run(CpuBackend be, float[] gates, float[] cPrev, float[] dc, float[] dh, int n, int h) {
        try (Scope sc = Scope.open()) {
            Shape gs = Shape.of(n, 4 * h), hs = Shape.of(n, h);
            Tensor tg = be.fromHost(gates, gs), tcp = be.fromHost(cPrev, hs), c = be.zeros(hs), hh = be.zeros(hs);
            be.lstmCellForward(tg, tcp, c, hh);
            Tensor dgC = be.zeros(gs), dcp = be.zeros(hs), dgH = be.zeros(gs), dcH = be.zeros(hs);
            be.lstmCellBackwardC(tg, tcp, be.fromHost(dc, hs), dgC, dcp);
            be.lstmCellBackwardH(tg, c, be.fromHost(dh, hs), dgH, dcH);
            return new float[][] {c.toFloatArray(), hh.toFloatArray(), dgC.toFloatArray(), dcp.toFloatArray(), dgH.toFloatArray(), dcH.toFloatArray()};
        }
    }
}
