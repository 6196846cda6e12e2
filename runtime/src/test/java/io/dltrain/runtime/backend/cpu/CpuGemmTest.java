package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.JavaCppCache;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The CPU backend's GEMM: the plain-Java kernel (the fallback where OpenBLAS cannot be loaded, which the op tests
 * never reach on a machine that has OpenBLAS) and OpenBLAS's cblas_sgemm, both held to a double-precision reference
 * over every transpose, offsets, leading dimensions wider than the rows, and alpha / beta; and what it says about itself.
 */
class CpuGemmTest {
    @Test
    void anOpenBlasCoreTypeSetByTheEnvironmentIsNamed() {
        assertEquals(" (kernels chosen by OPENBLAS_CORETYPE=Haswell, not detected)", CpuGemm.coreTypeNote("Haswell"));
        assertEquals(" (kernels chosen by OPENBLAS_CORETYPE=SkylakeX, not detected)", CpuGemm.coreTypeNote(" SkylakeX\n"));
        assertEquals("", CpuGemm.coreTypeNote(null), "unset: OpenBLAS detected the CPU");
        assertEquals("", CpuGemm.coreTypeNote(""), "empty: OpenBLAS ignores it and detects the CPU");
    }

    /**
     * With no writable home directory and no writable java.io.tmpdir (a container with a read-only file system and no
     * cache setting), JavaCPP cannot extract OpenBLAS and the plain-Java GEMM takes over; the notice said only JavaCPP's
     * "Could not create the cache: Set the "org.bytedeco.javacpp.cachedir" system property." (how, and what it costs,
     * unsaid). It now says what happened, that the matrix maths is several times slower, and the two ways out.
     */
    @Test
    void anUnwritableJavaCppCacheIsExplainedWithTheWayOut() {
        Throwable cache = new UnsatisfiedLinkError("java.io.IOException: Could not create the cache: Set the \"org.bytedeco.javacpp.cachedir\" system property.");
        String status = CpuGemm.unavailable(cache);
        assertEquals("plain-Java GEMM (OpenBLAS unavailable: JavaCPP found no writable cache directory to extract it to)", status);
        String notice = CpuGemm.notice(status, cache, JavaCppCache.advice(null, "/home/app", "/tmp", "app"));
        assertTrue(notice.startsWith(status + ": matrix products run in plain Java, several times slower"), notice);
        assertTrue(notice.contains("; neither /home/app/.javacpp/cache nor /tmp/.javacpp-app/cache could be created"), notice);
        assertTrue(notice.contains("-Dorg.bytedeco.javacpp.cachedir=DIR") && notice.contains("DL_TRAIN_JAVA_OPTS")
                && notice.contains("JDK_JAVA_OPTIONS") && notice.contains("writable home directory"), notice);
        // a cache directory set (as the container image sets one) is named as what was tried first
        assertTrue(JavaCppCache.advice("/home/dltrain/.javacpp", "/home/app", "/tmp", "app")
                .startsWith("neither /home/dltrain/.javacpp (-Dorg.bytedeco.javacpp.cachedir) nor /tmp/.javacpp-app/cache"));
        // another reason (no native build for this platform) keeps its own words, without the cache's advice
        Throwable other = new UnsatisfiedLinkError("no jniopenblas_nolapack in java.library.path");
        String s2 = CpuGemm.unavailable(other);
        assertEquals("plain-Java GEMM (OpenBLAS unavailable: UnsatisfiedLinkError: no jniopenblas_nolapack in java.library.path)", s2);
        String n2 = CpuGemm.notice(s2, other, JavaCppCache.advice(null, "/home/app", "/tmp", "app"));
        assertTrue(n2.startsWith(s2 + ": matrix products run in plain Java, several times slower") && !n2.contains("cachedir"), n2);
    }

    /**
     * On the module path without --add-modules ALL-MODULE-PATH, the runtime's automatic module does not bring OpenBLAS's
     * modules and loading it fails with NoClassDefFoundError: the notice said only that, and not the option that README's
     * module-path paragraph gives. It now names the option there, and only there (on the class path, or for another
     * failure, nothing is added).
     */
    @Test
    void onTheModulePathAnOpenBlasClassNotFoundNamesAddModules() {
        Throwable missing = new NoClassDefFoundError("org/bytedeco/openblas/global/openblas_nolapack");
        String status = CpuGemm.unavailable(missing);
        assertEquals("plain-Java GEMM (OpenBLAS unavailable: NoClassDefFoundError: org/bytedeco/openblas/global/openblas_nolapack)", status);
        assertEquals(status + ": matrix products run in plain Java, several times slower (3 to 8 times in training steps here);"
                + " dl-train is on the module path, where its jars do not bring the OpenBLAS modules they use: run java with"
                + " --add-modules ALL-MODULE-PATH (and the OpenBLAS jars on the module path)", CpuGemm.notice(status, missing, "advice", true));
        assertEquals(status + ": matrix products run in plain Java, several times slower (3 to 8 times in training steps here)",
                CpuGemm.notice(status, missing, "advice", false), "on the class path the option means nothing");
        Throwable other = new UnsatisfiedLinkError("no jniopenblas_nolapack in java.library.path");
        assertFalse(CpuGemm.notice(CpuGemm.unavailable(other), other, "advice", true).contains("--add-modules"));
    }

    /** One GEMM implementation under test (javaGemm, or gemmSerial with OpenBLAS). */
    interface Gemm {
        void run(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int ao, int lda, float[] b, int bo, int ldb,
                 float beta, float[] c, int co, int ldc);
    }

    @Test
    void thePlainJavaGemmMatchesADoubleReference() {
        checkAgainstReference("plain-Java GEMM", CpuGemm::javaGemm, true);
    }

    @Test
    void openBlasMatchesADoubleReference() {
        if (!CpuGemm.native_()) fail("OpenBLAS did not load on this machine: " + CpuGemm.STATUS);
        checkAgainstReference("OpenBLAS", CpuGemm::gemmSerial, false);
    }

    /** A stand-in for the cblas_sgemm downcall handle (same type) that throws t. */
    private static MethodHandle throwing(Throwable t) {
        MethodType sgemm = MethodType.methodType(void.class, int.class, int.class, int.class, int.class, int.class, int.class,
                float.class, MemorySegment.class, int.class, MemorySegment.class, int.class, float.class, MemorySegment.class, int.class);
        MethodHandle thrower = MethodHandles.throwException(void.class, Throwable.class).bindTo(t);
        return MethodHandles.dropArguments(thrower, 0, sgemm.parameterList());
    }

    private static void sgemmVia(MethodHandle h) {
        CpuGemm.sgemm(h, true, false, 3, 5, 7, 1f, new float[30], 2, 3, new float[40], 0, 5, 0f, new float[16], 1, 5);
    }

    /**
     * An Error from the downcall (out of memory, stack overflow) reaches the caller as itself: the CLI turns
     * OutOfMemoryError into its out-of-memory advice, which an IllegalStateException around it would hide.
     */
    @Test
    void anErrorFromTheDowncallIsNotWrapped() {
        for (Error e : new Error[] {new OutOfMemoryError("Java heap space"), new StackOverflowError()}) {
            Error thrown = assertThrows(Error.class, () -> sgemmVia(throwing(e)));
            assertSame(e, thrown, "the downcall's " + e.getClass().getSimpleName() + " must not be wrapped");
        }
    }

    /** Any other failure names the GEMM's shape and the cause's text, so that one occurrence in a log can be diagnosed. */
    @Test
    void aFailedCallSaysWhatFailedWithTheShapeAndTheCause() {
        IllegalArgumentException cause = new IllegalArgumentException("Heap segment not allowed");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> sgemmVia(throwing(cause)));
        assertSame(cause, e.getCause());
        assertEquals("cblas_sgemm failed: m=3 n=5 k=7 transA=true transB=false alpha=1.0 beta=0.0"
                + " (A: offset 2, lda 3, array of 30; B: offset 0, ldb 5, array of 40; C: offset 1, ldc 5, array of 16):"
                + " java.lang.IllegalArgumentException: Heap segment not allowed", e.getMessage());
    }

    /** The real call says the same: here an offset past the end of A (a caller's bug) fails before the downcall. */
    @Test
    void gemmSerialReportsAFailureWithTheShape() {
        if (!CpuGemm.native_()) fail("OpenBLAS did not load on this machine: " + CpuGemm.STATUS);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> CpuGemm.gemmSerial(false, true, 2, 3, 4, 1f, new float[8], 9, 4, new float[12], 0, 4, 1f, new float[6], 0, 3));
        assertTrue(e.getMessage().startsWith("cblas_sgemm failed: m=2 n=3 k=4 transA=false transB=true alpha=1.0 beta=1.0"
                + " (A: offset 9, lda 4, array of 8; B: offset 0, ldb 4, array of 12; C: offset 0, ldc 3, array of 6):"
                + " java.lang.IndexOutOfBoundsException: "), e.getMessage());
        assertTrue(e.getCause() instanceof IndexOutOfBoundsException, String.valueOf(e.getCause()));
    }

    /** A zero in A times NaN or infinity in B gives NaN (IEEE 754), in both GEMMs: no entry of A is skipped as zero. */
    @Test
    void nanAndInfinityInBPropagateThroughAZeroOfA() {
        float[] a = {0f, 1f};                                   // A [1, 2]
        float[] b = {Float.NaN, Float.POSITIVE_INFINITY, 1f, 1f};   // B [2, 2]
        for (Gemm g : CpuGemm.native_() ? new Gemm[] {CpuGemm::javaGemm, CpuGemm::gemmSerial} : new Gemm[] {CpuGemm::javaGemm}) {
            float[] c = {5f, 5f};
            g.run(false, false, 1, 2, 2, 1f, a, 0, 2, b, 0, 2, 0f, c, 0, 2);
            assertTrue(Float.isNaN(c[0]) && Float.isNaN(c[1]), "0 x NaN and 0 x inf must give NaN: " + Arrays.toString(c));
        }
    }

    private static void checkAgainstReference(String what, Gemm gemm, boolean emptyShapes) {
        SplittableRandom rng = new SplittableRandom(17);
        int[][] sizes = {{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 1, 5}, {1, 40, 3}, {6, 7, 0}, {0, 3, 2}, {4, 0, 3}};
        float[][] scales = {{1f, 0f}, {0.5f, -2f}, {1f, 1f}, {-1.5f, 0.25f}};
        int cases = 0;
        for (int[] s : sizes) {
            int m = s[0], n = s[1], k = s[2];
            if (!emptyShapes && (m == 0 || n == 0)) continue;   // CpuGemm.gemm returns before calling cblas_sgemm
            for (boolean ta : new boolean[] {false, true}) for (boolean tb : new boolean[] {false, true}) for (float[] ab : scales) {
                int ao = 2, bo = 5, co = 1;
                int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
                float[] a = random(rng, ao + (ta ? k : m) * lda + 1);
                float[] b = random(rng, bo + (tb ? n : k) * ldb + 1);
                float[] c = random(rng, co + m * ldc + 1);
                float alpha = ab[0], beta = ab[1];
                if (beta == 0f) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[co + i * ldc + j] = Float.NaN;  // beta 0: C is not read
                float[] before = c.clone();
                gemm.run(ta, tb, m, n, k, alpha, a, ao, lda, b, bo, ldb, beta, c, co, ldc);
                String tag = what + " ta=" + ta + " tb=" + tb + " m=" + m + " n=" + n + " k=" + k + " alpha=" + alpha + " beta=" + beta;
                for (int idx = 0; idx < c.length; idx++) {
                    int i = (idx - co) / ldc, j = (idx - co) % ldc;
                    if (idx < co || i >= m || j >= n) {
                        assertEquals(before[idx], c[idx], tag + ": element " + idx + " outside C was written");
                        continue;
                    }
                    double want = beta == 0f ? 0 : (double) beta * before[idx], size = Math.abs(want);
                    for (int p = 0; p < k; p++) {
                        double t = (double) alpha * (ta ? a[ao + p * lda + i] : a[ao + i * lda + p]) * (tb ? b[bo + j * ldb + p] : b[bo + p * ldb + j]);
                        want += t;
                        size += Math.abs(t);
                    }
                    // float rounding of k products and sums: a few ulps of the terms' magnitude
                    double tol = 4 * (k + 2) * Math.ulp((float) size) + 1e-30;
                    assertTrue(Math.abs(c[idx] - want) <= tol, tag + ": C[" + i + "][" + j + "] = " + c[idx] + ", want " + want + " (tolerance " + tol + ")");
                }
                cases++;
            }
        }
        assertTrue(cases >= 96, what + ": " + cases + " cases");
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rng.nextDouble(-1, 1);
        return v;
    }
}
