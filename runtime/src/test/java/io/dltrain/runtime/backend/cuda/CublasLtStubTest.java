package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.global.cublas;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link CublasLt}'s real JNI calls, without a GPU: a child JVM loads the presets' real cuBLAS wrapper against
 * stand-in {@code libcublasLt.so.13} / {@code libcublas.so.13} (built here with gcc, exporting the symbol versions the
 * wrapper imports; every cuBLASLt call prints what it received) and the stand-in driver of {@link StubDriverLoadTest}.
 * This checks what arrives on the C side: compute and scale types, the TRANSA / TRANSB / EPILOGUE / BIAS_POINTER
 * attribute values, the three layouts, the workspace limit and alignment promises, the pointers, alpha and beta and
 * the workspace handed to cublasLtMatmul; that descriptors are cached per shape and all destroyed by close(); and that
 * a shape with no heuristic result falls back once and is not tried again. It says nothing about the real cuBLASLt's
 * results (CudaVsCpuTest does, on a GPU). Skips, saying why, without gcc or the toolkit's libcudart, or where a real
 * driver is installed.
 */
class CublasLtStubTest {
    static final long WORKSPACE_ADDRESS = 0x7700000L;

    /** Run in the child JVM: drives CublasLt against the stand-in libraries. */
    public static void main(String[] args) {
        CudaContext ctx = new CudaContext() {
            @Override public int deviceIndex() { return 0; }
            @Override public CUstream_st stream() { return null; }
            @Override public cublasContext cublas() { return null; }
            @Override public cudnnContext cudnn() { return null; }
            @Override public KernelLauncher kernels() { return null; }
            @Override public DeviceBuffer allocate(long bytes, String purpose) {
                System.out.println("java-allocate " + bytes + " " + purpose);
                return new DeviceBuffer() {
                    @Override public long address() { return WORKSPACE_ADDRESS; }
                    @Override public long bytes() { return bytes; }
                    @Override public void close() { System.out.println("java-release " + bytes); }
                };
            }
        };
        try (CublasLt lt = new CublasLt(ctx, args.length > 0 && args[0].equals("tf32"))) {
            // Linear: x [8, 6] times W^T (W [5, 6]) plus bias [5]; twice, so the second call reuses the descriptors.
            System.out.println("java-result " + lt.matmulBias(false, true, 8, 5, 6, 0x10000, 0x20000, 0x30000, 0x40000, false));
            System.out.println("java-result " + lt.matmulBias(false, true, 8, 5, 6, 0x10100, 0x20000, 0x30000, 0x40000, false));
            // Transposed A at a 4-byte-aligned address: a new key (alignment 4).
            System.out.println("java-result " + lt.matmulBias(true, false, 3, 4, 7, 0x10004, 0x20000, 0x30000, 0x40000, false));
            // The stand-in finds no algorithm when n = 99: refused, then not tried again.
            System.out.println("java-result " + lt.matmulBias(false, false, 2, 99, 3, 0x10000, 0x20000, 0x30000, 0x40000, false));
            System.out.println("java-result " + lt.matmulBias(false, false, 2, 99, 3, 0x10000, 0x20000, 0x30000, 0x40000, false));
            // Linear + ReLU on Linear's shape: its own key and descriptor, epilogue RELU_BIAS.
            System.out.println("java-result " + lt.matmulBias(false, true, 8, 5, 6, 0x10000, 0x20000, 0x30000, 0x40000, true));
            System.out.println("java-cached " + lt.cachedShapes() + " refused " + lt.refused().size());
        }
        System.out.println("java-closed");
    }

    static final String STUB_LT = """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <stdint.h>
            typedef struct { int64_t a[32]; int compute, scale; } Desc;
            typedef struct { int type; uint64_t rows, cols; int64_t ld; } Layout;
            typedef struct { int64_t a[32]; } Pref;
            typedef struct { uint64_t data[8]; size_t workspaceSize; int state; float wavesCount; int reserved[4]; } Result;
            int standin_kernel_run(const char *name, unsigned gx, unsigned bx, void **params) __attribute__((weak));
            static int live = 0;
            static int handle_token = 42;
            int cublasLtCreate(void **h) { *h = &handle_token; printf("c-create\\n"); return 0; }
            int cublasLtDestroy(void *h) { printf("c-destroy handle=%d live=%d\\n", h == &handle_token, live); return 0; }
            int cublasLtMatmulDescCreate(Desc **d, int compute, int scale) {
              *d = calloc(1, sizeof(Desc)); (*d)->compute = compute; (*d)->scale = scale; live++;
              printf("c-desc compute=%d scale=%d\\n", compute, scale); return 0; }
            int cublasLtMatmulDescDestroy(Desc *d) { free(d); live--; return 0; }
            int cublasLtMatmulDescSetAttribute(Desc *d, int attr, const void *buf, size_t size) {
              int64_t v = 0; memcpy(&v, buf, size < 8 ? size : 8); d->a[attr] = v;
              printf("c-desc-attr %d size=%zu value=%lld\\n", attr, size, (long long) v); return 0; }
            int cublasLtMatrixLayoutCreate(Layout **l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
              *l = calloc(1, sizeof(Layout)); (*l)->type = type; (*l)->rows = rows; (*l)->cols = cols; (*l)->ld = ld; live++;
              return 0; }
            int cublasLtMatrixLayoutDestroy(Layout *l) { free(l); live--; return 0; }
            int cublasLtMatmulPreferenceCreate(Pref **p) { *p = calloc(1, sizeof(Pref)); live++; return 0; }
            int cublasLtMatmulPreferenceDestroy(Pref *p) { free(p); live--; return 0; }
            int cublasLtMatmulPreferenceSetAttribute(Pref *p, int attr, const void *buf, size_t size) {
              int64_t v = 0; memcpy(&v, buf, size < 8 ? size : 8); p->a[attr] = v;
              printf("c-pref-attr %d size=%zu value=%lld\\n", attr, size, (long long) v); return 0; }
            static void pl(const char *n, Layout *l) {
              printf(" %s=%d:%llux%llu/%lld", n, l->type, (unsigned long long) l->rows, (unsigned long long) l->cols, (long long) l->ld); }
            int cublasLtMatmulAlgoGetHeuristic(void *h, Desc *d, Layout *a, Layout *b, Layout *c, Layout *dd, Pref *p,
                                               int requested, Result *r, int *found) {
              printf("c-heuristic requested=%d", requested); pl("A", a); pl("B", b); pl("C", c); pl("D", dd); printf("\\n");
              if (dd->rows == 99) { *found = 0; return 0; }
              memset(r, 0, sizeof(Result)); r->data[0] = 0xA160; r->workspaceSize = 4096; r->state = 0; *found = 1; return 0; }
            int cublasLtMatmul(void *h, Desc *d, const float *alpha, const void *A, Layout *al, const void *B, Layout *bl,
                               const float *beta, const void *C, Layout *cl, void *D, Layout *dl, const Result *algo,
                               void *ws, size_t wsSize, void *stream) {
              printf("c-matmul handle=%d compute=%d scale=%d transa=%lld transb=%lld epilogue=%lld bias=%#llx alpha=%g beta=%g"
                     " A=%#llx B=%#llx C=%#llx D=%#llx algo=%#llx ws=%#llx wsSize=%zu",
                     h == &handle_token, d->compute, d->scale, (long long) d->a[3], (long long) d->a[4], (long long) d->a[7],
                     (unsigned long long) d->a[8], *alpha, *beta, (unsigned long long) (uintptr_t) A, (unsigned long long) (uintptr_t) B,
                     (unsigned long long) (uintptr_t) C, (unsigned long long) (uintptr_t) D, (unsigned long long) algo->data[0],
                     (unsigned long long) (uintptr_t) ws, wsSize);
              pl("A", al); pl("B", bl); pl("C", cl); pl("D", dl); printf("\\n"); fflush(stdout);
              if (standin_kernel_run) {
                /* EmulatedDeviceTest: the pointers are host memory; compute D = op(A) op(B) (+ bias per row) (ReLU),
                   column-major, in float, as a plain loop. The stand-in's ReLU keeps NaN (the CPU's rule); what the
                   real cuBLASLt does is CudaVsCpuTest's question on a GPU. */
                int ta = d->a[3] != 0, tb = d->a[4] != 0;
                long long m = dl->rows, n = dl->cols, k = ta ? al->rows : al->cols;
                const float *fa = A, *fb = B, *bias = (const float *) (uintptr_t) d->a[8];
                float *fd = D;
                for (long long j = 0; j < n; j++) for (long long i = 0; i < m; i++) {
                  float acc = 0;
                  for (long long q = 0; q < k; q++)
                    acc += (ta ? fa[q + i * al->ld] : fa[i + q * al->ld]) * (tb ? fb[j + q * bl->ld] : fb[q + j * bl->ld]);
                  float v = *alpha * acc;
                  if (d->a[7] == 4 || d->a[7] == 6) v += bias[i];
                  if (d->a[7] == 6 && !(v > 0) && v == v) v = 0;
                  fd[i + j * dl->ld] = v;
                }
              }
              return 0; }
            const char *cublasLtGetStatusString(int s) { return "stand-in status"; }
            """;

    static final String STUB_BLAS = """
            const char *cublasGetStatusString(int s) { return "stand-in status"; }
            const char *cublasGetStatusName(int s) { return s == 15 ? "CUBLAS_STATUS_NOT_SUPPORTED" : "CUBLAS_STATUS_(stand-in)"; }
            """;

    static final String STUB_DRIVER = """
            int cuInit(unsigned flags) { (void)flags; return 100; }
            int cuDriverGetVersion(int *v) { if (v) *v = 13000; return 0; }
            int cuDeviceGetCount(int *n) { if (n) *n = 0; return 100; }
            """;

    static void build(Path dir, String soname, String source, String version) throws Exception {
        Path src = dir.resolve(soname + ".c"), map = dir.resolve(soname + ".map");
        Files.writeString(src, source);
        List<String> cmd = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-Wl,-soname," + soname, "-o", dir.resolve(soname).toString(), src.toString()));
        if (version != null) {
            // The wrapper imports versioned symbols (cublasLtCreate@libcublasLt.so.13): the library must define the version.
            Files.writeString(map, version + " { global: *; };\n");
            cmd.add("-Wl,--version-script=" + map);
        }
        StubDriverLoadTest.Result r = StubDriverLoadTest.run(cmd, null);
        assertEquals(0, r.exit(), "gcc failed for " + soname + ":\n" + r.out());
    }

    static List<String> lines(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).toList();
    }

    @Test
    void cublasLtCallsCarryThePlannedArguments(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.exists(StubDriverLoadTest.CUDART), "no CUDA toolkit runtime at " + StubDriverLoadTest.CUDART);
        Assumptions.assumeTrue(!Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1")) && !Files.exists(Path.of("/usr/lib64/libcuda.so.1")),
                "a real NVIDIA driver is installed here; the GPU suite tests the real cuBLASLt");
        try {
            build(dir, "libcuda.so.1", STUB_DRIVER, null);
        } catch (IOException e) {
            Assumptions.abort("no gcc to build the stand-in libraries: " + e.getMessage());
        }
        build(dir, "libcublasLt.so.13", STUB_LT, "libcublasLt.so.13");
        build(dir, "libcublas.so.13", STUB_BLAS, "libcublas.so.13");

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        StubDriverLoadTest.Result child = StubDriverLoadTest.run(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), CublasLtStubTest.class.getName()), dir + ":" + StubDriverLoadTest.CUDART.getParent());
        String out = child.out();
        assertEquals(0, child.exit(), "child JVM failed:\n" + out);

        List<String> results = lines(out, "java-result ");
        assertEquals(List.of("java-result true", "java-result true", "java-result true", "java-result false", "java-result false",
                "java-result true"), results, out);

        // Descriptors: one per key (Linear's, the transposed 4-byte-aligned one, the refused one, Linear + ReLU), FP32 compute.
        List<String> descs = lines(out, "c-desc compute");
        assertEquals(4, descs.size(), out);
        for (String d : descs) assertEquals("c-desc compute=" + cublas.CUBLAS_COMPUTE_32F + " scale=" + org.bytedeco.cuda.global.cudart.CUDA_R_32F, d);

        List<String> mm = lines(out, "c-matmul ");
        assertEquals(4, mm.size(), "one cublasLtMatmul per successful call:\n" + out);
        // Linear (transA=false, transB=true, m=8, n=5, k=6): Lt's A is W read column-major (6 x 5, ld 6) transposed,
        // its B is x read column-major (6 x 8, ld 6), D = C^T is 5 x 8 with ld 5; bias pointer = the bias address.
        String linear = "c-matmul handle=1 compute=68 scale=0 transa=" + cublas.CUBLAS_OP_T + " transb=" + cublas.CUBLAS_OP_N
                + " epilogue=" + cublas.CUBLASLT_EPILOGUE_BIAS + " bias=0x30000 alpha=1 beta=0";
        assertTrue(mm.get(0).startsWith(linear + " A=0x20000 B=0x10000 C=0x40000 D=0x40000 algo=0xa160 ws=0x7700000 wsSize=4096"
                + " A=0:6x5/6 B=0:6x8/6 C=0:5x8/5 D=0:5x8/5"), mm.get(0));
        assertTrue(mm.get(1).contains(" B=0x10100 "), "the second call passes its own A address:\n" + mm.get(1));
        // transA=true, transB=false, m=3, n=4, k=7: Lt's A is B (7 x 4 row-major -> 4 x 7, ld 4) untransposed, its B
        // is A (7 x 3 row-major -> 3 x 7, ld 3) transposed; D is 4 x 3.
        assertTrue(mm.get(2).contains("transa=" + cublas.CUBLAS_OP_N + " transb=" + cublas.CUBLAS_OP_T), mm.get(2));
        assertTrue(mm.get(2).endsWith(" A=0:4x7/4 B=0:3x7/3 C=0:4x3/4 D=0:4x3/4"), mm.get(2));
        // Linear + ReLU: the same call as Linear's but for the epilogue.
        assertEquals(mm.get(0).replace(" epilogue=" + cublas.CUBLASLT_EPILOGUE_BIAS + " ", " epilogue=" + cublas.CUBLASLT_EPILOGUE_RELU_BIAS + " "),
                mm.get(3));

        // Per-key attributes: TRANSA, TRANSB, EPILOGUE once per descriptor (3 BIAS, 1 RELU_BIAS), BIAS_POINTER once per
        // matmul (4).
        assertEquals(3, lines(out, "c-desc-attr " + cublas.CUBLASLT_MATMUL_DESC_EPILOGUE + " size=4 value=" + cublas.CUBLASLT_EPILOGUE_BIAS).size(), out);
        assertEquals(1, lines(out, "c-desc-attr " + cublas.CUBLASLT_MATMUL_DESC_EPILOGUE + " size=4 value=" + cublas.CUBLASLT_EPILOGUE_RELU_BIAS).size(), out);
        assertEquals(4, lines(out, "c-desc-attr " + cublas.CUBLASLT_MATMUL_DESC_BIAS_POINTER + " size=8 value=" + 0x30000).size(), out);
        // Workspace limit 32 MiB (8 bytes), alignment promises: 256 for three keys, 4 for the offset A.
        assertEquals(4, lines(out, "c-pref-attr " + cublas.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES + " size=8 value=" + CublasLt.WORKSPACE_LIMIT).size(), out);
        assertEquals(1, lines(out, "c-pref-attr " + cublas.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + " size=4 value=4").size(), out);
        assertEquals(3, lines(out, "c-pref-attr " + cublas.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + " size=4 value=256").size(), out);
        // The heuristic was asked once per key, the refused shape once only.
        assertEquals(4, lines(out, "c-heuristic ").size(), out);
        // Workspace: allocated per matmul and handed back after it was queued.
        assertEquals(4, lines(out, "java-allocate 4096 cuBLASLt workspace").size(), out);
        assertEquals(4, lines(out, "java-release 4096").size(), out);
        // The refusal is noted once on stderr (merged into out) with its reason.
        List<String> notes = out.lines().filter(l -> l.contains("cuBLASLt epilogue unavailable")).toList();
        assertEquals(1, notes.size(), out);
        assertTrue(notes.get(0).contains("m=2 n=99 k=3") && notes.get(0).contains("no algorithm"), notes.get(0));
        assertTrue(out.contains("java-cached 3 refused 1"), out);
        // close(): every descriptor, layout and preference destroyed before the handle.
        assertTrue(out.contains("c-destroy handle=1 live=0"), out);
        assertTrue(out.contains("java-closed"), out);
    }
}
