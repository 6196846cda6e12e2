package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code Backend.gemmBias}'s default (what the CPU backend runs): bit for bit the gemm (alpha 1, beta 0) + addBias it
 * replaced in Linear's forward, for every transpose combination and a spread of random shapes, and within float
 * tolerance of a direct double-precision loop over the row-major definition; and Linear's forward unchanged. The same
 * for {@code gemmBiasRelu}'s default: gemmBias then ReLU, bit for bit, NaN kept.
 */
class GemmBiasTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** op(A)[i][p] and op(B)[p][j] read from dense row-major storage, as the gemmBias javadoc defines them. */
    static double[] reference(boolean ta, boolean tb, int m, int n, int k, float[] a, float[] b, float[] bias) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int p = 0; p < k; p++) acc += (double) (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = acc + bias[j];
        }
        return c;
    }

    @Test
    void defaultIsGemmThenAddBiasBitForBit() {
        SplittableRandom rng = new SplittableRandom(11);
        int[][] shapes = {{1, 1, 1}, {5, 3, 7}, {13, 17, 29}, {64, 10, 128}, {3, 40, 1}, {33, 65, 100}};
        for (int[] s : shapes) for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true}) {
            int m = s[0], n = s[1], k = s[2];
            try (Scope sc = Scope.open()) {
                float[] av = Check.uniform(rng, m * k, -1, 1), bv = Check.uniform(rng, k * n, -1, 1), biasv = Check.uniform(rng, n, -1, 1);
                Tensor a = be.fromHost(av, ta ? Shape.of(k, m) : Shape.of(m, k));
                Tensor b = be.fromHost(bv, tb ? Shape.of(n, k) : Shape.of(k, n));
                Tensor bias = be.fromHost(biasv, Shape.of(n));
                Tensor fused = be.empty(Shape.of(m, n)), twoStep = be.empty(Shape.of(m, n));
                be.fill(fused, Float.NaN);   // gemmBias must write every element
                be.gemmBias(ta, tb, m, n, k, a, b, bias, fused);
                be.gemm(ta, tb, m, n, k, 1f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0f, twoStep, 0, n);
                be.addBias(twoStep, bias);
                String what = "gemmBias m=" + m + " n=" + n + " k=" + k + " transA=" + ta + " transB=" + tb;
                assertArrayEquals(twoStep.toFloatArray(), fused.toFloatArray(), what + " vs gemm + addBias");
                // FP32 dot products of k terms against double: ~k * 2^-24 relative to sum|a*b| <= k.
                Check.close(what + " vs the row-major definition", reference(ta, tb, m, n, k, av, bv, biasv), fused.toFloatArray(), 1e-5, 1e-5);
            }
        }
    }

    @Test
    void reluDefaultIsGemmBiasThenReluBitForBit() {
        SplittableRandom rng = new SplittableRandom(13);
        int[][] shapes = {{1, 1, 1}, {5, 3, 7}, {13, 17, 29}, {64, 10, 128}};
        for (int[] s : shapes) for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true}) {
            int m = s[0], n = s[1], k = s[2];
            try (Scope sc = Scope.open()) {
                float[] av = Check.uniform(rng, m * k, -1, 1), bv = Check.uniform(rng, k * n, -1, 1), biasv = Check.uniform(rng, n, -1, 1);
                if (m > 1) av[k] = Float.NaN; // a NaN in A: row 1 (or column 1, transposed) of C is NaN and must stay so
                Tensor a = be.fromHost(av, ta ? Shape.of(k, m) : Shape.of(m, k));
                Tensor b = be.fromHost(bv, tb ? Shape.of(n, k) : Shape.of(k, n));
                Tensor bias = be.fromHost(biasv, Shape.of(n));
                Tensor fused = be.empty(Shape.of(m, n)), twoStep = be.empty(Shape.of(m, n)), relu = be.empty(Shape.of(m, n));
                be.fill(fused, Float.NaN);
                be.gemmBiasRelu(ta, tb, m, n, k, a, b, bias, fused);
                be.gemmBias(ta, tb, m, n, k, a, b, bias, twoStep);
                be.activationForward(io.dltrain.runtime.backend.Activation.RELU, twoStep, relu);
                String what = "gemmBiasRelu m=" + m + " n=" + n + " k=" + k + " transA=" + ta + " transB=" + tb;
                float[] got = fused.toFloatArray(), want = relu.toFloatArray();
                for (int i = 0; i < got.length; i++)
                    assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), what + ": element " + i + " " + got[i] + " vs " + want[i]);
                long clamped = 0, nans = 0;
                for (float v : got) { if (v == 0f) clamped++; if (Float.isNaN(v)) nans++; }
                if (m * n >= 50) assertTrue(clamped > 0 && clamped < got.length, what + ": ReLU clamped " + clamped + " of " + got.length);
                if (m > 1) assertTrue(nans > 0, what + ": the NaN in A must reach C through the ReLU");
            }
        }
    }

    @Test
    void linearForwardIsStillGemmPlusAddBias() {
        SplittableRandom rng = new SplittableRandom(12);
        int n = 9, in = 31, out = 6;
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(Check.uniform(rng, n * in, -1, 1), Shape.of(n, in));
            Tensor w = be.fromHost(Check.uniform(rng, out * in, -1, 1), Shape.of(out, in));
            Tensor b = be.fromHost(Check.uniform(rng, out, -1, 1), Shape.of(out));
            Tensor want = be.empty(Shape.of(n, out));
            be.gemm(false, true, n, out, in, 1f, x, 0, in, w, 0, in, 0f, want, 0, out);
            be.addBias(want, b);
            assertArrayEquals(want.toFloatArray(), Basic.linear(x, w, b).toFloatArray(), "Linear with bias: the two calls it made before");
            Tensor noBias = be.empty(Shape.of(n, out));
            be.gemm(false, true, n, out, in, 1f, x, 0, in, w, 0, in, 0f, noBias, 0, out);
            assertArrayEquals(noBias.toFloatArray(), Basic.linear(x, w, null).toFloatArray(), "Linear without bias: one gemm");
        }
    }
}
