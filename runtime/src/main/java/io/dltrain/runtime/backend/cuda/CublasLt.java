package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.CUDA_R_32F;

/**
 * Linear's forward in one cuBLASLt call: row-major C = op(A) op(B) + bias (bias per column of C), the CUDA backend's
 * {@code gemmBias}, and with a ReLU after it, {@code gemmBiasRelu} (a Linear followed by a ReLU in a Sequential). Row-major C (m x n) is column-major D = C^T (n x m) = op(B)^T op(A)^T, so cuBLASLt's A is our B
 * and its B is our A (as {@code CudaBackend.gemm} does for sgemm), and the bias, one value per column of C, is one
 * value per ROW of D: exactly {@code CUBLASLT_EPILOGUE_BIAS} ("bias vector of length = rows of D"), or
 * {@code CUBLASLT_EPILOGUE_RELU_BIAS} for max(. + bias, 0). (cuBLASLt's GELU epilogues use the tanh approximation,
 * not the exact erf GELU that our GELU and PyTorch's default compute, so GELU is not fused.)
 *
 * <p>Per shape (transposes, m, n, k, TF32, pointer alignment, epilogue) the matmul descriptor, the three matrix layouts and the
 * algorithm from {@code cublasLtMatmulAlgoGetHeuristic} are made once and cached; a steady-state call sets the bias
 * pointer and queues {@code cublasLtMatmul} on the compute stream with a workspace from the caching allocator (handed
 * back once queued: the allocator is stream-ordered).
 *
 * <p>Fallback: any failure on this path (no heuristic result, a non-success status) makes {@link #matmulBias} return
 * false having queued nothing; the backend then runs cuBLAS sgemm + add_bias_f32, and this shape is never tried on
 * cuBLASLt again (noted once on stderr with the reason). The system property {@value #SWITCH}{@code =false} turns the
 * path off altogether. Not thread-safe: one backend, one stream, one thread.
 */
final class CublasLt implements AutoCloseable {
    /** System property: {@code false} makes gemmBias always run sgemm + add_bias_f32. Default true. */
    static final String SWITCH = "dltrain.cublasLt";

    /** Largest workspace the heuristic may choose algorithms for. */
    static final long WORKSPACE_LIMIT = 32L << 20;

    /** Alignment cuBLASLt assumes by default (and the most it can use), in bytes. */
    static final int MAX_ALIGNMENT = 256;

    /**
     * System property: {@code true} lets Linear + ReLU run as one matmul with the RELU_BIAS epilogue. Default false:
     * cuBLASLt's ReLU epilogue is reported to turn NaN into 0 (forums.developer.nvidia.com/t/329783, "Incorrect result
     * of cublasLtMatmul with CUBLASLT_EPILOGUE_RELU when input is NaN"; its documentation says nothing), which would
     * hide a diverged activation from the divergence check and differ from the CPU, PyTorch's relu and this runtime's
     * contract (NaN stays NaN). So by default the matmul has the BIAS epilogue and cuDNN's NaN-propagating ReLU follows.
     * The GPU runner also runs the NaN test with this switch on, to settle the question on real hardware.
     */
    static final String RELU_SWITCH = "dltrain.cublasLt.reluEpilogue";

    /** Whether {@value #RELU_SWITCH} is on (read when a backend is created). */
    static boolean reluEpilogueEnabled() {
        String v = System.getProperty(RELU_SWITCH);
        if (v == null || v.isBlank() || v.trim().equalsIgnoreCase("false")) return false;
        if (v.trim().equalsIgnoreCase("true")) return true;
        throw new IllegalArgumentException("-D" + RELU_SWITCH + "=" + v + ": expected true or false (true fuses ReLU into the matmul;"
                + " NaN may then become 0)");
    }

    /** Whether {@value #SWITCH} allows the cuBLASLt path (read when a backend is created). */
    static boolean enabled() { return parseSwitch(System.getProperty(SWITCH)); }

    /** Unset or "true": on; "false": off; anything else is a mistake worth saying so. */
    static boolean parseSwitch(String v) {
        if (v == null || v.isBlank() || v.trim().equalsIgnoreCase("true")) return true;
        if (v.trim().equalsIgnoreCase("false")) return false;
        throw new IllegalArgumentException("-D" + SWITCH + "=" + v + ": expected true or false (false runs Linear's bias as a separate kernel after cuBLAS sgemm)");
    }

    // ================================================================== layout arithmetic (pure, tested on the CPU)

    /** One column-major matrix as cuBLASLt describes it: rows, cols, leading dimension (elements). */
    record Layout(long rows, long cols, long ld) {}

    /**
     * The column-major problem for row-major C (m x n) = op(A) op(B) + bias with dense A, B, C:
     * D (n x m, ld n) = opLtA(ltA) opLtB(ltB), where ltA is our B's storage and ltB is our A's, each read column-major.
     */
    record Plan(boolean transLtA, boolean transLtB, Layout ltA, Layout ltB, Layout d, long biasLength) {
        static Plan of(boolean transA, boolean transB, int m, int n, int k) {
            // Our B is stored row-major as (transB ? n x k : k x n); read column-major that is its transpose, whose
            // rows are the row-major row length. Untransposed B stored k x n reads as n x k = B^T: op N gives op(B)^T.
            Layout b = transB ? new Layout(k, n, k) : new Layout(n, k, n);
            Layout a = transA ? new Layout(m, k, m) : new Layout(k, m, k);
            return new Plan(transB, transA, b, a, new Layout(n, m, n), n);
        }
    }

    /** The largest power of two (at most {@link #MAX_ALIGNMENT}) dividing every address: the alignment to promise. */
    static int alignment(long... addresses) {
        long bits = MAX_ALIGNMENT;
        for (long a : addresses) bits |= a;
        return (int) Long.lowestOneBit(bits);
    }

    /**
     * Why a call never goes to cuBLASLt, or null: k = 0 (nothing to multiply, sgemm zero-fills); a bias vector not
     * 16-byte aligned (the heuristic is told the alignment of A, B, C and D only, and may pick a kernel that loads the
     * bias 16 bytes at a time and faults on a misaligned address, a sticky error that ends the CUDA context; seen with
     * PyTorch, pytorch/pytorch#194497). Our bias tensors start their own allocation (256-byte aligned); a view into one
     * might not.
     */
    static String unsupported(int m, int n, int k, long bias) {
        if (k == 0) return "k = 0";
        if ((bias & 15) != 0) return "bias address not 16-byte aligned";
        return null;
    }

    /** What a descriptor set is cached by. */
    record Key(boolean transA, boolean transB, int m, int n, int k, boolean tf32, int alignment, boolean relu) {
        @Override public String toString() {
            return "m=" + m + " n=" + n + " k=" + k + " transA=" + transA + " transB=" + transB + (tf32 ? " tf32" : "")
                    + " align=" + alignment + (relu ? " epilogue RELU_BIAS" : " epilogue BIAS");
        }

        /** The cuBLASLt epilogue of this key. */
        int epilogue() { return relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS; }

        /** What the backend runs instead when cuBLASLt refuses this key. */
        String fallback() { return relu ? "the bias epilogue alone, then ReLU" : "cuBLAS sgemm + add_bias_f32"; }
    }

    /**
     * The shapes cuBLASLt refused: an attempt that fails with a refusal ({@link #isRefusal}: the heuristic found no
     * algorithm, or cuBLASLt says NOT_SUPPORTED, INVALID_VALUE or ARCH_MISMATCH) is remembered by key, noted once
     * through {@code note}, and never made again for that key. Running out of memory (our workspace, or cuBLASLt's own:
     * ALLOC_FAILED) says nothing about the shape, so this call falls back (sgemm needs no workspace) and the next one
     * tries cuBLASLt again. Anything else (an execution failure, an error left by an earlier kernel that surfaced here)
     * is not cuBLASLt's verdict on the shape: it is thrown, so the person sees the real error and the fused path is
     * not silently dropped for the rest of the run.
     */
    static final class Refusals {
        private final Map<Key, String> refused = new LinkedHashMap<>();
        private final Consumer<String> note;

        Refusals(Consumer<String> note) { this.note = note; }

        /** Runs the attempt unless this key failed before; true when it ran without throwing. */
        boolean attempt(Key key, Runnable attempt) {
            if (refused.containsKey(key)) return false;
            try {
                attempt.run();
                return true;
            } catch (DeviceOutOfMemoryException e) {
                return false;
            } catch (RuntimeException e) {
                if (e instanceof Cuda.CublasException c && c.status() == CUBLAS_STATUS_ALLOC_FAILED) return false;
                if (!isRefusal(e)) throw e;
                String reason = e.getMessage() == null ? e.toString() : e.getMessage();
                refused.put(key, reason);
                note.accept("cuBLASLt epilogue unavailable for " + key + ": " + reason
                        + "; this shape runs " + key.fallback() + " from now on (-D" + SWITCH + "=false turns cuBLASLt off)");
                return false;
            }
        }

        Map<Key, String> refused() { return java.util.Collections.unmodifiableMap(refused); }

        /** cuBLASLt's "not this shape here": no algorithm from the heuristic, NOT_SUPPORTED, INVALID_VALUE, ARCH_MISMATCH. */
        static boolean isRefusal(RuntimeException e) {
            return e instanceof NoAlgorithmException || e instanceof Cuda.CublasException c && (c.status() == CUBLAS_STATUS_NOT_SUPPORTED
                    || c.status() == CUBLAS_STATUS_INVALID_VALUE || c.status() == CUBLAS_STATUS_ARCH_MISMATCH);
        }
    }

    /** cublasLtMatmulAlgoGetHeuristic returned no algorithm for a key. */
    static final class NoAlgorithmException extends RuntimeException {
        NoAlgorithmException(String message) { super(message); }
    }

    // ================================================================== the native part

    private final CudaContext ctx;
    private final boolean tf32;
    private cublasLtContext handle;
    private final Map<Key, Entry> entries = new HashMap<>();
    private final Refusals refusals = new Refusals(System.err::println);
    // cuBLASLt reads alpha and beta from host memory (the default pointer mode), and attribute values from host buffers.
    private final FloatPointer one = new FloatPointer(1f), zero = new FloatPointer(0f);
    private final LongPointer biasAddress = new LongPointer(1);
    private boolean closed;

    /** Creates the cuBLASLt handle; throws {@link Cuda.CublasException} when cuBLASLt cannot be used. */
    CublasLt(CudaContext ctx, boolean tf32) {
        this.ctx = ctx;
        this.tf32 = tf32;
        cublasLtContext h = new cublasLtContext();
        try {
            Cuda.checkCublas(cublasLtCreate(h), "cublasLtCreate");
        } catch (RuntimeException e) {
            one.close(); zero.close(); biasAddress.close();
            throw e;
        }
        handle = h;
    }

    /** Shapes cuBLASLt refused, with the reason (diagnostics). */
    Map<Key, String> refused() { return refusals.refused(); }

    /**
     * Queues D = op(B)^T op(A)^T + bias on the compute stream (i.e. row-major C = op(A) op(B) + bias), with
     * {@code relu} D = max(that, 0), and returns true; returns false, having queued nothing, when cuBLASLt cannot do
     * this shape (the caller then runs the unfused ops). Addresses are device addresses of dense matrices; the caller
     * has checked the sizes.
     */
    boolean matmulBias(boolean transA, boolean transB, int m, int n, int k, long a, long b, long bias, long c, boolean relu) {
        if (closed) throw new IllegalStateException("cuBLASLt used after close()");
        if (unsupported(m, n, k, bias) != null) return false;
        Key key = new Key(transA, transB, m, n, k, tf32, alignment(a, b, bias, c), relu);
        return refusals.attempt(key, () -> {
            Entry e = entries.get(key);
            if (e == null) {
                e = new Entry(key);
                entries.put(key, e);
            }
            try {
                e.run(a, b, bias, c);
            } catch (DeviceOutOfMemoryException oom) {
                throw oom;   // only the workspace did not fit; the entry stays for the next call
            } catch (RuntimeException ex) {
                entries.remove(key);
                try { e.close(); } catch (RuntimeException suppressed) { ex.addSuppressed(suppressed); }
                throw ex;
            }
        });
    }

    /** The descriptors, layouts and algorithm for one key. */
    private final class Entry implements AutoCloseable {
        private final Key key;
        private cublasLtMatmulDescOpaque_t desc;
        private cublasLtMatrixLayoutOpaque_t ltA, ltB, d;
        private final cublasLtMatmulHeuristicResult_t heuristic = new cublasLtMatmulHeuristicResult_t();
        private long workspaceBytes;

        Entry(Key key) {
            this.key = key;
            try {
                create();
            } catch (RuntimeException e) {
                try { close(); } catch (RuntimeException suppressed) { e.addSuppressed(suppressed); }
                throw e;
            }
        }

        private String what(String call) { return CublasLt.what(key, call); }

        private void create() {
            Plan p = Plan.of(key.transA(), key.transB(), key.m(), key.n(), key.k());
            try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
                desc = matmulDesc(out, key);
                ltA = layout(out, p.ltA(), "A", key);
                ltB = layout(out, p.ltB(), "B", key);
                d = layout(out, p.d(), "D", key);
            }
            setMatmulAttributes(desc, p, key);
            cublasLtMatmulPreferenceOpaque_t pref = null;
            RuntimeException failure = null;
            try (PointerPointer<Pointer> out = new PointerPointer<>(1);
                 IntPointer found = new IntPointer(1).put(0)) {
                Cuda.checkCublas(cublasLtMatmulPreferenceCreate(out), what("cublasLtMatmulPreferenceCreate"));
                pref = new cublasLtMatmulPreferenceOpaque_t(out.get(0));
                setPreference(pref, key);
                // C and D are the same matrix (beta = 0), so D's layout serves for both.
                Cuda.checkCublas(cublasLtMatmulAlgoGetHeuristic(handle, desc, ltA, ltB, d, d, pref, 1, heuristic, found),
                        what("cublasLtMatmulAlgoGetHeuristic"));
                if (found.get() < 1) throw new NoAlgorithmException(what("cublasLtMatmulAlgoGetHeuristic") + " returned no algorithm");
                Cuda.checkCublas(heuristic.state(), what("cublasLtMatmulAlgoGetHeuristic result"));
                workspaceBytes = heuristic.workspaceSize();
            } catch (RuntimeException e) {
                failure = e;
            }
            // The preference is destroyed either way; a failure to destroy it does not hide the failure before it.
            if (pref != null) {
                try {
                    Cuda.checkCublas(cublasLtMatmulPreferenceDestroy(pref), what("cublasLtMatmulPreferenceDestroy"));
                } catch (RuntimeException e) {
                    if (failure == null) failure = e; else failure.addSuppressed(e);
                }
            }
            if (failure != null) throw failure;
        }

        void run(long a, long b, long bias, long c) {
            setBiasPointer(desc, biasAddress, bias, key);
            // The workspace goes back to the cache once the matmul is queued: later users of it run after on this stream.
            try (DeviceBuffer ws = workspaceBytes > 0 ? ctx.allocate(workspaceBytes, "cuBLASLt workspace") : null) {
                Pointer wsp = ws == null ? null : CudaContext.pointer(ws.address());
                Pointer cp = CudaContext.pointer(c);
                Cuda.checkCublas(cublasLtMatmul(handle, desc, one, CudaContext.pointer(b), ltA, CudaContext.pointer(a), ltB,
                        zero, cp, d, cp, d, heuristic.algo(), wsp, workspaceBytes, ctx.stream()),
                        () -> what("cublasLtMatmul") + Cuda.earlierFault(ctx.stream()));
            }
        }

        @Override
        public void close() {
            RuntimeException first = null;
            for (Runnable r : new Runnable[] {
                    () -> { if (d != null) Cuda.checkCublas(cublasLtMatrixLayoutDestroy(d), "cublasLtMatrixLayoutDestroy"); },
                    () -> { if (ltB != null) Cuda.checkCublas(cublasLtMatrixLayoutDestroy(ltB), "cublasLtMatrixLayoutDestroy"); },
                    () -> { if (ltA != null) Cuda.checkCublas(cublasLtMatrixLayoutDestroy(ltA), "cublasLtMatrixLayoutDestroy"); },
                    () -> { if (desc != null) Cuda.checkCublas(cublasLtMatmulDescDestroy(desc), "cublasLtMatmulDescDestroy"); },
                    heuristic::close}) {
                try { r.run(); } catch (RuntimeException e) { if (first == null) first = e; else first.addSuppressed(e); }
            }
            d = ltB = ltA = null;
            desc = null;
            if (first != null) throw first;
        }
    }

    // The descriptor calls of an Entry, as static methods: they need no handle and no device (cuBLASLt's descriptor
    // calls are host-only), so RealCudaLibrariesTest runs them against the real cuBLASLt on a machine without a GPU.

    /** The message of a failed call for this key. */
    static String what(Key key, String call) { return call + " (" + key + ")"; }

    /** Creates the matmul descriptor of a key: FP32 compute (TF32 allowed with the key's tf32), FP32 scale type. */
    static cublasLtMatmulDescOpaque_t matmulDesc(PointerPointer<Pointer> out, Key key) {
        Cuda.checkCublas(cublasLtMatmulDescCreate(out, key.tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F),
                what(key, "cublasLtMatmulDescCreate"));
        return new cublasLtMatmulDescOpaque_t(out.get(0));
    }

    /** Creates one FP32 column-major matrix layout. */
    static cublasLtMatrixLayoutOpaque_t layout(PointerPointer<Pointer> out, Layout l, String which, Key key) {
        Cuda.checkCublas(cublasLtMatrixLayoutCreate(out, CUDA_R_32F, l.rows(), l.cols(), l.ld()),
                what(key, "cublasLtMatrixLayoutCreate(" + which + " " + l.rows() + " x " + l.cols() + ", ld " + l.ld() + ")"));
        return new cublasLtMatrixLayoutOpaque_t(out.get(0));
    }

    /** The plan's transposes and the key's epilogue on a matmul descriptor (each attribute an int32 enum). */
    static void setMatmulAttributes(cublasLtMatmulDescOpaque_t desc, Plan p, Key key) {
        try (IntPointer opA = new IntPointer(1).put(p.transLtA() ? CUBLAS_OP_T : CUBLAS_OP_N);
             IntPointer opB = new IntPointer(1).put(p.transLtB() ? CUBLAS_OP_T : CUBLAS_OP_N);
             IntPointer epilogue = new IntPointer(1).put(key.epilogue())) {
            Cuda.checkCublas(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, opA, 4), what(key, "cublasLtMatmulDescSetAttribute(TRANSA)"));
            Cuda.checkCublas(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, opB, 4), what(key, "cublasLtMatmulDescSetAttribute(TRANSB)"));
            Cuda.checkCublas(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue, 4), what(key, "cublasLtMatmulDescSetAttribute(EPILOGUE)"));
        }
    }

    /** The heuristic's limits: at most {@link #WORKSPACE_LIMIT} of workspace, and the key's pointer alignment for A, B, C and D. */
    static void setPreference(cublasLtMatmulPreferenceOpaque_t pref, Key key) {
        try (LongPointer limit = new LongPointer(1).put(WORKSPACE_LIMIT);
             IntPointer align = new IntPointer(1).put(key.alignment())) {
            Cuda.checkCublas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, limit, 8),
                    what(key, "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)"));
            // Promise only the alignment the pointers of this call have (the default promise is 256 bytes).
            for (int attr : new int[] {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
                Cuda.checkCublas(cublasLtMatmulPreferenceSetAttribute(pref, attr, align, 4), what(key, "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)"));
        }
    }

    /** Sets the bias vector's device address on a matmul descriptor; {@code buffer} is a one-element host buffer for it. */
    static void setBiasPointer(cublasLtMatmulDescOpaque_t desc, LongPointer buffer, long bias, Key key) {
        // The attribute value is the device address itself, copied out of this host buffer by the call.
        buffer.put(0, bias);
        Cuda.checkCublas(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, buffer, 8),
                what(key, "cublasLtMatmulDescSetAttribute(BIAS_POINTER)"));
    }

    /** Number of cached descriptor sets (diagnostics). */
    int cachedShapes() { return entries.size(); }

    /** Destroys every cached descriptor, then the handle. Call after the stream has been synchronised. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        for (Entry e : entries.values()) {
            try { e.close(); } catch (RuntimeException ex) { if (first == null) first = ex; else first.addSuppressed(ex); }
        }
        entries.clear();
        try {
            if (handle != null) Cuda.checkCublas(cublasLtDestroy(handle), "cublasLtDestroy");
        } catch (RuntimeException ex) { if (first == null) first = ex; else first.addSuppressed(ex); }
        handle = null;
        one.close(); zero.close(); biasAddress.close();
        if (first != null) throw first;
    }
}
