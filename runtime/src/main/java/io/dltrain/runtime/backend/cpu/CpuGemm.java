package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.JavaCppCache;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * SGEMM on the CPU: OpenBLAS's cblas_sgemm, called through a Java FFM "critical" downcall directly on the heap
 * float[] arrays (no copies, no pinning). The OpenBLAS binary is the one bytedeco publishes on Maven Central
 * (org.bytedeco:openblas); JavaCPP's Loader extracts and loads it, and we look the symbol up by name.
 *
 * <p>OpenBLAS runs single-threaded; {@link #gemm} splits C into row (or column) blocks over {@link Parallel}, so
 * there is one thread pool and results do not depend on OpenBLAS's own threading.
 *
 * <p>Where OpenBLAS cannot be loaded (a platform without the native build), a plain-Java kernel takes over after a
 * one-line notice; CpuGemmTest holds both to a double-precision reference.
 */
final class CpuGemm {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    private static final MethodHandle SGEMM;
    static final String STATUS;

    static {
        MethodHandle h = null;
        String status;
        try {
            org.bytedeco.javacpp.Loader.load(org.bytedeco.openblas.global.openblas_nolapack.class);
            SymbolLookup lib = SymbolLookup.libraryLookup("libopenblas.so.0", Arena.global());
            Linker linker = Linker.nativeLinker();
            var I = ValueLayout.JAVA_INT;
            var F = ValueLayout.JAVA_FLOAT;
            var P = ValueLayout.ADDRESS;
            MethodHandle setThreads = linker.downcallHandle(lib.find("openblas_set_num_threads").orElseThrow(),
                    FunctionDescriptor.ofVoid(I));
            setThreads.invokeExact(1);
            h = linker.downcallHandle(lib.find("cblas_sgemm").orElseThrow(),
                    FunctionDescriptor.ofVoid(I, I, I, I, I, I, F, P, I, P, I, F, P, I), Linker.Option.critical(true));
            MethodHandle config = linker.downcallHandle(lib.find("openblas_get_config").orElseThrow(), FunctionDescriptor.of(P));
            MemorySegment cfg = (MemorySegment) config.invokeExact();
            status = cfg.reinterpret(256).getString(0).trim() + coreTypeNote(System.getenv("OPENBLAS_CORETYPE"));
        } catch (Throwable e) {
            status = unavailable(e);
            System.err.println("dl-train: notice: " + notice(status, e, JavaCppCache.advice(), CpuGemm.class.getModule().isNamed()));
            h = null;
        }
        SGEMM = h;
        STATUS = status;
    }

    private CpuGemm() {}

    /**
     * Said after OpenBLAS's configuration when the environment chooses its kernels: OPENBLAS_CORETYPE overrides the
     * CPU detection of a DYNAMIC_ARCH build, and the speed can differ a lot (on one Zen 5 machine here, where the
     * environment set Haswell, a LeNet-5 epoch took 6.4 s against 2.4-3.6 s with the detected Cooperlake kernels).
     */
    static String coreTypeNote(String coreType) {
        return coreType == null || coreType.isBlank() ? "" : " (kernels chosen by OPENBLAS_CORETYPE=" + coreType.strip() + ", not detected)";
    }

    /** What computes when OpenBLAS could not be loaded because of e (the GEMM part of the device line). */
    static String unavailable(Throwable e) {
        // TrainRun.gemmKernels takes the text before " (OpenBLAS unavailable" as what computes: keep the two in step
        return "plain-Java GEMM (OpenBLAS unavailable: " + (JavaCppCache.isCacheFailure(e)
                ? "JavaCPP found no writable cache directory to extract it to" : e.getClass().getSimpleName() + ": " + e.getMessage()) + ")";
    }

    /**
     * The one-line notice at the first use: what computes, what it costs (measured with `dl-train bench --device cpu
     * --threads 2 -b 128` on one 2-core machine: mlp 13,800 against 1,760 images/s, lenet5 1,880 against 575), and,
     * for an unwritable JavaCPP cache, what to do.
     */
    static String notice(String status, Throwable e, String cacheAdvice) { return notice(status, e, cacheAdvice, false); }

    /**
     * As {@link #notice(String, Throwable, String)}; {@code onModulePath}: the runtime is a named module, where OpenBLAS's
     * classes not found (NoClassDefFoundError) most likely mean that its modules were not resolved: an automatic module
     * (the runtime's jar) does not bring the explicit modules it uses, so java needs --add-modules ALL-MODULE-PATH.
     */
    static String notice(String status, Throwable e, String cacheAdvice, boolean onModulePath) {
        return status + ": matrix products run in plain Java, several times slower (3 to 8 times in training steps here)"
                + (JavaCppCache.isCacheFailure(e) ? "; " + cacheAdvice : "")
                + (onModulePath && e instanceof NoClassDefFoundError ? "; dl-train is on the module path, where its jars do not"
                + " bring the OpenBLAS modules they use: run java with --add-modules ALL-MODULE-PATH (and the OpenBLAS jars on the"
                + " module path)" : "");
    }

    static boolean native_() { return SGEMM != null; }

    /** Row-major C = alpha op(A) op(B) + beta C; offsets in elements into the arrays. Parallel over blocks of C. */
    static void gemm(Parallel par, boolean ta, boolean tb, int m, int n, int k, float alpha,
                     float[] a, int ao, int lda, float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        if (m == 0 || n == 0) return;
        long work = (long) m * n * k;
        int chunks = par.chunks(work, 1L << 18);
        if (chunks <= 1) { gemmSerial(ta, tb, m, n, k, alpha, a, ao, lda, b, bo, ldb, beta, c, co, ldc); return; }
        if (m >= n) {
            par.forChunks(m, Math.min(chunks, m), (ch, s, e) -> gemmSerial(ta, tb, e - s, n, k, alpha,
                    a, ao + (ta ? s : s * lda), lda, b, bo, ldb, beta, c, co + s * ldc, ldc));
        } else {
            par.forChunks(n, Math.min(chunks, n), (ch, s, e) -> gemmSerial(ta, tb, m, e - s, k, alpha,
                    a, ao, lda, b, bo + (tb ? s * ldb : s), ldb, beta, c, co + s, ldc));
        }
    }

    static void gemmSerial(boolean ta, boolean tb, int m, int n, int k, float alpha,
                           float[] a, int ao, int lda, float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        if (SGEMM == null) { javaGemm(ta, tb, m, n, k, alpha, a, ao, lda, b, bo, ldb, beta, c, co, ldc); return; }
        sgemm(SGEMM, ta, tb, m, n, k, alpha, a, ao, lda, b, bo, ldb, beta, c, co, ldc);
    }

    /**
     * cblas_sgemm through the downcall handle h (CpuGemmTest passes one that throws). An Error (out of memory, stack
     * overflow) goes to the caller as it is, so that the CLI can still say what to do about it; anything else becomes
     * an IllegalStateException that names the GEMM's shape and the cause, so that one failure in a log can be diagnosed.
     */
    static void sgemm(MethodHandle h, boolean ta, boolean tb, int m, int n, int k, float alpha,
                      float[] a, int ao, int lda, float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        try {
            h.invokeExact(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, m, n, k, alpha,
                    MemorySegment.ofArray(a).asSlice(4L * ao), lda,
                    MemorySegment.ofArray(b).asSlice(4L * bo), ldb, beta,
                    MemorySegment.ofArray(c).asSlice(4L * co), ldc);
        } catch (Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(failure(ta, tb, m, n, k, alpha, a, ao, lda, b, bo, ldb, beta, c, co, ldc) + ": " + t, t);
        }
    }

    private static String failure(boolean ta, boolean tb, int m, int n, int k, float alpha,
                                  float[] a, int ao, int lda, float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        return "cblas_sgemm failed: m=" + m + " n=" + n + " k=" + k + " transA=" + ta + " transB=" + tb + " alpha=" + alpha + " beta=" + beta
                + " (A: offset " + ao + ", lda " + lda + ", array of " + a.length + "; B: offset " + bo + ", ldb " + ldb + ", array of " + b.length
                + "; C: offset " + co + ", ldc " + ldc + ", array of " + c.length + ")";
    }

    /** Straightforward row-major GEMM: the reference and the fallback. Inner loop over contiguous j vectorises. */
    static void javaGemm(boolean ta, boolean tb, int m, int n, int k, float alpha,
                         float[] a, int ao, int lda, float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        float[] row = new float[n];
        for (int i = 0; i < m; i++) {
            java.util.Arrays.fill(row, 0f);
            for (int p = 0; p < k; p++) {
                float av = ta ? a[ao + p * lda + i] : a[ao + i * lda + p];   // no skip when 0: 0 x NaN or inf in B is NaN
                if (!tb) {
                    int bRow = bo + p * ldb;
                    for (int j = 0; j < n; j++) row[j] += av * b[bRow + j];
                } else {
                    for (int j = 0; j < n; j++) row[j] += av * b[bo + j * ldb + p];
                }
            }
            int cRow = co + i * ldc;
            if (beta == 0f) for (int j = 0; j < n; j++) c[cRow + j] = alpha * row[j];
            else for (int j = 0; j < n; j++) c[cRow + j] = alpha * row[j] + beta * c[cRow + j];
        }
    }
}
