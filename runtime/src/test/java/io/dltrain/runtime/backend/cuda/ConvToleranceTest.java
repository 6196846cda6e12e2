package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Why {@link CudaVsCpuTest#conv(float[])} is the tolerance of CudaVsCpuTest's convolutions, shown without a GPU on its
 * "3x3 s1 p1, 32 -> 32 channels" case (x [4, 32, 16, 16], w [32, 32, 3, 3], uniform in [-1, 1)), which is there so
 * that cuDNN's heuristics may pick Winograd or FFT: the same convolution computed as Winograd F(4x4, 3x3) in float32
 * (Lavin and Gray's transforms, the channel sum in the transform domain, as a Winograd algorithm computes it) against
 * the CPU backend. Winograd's rounding errors are bounded by the largest outputs, not element by element, so
 * {@link CudaVsCpuTest#GEMM}'s element-wise tolerance fails it on outputs near 0 while the convolution is right;
 * {@code conv} passes it. And {@code conv} still fails the convolution computed with TF32 inputs (10-bit mantissa, what
 * cuDNN's tensor-op math does with FP32 data), so a TF32 slip stays visible, and so are wrong convolutions (a tap off by
 * one, a border row missing, a transposed filter).
 */
class ConvToleranceTest {
    static final int N = 4, C = 32, H = 16, W = 16, K = 32;

    // Winograd F(4x4, 3x3): y = AT [ (G g GT) .* (BT d B) ] A, 6x6 input tiles, 4x4 output tiles.
    static final float[][] BT = {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
            {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
    static final float[][] G = {{1 / 4f, 0, 0}, {-1 / 6f, -1 / 6f, -1 / 6f}, {-1 / 6f, 1 / 6f, -1 / 6f},
            {1 / 24f, 1 / 12f, 1 / 6f}, {1 / 24f, -1 / 12f, 1 / 6f}, {0, 0, 1}};
    static final float[][] AT = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

    /** L * M * R^T in float (L: a x b, M: b x b, R: c x b). */
    static float[][] sandwich(float[][] l, float[][] m, float[][] r) {
        int a = l.length, b = m.length, c = r.length;
        float[][] t = new float[a][b], out = new float[a][c];
        for (int i = 0; i < a; i++) for (int j = 0; j < b; j++) { float s = 0; for (int k = 0; k < b; k++) s += l[i][k] * m[k][j]; t[i][j] = s; }
        for (int i = 0; i < a; i++) for (int j = 0; j < c; j++) { float s = 0; for (int k = 0; k < b; k++) s += t[i][k] * r[j][k]; out[i][j] = s; }
        return out;
    }

    /** The 3x3, stride 1, padding 1 convolution of x [N, C, H, W] with w [K, C, 3, 3] by Winograd F(4x4, 3x3), in float. */
    static float[] winograd(float[] x, float[] w) {
        float[][][][] u = new float[K][C][][];
        for (int k = 0; k < K; k++) for (int c = 0; c < C; c++) {
            float[][] g = new float[3][3];
            for (int r = 0; r < 3; r++) for (int s = 0; s < 3; s++) g[r][s] = w[((k * C + c) * 3 + r) * 3 + s];
            u[k][c] = sandwich(G, g, G);
        }
        float[] y = new float[N * K * H * W];
        for (int n = 0; n < N; n++) for (int ty = 0; ty < H; ty += 4) for (int tx = 0; tx < W; tx += 4) {
            float[][][] v = new float[C][][];
            for (int c = 0; c < C; c++) {
                float[][] d = new float[6][6];
                for (int i = 0; i < 6; i++) for (int j = 0; j < 6; j++) {
                    int h = ty + i - 1, ww = tx + j - 1;   // padding 1
                    d[i][j] = h < 0 || h >= H || ww < 0 || ww >= W ? 0f : x[((n * C + c) * H + h) * W + ww];
                }
                v[c] = sandwich(BT, d, BT);
            }
            for (int k = 0; k < K; k++) {
                float[][] m = new float[6][6];
                for (int c = 0; c < C; c++) for (int i = 0; i < 6; i++) for (int j = 0; j < 6; j++) m[i][j] += u[k][c][i][j] * v[c][i][j];
                float[][] t = sandwich(AT, m, AT);
                for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) y[((n * K + k) * H + ty + i) * W + tx + j] = t[i][j];
            }
        }
        return y;
    }

    /** x rounded to TF32 (10 explicit mantissa bits, to nearest). */
    static float[] tf32(float[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = Float.intBitsToFloat((Float.floatToRawIntBits(x[i]) + 0x1000) & 0xffffe000);
        return r;
    }

    static float[] cpuConv(CpuBackend cpu, float[] x, float[] w) {
        Tensor y = cpu.empty(Shape.of(N, K, H, W));
        cpu.convForward(cpu.fromHost(x, Shape.of(N, C, H, W)), cpu.fromHost(w, Shape.of(K, C, 3, 3)), null, y, ConvParams.of(1, 1));
        return y.toFloatArray();
    }

    static int over(float[] want, float[] got, double[] tol) {
        int n = 0;
        for (int i = 0; i < want.length; i++) if (!(Math.abs((double) got[i] - want[i]) <= tol[0] + tol[1] * Math.abs(want[i]))) n++;
        return n;
    }

    @Test
    void winogradPassesTheConvolutionToleranceAndTf32DoesNot() {
        SplittableRandom rng = new SplittableRandom(6);
        float[] x = Check.uniform(rng, N * C * H * W, -1, 1), w = Check.uniform(rng, K * C * 9, -1, 1);
        try (CpuBackend cpu = new CpuBackend(1)) {
            float[] ref = cpuConv(cpu, x, w), wino = winograd(x, w);
            double[] tol = CudaVsCpuTest.conv(ref);
            // The transforms are right: every output agrees to 1e-3 (a wrong index would be off by O(1)).
            Check.close("Winograd F(4x4, 3x3) against the CPU, loosely", ref, wino, 1e-3, 0);
            int overGemm = over(ref, wino, CudaVsCpuTest.GEMM);
            assertTrue(overGemm > 0, "Winograd's norm-wise error exceeds GEMM's element-wise tolerance somewhere (the reason for conv())");
            Check.close("Winograd F(4x4, 3x3) within CudaVsCpuTest.conv (" + overGemm + " of " + ref.length
                    + " outputs over GEMM's tolerance)", ref, wino, tol[0], tol[1]);
            float[] t = cpuConv(cpu, tf32(x), tf32(w));
            int overTf32 = over(ref, t, tol);
            double maxRef = 0, maxWino = 0, maxTf32 = 0;
            for (int i = 0; i < ref.length; i++) {
                maxRef = Math.max(maxRef, Math.abs(ref[i]));
                maxWino = Math.max(maxWino, Math.abs((double) wino[i] - ref[i]));
                maxTf32 = Math.max(maxTf32, Math.abs((double) t[i] - ref[i]));
            }
            System.out.printf("conv tolerance: max|y| %.3g, atol %.3g; Winograd F(4x4,3x3) max |err| %.3g (%.2g max|y|), %d outputs over GEMM's"
                    + " tolerance; TF32 max |err| %.3g, %d of %d outputs over conv()'s%n", maxRef, tol[0], maxWino, maxWino / maxRef, overGemm,
                    maxTf32, overTf32, ref.length);
            assertTrue(overTf32 > ref.length / 10, "TF32 inputs must fail conv()'s tolerance widely: " + overTf32 + " of " + ref.length);
        }
    }

    /**
     * conv()'s wider absolute term (1e-5 x max|y|, 0.00022 here) must still fail a wrong convolution on the same case,
     * not only TF32: each of these changes the outputs it touches by a few of its 288 products (0.2 on average each),
     * a thousand times the term. A tap moved one column right in one channel pair (an index off by one), the input's
     * last row missing (a loop bound off by one: output rows H-2 and H-1), and the filter transposed (r and s swapped):
     * at least 90% of the outputs each changes are over the tolerance, and so is at least one per bug.
     */
    @Test
    void wrongConvolutionsStillFailTheConvolutionTolerance() {
        SplittableRandom rng = new SplittableRandom(6);
        float[] x = Check.uniform(rng, N * C * H * W, -1, 1), w = Check.uniform(rng, K * C * 9, -1, 1);
        try (CpuBackend cpu = new CpuBackend(1)) {
            float[] ref = cpuConv(cpu, x, w);
            double[] tol = CudaVsCpuTest.conv(ref);
            float[] tapOff = w.clone(); // input channel 0 -> output channel 0: the centre tap moved one column right (over that tap)
            tapOff[5] = tapOff[4];
            tapOff[4] = 0;
            float[] lastRowMissing = x.clone();
            for (int n = 0; n < N; n++) for (int c = 0; c < C; c++) java.util.Arrays.fill(lastRowMissing, ((n * C + c) * H + H - 1) * W, ((n * C + c) * H + H) * W, 0f);
            float[] transposed = new float[w.length];
            for (int kc = 0; kc < K * C; kc++) for (int r = 0; r < 3; r++) for (int q = 0; q < 3; q++) transposed[kc * 9 + r * 3 + q] = w[kc * 9 + q * 3 + r];
            java.util.Map<String, float[]> wrong = new java.util.LinkedHashMap<>();
            wrong.put("one tap one column off in one channel pair", cpuConv(cpu, x, tapOff));
            wrong.put("the input's last row missing", cpuConv(cpu, lastRowMissing, w));
            wrong.put("the filter transposed", cpuConv(cpu, x, transposed));
            wrong.forEach((bug, y) -> {
                int changed = 0;
                for (int i = 0; i < ref.length; i++) if (y[i] != ref[i]) changed++;
                int over = over(ref, y, tol);
                System.out.printf("conv tolerance against %s: %d of the %d outputs it changes are over conv()'s tolerance%n", bug, over, changed);
                assertTrue(changed > 0, bug + " changes nothing: the check is void");
                assertTrue(over >= 0.9 * changed, bug + ": only " + over + " of the " + changed + " outputs it changes fail conv()'s tolerance"
                        + " (atol " + tol[0] + ", rtol " + tol[1] + ")");
            });
        }
    }
}
