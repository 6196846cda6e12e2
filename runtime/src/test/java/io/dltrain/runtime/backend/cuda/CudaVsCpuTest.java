package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.backend.MemoryStats;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The CUDA backend against the CPU reference, op family by op family: every {@link Backend} method is run on the
 * same random inputs (fixed seeds) on both backends and the outputs are compared element by element with
 * {@link Check#close} (|gpu - cpu| <= atol + rtol * |cpu|, failing with the worst element).
 *
 * <p>Outputs that an op must overwrite start as NaN on both sides, so an element the device forgets to write fails
 * the comparison; outputs that an op accumulates into start as the same random values on both sides.
 *
 * <p>Tolerances, and why (FP32 has a unit roundoff u = 2^-24 ~ 6e-8):
 * <ul>
 *   <li>{@link #EXACT}: copies, fills, add/mul/scale, max-pool routing, dropout masks, top-k counts. The kernels are
 *       compiled with -fmad=false and IEEE division, so one rounding per element on both sides: bit-identical.</li>
 *   <li>{@link #ELEMENTWISE} 1e-6 rel + 1e-7 abs: element-wise arithmetic of a few roundings where the two sides may
 *       order them differently (axpy, optimiser updates with sqrt and division).</li>
 *   <li>{@link #TRANSCENDENTAL} 2e-6 rel + 1e-6 abs: CUDA's expf/tanhf/erff/log1pf are within 1-2 ulp, Java's
 *       StrictMath/Math within 1; an activation derivative composes two or three of them (~8 ulp ~ 1e-6 rel),
 *       and near a zero crossing the absolute term covers the cancellation.</li>
 *   <li>{@link #reduction(long)}: sums whose order differs (the CPU sums in double; on the device our kernels sum
 *       strided double partials in a tree, and cuDNN's pooling and batch norm sum in float in their own order, up to
 *       ~log2(n) levels): error <= depth * u * sum|x|, so for O(1) inputs atol = 1e-6 * n and rtol 1e-5.</li>
 *   <li>{@link #GEMM}: GEMM and convolution, rtol 1e-4 atol 1e-5: FP32 dot products of up to a few hundred terms
 *       accumulated in a different order (blocked, split-K, Winograd/FFT algorithms in cuDNN) differ by
 *       ~sqrt(K) * u * sum|a*b| — well under 1e-5 absolute for the O(1) inputs used here.</li>
 *   <li>{@link #conv(float[])}: convolutions, GEMM's tolerance with the absolute term raised to 1e-5 * max|reference|
 *       where that is larger. cuDNN may run an FP32 convolution as Winograd or FFT (deterministic FMA-math algorithms
 *       that {@link ConvAlgoCache#pick} accepts), whose rounding errors are bounded norm-wise, by the largest
 *       outputs, not element by element: an output near 0 carries the same absolute error as the largest. Winograd
 *       F(4x4, 3x3) in float32 on the 32 -> 32 channel case errs by up to 4.6e-6 * max|y| (45 of 32,768 outputs over
 *       GEMM's tolerance); TF32 on the same case errs by far more than the new term
 *       ({@code ConvToleranceTest}).</li>
 * </ul>
 *
 * <p>Skips every test with "no usable GPU: reason" when CUDA cannot be used (always so on machines without an
 * NVIDIA driver). The system property {@code -Ddltrain.gpuTest.standIn=cpu} runs the same comparisons against a
 * second, single-threaded CPU backend: that proves only the harness (shapes, NaN pre-fills, tolerances) on a machine
 * without a GPU; it says nothing about the CUDA backend.
 */
@Tag("gpu")
class CudaVsCpuTest {
    static final double[] EXACT = {0, 0};
    static final double[] ELEMENTWISE = {1e-7, 1e-6};
    static final double[] TRANSCENDENTAL = {1e-6, 2e-6};
    static final double[] GEMM = {1e-5, 1e-4};

    static double[] reduction(long n) { return new double[] {1e-6 * Math.max(1, n), 1e-5}; }

    /**
     * A convolution's tolerance against the CPU's {@code reference}: {@link #GEMM}'s, its absolute term at least
     * 1e-5 * max|reference| (about 170 u of the largest output), because cuDNN's Winograd and FFT algorithms err norm-wise
     * (see the class comment and {@code ConvToleranceTest}, which measures both that and that TF32 still fails it).
     */
    static double[] conv(float[] reference) {
        double max = 0;
        for (float v : reference) if (Float.isFinite(v)) max = Math.max(max, Math.abs(v));
        return new double[] {Math.max(GEMM[0], 1e-5 * max), GEMM[1]};
    }

    static Backend cpu, dev;
    /** Why the device cannot be used here, or null. */
    static String unusable;

    @BeforeAll
    static void open() {
        GpuTestDevice d = GpuTestDevice.open();
        dev = d.backend();
        unusable = d.unusable();
        if (dev != null) cpu = new CpuBackend(2);
    }

    /** Per test rather than in @BeforeAll, so each test is reported as skipped with the reason (not silently absent). */
    @BeforeEach
    void needsDevice() {
        Assumptions.assumeTrue(unusable == null, "no usable GPU: " + unusable);
    }

    @AfterAll
    static void close() {
        if (dev != null) dev.close();
        if (cpu != null) cpu.close();
    }

    // ------------------------------------------------------------------------------------------ harness

    /** The same tensor on the CPU ({@code c}) and on the device ({@code d}). */
    record P(Tensor c, Tensor d) {
        Tensor on(boolean device) { return device ? d : c; }
    }

    /** One op, run once per backend; {@code t(p)} picks that backend's tensor (null stays null). */
    interface Op { void run(Backend be, Side s); }

    record Side(boolean device) {
        Tensor t(P p) { return p == null ? null : p.on(device); }
    }

    static void both(Op op) {
        op.run(cpu, new Side(false));
        op.run(dev, new Side(true));
        dev.synchronize();
    }

    static P of(float[] v, int... dims) {
        Shape s = Shape.of(dims);
        return new P(cpu.fromHost(v, s), dev.fromHost(v, s));
    }

    static P ints(int[] v, int... dims) {
        Shape s = Shape.of(dims);
        return new P(cpu.fromHost(v, s), dev.fromHost(v, s));
    }

    static P rand(SplittableRandom rng, double lo, double hi, int... dims) {
        return of(Check.uniform(rng, Shape.of(dims).size(), lo, hi), dims);
    }

    /** An output that the op must overwrite: NaN on both sides. */
    static P out(int... dims) {
        float[] v = new float[Shape.of(dims).size()];
        java.util.Arrays.fill(v, Float.NaN);
        return of(v, dims);
    }

    static void same(String what, P p, double[] tol) {
        Check.close(what + " (cuda vs cpu)", p.c.toFloatArray(), p.d.toFloatArray(), tol[0], tol[1]);
    }

    static void sameInts(String what, P p) {
        assertArrayEquals(p.c.toIntArray(), p.d.toIntArray(), what + " (cuda vs cpu)");
    }

    static int[] labels(SplittableRandom rng, int n, int classes) {
        int[] l = new int[n];
        for (int i = 0; i < n; i++) l[i] = rng.nextInt(classes);
        return l;
    }

    // ------------------------------------------------------------------------------------------ identity, memory

    @Test
    void identityAndMemoryStats() {
        if (dev instanceof CpuBackend) return; // the stand-in has no device identity or allocator statistics
        assertEquals(Device.Kind.CUDA, dev.device().kind(), "device kind");
        assertTrue(dev.name().startsWith("cuda"), "name: " + dev.name());
        assertFalse(dev.describe().isEmpty(), "describe() should list the device and library versions");
        dev.synchronize();
        MemoryStats before = dev.memoryStats();
        long bytes = 4L << 20;
        Tensor t = Scope.outside(() -> dev.empty(Shape.of((int) (bytes / 4))));
        MemoryStats during = dev.memoryStats();
        assertTrue(during.inUseBytes() >= before.inUseBytes() + bytes,
                "in-use bytes should grow by at least " + bytes + ": " + before + " -> " + during);
        assertTrue(during.reservedBytes() >= during.inUseBytes(), "reserved >= in use: " + during);
        assertTrue(during.peakBytes() >= during.inUseBytes(), "peak >= in use: " + during);
        t.close();
        MemoryStats after = dev.memoryStats();
        assertEquals(before.inUseBytes(), after.inUseBytes(), "closing the tensor should return in-use bytes to " + before);
        assertTrue(after.peakBytes() >= during.inUseBytes(), "peak must remember the high-water mark: " + after);
    }

    // ------------------------------------------------------------------------------------------ copies and fill

    @Test
    void copiesAndFill() {
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(1);
            float[] host = Check.uniform(rng, 4099, -3, 3);
            P a = of(host, 4099);
            assertArrayEquals(host, a.d.toFloatArray(), "fromHost/toHost FP32 round trip");
            int[] hostI = labels(rng, 1031, 1 << 30);
            P ai = ints(hostI, 1031);
            assertArrayEquals(hostI, ai.d.toIntArray(), "fromHost/toHost INT32 round trip");

            // copyFromHost with a source offset, into a view with an element offset.
            P big = out(5000);
            both((be, x) -> be.copyFromHost(host, 17, x.t(big).view(100, Shape.of(3000))));
            P bigTail = new P(big.c.view(100, Shape.of(3000)), big.d.view(100, Shape.of(3000)));
            same("copyFromHost at offsets", bigTail, EXACT);
            int[] intsBack = new int[1031];
            both((be, x) -> be.copyFromHost(hostI, 0, x.t(ai)));
            dev.toHost(ai.d, intsBack);
            assertArrayEquals(hostI, intsBack, "copyFromHost INT32");

            P y = out(4099);
            both((be, x) -> be.copy(x.t(a), x.t(y)));
            same("copy FP32", y, EXACT);
            P yi = ints(new int[1031], 1031);
            both((be, x) -> be.copy(x.t(ai), x.t(yi)));
            sameInts("copy INT32", yi);
            // copy between views (reshape and offset).
            P v = out(60, 50);
            both((be, x) -> be.copy(x.t(a).view(99, Shape.of(2000)), x.t(v).view(1000, Shape.of(2000))));
            P vTail = new P(v.c.view(1000, Shape.of(2000)), v.d.view(1000, Shape.of(2000)));
            same("copy between views", vTail, EXACT);

            // copyBlocks: a strided 2-D copy (channel concatenation), offsets relative to each tensor.
            P src = rand(rng, -1, 1, 6, 7, 11);
            P dst = rand(rng, -1, 1, 6, 13, 11);
            both((be, x) -> be.copyBlocks(x.t(src), 11, 77, x.t(dst), 22, 143, 5 * 11, 6));
            same("copyBlocks", dst, EXACT);
            both((be, x) -> be.copyBlocks(x.t(src).view(7, Shape.of(400)), 3, 40, x.t(dst), 1, 100, 33, 9));
            same("copyBlocks from a view", dst, EXACT);

            P f = out(3, 1027);
            both((be, x) -> be.fill(x.t(f), -2.75f));
            same("fill FP32", f, EXACT);
            both((be, x) -> be.fill(x.t(f).view(5, Shape.of(11)), 1e30f));
            same("fill of a view", f, EXACT);
            P fi = ints(hostI, 1031);
            both((be, x) -> be.fill(x.t(fi), 7f));
            sameInts("fill INT32", fi);
            P z = new P(cpu.zeros(Shape.of(777)), dev.zeros(Shape.of(777)));
            same("zeros", z, EXACT);
            P one = of(new float[] {3.25f}, 1);
            assertEquals(3.25f, dev.item(one.d), "item");
        }
    }

    // ------------------------------------------------------------------------------------------ GEMM

    @Test
    void gemmAllTransposesOffsetsStridesAlphaBeta() {
        int m = 13, n = 17, k = 29;
        float[][] alphaBeta = {{1f, 0f}, {0.5f, -1.5f}, {-2f, 1f}};
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(2);
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    for (float[] ab : alphaBeta) {
                        // Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k); row strides exceed the
                        // row length and each matrix starts at an offset, so padding must stay untouched.
                        int aRows = ta ? k : m, aCols = ta ? m : k, lda = aCols + 3;
                        int bRows = tb ? n : k, bCols = tb ? k : n, ldb = bCols + 2;
                        int ldc = n + 5;
                        long aOff = 7, bOff = 3, cOff = 11;
                        P a = rand(rng, -1, 1, (int) aOff + aRows * lda);
                        P b = rand(rng, -1, 1, (int) bOff + bRows * ldb);
                        P c = rand(rng, -1, 1, (int) cOff + m * ldc);
                        both((be, x) -> be.gemm(ta, tb, m, n, k, ab[0], x.t(a), aOff, lda, x.t(b), bOff, ldb, ab[1], x.t(c), cOff, ldc));
                        same("gemm transA=" + ta + " transB=" + tb + " alpha=" + ab[0] + " beta=" + ab[1], c, GEMM);
                    }
                }
            }
            // A size where cuBLAS takes its tiled (and possibly split-K) paths; linear layers use exactly this call.
            int M = 64, N = 200, K = 300;
            P a = rand(rng, -1, 1, M, K), w = rand(rng, -1, 1, N, K), c = out(M, N);
            both((be, x) -> be.gemm(false, true, M, N, K, 1f, x.t(a), 0, K, x.t(w), 0, K, 0f, x.t(c), 0, N));
            same("gemm 64x200x300 (x * W^T)", c, GEMM);
        }
    }

    /** gemmBias with random dense inputs on {@code be}, returning C; the CPU reference gets the same values. */
    static void gemmBiasCase(Backend be, SplittableRandom rng, boolean ta, boolean tb, int m, int n, int k, int aOffset, String tag) {
        gemmBiasCase(be, rng, ta, tb, m, n, k, aOffset, tag, false);
    }

    /** gemmBias, or with {@code relu} gemmBiasRelu, on {@code be} and on the CPU with the same random inputs. */
    static void gemmBiasCase(Backend be, SplittableRandom rng, boolean ta, boolean tb, int m, int n, int k, int aOffset, String tag,
                             boolean relu) {
        float[] av = Check.uniform(rng, aOffset + m * k, -1, 1), bv = Check.uniform(rng, k * n, -1, 1), biasv = Check.uniform(rng, n, -1, 1);
        Shape aShape = ta ? Shape.of(k, m) : Shape.of(m, k), bShape = tb ? Shape.of(n, k) : Shape.of(k, n);
        float[] nan = new float[m * n];
        java.util.Arrays.fill(nan, Float.NaN);
        float[][] got = new float[2][];
        Backend[] sides = {cpu, be};
        for (int s = 0; s < 2; s++) {
            Backend x = sides[s];
            // A at an element offset (when asked) so its address is only 4-byte aligned: cuBLASLt must cope or refuse.
            Tensor a = x.fromHost(av, Shape.of(aOffset + m * k)).view(aOffset, aShape);
            Tensor c = x.fromHost(nan, Shape.of(m, n));
            if (relu) x.gemmBiasRelu(ta, tb, m, n, k, a, x.fromHost(bv, bShape), x.fromHost(biasv, Shape.of(n)), c);
            else x.gemmBias(ta, tb, m, n, k, a, x.fromHost(bv, bShape), x.fromHost(biasv, Shape.of(n)), c);
            got[s] = c.toFloatArray();
        }
        Check.close((relu ? "gemmBiasRelu " : "gemmBias ") + tag + " m=" + m + " n=" + n + " k=" + k + " transA=" + ta + " transB=" + tb + " aOffset=" + aOffset
                + " (" + be.name() + " vs cpu)", got[0], got[1], GEMM[0], GEMM[1]);
    }

    @Test
    void gemmBiasAllTransposesThroughCublasLtAndWithTheKillSwitch() {
        int[][] shapes = {{13, 17, 29}, {64, 200, 300}, {1, 10, 84}, {128, 1, 7}};
        SplittableRandom rng = new SplittableRandom(21);
        try (Scope s = Scope.open()) {
            for (int[] sh : shapes) for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true})
                for (int off : new int[] {0, 1})
                    gemmBiasCase(dev, rng, ta, tb, sh[0], sh[1], sh[2], off, "fused");
            gemmBiasCase(dev, rng, false, true, 5, 3, 0, 0, "k=0 (sgemm + addBias)");
        }
        if (dev instanceof CudaBackend cd) {
            // The fused path really ran: cuBLASLt exists here and refused none of these shapes (a refusal names its reason).
            assertNotNull(cd.cublasLt(), cd.gemmBiasPath());
            assertEquals(java.util.Map.of(), cd.cublasLt().refused(), "shapes cuBLASLt refused");
            assertTrue(cd.cublasLt().cachedShapes() > 0, "cuBLASLt descriptors cached");
        }

        // -Ddltrain.cublasLt=false: a backend made with it never creates cuBLASLt and runs sgemm + add_bias_f32.
        String before = System.getProperty(CublasLt.SWITCH);
        Backend off;
        System.setProperty(CublasLt.SWITCH, "false");
        try {
            off = dev instanceof CudaBackend ? Backends.create("cuda", 0, msg -> {}) : new CpuBackend(1);
        } finally {
            if (before == null) System.clearProperty(CublasLt.SWITCH); else System.setProperty(CublasLt.SWITCH, before);
        }
        try (off) {
            if (off instanceof CudaBackend co) {
                assertNull(co.cublasLt());
                assertTrue(co.gemmBiasPath().contains("dltrain.cublasLt=false"), co.gemmBiasPath());
            }
            try (Scope s = Scope.open()) {
                for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true})
                    gemmBiasCase(off, rng, ta, tb, 13, 17, 29, 0, "kill switch");
                gemmBiasCase(off, rng, false, true, 13, 17, 29, 0, "kill switch (sgemm + add_bias_f32 + ReLU)", true);
            }
        }
    }

    /**
     * gemmBiasRelu (a Linear followed by a ReLU): the bias epilogue and cuDNN's ReLU, or with
     * -Ddltrain.cublasLt.reluEpilogue=true cuBLASLt's RELU_BIAS epilogue, against the CPU's gemm + bias + ReLU,
     * every transpose, aligned and 4-byte-aligned A; about half the outputs are clamped (inputs in [-1, 1), zero-mean
     * bias). Then NaN: a NaN in one row of x makes that row of x W^T + b NaN, and ReLU must keep it NaN, as the CPU
     * and PyTorch's relu do (cuBLASLt does not document what its ReLU does with NaN; a mismatch here means the
     * divergence check could miss a NaN that the epilogue turned into 0).
     */
    @Test
    void gemmBiasReluMatchesTheCpuIncludingNaN() {
        int[][] shapes = {{13, 17, 29}, {64, 200, 300}, {1, 10, 84}, {128, 1, 7}};
        SplittableRandom rng = new SplittableRandom(22);
        try (Scope s = Scope.open()) {
            for (int[] sh : shapes) for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true})
                for (int off : new int[] {0, 1})
                    gemmBiasCase(dev, rng, ta, tb, sh[0], sh[1], sh[2], off, "fused", true);

            int m = 6, n = 5, k = 8;
            float[] xv = Check.uniform(rng, m * k, -1, 1), wv = Check.uniform(rng, n * k, -1, 1), bv = Check.uniform(rng, n, -1, 1);
            xv[2 * k + 3] = Float.NaN; // row 2 of the output becomes NaN before the ReLU
            float[][] got = new float[2][];
            Backend[] sides = {cpu, dev};
            for (int i = 0; i < 2; i++) {
                Backend x = sides[i];
                Tensor c = x.zeros(Shape.of(m, n));
                x.gemmBiasRelu(false, true, m, n, k, x.fromHost(xv, Shape.of(m, k)), x.fromHost(wv, Shape.of(n, k)), x.fromHost(bv, Shape.of(n)), c);
                got[i] = c.toFloatArray();
            }
            for (int i = 0; i < m * n; i++) {
                boolean nanRow = i / n == 2;
                assertEquals(nanRow, Float.isNaN(got[0][i]), "CPU reference: element " + i);
                assertEquals(nanRow, Float.isNaN(got[1][i]), "gemmBiasRelu NaN propagation on " + dev.name() + ": element " + i
                        + " is " + got[1][i] + " (" + (nanRow ? "expected NaN: ReLU(NaN) = NaN" : "expected a number") + ")");
                if (!nanRow) assertEquals(got[0][i], got[1][i], GEMM[0] + GEMM[1] * Math.abs(got[0][i]), "element " + i);
            }
        }
        if (dev instanceof CudaBackend cd) assertEquals(java.util.Map.of(), cd.cublasLt().refused(), "shapes cuBLASLt refused");
    }

    // ------------------------------------------------------------------------------------------ element-wise

    @Test
    void elementwiseAndReductions() {
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(3);
            int n = 4099; // not a multiple of any block size: exercises the tails
            P a = rand(rng, -1, 1, n), b = rand(rng, -1, 1, n);
            P y = out(n);
            both((be, x) -> be.add(x.t(a), x.t(b), x.t(y)));
            same("add", y, EXACT);
            both((be, x) -> be.mul(x.t(a), x.t(b), x.t(y)));
            same("mul", y, EXACT);
            both((be, x) -> be.scale(x.t(a), -0.37f, x.t(y)));
            same("scale", y, EXACT);
            P alias = rand(rng, -1, 1, n);
            both((be, x) -> be.add(x.t(alias), x.t(b), x.t(alias)));
            both((be, x) -> be.scale(x.t(alias), 1.5f, x.t(alias)));
            same("add and scale in place", alias, EXACT);
            P acc = rand(rng, -1, 1, n);
            both((be, x) -> be.axpy(0.731f, x.t(a), x.t(acc)));
            same("axpy", acc, ELEMENTWISE);

            for (int[] dims : new int[][] {{37, 19}, {3, 5, 7, 9}}) {
                int ch = dims[1];
                P yb = rand(rng, -1, 1, dims), bias = rand(rng, -1, 1, ch);
                both((be, x) -> be.addBias(x.t(yb), x.t(bias)));
                same("addBias " + Shape.of(dims), yb, EXACT);
                long perChannel = Shape.of(dims).numel() / ch;
                P db = out(ch);
                both((be, x) -> be.biasGrad(x.t(yb), x.t(db), false));
                same("biasGrad " + Shape.of(dims), db, reduction(perChannel));
                P dbAcc = rand(rng, -1, 1, ch);
                both((be, x) -> be.biasGrad(x.t(yb), x.t(dbAcc), true));
                same("biasGrad accumulate " + Shape.of(dims), dbAcc, reduction(perChannel));
            }

            P big = rand(rng, -1, 1, 100_003);
            P sum = out(1);
            both((be, x) -> be.sum(x.t(big), 1f, x.t(sum)));
            same("sum", sum, reduction(100_003));
            both((be, x) -> be.sum(x.t(big), 1f / 100_003, x.t(sum)));
            same("sum scaled (a mean)", sum, reduction(1));
            P sq = out(1);
            both((be, x) -> be.sumSquares(x.t(big), x.t(sq), false));
            same("sumSquares", sq, reduction(100_003));
            P sqAcc = of(new float[] {12.5f}, 1);
            both((be, x) -> be.sumSquares(x.t(a), x.t(sqAcc), true));
            same("sumSquares accumulate", sqAcc, reduction(n));

            // clipByNorm: once scaling down (norm > max), once leaving x unchanged (norm < max).
            for (float maxNorm : new float[] {5f, 1e4f}) {
                P g = rand(rng, -1, 1, n), gsq = out(1);
                both((be, x) -> be.sumSquares(x.t(g), x.t(gsq), false));
                P normIn = of(new float[] {gsq.c.toFloatArray()[0]}, 1); // the same squared norm on both sides
                both((be, x) -> be.clipByNorm(x.t(g), x.t(normIn), maxNorm));
                same("clipByNorm max " + maxNorm, g, ELEMENTWISE);
            }
            // A NaN squared norm makes every element NaN, as PyTorch's NaN clip coefficient does (GradClipTest).
            P gn = rand(rng, -1, 1, n), nanNorm = of(new float[] {Float.NaN}, 1);
            both((be, x) -> be.clipByNorm(x.t(gn), x.t(nanNorm), 1f));
            assertArrayEquals(gn.c.toFloatArray(), gn.d.toFloatArray(), "clipByNorm NaN norm (cuda vs cpu)");
            assertTrue(Float.isNaN(gn.d.toFloatArray()[0]), "clipByNorm with a NaN norm must make x NaN on the device");

            // checkFinite: a clean tensor leaves the flag alone; NaN or +-Inf anywhere (also in the tail) sets it.
            float[] clean = Check.uniform(rng, n, -1e30, 1e30);
            P flag = of(new float[] {0f}, 1);
            P cl = of(clean, n);
            both((be, x) -> be.checkFinite(x.t(cl), x.t(flag)));
            same("checkFinite clean", flag, EXACT);
            assertEquals(0f, flag.d.toFloatArray()[0], "checkFinite on finite values must leave the flag at 0");
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                for (int at : new int[] {0, 2048, n - 1}) {
                    float[] v = clean.clone();
                    v[at] = bad;
                    P t = of(v, n), fl = of(new float[] {0f}, 1);
                    both((be, x) -> be.checkFinite(x.t(t), x.t(fl)));
                    same("checkFinite " + bad + " at " + at, fl, EXACT);
                    assertEquals(1f, fl.d.toFloatArray()[0], "checkFinite must flag " + bad + " at " + at);
                }
            }
        }
    }

    /**
     * The differentiable scale, sum and mean (ops.Basic: a loss of one's own) through autograd on both backends: their
     * forward is the backend's scale and sum, their backward fill, addBias over an [n, 1] view, and scale.
     */
    @Test
    void scaleSumAndMeanOpsForwardAndBackward() {
        try (Scope s = Scope.open()) {
            int n = 4099;
            float[] v = Check.uniform(new SplittableRandom(31), n, -1, 1);
            for (boolean mean : new boolean[] {false, true}) {
                float[][] loss = new float[2][], grad = new float[2][];
                for (Backend be : new Backend[] {cpu, dev}) {
                    int k = be == cpu ? 0 : 1;
                    Tensor x = be.fromHost(v, Shape.of(n)).requiresGrad(true);
                    Tensor y = io.dltrain.runtime.ops.Basic.scale(x, -0.37f);
                    Tensor l = mean ? io.dltrain.runtime.ops.Basic.mean(y) : io.dltrain.runtime.ops.Basic.sum(y);
                    l.backward();
                    loss[k] = l.toFloatArray();
                    grad[k] = x.grad().toFloatArray();
                }
                String op = mean ? "mean(scale(x))" : "sum(scale(x))";
                Check.close(op, loss[0], loss[1], reduction(mean ? 1 : n)[0], reduction(n)[1]);
                Check.close(op + " backward", grad[0], grad[1], 0, 0);
            }
        }
    }

    /**
     * pow and its backward for torch's exact forms (0, 1, 2, 3, -2, 0.5, -0.5, -1: bit for bit, IEEE sqrt and division on
     * both) and powf's exponents (the CUDA library's powf against Math.pow: within TRANSCENDENTAL), over negative bases,
     * zeros of both signs, 1 and -1, and through Basic.pow's autograd.
     */
    @Test
    void powForwardAndBackward() {
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(41);
            int n = 4099;
            float[] xv = Check.uniform(rng, n, -3, 3);
            float[] specials = {0f, -0f, 1f, -1f, -2f, 2f, 1e-30f, -1e-30f};
            System.arraycopy(specials, 0, xv, 0, specials.length);
            P x = of(xv, n), dy = rand(rng, -1, 1, n);
            for (float p : new float[] {0f, 1f, 2f, 3f, -2f, 0.5f, -0.5f, -1f, 2.5f, -1.5f, 0.3f, 4f}) {
                boolean exact = p == 0f || p == 1f || p == 2f || p == 3f || p == -2f || p == 0.5f || p == -0.5f || p == -1f;
                boolean exactBackward = p == 0f || p == 1f || p == 2f || p == 3f || p == 4f || p == -1f || p == 1.5f || p == 0.5f;
                P y = out(n), dx = out(n);
                both((be, t) -> be.pow(t.t(x), p, t.t(y)));
                both((be, t) -> be.powBackward(t.t(x), p, t.t(dy), t.t(dx)));
                sameSpecials("pow(x, " + p + ")", y, exact ? EXACT : TRANSCENDENTAL);
                sameSpecials("pow(x, " + p + ") backward", dx, exactBackward ? EXACT : TRANSCENDENTAL);
            }
            float[][] grad = new float[2][];
            for (Backend be : new Backend[] {cpu, dev}) {
                Tensor t = be.fromHost(Check.uniform(new SplittableRandom(42), n, 0.1, 2), Shape.of(n)).requiresGrad(true);
                io.dltrain.runtime.ops.Basic.sum(io.dltrain.runtime.ops.Basic.pow(t, 1.5f)).backward();
                grad[be == cpu ? 0 : 1] = t.grad().toFloatArray();
            }
            Check.close("Basic.pow(x, 1.5) gradient (cuda vs cpu)", grad[0], grad[1], 0, 0);
        }
    }

    /** same(), with NaN, infinities and signed zeros compared bit for bit first (Check.close cannot subtract them). */
    static void sameSpecials(String what, P p, double[] tol) {
        float[] c = p.c.toFloatArray(), d = p.d.toFloatArray();
        for (int i = 0; i < c.length; i++)
            if (Float.isNaN(c[i]) || Float.isInfinite(c[i]) || c[i] == 0f) {
                assertTrue(Float.isNaN(c[i]) ? Float.isNaN(d[i]) : Float.floatToIntBits(c[i]) == Float.floatToIntBits(d[i]),
                        what + " (cuda vs cpu): element " + i + " is " + d[i] + ", the CPU has " + c[i]);
                c[i] = d[i] = 0f;
            }
        Check.close(what + " (cuda vs cpu)", c, d, tol[0], tol[1]);
    }

    // ------------------------------------------------------------------------------------------ activations

    @Test
    void everyActivationForwardAndBackward() {
        List<Activation> acts = List.of(Activation.RELU, Activation.leakyRelu(0.01f), Activation.leakyRelu(0.3f),
                Activation.elu(1f), Activation.elu(0.5f), Activation.SIGMOID, Activation.TANH,
                Activation.softplus(1f), Activation.softplus(2.5f), Activation.GELU);
        assertEquals(Activation.Kind.values().length, acts.stream().map(Activation::kind).distinct().count(), "every kind is tested");
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(4);
            int n = 3 * 5 * 7 * 11;
            float[] xv = Check.uniform(rng, n, -6, 6);
            for (int i = 0; i < n; i += 97) xv[i] = 0f; // the kinks: each backend must use the same convention at 0
            xv[1] = 30f; xv[2] = -30f;                    // saturated sigmoid/tanh/softplus
            P x = of(xv, 3, 5, 7, 11);
            for (Activation act : acts) {
                double[] tol = act.kind() == Activation.Kind.RELU || act.kind() == Activation.Kind.LEAKY_RELU ? EXACT : TRANSCENDENTAL;
                P y = out(3, 5, 7, 11);
                both((be, t) -> be.activationForward(act, t.t(x), t.t(y)));
                same(act + " forward", y, tol);
                P dy = rand(rng, -1, 1, 3, 5, 7, 11), dx = out(3, 5, 7, 11);
                // The device backward gets the device's own forward output, as it would in training.
                both((be, t) -> be.activationBackward(act, t.t(x), t.t(y), t.t(dy), t.t(dx)));
                same(act + " backward", dx, tol);
            }
            // NaN of either sign bit (x86 arithmetic makes -NaN): LeakyReLU's kernel takes PyTorch's x > 0 branch
            // (dy * slope) for both, as the CPU does (ActivationTest.nanInputsTakePyTorchsGradientBranchWhateverTheirSign).
            Activation leaky = Activation.leakyRelu(0.2f);
            P nx = of(new float[] {Float.intBitsToFloat(0x7fc00000), Float.intBitsToFloat(0xffc00000), 1f, -1f}, 4);
            P ny = out(4), ndy = of(new float[] {0.5f, -2f, 3f, 4f}, 4), ndx = out(4);
            both((be, t) -> be.activationForward(leaky, t.t(nx), t.t(ny)));
            both((be, t) -> be.activationBackward(leaky, t.t(nx), t.t(ny), t.t(ndy), t.t(ndx)));
            same(leaky + " backward at NaN", ndx, EXACT);
            assertEquals(-0.4f, ndx.d.toFloatArray()[1], leaky + " backward at -NaN on the device");
            // ReLU and ELU at NaN of either sign (dy passes, as in PyTorch) and at +-0 (the x <= 0 branch: 0, alpha * dy):
            // their forward is cuDNN's, their backward our kernel's (CudnnShapes.backwardOnCudnn), so this holds whatever
            // convention cuDNN's backward has at those points, which its reference does not state.
            P kx = of(new float[] {Float.intBitsToFloat(0x7fc00000), Float.intBitsToFloat(0xffc00000), 0f, -0f, 2f, -2f}, 6);
            P kdy = of(new float[] {0.5f, -2f, 3f, 4f, -5f, 6f}, 6);
            for (Activation act : List.of(Activation.RELU, Activation.elu(0.5f))) {
                P ky = out(6), kdx = out(6);
                both((be, t) -> be.activationForward(act, t.t(kx), t.t(ky)));
                float[] yc = ky.c.toFloatArray(), yd = ky.d.toFloatArray();   // NaN stays NaN (CUDNN_PROPAGATE_NAN)
                for (int i = 0; i < 2; i++) assertTrue(Float.isNaN(yc[i]) && Float.isNaN(yd[i]), act + " forward at NaN: cpu " + yc[i] + ", cuda " + yd[i]);
                Check.close(act + " forward at +-0 and +-2 (cuda vs cpu)", Arrays.copyOfRange(yc, 2, 6), Arrays.copyOfRange(yd, 2, 6),
                        act.kind() == Activation.Kind.RELU ? 0 : TRANSCENDENTAL[0], act.kind() == Activation.Kind.RELU ? 0 : TRANSCENDENTAL[1]);
                both((be, t) -> be.activationBackward(act, t.t(kx), t.t(ky), t.t(kdy), t.t(kdx)));
                same(act + " backward at NaN and +-0", kdx, act.kind() == Activation.Kind.RELU ? EXACT : TRANSCENDENTAL);
                float[] got = kdx.d.toFloatArray();
                assertEquals(0.5f, got[0], act + " backward at NaN on the device");
                assertEquals(-2f, got[1], act + " backward at -NaN on the device");
                assertEquals(act.kind() == Activation.Kind.RELU ? 0f : 1.5f, got[2], act + " backward at 0 on the device");
            }
            // More rows than one cuDNN call gets (CudnnOps.MAX_N_PER_CALL, in slices), for activations cuDNN computes.
            int big = CudnnOps.MAX_N_PER_CALL + 1000;
            P bx = rand(rng, -6, 6, big, 3);
            for (Activation act : List.of(Activation.RELU, Activation.TANH)) {
                P y = out(big, 3), dy = rand(rng, -1, 1, big, 3), dx = out(big, 3);
                double[] tol = act.kind() == Activation.Kind.RELU ? EXACT : TRANSCENDENTAL;
                both((be, t) -> be.activationForward(act, t.t(bx), t.t(y)));
                same(act + " forward, " + big + " rows", y, tol);
                both((be, t) -> be.activationBackward(act, t.t(bx), t.t(y), t.t(dy), t.t(dx)));
                same(act + " backward, " + big + " rows", dx, tol);
            }
        }
    }

    /** The LSTM cell (lstm.cu): c and h, both backward halves, with and without dcPrev; a batch past the grid cap. */
    @Test
    void lstmCellForwardAndBackward() {
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(14);
            for (int[] nh : new int[][] {{5, 7}, {128, 128}}) {
                int n = nh[0], h = nh[1];
                String what = "lstm cell [" + n + ", " + h + "]";
                P gates = rand(rng, -6, 6, n, 4 * h), cPrev = rand(rng, -3, 3, n, h), c = out(n, h), hh = out(n, h);
                both((be, t) -> be.lstmCellForward(t.t(gates), t.t(cPrev), t.t(c), t.t(hh)));
                same(what + " c", c, TRANSCENDENTAL);
                same(what + " h", hh, TRANSCENDENTAL);
                P dc = rand(rng, -1, 1, n, h), dgates = out(n, 4 * h), dcPrev = out(n, h);
                both((be, t) -> be.lstmCellBackwardC(t.t(gates), t.t(cPrev), t.t(dc), t.t(dgates), t.t(dcPrev)));
                same(what + " backward c: dgates", dgates, TRANSCENDENTAL);
                same(what + " backward c: dcPrev", dcPrev, TRANSCENDENTAL);
                P dgates2 = out(n, 4 * h);
                both((be, t) -> be.lstmCellBackwardC(t.t(gates), t.t(cPrev), t.t(dc), t.t(dgates2), null));
                same(what + " backward c without dcPrev", dgates2, TRANSCENDENTAL);
                // The device's backward of h gets the device's own forward c, as in training.
                P dh = rand(rng, -1, 1, n, h), dgatesH = out(n, 4 * h), dcH = out(n, h);
                both((be, t) -> be.lstmCellBackwardH(t.t(gates), t.t(c), t.t(dh), t.t(dgatesH), t.t(dcH)));
                same(what + " backward h: dgates", dgatesH, TRANSCENDENTAL);
                same(what + " backward h: dc", dcH, TRANSCENDENTAL);
            }
        }
    }

    @Test
    void softmaxAndLogSoftmaxForwardAndBackward() {
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(5);
            // The last: more rows than one cuDNN call gets (CudnnOps.MAX_N_PER_CALL, in slices).
            for (int[] dims : new int[][] {{7, 33}, {2, 3, 50}, {4, 1000}, {1, 1}, {97}, {CudnnOps.MAX_N_PER_CALL + 1000, 5}}) {
                int len = dims[dims.length - 1];
                for (boolean log : new boolean[] {false, true}) {
                    P x = rand(rng, -8, 8, dims), y = out(dims);
                    both((be, t) -> be.softmaxForward(t.t(x), t.t(y), log));
                    same((log ? "log-softmax" : "softmax") + " forward " + Shape.of(dims), y, reduction(len > 1 ? 2 : 1));
                    P dy = rand(rng, -1, 1, dims), dx = out(dims);
                    both((be, t) -> be.softmaxBackward(t.t(y), t.t(dy), t.t(dx), log));
                    // log-softmax backward subtracts exp(y) * sum(dy), a sum of len terms; softmax backward sums dy * y, at most 1.
                    same((log ? "log-softmax" : "softmax") + " backward " + Shape.of(dims), dx, reduction(log ? len : 2));
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------ convolution

    /** One convolution case: input [n, c, h, w], k filters of r x s, geometry, bias or not. */
    record ConvCase(String name, int n, int c, int h, int w, int k, int r, int s, ConvParams p, boolean bias) {}

    @Test
    void convolutionForwardBackwardDataBackwardFilter() {
        List<ConvCase> cases = List.of(
                new ConvCase("3x3 s1 p1 bias", 2, 3, 9, 11, 4, 3, 3, ConvParams.of(1, 1), true),
                new ConvCase("5x3 s2 p0", 2, 3, 12, 10, 5, 5, 3, ConvParams.of(2, 0), false),
                new ConvCase("3x3 dilation 2 pad 2", 1, 4, 10, 9, 3, 3, 3, new ConvParams(1, 1, 2, 2, 2, 2, 1), true),
                new ConvCase("groups 2, stride 2x1, pad 1x0", 2, 4, 8, 9, 6, 3, 3, new ConvParams(2, 1, 1, 0, 1, 1, 2), true),
                new ConvCase("depthwise", 3, 4, 7, 7, 4, 3, 3, new ConvParams(1, 1, 1, 1, 1, 1, 4), false),
                new ConvCase("1x1 s2", 2, 16, 8, 8, 8, 1, 1, ConvParams.of(2, 0), false),
                new ConvCase("7x7 s2 p3 (resnet stem)", 2, 3, 32, 32, 8, 7, 7, ConvParams.of(2, 3), false),
                // Wide enough that cuDNN's heuristics may pick implicit-GEMM, Winograd or FFT algorithms.
                new ConvCase("3x3 s1 p1, 32 -> 32 channels", 4, 32, 16, 16, 32, 3, 3, ConvParams.of(1, 1), true),
                // No input channels: nothing to sum, y = bias (an early return once left y as it was: NaN here).
                new ConvCase("no input channels (C = 0)", 2, 0, 5, 5, 3, 3, 3, ConvParams.of(1, 1), true));
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(6);
            for (ConvCase cc : cases) {
                ConvParams p = cc.p();
                int P = p.outH(cc.h(), cc.r()), Q = p.outW(cc.w(), cc.s());
                P x = rand(rng, -1, 1, cc.n(), cc.c(), cc.h(), cc.w());
                P w = rand(rng, -1, 1, cc.k(), cc.c() / p.groups(), cc.r(), cc.s());
                P bias = cc.bias() ? rand(rng, -1, 1, cc.k()) : null;
                P y = out(cc.n(), cc.k(), P, Q);
                both((be, t) -> be.convForward(t.t(x), t.t(w), t.t(bias), t.t(y), p));
                same("conv forward " + cc.name(), y, conv(y.c().toFloatArray()));
                P dy = rand(rng, -1, 1, cc.n(), cc.k(), P, Q);
                P dx = out(cc.n(), cc.c(), cc.h(), cc.w());
                both((be, t) -> be.convBackwardData(t.t(dy), t.t(w), t.t(dx), p));
                same("conv backward data " + cc.name(), dx, conv(dx.c().toFloatArray()));
                P dw = out(cc.k(), cc.c() / p.groups(), cc.r(), cc.s());
                both((be, t) -> be.convBackwardFilter(t.t(x), t.t(dy), t.t(dw), p, false));
                same("conv backward filter " + cc.name(), dw, conv(dw.c().toFloatArray()));
                P dwAcc = rand(rng, -1, 1, cc.k(), cc.c() / p.groups(), cc.r(), cc.s());
                both((be, t) -> be.convBackwardFilter(t.t(x), t.t(dy), t.t(dwAcc), p, true));
                same("conv backward filter accumulate " + cc.name(), dwAcc, conv(dwAcc.c().toFloatArray()));
            }
            // A batch beyond one cuDNN call (CudnnOps.MAX_N_PER_CALL, in slices; dw adds the slices' sums). dw sums
            // big x 2 x 2 terms per element: the reduction rule's tolerance, not GEMM's.
            int big = CudnnOps.MAX_N_PER_CALL + 1000;
            ConvParams p = ConvParams.of(1, 0);
            P x = rand(rng, -1, 1, big, 2, 3, 3), w = rand(rng, -1, 1, 3, 2, 2, 2), bias = rand(rng, -1, 1, 3);
            P y = out(big, 3, 2, 2);
            both((be, t) -> be.convForward(t.t(x), t.t(w), t.t(bias), t.t(y), p));
            same("conv forward, batch of " + big, y, conv(y.c().toFloatArray()));
            P dy = rand(rng, -1, 1, big, 3, 2, 2), dx = out(big, 2, 3, 3);
            both((be, t) -> be.convBackwardData(t.t(dy), t.t(w), t.t(dx), p));
            same("conv backward data, batch of " + big, dx, conv(dx.c().toFloatArray()));
            for (boolean accumulate : new boolean[] {false, true}) {
                P dw = accumulate ? rand(rng, -1, 1, 3, 2, 2, 2) : out(3, 2, 2, 2);
                both((be, t) -> be.convBackwardFilter(t.t(x), t.t(dy), t.t(dw), p, accumulate));
                same("conv backward filter" + (accumulate ? " accumulate" : "") + ", batch of " + big, dw, reduction(4L * big));
            }
        }
    }

    // ------------------------------------------------------------------------------------------ pooling

    /** Whether ceil mode gives average pooling one more window than cuDNN's floor rule (the CUDA backend runs pool.cu's kernel). */
    static boolean avgCeilAddsWindow(PoolParams p, int h, int w) {
        return p.kind() == PoolParams.Kind.AVG && (p.outH(h) != CudnnShapes.cudnnPoolOut(h, p.kH(), p.padH(), p.strideH())
                || p.outW(w) != CudnnShapes.cudnnPoolOut(w, p.kW(), p.padW(), p.strideW()));
    }

    @Test
    void poolingMaxAvgAndAdaptive() {
        List<PoolParams> pools = List.of(
                PoolParams.max(2, 2, 0), PoolParams.max(3, 2, 1), PoolParams.max(3, 1, 1),
                new PoolParams(PoolParams.Kind.MAX, 3, 3, 2, 2, 0, 0, true, true),
                new PoolParams(PoolParams.Kind.MAX, 2, 3, 1, 2, 1, 1, true, false),
                PoolParams.avg(2, 2, 0), PoolParams.avg(3, 2, 1),
                new PoolParams(PoolParams.Kind.AVG, 3, 3, 2, 2, 1, 1, false, false),
                new PoolParams(PoolParams.Kind.AVG, 3, 3, 2, 2, 1, 1, true, true),
                new PoolParams(PoolParams.Kind.AVG, 3, 3, 2, 2, 0, 1, false, true));
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(7);
            int n = 2, c = 3, h = 11, w = 10, ownKernel = 0;
            for (PoolParams p : pools) {
                // Random floats: ties inside a window are (practically) impossible, so max routing is unambiguous.
                P x = rand(rng, -1, 1, n, c, h, w);
                P y = out(n, c, p.outH(h), p.outW(w));
                // Average pooling where ceil mode adds a window runs on pool.cu's kernels (cuDNN cannot compute
                // PyTorch's clipped divisor), which add the CPU's terms in the CPU's order: the same floats.
                boolean ours = avgCeilAddsWindow(p, h, w);
                if (ours) ownKernel++;
                double[] tol = p.kind() == PoolParams.Kind.MAX || ours ? EXACT : reduction(1);
                both((be, t) -> be.poolForward(t.t(x), t.t(y), p));
                same("pool forward " + p, y, tol);
                P dy = rand(rng, -1, 1, n, c, p.outH(h), p.outW(w)), dx = out(n, c, h, w);
                both((be, t) -> be.poolBackward(t.t(x), t.t(y), t.t(dy), t.t(dx), p));
                same("pool backward " + p, dx, ours ? EXACT : p.kind() == PoolParams.Kind.MAX ? reduction(1) : reduction(4));
            }
            assertEquals(2, ownKernel, "average pools whose extra ceil-mode window sends them to pool.cu");
            for (int[] o : new int[][] {{1, 1}, {3, 4}, {7, 9}, {5, 13}}) {
                P x = rand(rng, -1, 1, n, c, 7, 9), y = out(n, c, o[0], o[1]);
                both((be, t) -> be.adaptiveAvgPoolForward(t.t(x), t.t(y)));
                same("adaptive avg pool forward to " + o[0] + "x" + o[1], y, reduction(1));
                P dy = rand(rng, -1, 1, n, c, o[0], o[1]), dx = out(n, c, 7, 9);
                both((be, t) -> be.adaptiveAvgPoolBackward(t.t(dy), t.t(dx)));
                same("adaptive avg pool backward from " + o[0] + "x" + o[1], dx, reduction(4));
            }
            // A batch beyond what one cuDNN pooling call takes (CudnnOps.MAX_N_PER_CALL, in slices): plain windows, and a
            // ceil-mode max pool that runs on a padded copy, both directions.
            int big = CudnnOps.MAX_N_PER_CALL + 1000;
            for (PoolParams p : List.of(PoolParams.avg(2, 2, 0), new PoolParams(PoolParams.Kind.MAX, 3, 3, 2, 2, 0, 0, true, true))) {
                P x = rand(rng, -1, 1, big, 1, 4, 5), y = out(big, 1, p.outH(4), p.outW(5));
                both((be, t) -> be.poolForward(t.t(x), t.t(y), p));
                same("pool forward, " + big + " samples, " + p, y, p.kind() == PoolParams.Kind.MAX ? EXACT : reduction(1));
                P dy = rand(rng, -1, 1, big, 1, p.outH(4), p.outW(5)), dx = out(big, 1, 4, 5);
                both((be, t) -> be.poolBackward(t.t(x), t.t(y), t.t(dy), t.t(dx), p));
                same("pool backward, " + big + " samples, " + p, dx, p.kind() == PoolParams.Kind.MAX ? reduction(1) : reduction(4));
            }
        }
    }

    // ------------------------------------------------------------------------------------------ batch norm

    @Test
    void batchNormTrainingInferenceBackward() {
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(8);
            // cuDNN trains the rank-4 cases; [N, C] and more than 880,801 samples run on norm.cu (CudnnOps.cudnnTrains).
            for (int[] dims : new int[][] {{4, 3, 5, 6}, {16, 5}, {2, 8, 1, 1}, {CudnnOps.MAX_N_PER_CALL + 1000, 3},
                    {CudnnOps.MAX_N_BATCH_NORM_TRAINING + 1, 2, 1}}) {
                int c = dims[1];
                long m = Shape.of(dims).numel() / c;
                double[] tol = reduction(m);
                P x = rand(rng, -1, 3, dims), gamma = rand(rng, 0.5, 1.5, c), beta = rand(rng, -0.5, 0.5, c);
                P rm = rand(rng, -0.1, 0.1, c), rv = rand(rng, 0.9, 1.1, c);
                P y = out(dims), mean = out(c), invStd = out(c);
                both((be, t) -> be.batchNormForwardTraining(t.t(x), t.t(gamma), t.t(beta), t.t(rm), t.t(rv), 0.1f, 1e-5f,
                        t.t(y), t.t(mean), t.t(invStd)));
                String sh = " " + Shape.of(dims);
                same("batch norm training y" + sh, y, tol);
                same("batch norm saved mean" + sh, mean, tol);
                same("batch norm saved inverse std" + sh, invStd, tol);
                same("batch norm running mean" + sh, rm, tol);
                same("batch norm running var" + sh, rv, tol);

                P yi = out(dims);
                both((be, t) -> be.batchNormForwardInference(t.t(x), t.t(gamma), t.t(beta), t.t(rm), t.t(rv), 1e-5f, t.t(yi)));
                same("batch norm inference" + sh, yi, TRANSCENDENTAL);

                // Backward from the CPU's saved statistics on both sides, so only the backward kernel is compared.
                P meanIn = of(mean.c.toFloatArray(), c), invIn = of(invStd.c.toFloatArray(), c);
                P dy = rand(rng, -1, 1, dims), dx = out(dims), dg = out(c), dbeta = out(c);
                both((be, t) -> be.batchNormBackward(t.t(x), t.t(dy), t.t(gamma), t.t(meanIn), t.t(invIn),
                        t.t(dx), t.t(dg), t.t(dbeta), false));
                same("batch norm backward dx" + sh, dx, tol);
                same("batch norm backward dgamma" + sh, dg, tol);
                same("batch norm backward dbeta" + sh, dbeta, tol);
                P dgAcc = rand(rng, -1, 1, c), dbAcc = rand(rng, -1, 1, c), dx2 = out(dims);
                both((be, t) -> be.batchNormBackward(t.t(x), t.t(dy), t.t(gamma), t.t(meanIn), t.t(invIn),
                        t.t(dx2), t.t(dgAcc), t.t(dbAcc), true));
                same("batch norm backward dgamma accumulate" + sh, dgAcc, tol);
                same("batch norm backward dbeta accumulate" + sh, dbAcc, tol);
            }
        }
    }

    /**
     * The ops that run a ReLU in place over their own output and read its gradient from that output
     * ({@code Norm.batchNormRelu}, with and without the residual add, and {@code Conv.conv2dRelu}): on each backend bit
     * for bit the separate ops they replace (output, every input's gradient), so the device's in-place activation
     * forward, its add into its own output and its ReLU backward given the output for the input agree with the calls
     * the separate ops make. A NaN and values exactly at the threshold are in the inputs. The CPU tests
     * ({@code BatchNormReluTest}, {@code ConvReluTest}) check the same on the CPU only.
     */
    @Test
    void fusedReluOpsAreTheSeparateOpsBitForBit() {
        SplittableRandom rng = new SplittableRandom(13);
        float[] xv = Check.uniform(rng, 2 * 3 * 4 * 5, -2, 2), idv = Check.uniform(rng, xv.length, -1, 1);
        float[] dyv = Check.uniform(rng, xv.length, -1, 1), wv = Check.uniform(rng, 4 * 3 * 3 * 3, -0.5, 0.5);
        xv[7] = Float.NaN;                                     // channel 0 of the batch norm becomes NaN
        for (int i = 0; i < 20; i++) { xv[40 + i] = 0.75f; xv[100 + i] = 0.75f; if (i % 2 == 0) idv[40 + i] = 0f; } // channel 2: beta, 0
        for (int i = 0; i < 27; i++) wv[27 + i] = 0f;          // conv output channel 1 is its bias: 0, the threshold
        float[] gv = {1.5f, -0.5f, 1f}, bv = {0.2f, -0.1f, 0f}, cbv = {0.1f, 0f, -0.3f, Float.NaN};
        ConvParams p = ConvParams.of(1, 1);
        for (Backend be : new Backend[] {cpu, dev}) {
            for (int variant = 0; variant < 3; variant++) {
                float[][][] got = new float[2][][];
                for (int fused = 0; fused < 2; fused++) {
                    try (Scope s = Scope.open()) {
                        Shape xs = Shape.of(2, 3, 4, 5);
                        Tensor x = be.fromHost(xv, xs).requiresGrad(true), id = be.fromHost(idv, xs).requiresGrad(true);
                        Tensor g = be.fromHost(gv, Shape.of(3)).requiresGrad(true), b = be.fromHost(bv, Shape.of(3)).requiresGrad(true);
                        Tensor w = be.fromHost(wv, Shape.of(4, 3, 3, 3)).requiresGrad(true), cb = be.fromHost(cbv, Shape.of(4)).requiresGrad(true);
                        Tensor rm = be.zeros(Shape.of(3)), rv = be.fromHost(new float[] {1f, 1f, 1f}, Shape.of(3));
                        Tensor y, dy;
                        List<Tensor> ins;
                        if (variant < 2) {
                            Tensor idt = variant == 1 ? id : null;
                            if (fused == 1) y = io.dltrain.runtime.ops.Norm.batchNormRelu(x, g, b, rm, rv, true, 0.1f, 1e-5f, idt);
                            else {
                                Tensor z = io.dltrain.runtime.ops.Norm.batchNorm(x, g, b, rm, rv, true, 0.1f, 1e-5f);
                                y = io.dltrain.runtime.ops.Activations.relu(idt == null ? z : io.dltrain.runtime.ops.Basic.add(z, idt));
                            }
                            dy = be.fromHost(dyv, xs);
                            ins = variant == 1 ? List.of(x, g, b, id) : List.of(x, g, b);
                        } else {
                            y = fused == 1 ? io.dltrain.runtime.ops.Conv.conv2dRelu(x, w, cb, p)
                                    : io.dltrain.runtime.ops.Activations.relu(io.dltrain.runtime.ops.Conv.conv2d(x, w, cb, p));
                            dy = be.fromHost(Check.uniform(new SplittableRandom(14), (int) y.numel(), -1, 1), y.shape());
                            ins = List.of(x, w, cb);
                        }
                        io.dltrain.runtime.autograd.Autograd.backward(y, dy);
                        got[fused] = new float[ins.size() + 3][];
                        got[fused][0] = y.toFloatArray();
                        got[fused][1] = rm.toFloatArray();
                        got[fused][2] = rv.toFloatArray();
                        for (int k = 0; k < ins.size(); k++) got[fused][k + 3] = ins.get(k).grad().toFloatArray();
                    }
                }
                String what = (variant == 0 ? "batchNormRelu" : variant == 1 ? "batchNormRelu with the add" : "conv2dRelu") + " on " + be.name();
                for (int k = 0; k < got[0].length; k++) {
                    String part = k == 0 ? "output" : k == 1 ? "running mean" : k == 2 ? "running var" : "gradient of input " + (k - 3);
                    int[] a = bits(got[0][k]), f = bits(got[1][k]);
                    assertArrayEquals(a, f, what + ": " + part + " (fused vs the separate ops)");
                }
            }
        }
    }

    static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    // ------------------------------------------------------------------------------------------ dropout

    @Test
    void dropoutMasksBitIdentical() {
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(9);
            int n = 10_007;
            P x = rand(rng, -1, 1, n);
            for (float p : new float[] {0.1f, 0.5f, 0.9f}) {
                for (long seed : new long[] {0L, 1234L, -77L}) {
                    P y = out(n), mask = out(n);
                    both((be, t) -> be.dropoutForward(t.t(x), t.t(y), t.t(mask), p, seed));
                    same("dropout mask p=" + p + " seed=" + seed, mask, EXACT);
                    same("dropout output p=" + p + " seed=" + seed, y, EXACT);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------ losses, metrics

    @Test
    void crossEntropyWithAndWithoutSmoothing() {
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(10);
            for (int[] nc : new int[][] {{9, 11}, {64, 10}, {3, 1000}}) {
                int n = nc[0], c = nc[1];
                for (float smoothing : new float[] {0f, 0.1f}) {
                    P logits = rand(rng, -5, 5, n, c), labels = ints(labels(rng, n, c), n);
                    P probs = out(n, c), loss = out(1);
                    both((be, t) -> be.crossEntropyForward(t.t(logits), t.t(labels), smoothing, t.t(probs), t.t(loss)));
                    String what = " N=" + n + " C=" + c + " smoothing=" + smoothing;
                    same("cross-entropy probs" + what, probs, reduction(2));
                    same("cross-entropy loss" + what, loss, reduction(c));
                    P dloss = of(new float[] {1.7f}, 1), dlogits = out(n, c);
                    both((be, t) -> be.crossEntropyBackward(t.t(probs), t.t(labels), smoothing, t.t(dloss), t.t(dlogits)));
                    same("cross-entropy backward" + what, dlogits, reduction(2));
                }
            }
        }
    }

    @Test
    void everyElementwiseLoss() {
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(11);
            int n = 3 * 1111;
            for (LossKind kind : LossKind.values()) {
                P pred = rand(rng, -3, 3, 3, 1111);
                float[] tv = kind == LossKind.BCE_WITH_LOGITS ? Check.uniform(rng, n, 0, 1) : Check.uniform(rng, n, -3, 3);
                float[] pv = pred.c.toFloatArray();
                for (int i = 0; i < n; i += 101) tv[i] = kind == LossKind.BCE_WITH_LOGITS ? 1f : pv[i]; // L1's kink at 0
                P target = of(tv, 3, 1111);
                P loss = out(1);
                both((be, t) -> be.lossForward(kind, t.t(pred), t.t(target), t.t(loss)));
                same(kind + " forward", loss, reduction(10));
                P dloss = of(new float[] {0.8f}, 1), dpred = out(3, 1111);
                both((be, t) -> be.lossBackward(kind, t.t(pred), t.t(target), t.t(dloss), t.t(dpred)));
                same(kind + " backward", dpred, kind == LossKind.BCE_WITH_LOGITS ? TRANSCENDENTAL : ELEMENTWISE);
            }
            // BCE with logits at +-inf, PyTorch's values (LossTest.bceWithLogitsAtInfiniteLogitsAsPyTorch): inf at +inf
            // for t < 1, NaN otherwise.
            float inf = Float.POSITIVE_INFINITY;
            float[][] xt = {{inf, 0f}, {inf, 0.3f}, {inf, 1f}, {-inf, 0f}, {-inf, 0.3f}, {-inf, 1f}};
            for (float[] c : xt) {
                P x = of(new float[] {c[0]}, 1), t1 = of(new float[] {c[1]}, 1), loss = out(1);
                both((be, t) -> be.lossForward(LossKind.BCE_WITH_LOGITS, t.t(x), t.t(t1), t.t(loss)));
                assertArrayEquals(loss.c.toFloatArray(), loss.d.toFloatArray(), "BCE_WITH_LOGITS at x " + c[0] + ", t " + c[1] + " (cuda vs cpu)");
            }
            // L1's gradient is torch.sign(x - t): 0 where the difference is NaN (LossTest.l1GradientIsZeroWhereTheDifferenceIsNanAsPyTorch).
            P lx = of(new float[] {Float.NaN, 0.5f, 2f, inf, -1f}, 5), lt = of(new float[] {1f, 0.25f, 2f, inf, 3f}, 5);
            P ldl = of(new float[] {1f}, 1), ldx = out(5);
            both((be, t) -> be.lossBackward(LossKind.L1, t.t(lx), t.t(lt), t.t(ldl), t.t(ldx)));
            same("L1 backward at NaN differences", ldx, EXACT);
        }
    }

    @Test
    void countTopKWithTies() {
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(12);
            int n = 300, c = 10;
            // Integer-valued logits in a small range: many ties, so the tie rule is exercised.
            float[] lv = new float[n * c];
            for (int i = 0; i < lv.length; i++) lv[i] = rng.nextInt(4);
            P logits = of(lv, n, c), labels = ints(labels(rng, n, c), n);
            P rl = rand(rng, -1, 1, n, c);
            for (int k : new int[] {1, 3, 5, 10}) {
                P count = of(new float[] {2f}, 1); // accumulates into what is there
                both((be, t) -> be.countTopK(t.t(logits), t.t(labels), k, t.t(count)));
                same("countTopK k=" + k + " (tied logits)", count, EXACT);
                P count2 = of(new float[] {0f}, 1);
                both((be, t) -> be.countTopK(t.t(rl), t.t(labels), k, t.t(count2)));
                same("countTopK k=" + k, count2, EXACT);
            }
        }
    }

    @Test
    void oneHotAndARowWithABadLabel() {
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(13);
            for (int[] nc : new int[][] {{300, 10}, {3, 1}, {0, 4}}) {
                int n = nc[0], c = nc[1];
                P labels = ints(labels(rng, n, c), n), oh = out(n, c);
                both((be, t) -> be.oneHot(t.t(labels), t.t(oh)));
                same("oneHot [" + n + ", " + c + "]", oh, EXACT);
            }
            // Labels and out as views at element offsets (a slice of a bigger batch's labels; rows of a bigger
            // buffer): each side reads labels[11..31) and writes out's 20 rows from element 9, nothing around them.
            int[] all = labels(rng, 50, 6);
            float[] sevens = new float[9 + 20 * 6 + 5];
            java.util.Arrays.fill(sevens, 7f);
            P allLabels = ints(all, 50), wide = of(sevens, sevens.length);
            both((be, t) -> be.oneHot(t.t(allLabels).view(11, Shape.of(20)), t.t(wide).view(9, Shape.of(20, 6))));
            float[] want = sevens.clone();
            for (int r = 0; r < 20; r++) for (int j = 0; j < 6; j++) want[9 + r * 6 + j] = j == all[11 + r] ? 1f : 0f;
            assertArrayEquals(want, wide.c.toFloatArray(), "oneHot of views at offsets (cpu)");
            same("oneHot of views at offsets", wide, EXACT);
            // The CPU refuses a label outside [0, C) (LossTest); the device cannot throw, and writes NaN across its row.
            // The CPU stand-in (-Ddltrain.gpuTest.standIn=cpu) is a CPU backend, so it refuses the row as the CPU does.
            Tensor bad = dev.empty(Shape.of(3, 4));
            Tensor badLabels = dev.fromHost(new int[] {2, 4, -1}, Shape.of(3));
            if (dev instanceof CpuBackend) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dev.oneHot(badLabels, bad));
                assertTrue(e.getMessage().contains("label 4 in row 1"), e.getMessage());
                return;
            }
            dev.oneHot(badLabels, bad);
            float nan = Float.NaN;
            assertArrayEquals(new float[] {0f, 0f, 1f, 0f, nan, nan, nan, nan, nan, nan, nan, nan}, bad.toFloatArray(),
                    "rows 1 (label 4 of 4 classes) and 2 (label -1) are NaN");
        }
    }

    // ------------------------------------------------------------------------------------------ optimisers

    /** How many state buffers Backend.optimizerStep takes for h (the slots the optimiser allocates). */
    static int stateSlots(OptimizerHyper h) {
        return switch (h) {
            case OptimizerHyper.Sgd x -> 1;
            case OptimizerHyper.Adagrad x -> 1;
            case OptimizerHyper.Adadelta x -> 2;
            case OptimizerHyper.RmsProp x -> 3;
            case OptimizerHyper.Adam x -> 2;
        };
    }

    @Test
    void everyOptimizerThreeSteps() {
        List<OptimizerHyper> hypers = List.of(
                new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f),
                new OptimizerHyper.Sgd(0.9f, 0f, false, 5e-4f, 0f),
                new OptimizerHyper.Sgd(0.9f, 0.1f, true, 1e-2f, 1e-3f),
                new OptimizerHyper.Sgd(0.5f, 0.5f, false, 0f, 0f),
                new OptimizerHyper.Adagrad(0f, 1e-10f, 0f, 0f, 0f),
                new OptimizerHyper.Adagrad(0.01f, 1e-8f, 0.1f, 1e-2f, 1e-3f),
                new OptimizerHyper.Adadelta(0.9f, 1e-6f, 0f, 0f),
                new OptimizerHyper.Adadelta(0.95f, 1e-5f, 1e-2f, 1e-3f),
                new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0f, false, 0f, 0f),
                new OptimizerHyper.RmsProp(0.9f, 1e-6f, 0.9f, true, 1e-2f, 0f),
                new OptimizerHyper.RmsProp(0.95f, 1e-8f, 0.5f, false, 0f, 1e-3f),
                new OptimizerHyper.RmsProp(0.95f, 1e-8f, 0f, true, 0f, 0f),
                new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0f, 0f),
                new OptimizerHyper.Adam(0.8f, 0.99f, 1e-6f, false, 1e-2f, 1e-3f),
                new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 1e-2f, 0f));
        float[] lrs = {0.05f, 0.01f, 0.1f};
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(13);
            int n = 5003;
            for (OptimizerHyper h : hypers) {
                int slots = stateSlots(h);
                P param = rand(rng, -1, 1, n);
                List<P> state = new ArrayList<>();
                for (int i = 0; i < slots; i++) state.add(of(new float[n], n));
                for (int step = 1; step <= 3; step++) {
                    P grad = rand(rng, -1, 1, n);
                    float[] gBefore = grad.c.toFloatArray();
                    float lr = lrs[step - 1];
                    long st = step;
                    both((be, t) -> {
                        Tensor[] buf = new Tensor[slots];
                        for (int i = 0; i < slots; i++) buf[i] = t.t(state.get(i));
                        be.optimizerStep(h, t.t(param), t.t(grad), buf, lr, st);
                    });
                    assertArrayEquals(gBefore, grad.d.toFloatArray(), h + ": the device modified the gradient");
                    same(h + " param after step " + step, param, ELEMENTWISE);
                    for (int i = 0; i < slots; i++) same(h + " state[" + i + "] after step " + step, state.get(i), ELEMENTWISE);
                }
            }
        }
    }

    /**
     * The multi-tensor launch (optimizerStepAll) against the CPU and against the device's own single-tensor launches,
     * bit for bit: sizes around the 4096-element block boundary, an empty tensor, then a different group, so the table
     * is uploaded again.
     */
    @Test
    void everyOptimizerOverAGroupInOneLaunch() {
        List<OptimizerHyper> hypers = List.of(
                new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f),
                new OptimizerHyper.Sgd(0.9f, 0.1f, true, 1e-2f, 1e-3f),
                new OptimizerHyper.Adagrad(0.01f, 1e-8f, 0.1f, 1e-2f, 1e-3f),
                new OptimizerHyper.Adadelta(0.95f, 1e-5f, 1e-2f, 1e-3f),
                new OptimizerHyper.RmsProp(0.9f, 1e-6f, 0.9f, true, 1e-2f, 0f),
                new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0f, false, 0f, 0f),
                new OptimizerHyper.Adam(0.8f, 0.99f, 1e-6f, false, 1e-2f, 1e-3f),
                new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 1e-2f, 0f));
        int[] sizes = {4097, 1, 0, 4096, 12289, 3};
        try (Scope sc = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(17);
            for (OptimizerHyper h : hypers) {
                int slots = stateSlots(h);
                int k = sizes.length;
                List<P> params = new ArrayList<>(), grads = new ArrayList<>();
                List<List<P>> states = new ArrayList<>();
                List<Tensor> single = new ArrayList<>();          // device copies stepped one launch at a time
                List<Tensor[]> singleStates = new ArrayList<>();
                for (int n : sizes) {
                    P p = rand(rng, -1, 1, n);
                    params.add(p);
                    single.add(dev.fromHost(p.c.toFloatArray(), Shape.of(n)));
                    List<P> st = new ArrayList<>();
                    Tensor[] sst = new Tensor[slots];
                    for (int i = 0; i < slots; i++) {
                        st.add(of(new float[n], n));
                        sst[i] = dev.zeros(Shape.of(n));
                    }
                    states.add(st);
                    singleStates.add(sst);
                    grads.add(rand(rng, -1, 1, n));
                }
                for (int step = 1; step <= 4; step++) {
                    // steps 1-3: the whole group; step 4: every other tensor (a new table), as where some got no gradient
                    List<Integer> group = new ArrayList<>();
                    for (int t = 0; t < k; t++) if (step < 4 || t % 2 == 0) group.add(t);
                    for (int t : group) grads.set(t, rand(rng, -1, 1, sizes[t]));
                    float lr = 0.05f / step;
                    long st = step;
                    both((be, side) -> {
                        List<Tensor> ps = new ArrayList<>(), gs = new ArrayList<>();
                        List<Tensor[]> ss = new ArrayList<>();
                        for (int t : group) {
                            ps.add(side.t(params.get(t)));
                            gs.add(side.t(grads.get(t)));
                            Tensor[] buf = new Tensor[slots];
                            for (int i = 0; i < slots; i++) buf[i] = side.t(states.get(t).get(i));
                            ss.add(buf);
                        }
                        be.optimizerStepAll(h, ps, gs, ss, lr, st);
                    });
                    for (int t : group) dev.optimizerStep(h, single.get(t), grads.get(t).d, singleStates.get(t), lr, st);
                    for (int t = 0; t < k; t++) {
                        String what = h + " tensor " + t + " (" + sizes[t] + ") after step " + step;
                        same(what, params.get(t), ELEMENTWISE);
                        assertArrayEquals(single.get(t).toFloatArray(), params.get(t).d.toFloatArray(), what + ": one launch vs one per tensor");
                        for (int i = 0; i < slots; i++) {
                            same(what + " state[" + i + "]", states.get(t).get(i), ELEMENTWISE);
                            assertArrayEquals(singleStates.get(t)[i].toFloatArray(), states.get(t).get(i).d.toFloatArray(),
                                    what + " state[" + i + "]: one launch vs one per tensor");
                        }
                    }
                }
            }
        }
    }

    @Test
    void aGroupMayNotHoldOneParameterTwice() {
        try (Scope sc = Scope.open()) {
            Tensor p = dev.zeros(Shape.of(10)), g = dev.zeros(Shape.of(10));
            OptimizerHyper sgd = new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> dev.optimizerStepAll(sgd, List.of(p, p), List.of(g, g), List.of(new Tensor[0], new Tensor[0]), 0.1f, 1));
            assertTrue(e.getMessage().contains("params[1]"), e.getMessage());
        }
    }

    @Test
    void dtypesOnTheDevice() {
        try (Scope sc = Scope.open()) {
            assertEquals(DType.FP32, dev.empty(Shape.of(3)).dtype());
            assertEquals(DType.INT32, dev.empty(Shape.of(3), DType.INT32).dtype());
        }
    }
}
