package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.testing.ConvScratch;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CpuConv's shifted path (inputs at most 8 wide, >= 16 channels per group) against the path the same shapes took
 * before it (wide, phased or im2col: {@code CpuConv.shiftedOn = false}), forward, backward data and accumulated
 * backward filter, with 1, 2 and 3 threads, each after NaN convolutions on the shifted path have left NaNs in the
 * scratch. The edge cases: odd and non-square sizes, padding 0 (Q != W: the run-by-run copy), 1 and 2 (the block copy),
 * padding larger than the input, strides 2, 2x1 and 1x2, dilation, groups, a 1x1 input, one output channel, one image.
 */
class CpuConvShiftedTest {
    /** The two paths sum the same products in another order: ConvTest's tolerance. */
    static final double TOL = 1e-4;

    record Geo(String name, int N, int C, int H, int W, int K, int R, int S, ConvParams p, boolean bias) {
        int P() { return p.outH(H, R); }
        int Q() { return p.outW(W, S); }
        int Cg() { return C / p.groups(); }
    }

    static ConvParams cp(int sh, int sw, int ph, int pw, int dh, int dw, int g) { return new ConvParams(sh, sw, ph, pw, dh, dw, g); }

    static List<Geo> geometries() {
        return List.of(
                new Geo("3x3 pad 1, 8x8 (block copy)", 3, 16, 8, 8, 8, 3, 3, ConvParams.of(1, 1), true),
                new Geo("3x3 pad 1, 4x4, 128 channels", 2, 128, 4, 4, 16, 3, 3, ConvParams.of(1, 1), false),
                new Geo("3x3 pad 1, odd 7x5", 3, 16, 7, 5, 6, 3, 3, ConvParams.of(1, 1), true),
                new Geo("3x3 pad 0, 7x8 (Q != W: runs)", 3, 16, 7, 8, 5, 3, 3, ConvParams.of(1, 0), true),
                new Geo("5x5 pad 2, 6x6", 2, 16, 6, 6, 4, 5, 5, ConvParams.of(1, 2), false),
                new Geo("3x3 pad 1 stride 2, 8x8", 3, 16, 8, 8, 8, 3, 3, ConvParams.of(2, 1), true),
                new Geo("3x3 pad 1 stride 2, odd 7x7", 3, 32, 7, 7, 4, 3, 3, ConvParams.of(2, 1), true),
                new Geo("3x3 stride 2x1 pad 1", 3, 16, 7, 8, 5, 3, 3, cp(2, 1, 1, 1, 1, 1, 1), true),
                new Geo("3x3 stride 1x2 pad 1x0", 2, 16, 8, 7, 5, 3, 3, cp(1, 2, 1, 0, 1, 1, 1), false),
                new Geo("dilation 2, pad 2", 2, 16, 6, 7, 4, 3, 3, cp(1, 1, 2, 2, 2, 2, 1), true),
                new Geo("dilation 2 stride 2 (one row phase)", 3, 16, 8, 8, 4, 3, 3, cp(2, 2, 1, 2, 2, 2, 1), true),
                new Geo("pad 5x4 > input 3x4, stride 2", 2, 16, 3, 4, 4, 3, 3, cp(2, 2, 5, 4, 1, 1, 1), true),
                new Geo("1x1 input, 5x5 pad 2", 3, 16, 1, 1, 4, 5, 5, ConvParams.of(1, 2), true),
                new Geo("1x3 and 3x1 kernels: 1x3", 3, 16, 5, 6, 4, 1, 3, cp(1, 1, 0, 1, 1, 1, 1), true),
                new Geo("1x3 and 3x1 kernels: 3x1 stride 2", 3, 16, 6, 5, 4, 3, 1, cp(2, 2, 1, 0, 1, 1, 1), false),
                new Geo("groups 2 of 16", 3, 32, 6, 6, 6, 3, 3, cp(1, 1, 1, 1, 1, 1, 2), true),
                new Geo("one output channel", 3, 16, 8, 8, 1, 3, 3, ConvParams.of(1, 1), true),
                new Geo("one image (threads split the GEMMs)", 1, 16, 8, 8, 8, 3, 3, ConvParams.of(1, 1), true),
                new Geo("one image stride 2", 1, 16, 7, 8, 8, 3, 3, ConvParams.of(2, 1), true),
                new Geo("80 channels stride 2 (im2col before)", 2, 80, 6, 6, 5, 3, 3, ConvParams.of(2, 1), true));
    }

    @Test
    void shiftedPathMatchesThePreviousPathOverStaleScratch() {
        try (CpuBackend be1 = new CpuBackend(1); CpuBackend be2 = new CpuBackend(2); CpuBackend be3 = new CpuBackend(3)) {
            for (CpuBackend b : List.of(be1, be2, be3)) {
                SplittableRandom rng = new SplittableRandom(27);
                for (Geo g : geometries()) {
                    String what = g.name() + " (threads " + b.threads() + ")";
                    assertTrue(CpuConv.shifted(g.Cg(), g.R(), g.S(), g.W()), what + " does not take the shifted path");
                    float[] x = Check.uniform(rng, g.N() * g.C() * g.H() * g.W(), -1, 1);
                    float[] w = Check.uniform(rng, g.K() * g.Cg() * g.R() * g.S(), -1, 1);
                    float[] bias = g.bias() ? Check.uniform(rng, g.K(), -1, 1) : null;
                    float[] dy = Check.uniform(rng, g.N() * g.K() * g.P() * g.Q(), -1, 1);
                    float[] prev = Check.uniform(rng, w.length, -1, 1);
                    CpuConv.shiftedOn = false;
                    float[][] want;
                    try {
                        want = run(b, g, x, w, bias, dy, prev);
                    } finally {
                        CpuConv.shiftedOn = true;
                    }
                    leaveNaNsInScratch(b);
                    float[][] got = run(b, g, x, w, bias, dy, prev);
                    Check.close(what + " forward", want[0], got[0], TOL, TOL);
                    Check.close(what + " backward data", want[1], got[1], TOL, TOL);
                    Check.close(what + " backward filter, accumulated", want[2], got[2], TOL, TOL);
                }
            }
        }
    }

    /** y, dx (over a NaN-filled dx) and prev + dW for one geometry on the backend's current paths. */
    private static float[][] run(CpuBackend b, Geo g, float[] x, float[] w, float[] bias, float[] dy, float[] prev) {
        try (Scope s = Scope.open()) {
            Tensor xt = b.fromHost(x, Shape.of(g.N(), g.C(), g.H(), g.W())), wt = b.fromHost(w, Shape.of(g.K(), g.Cg(), g.R(), g.S()));
            Tensor dyt = b.fromHost(dy, Shape.of(g.N(), g.K(), g.P(), g.Q()));
            Tensor y = b.empty(dyt.shape());
            b.convForward(xt, wt, bias == null ? null : b.fromHost(bias, Shape.of(g.K())), y, g.p());
            Tensor dx = b.empty(xt.shape());
            b.fill(dx, Float.NaN);
            b.convBackwardData(dyt, wt, dx, g.p());
            Tensor dw = b.fromHost(prev, wt.shape());
            b.convBackwardFilter(xt, dyt, dw, g.p(), true);
            return new float[][]{y.toFloatArray(), dx.toFloatArray(), dw.toFloatArray()};
        }
    }

    /** NaN convolutions on the shifted path (stride 1 pad 1, stride 2, pad 0) fill its scratch with NaNs. */
    private static void leaveNaNsInScratch(CpuBackend b) {
        for (ConvParams p : List.of(ConvParams.of(1, 1), ConvParams.of(2, 1), ConvParams.of(1, 0))) {
            ConvScratch.convolveNaNs(b, 4, 32, 8, 32, p);
        }
    }
}
