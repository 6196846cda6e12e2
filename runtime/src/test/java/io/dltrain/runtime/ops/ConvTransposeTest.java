package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.ConvTranspose2d;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * conv_transpose2d (PyTorch's F.conv_transpose2d) and the ConvTranspose2d layer: forward against a direct scatter
 * loop in double (every input pixel adds its kernel-weighted copy into the output), gradients against finite
 * differences, over stride, padding, output_padding, dilation, groups and non-square geometries; shape errors.
 */
class ConvTransposeTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    static final double TOL = 1e-4;

    /** x [N, C, H, W], w [C, K/G, R, S], output padding oph x opw. */
    record Geo(String name, int N, int C, int H, int W, int K, int R, int S, ConvParams p, int oph, int opw, boolean bias) {
        int P() { return (H - 1) * p.strideH() - 2 * p.padH() + p.dilationH() * (R - 1) + oph + 1; }
        int Q() { return (W - 1) * p.strideW() - 2 * p.padW() + p.dilationW() * (S - 1) + opw + 1; }
        int Kg() { return K / p.groups(); }
    }

    static ConvParams cp(int sh, int sw, int ph, int pw, int dh, int dw, int g) { return new ConvParams(sh, sw, ph, pw, dh, dw, g); }

    static final List<Geo> GEOS = List.of(
            new Geo("stride 1 no pad", 2, 3, 4, 5, 2, 3, 3, ConvParams.of(1, 0), 0, 0, true),
            new Geo("stride 1 pad 1", 2, 2, 5, 4, 3, 3, 3, ConvParams.of(1, 1), 0, 0, true),
            new Geo("stride 2 pad 1", 2, 3, 4, 4, 2, 3, 3, ConvParams.of(2, 1), 0, 0, true),
            new Geo("stride 2 pad 1 output_padding 1 (doubles)", 3, 2, 4, 5, 3, 3, 3, ConvParams.of(2, 1), 1, 1, true),
            new Geo("stride 2 kernel 2 (exact upsampling)", 2, 2, 3, 3, 2, 2, 2, ConvParams.of(2, 0), 0, 0, false),
            new Geo("stride 3 output_padding 2x1", 2, 2, 3, 4, 2, 3, 2, cp(3, 2, 1, 0, 1, 1, 1), 2, 1, true),
            new Geo("groups 2 stride 2", 2, 4, 3, 3, 6, 3, 3, cp(2, 2, 1, 1, 1, 1, 2), 1, 0, true),
            new Geo("depthwise groups 3", 2, 3, 4, 4, 3, 3, 3, cp(1, 1, 1, 1, 1, 1, 3), 0, 0, false),
            new Geo("dilation 2 stride 2", 2, 2, 3, 4, 2, 3, 2, cp(2, 2, 1, 0, 2, 2, 1), 1, 0, true),
            new Geo("non-square stride, pad", 1, 2, 4, 3, 3, 2, 3, cp(1, 2, 0, 1, 1, 1, 1), 0, 1, true),
            new Geo("1x1", 3, 4, 3, 3, 2, 1, 1, ConvParams.of(1, 0), 0, 0, true));

    /** Direct scatter: y[n, g*Kg+k, h*s - pad + r*d, w*s - pad + c*d] += x[n, ci, h, w] * w[ci, k, r, c]. */
    static double[] reference(Geo g, float[] x, float[] w, float[] b) {
        int P = g.P(), Q = g.Q(), Kg = g.Kg(), Cg = g.C / g.p.groups();
        double[] y = new double[g.N * g.K * P * Q];
        for (int n = 0; n < g.N; n++)
            for (int ci = 0; ci < g.C; ci++) {
                int grp = ci / Cg;
                for (int h = 0; h < g.H; h++)
                    for (int ww = 0; ww < g.W; ww++) {
                        double xv = x[((n * g.C + ci) * g.H + h) * g.W + ww];
                        for (int k = 0; k < Kg; k++)
                            for (int r = 0; r < g.R; r++)
                                for (int c = 0; c < g.S; c++) {
                                    int oh = h * g.p.strideH() - g.p.padH() + r * g.p.dilationH();
                                    int ow = ww * g.p.strideW() - g.p.padW() + c * g.p.dilationW();
                                    if (oh < 0 || oh >= P || ow < 0 || ow >= Q) continue;
                                    int ko = grp * Kg + k;
                                    y[((n * g.K + ko) * P + oh) * Q + ow] += xv * w[((ci * Kg + k) * g.R + r) * g.S + c];
                                }
                    }
            }
        if (b != null) for (int i = 0; i < y.length; i++) y[i] += b[(i / (P * Q)) % g.K];
        return y;
    }

    @Test
    void forwardMatchesDirectScatter() {
        SplittableRandom rng = new SplittableRandom(21);
        for (Geo g : GEOS) {
            try (Scope s = Scope.open()) {
                float[] x = Check.uniform(rng, g.N * g.C * g.H * g.W, -1, 1);
                float[] w = Check.uniform(rng, g.C * g.Kg() * g.R * g.S, -1, 1);
                float[] b = g.bias() ? Check.uniform(rng, g.K, -1, 1) : null;
                Tensor y = ConvTranspose.convTranspose2d(be.fromHost(x, Shape.of(g.N, g.C, g.H, g.W)),
                        be.fromHost(w, Shape.of(g.C, g.Kg(), g.R, g.S)), b == null ? null : be.fromHost(b, Shape.of(g.K)),
                        g.p(), g.oph(), g.opw());
                assertEquals(Shape.of(g.N, g.K, g.P(), g.Q()), y.shape(), g.name());
                Check.close(g.name(), reference(g, x, w, b), y.toFloatArray(), TOL, TOL);
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(22);
        for (Geo g : GEOS) {
            try (Tensor x = Check.param(be, rng, -1, 1, g.N, g.C, g.H, g.W);
                 Tensor w = Check.param(be, rng, -1, 1, g.C, g.Kg(), g.R, g.S);
                 Tensor bias = g.bias() ? Check.param(be, rng, -1, 1, g.K) : null) {
                List<Tensor> inputs = bias == null ? List.of(x, w) : List.of(x, w, bias);
                Check.gradients("conv_transpose2d " + g.name(),
                        in -> ConvTranspose.convTranspose2d(in.get(0), in.get(1), in.size() > 2 ? in.get(2) : null, g.p(), g.oph(), g.opw()),
                        inputs, Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
    }

    @Test
    void inputGradientIsSkippedWhenNotNeeded() {
        SplittableRandom rng = new SplittableRandom(23);
        try (Scope s = Scope.open(); Tensor w = Check.param(be, rng, -1, 1, 2, 3, 3, 3)) {
            Tensor x = be.fromHost(Check.uniform(rng, 2 * 2 * 4 * 4, -1, 1), Shape.of(2, 2, 4, 4));
            Tensor y = ConvTranspose.convTranspose2d(x, w, null, ConvParams.of(2, 1), 1, 1);
            Autograd.backward(y, be.fromHost(Check.uniform(rng, y.shape().size(), -1, 1), y.shape()));
            assertNull(x.grad());
            assertEquals(w.shape(), w.grad().shape());
        }
    }

    @Test
    void shapeErrorsSayWhatIsWrong() {
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> ConvTranspose.convTranspose2d(
                    be.zeros(Shape.of(1, 3, 4, 4)), be.zeros(Shape.of(2, 4, 3, 3)), null, ConvParams.of(1, 1), 0, 0));
            assertEquals("conv_transpose2d: input [1, 3, 4, 4] has 3 channels but weight [2, 4, 3, 3] expects 2 (weight dim 0 is C_in):"
                    + " build the layer for 3 input channels, or make the input have 2", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ConvTranspose.convTranspose2d(
                    be.zeros(Shape.of(1, 2, 4, 4)), be.zeros(Shape.of(2, 4, 3, 3)), null, ConvParams.of(2, 1), 2, 0));
            assertTrue(e.getMessage().contains("output_padding 2x0") && e.getMessage().contains("stride"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ConvTranspose.convTranspose2d(
                    be.zeros(Shape.of(1, 2, 4, 4)), be.zeros(Shape.of(2, 4, 3, 3)), be.zeros(Shape.of(3)), ConvParams.of(1, 1), 0, 0));
            assertTrue(e.getMessage().contains("bias") && e.getMessage().contains("[4]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ConvTranspose.convTranspose2d(
                    be.zeros(Shape.of(1, 1, 1, 1)), be.zeros(Shape.of(1, 1, 1, 1)), null, ConvParams.of(1, 1), 0, 0));
            assertTrue(e.getMessage().contains("output would be"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ConvTranspose.convTranspose2d(
                    be.zeros(Shape.of(2, 4, 4)), be.zeros(Shape.of(2, 4, 3, 3)), null, ConvParams.of(1, 1), 0, 0));
            assertTrue(e.getMessage().contains("[N, C_in, H, W]"), e.getMessage());
        }
    }

    @Test
    void layerHasPytorchParametersInitAndShapes() {
        try (ConvTranspose2d c = new ConvTranspose2d(new Context(be, 7), 8, 4, 3, 2, 1, 1);
             ConvTranspose2d d = new ConvTranspose2d(new Context(be, 7), 4, 6, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, 2, false)) {
            assertEquals("ConvTranspose2d(8 -> 4, k3, s2, p1, op1)", c.toString());
            assertEquals(List.of("weight", "bias"), List.copyOf(c.namedParameters().keySet()));
            assertEquals(Shape.of(8, 4, 3, 3), c.weight().shape()); // PyTorch: [C_in, C_out/groups, R, S]
            assertEquals(Shape.of(4), c.bias().shape());
            // PyTorch computes fan_in from weight dim 1: C_out/groups * R * S = 4 * 9
            double bound = 1 / Math.sqrt(36);
            float maxW = 0;
            for (float v : c.weight().toFloatArray()) { assertTrue(Math.abs(v) <= bound, "weight " + v + " outside +-" + bound); maxW = Math.max(maxW, Math.abs(v)); }
            assertTrue(maxW > 0.8 * bound, "weights should fill U(-" + bound + ", " + bound + "), max |w| " + maxW);
            for (float v : c.bias().toFloatArray()) assertTrue(Math.abs(v) <= bound, "bias " + v + " outside +-" + bound);
            assertEquals(Shape.of(4, 3, 3, 2), d.weight().shape());
            assertNull(d.bias());
            assertEquals("ConvTranspose2d(4 -> 6, k3x2, s2x1, p1x0, op1x0, g2, no bias)", d.toString());
            assertEquals(8 * 4 * 9 + 4, c.parameterCount());
            try (Scope s = Scope.open()) {
                assertEquals(Shape.of(2, 4, 14, 14), c.forward(be.zeros(Shape.of(2, 8, 7, 7))).shape()); // 7 -> 14
                // H: (5-1)*2 - 2 + 2 + 1 + 1 = 10; W: (5-1)*1 - 0 + 1 + 0 + 1 = 6
                assertEquals(Shape.of(1, 6, 10, 6), d.forward(be.zeros(Shape.of(1, 4, 5, 5))).shape());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new ConvTranspose2d(new Context(be, 1), 2, 2, 3, 2, 1, 2));
    }
}
