package io.dltrain.runtime.backend.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pure-Java half of {@link CublasLt}, on the CPU: the column-major problem handed to cuBLASLt (layouts,
 * transposes, bias length) computes the row-major {@code gemmBias} definition, checked by evaluating cuBLASLt's
 * documented semantics (D = op(A) op(B) + bias per row of D, column-major, element (i, j) at i + j * ld) on the very
 * same memory; the alignment promise; the kill switch's parsing; and the per-shape refusal memory.
 */
class CublasLtPlanTest {

    /** Element (i, j) of op(X) for a column-major X described by {@code l}. */
    static float at(float[] x, CublasLt.Layout l, boolean trans, int i, int j) {
        int r = trans ? j : i, c = trans ? i : j;
        assertTrue(r < l.rows() && c < l.cols(), "index inside the layout");
        return x[(int) (r + c * l.ld())];
    }

    @Test
    void columnMajorPlanComputesTheRowMajorDefinition() {
        SplittableRandom rng = new SplittableRandom(5);
        int[][] shapes = {{1, 1, 1}, {2, 3, 4}, {7, 5, 3}, {13, 17, 29}, {64, 10, 1}, {1, 40, 9}};
        for (int[] s : shapes) for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true}) {
            int m = s[0], n = s[1], k = s[2];
            String what = "m=" + m + " n=" + n + " k=" + k + " transA=" + ta + " transB=" + tb;
            CublasLt.Plan p = CublasLt.Plan.of(ta, tb, m, n, k);
            // cuBLASLt's problem: D is (rows x cols) = (n x m) with ld >= rows; op(ltA) is n x k, op(ltB) is k x m.
            assertEquals(new CublasLt.Layout(n, m, n), p.d(), what);
            assertEquals(n, p.biasLength(), what + ": EPILOGUE_BIAS wants one value per row of D");
            assertEquals(n, p.transLtA() ? p.ltA().cols() : p.ltA().rows(), what);
            assertEquals(k, p.transLtA() ? p.ltA().rows() : p.ltA().cols(), what);
            assertEquals(k, p.transLtB() ? p.ltB().cols() : p.ltB().rows(), what);
            assertEquals(m, p.transLtB() ? p.ltB().rows() : p.ltB().cols(), what);
            for (CublasLt.Layout l : List.of(p.ltA(), p.ltB(), p.d())) assertTrue(l.ld() >= l.rows(), what + ": ld >= rows for " + l);
            assertEquals((long) k * n, p.ltA().rows() * p.ltA().cols(), what + ": ltA covers B's storage exactly (dense)");
            assertEquals((long) m * k, p.ltB().rows() * p.ltB().cols(), what + ": ltB covers A's storage exactly (dense)");

            // Our dense row-major storage: A is (ta ? k x m : m x k), B is (tb ? n x k : k x n).
            float[] a = new float[m * k], b = new float[k * n], bias = new float[n];
            for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextDouble(-1, 1);
            for (int i = 0; i < b.length; i++) b[i] = (float) rng.nextDouble(-1, 1);
            for (int i = 0; i < n; i++) bias[i] = (float) rng.nextDouble(-1, 1);

            // cuBLASLt's view: its A is our B's memory, its B is our A's; D is written column-major into C's memory.
            double[] d = new double[m * n];
            for (int i = 0; i < p.d().rows(); i++) for (int j = 0; j < p.d().cols(); j++) {
                double acc = 0;
                for (int q = 0; q < k; q++) acc += (double) at(b, p.ltA(), p.transLtA(), i, q) * at(a, p.ltB(), p.transLtB(), q, j);
                d[(int) (i + j * p.d().ld())] = acc + bias[i];
            }
            // The row-major definition, summed in the same order.
            for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int q = 0; q < k; q++) acc += (double) (ta ? a[q * m + i] : a[i * k + q]) * (tb ? b[j * k + q] : b[q * n + j]);
                assertEquals(acc + bias[j], d[i * n + j], 0.0, what + " at C[" + i + ", " + j + "]");
            }
        }
    }

    @Test
    void alignmentIsTheLargestCommonPowerOfTwoUpTo256() {
        assertEquals(256, CublasLt.alignment(0x7f0000000000L, 0x7f0000000400L));
        assertEquals(256, CublasLt.alignment());
        assertEquals(16, CublasLt.alignment(0x1000, 0x2010, 0x3000));
        assertEquals(4, CublasLt.alignment(0x1000, 0x1004));
        assertEquals(128, CublasLt.alignment(0x1080, 0x1000));
    }

    @Test
    void killSwitchParsing() {
        assertTrue(CublasLt.parseSwitch(null));
        assertTrue(CublasLt.parseSwitch(""));
        assertTrue(CublasLt.parseSwitch("true"));
        assertTrue(CublasLt.parseSwitch(" TRUE "));
        assertFalse(CublasLt.parseSwitch("false"));
        assertFalse(CublasLt.parseSwitch("False"));
        var e = assertThrows(IllegalArgumentException.class, () -> CublasLt.parseSwitch("no"));
        assertTrue(e.getMessage().contains("-Ddltrain.cublasLt=no") && e.getMessage().contains("true or false"), e.getMessage());
    }

    @Test
    void kZeroAndMisalignedBiasesNeverGoToCublasLt() {
        assertNotNull(CublasLt.unsupported(4, 3, 0, 0x1000));
        assertNull(CublasLt.unsupported(4, 3, 1, 0x1000));
        assertNull(CublasLt.unsupported(4, 3, 1, 0x1010));
        for (long bias : new long[] {0x1004, 0x1008, 0x100c})
            assertEquals("bias address not 16-byte aligned", CublasLt.unsupported(4, 3, 1, bias), Long.toHexString(bias));
    }

    @Test
    void refusalsRememberAFailedShapeAndNoteItOnce() {
        List<String> notes = new ArrayList<>();
        CublasLt.Refusals r = new CublasLt.Refusals(notes::add);
        CublasLt.Key k1 = new CublasLt.Key(false, true, 8, 4, 16, false, 256, false), k2 = new CublasLt.Key(false, true, 9, 4, 16, false, 256, false);
        int[] runs = {0};
        assertTrue(r.attempt(k1, () -> runs[0]++), "a successful attempt reports true");
        assertFalse(r.attempt(k2, () -> { runs[0]++; throw new Cuda.CublasException("cublasLtMatmulAlgoGetHeuristic failed: cuBLAS status 15", 15); }));
        assertEquals(2, runs[0]);
        assertEquals(1, notes.size());
        assertTrue(notes.get(0).contains("m=9 n=4 k=16") && notes.get(0).contains("cuBLAS status 15")
                && notes.get(0).contains("sgemm + add_bias_f32"), notes.get(0));
        // Never tried again for that shape, and not noted again; other shapes still are.
        assertFalse(r.attempt(k2, () -> runs[0]++));
        assertEquals(2, runs[0]);
        assertEquals(1, notes.size());
        assertTrue(r.attempt(k1, () -> runs[0]++));
        assertEquals(3, runs[0]);
        assertEquals(List.of(k2), List.copyOf(r.refused().keySet()));
        // The heuristic finding no algorithm is a refusal too.
        assertFalse(r.attempt(k1, () -> { throw new CublasLt.NoAlgorithmException("returned no algorithm"); }));
        assertEquals(2, notes.size());
        // The same shape with the ReLU epilogue is its own key: refused on its own, falling back to the bias epilogue.
        CublasLt.Key k1Relu = new CublasLt.Key(false, true, 8, 4, 16, false, 256, true);
        assertNotEquals(k1, k1Relu);
        assertFalse(r.attempt(k1Relu, () -> { throw new CublasLt.NoAlgorithmException("returned no algorithm"); }));
        assertTrue(notes.get(2).contains("epilogue RELU_BIAS") && notes.get(2).contains("the bias epilogue alone, then ReLU"), notes.get(2));
        // Device memory running out for the workspace is no refusal: this call falls back, unnoted, and the next tries again.
        CublasLt.Key k3 = new CublasLt.Key(true, false, 5, 6, 7, false, 256, false);
        assertFalse(r.attempt(k3, () -> { throw new DeviceOutOfMemoryException("out of device memory: asked 32.00 MiB"); }));
        assertEquals(3, notes.size());
        assertFalse(r.refused().containsKey(k3));
        assertTrue(r.attempt(k3, () -> runs[0]++));
        // So is cuBLASLt's own allocation failing (CUBLAS_STATUS_ALLOC_FAILED).
        assertFalse(r.attempt(k3, () -> { throw new Cuda.CublasException("cublasLtMatmul failed: cuBLAS status 3", 3); }));
        assertFalse(r.refused().containsKey(k3));
        assertEquals(3, notes.size());
    }

    @Test
    void failuresThatSayNothingAboutTheShapeAreThrownNotRecordedAsRefusals() {
        List<String> notes = new ArrayList<>();
        CublasLt.Refusals r = new CublasLt.Refusals(notes::add);
        CublasLt.Key k = new CublasLt.Key(false, true, 8, 4, 16, false, 256, false);
        // An illegal address left by an earlier kernel, surfacing in this call (a runtime-API error, 700) ...
        Cuda.CudaException sticky = new Cuda.CudaException("cudaMalloc failed: cudaErrorIllegalAddress", 700);
        assertSame(sticky, assertThrows(Cuda.CudaException.class, () -> r.attempt(k, () -> { throw sticky; })));
        // ... cuBLASLt's kernel failing to run (EXECUTION_FAILED, 13), an internal error (14), a programming error of ours
        for (RuntimeException e : List.of(new Cuda.CublasException("cublasLtMatmul failed: cuBLAS status 13", 13),
                new Cuda.CublasException("cublasLtMatmul failed: cuBLAS status 14", 14), new IllegalStateException("bug")))
            assertSame(e, assertThrows(RuntimeException.class, () -> r.attempt(k, () -> { throw e; })));
        assertEquals(List.of(), notes, "nothing noted as a refusal");
        assertTrue(r.refused().isEmpty());
        // The shape is tried again afterwards; and NOT_SUPPORTED (15), INVALID_VALUE (7), ARCH_MISMATCH (8) are refusals.
        assertTrue(r.attempt(k, () -> {}));
        for (int st : new int[] {15, 7, 8}) {
            CublasLt.Key ks = new CublasLt.Key(false, true, 8, 4, 16 + st, false, 256, false);
            assertFalse(r.attempt(ks, () -> { throw new Cuda.CublasException("cuBLAS status " + st, st); }));
            assertTrue(r.refused().containsKey(ks), "status " + st);
        }
    }

    @Test
    void keysNameTheirEpilogue() {
        assertEquals(org.bytedeco.cuda.global.cublas.CUBLASLT_EPILOGUE_BIAS, new CublasLt.Key(false, true, 2, 3, 4, false, 256, false).epilogue());
        assertEquals(org.bytedeco.cuda.global.cublas.CUBLASLT_EPILOGUE_RELU_BIAS, new CublasLt.Key(false, true, 2, 3, 4, false, 256, true).epilogue());
    }
}
