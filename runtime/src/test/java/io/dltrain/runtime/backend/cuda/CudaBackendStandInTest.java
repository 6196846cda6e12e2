package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.MemoryStats;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The REAL {@link CudaBackend} (constructor, copies through pinned staging, kernel launches, cuBLAS sgemm, teardown),
 * without a GPU: a child JVM runs it against gcc-built stand-ins for {@code libcudart.so.13}, {@code libcuda.so.1},
 * {@code libcublas.so.13} / {@code libcublasLt.so.13} and cuDNN 9 whose "device memory" is host memory. The stand-ins
 * are compiled against the toolkit's own {@code cuda_runtime_api.h} / {@code cuda.h}, so their signatures and the
 * {@code cudaDeviceProp} layout are CUDA's; they export the symbol versions the presets' JNI wrappers import. They:
 * <ul>
 *   <li>check every handle (streams, events, modules, cuBLAS/cuDNN handles) and every copied, set or computed byte
 *       range (each side of a copy inside one live block of the kind the copy kind names: pinned host memory for the
 *       host side, cudaMalloc memory for the device side), printing a {@code c-error} line for anything wrong;</li>
 *   <li>do the copies at once (memmove), read kernel arguments through {@code kernelParams} by the parameter types
 *       of the PTX text the driver was given (so a marshalling slip shows as a wrong value), run {@code fill_f32},
 *       {@code fill_i32}, {@code add_f32} and {@code add_bias_f32} on the host, and compute cuBLAS's column-major
 *       sgemm on the host;</li>
 *   <li>count live objects, printed after {@code close()} through the Foreign Function API.</li>
 * </ul>
 * The child prints what it saw; this test asserts on it: exact FP32/INT32 round trips (3 MiB, growing the pinned
 * staging), fill, gemm on every transpose combination with offsets and padded leading dimensions against a Java
 * row-major reference (the transpose identity end to end through JNI), add's recorded launch, gemmBias's fallback
 * (sgemm + add_bias_f32) where cuBLASLt refuses, an SGD step's launch, copyBlocks through cudaMemcpy2DAsync, a
 * prefetch on the copy stream, memoryStats, describe(), and that close() frees everything; and, with cudnnCreate made
 * to fail, that the constructor undoes what it had created.
 * It proves the JNI plumbing and the call sequence; it says nothing about real GPU results, timing, stream ordering
 * (the stand-ins are synchronous) or cuDNN ops (CudaVsCpuTest does, on a GPU). Skips, saying why, without gcc or
 * the toolkit's CUDA headers, or where a real driver is installed.
 */
class CudaBackendStandInTest {
    static final Path INCLUDE = Path.of("/usr/local/cuda/include");

    // ------------------------------------------------------------------ the child JVM

    /** Runs in the child JVM against the stand-ins. Lines: "check NAME true|false ...", "java-expect LINE", "java-...". */
    public static void main(String[] args) throws Throwable {
        // JavaCPP loads the toolkit's libcudart.so.13 from its link path (/usr/local/cuda/lib64) before the JNI
        // wrapper; loaded first, the stand-in is the object the wrapper's "libcudart.so.13" dependency binds to.
        System.load(Path.of(args[0], "libcudart.so.13").toString());
        if (args.length > 1 && args[1].equals("busy")) {
            // The GPU is held by another process in exclusive-process mode: its properties read, cudaSetDevice fails.
            call("libcudart.so.13", "standin_devices_busy");
            CudaLibraries.Probe p = CudaLibraries.probe(true);
            System.out.println("java-probe usable=" + p.usable() + " reason=" + p.reason() + " devices=" + p.devices());
            List<String> notices = new ArrayList<>();
            try (io.dltrain.runtime.backend.Backend be = io.dltrain.runtime.backend.Backends.create("auto", 1, notices::add)) {
                System.out.println("java-auto " + be.getClass().getSimpleName() + " notices=" + notices);
            } catch (RuntimeException e) {
                System.out.println("java-auto-failed " + e);
            }
            try (io.dltrain.runtime.backend.Backend be = io.dltrain.runtime.backend.Backends.create("cuda", 1, notices::add)) {
                System.out.println("java-cuda " + be.getClass().getSimpleName());
            } catch (RuntimeException e) {
                System.out.println("java-cuda-failed " + e);
                if (e instanceof io.dltrain.runtime.backend.BackendUnavailableException u)
                    System.out.println("java-cuda-failed-command-line " + u.commandLineMessage());
            }
            report();
            return;
        }
        if (args.length > 1 && args[1].equals("fail-cudnn")) {
            // The constructor fails late (cudnnCreate, after streams, cuBLAS and cuBLASLt exist): it must undo all of it.
            call("libcudnn_graph.so.9", "standin_fail_cudnn_create");
            try {
                new CudaBackend(0, false);
                System.out.println("java-constructed");
            } catch (RuntimeException e) {
                System.out.println("java-construct-failed " + e.getMessage() + " suppressed=" + e.getSuppressed().length);
            }
            report();
            return;
        }
        CudaBackend be = new CudaBackend(0, false);
        List<Tensor> tensors = new ArrayList<>();
        for (Map.Entry<String, Object> e : be.describe().entrySet()) System.out.println("java-describe " + e.getKey() + "=" + e.getValue());
        System.out.println("java-props sizeof=" + Loader.sizeof(cudaDeviceProp.class) + " name=" + Loader.offsetof(cudaDeviceProp.class, "name")
                + " totalGlobalMem=" + Loader.offsetof(cudaDeviceProp.class, "totalGlobalMem") + " major=" + Loader.offsetof(cudaDeviceProp.class, "major")
                + " minor=" + Loader.offsetof(cudaDeviceProp.class, "minor") + " multiProcessorCount=" + Loader.offsetof(cudaDeviceProp.class, "multiProcessorCount"));
        Random rnd = new Random(7);

        // Module loading: where the driver refuses a module, its JIT compiler's log and what to do reach the exception.
        String refused = loadError(be, "// standin-reject\n.version 9.0\n.target sm_75\n.address_size 64\n");
        check("ptx-jit-log", refused.contains("cuModuleLoadDataEx(bad.ptx, PTX ISA 9.0 for sm_75)")
                && refused.contains("[the driver's PTX compiler said: ptxas application ptx input, line 3; error   : stand-in refuses this module]")
                && refused.contains("could not compile dl-train's kernels"), refused);
        String newer = loadError(be, ".version 99.0\n.target sm_75\n");
        check("ptx-newer-than-driver", newer.contains("PTX ISA 99.0") && newer.contains("driver 580 or newer"), newer);

        // FP32 round trip, 3 MiB (more than a staging slot's first 1 MiB), with -0, subnormals, extremes and a NaN payload.
        float[] big = new float[768 * 1024];
        for (int i = 0; i < big.length; i++) big[i] = (float) rnd.nextGaussian() * 100;
        big[0] = -0f; big[1] = Float.MIN_VALUE; big[2] = Float.MAX_VALUE; big[3] = Float.intBitsToFloat(0x7fc01234); big[4] = Float.NEGATIVE_INFINITY;
        Tensor tb = track(tensors, be.empty(Shape.of(768, 1024), DType.FP32));
        be.copyFromHost(big, 0, tb);
        float[] back = new float[big.length];
        be.toHost(tb, back);
        check("fp32-roundtrip", sameBits(big, back), "");

        // INT32 round trip from a host offset.
        int[] ints = new int[1003];
        for (int i = 0; i < ints.length; i++) ints[i] = rnd.nextInt();
        ints[3] = Integer.MIN_VALUE; ints[4] = -1;
        Tensor ti = track(tensors, be.empty(Shape.of(10, 100), DType.INT32));
        be.copyFromHost(ints, 3, ti);
        int[] iback = new int[1000];
        be.toHost(ti, iback);
        check("int32-roundtrip", Arrays.equals(iback, Arrays.copyOfRange(ints, 3, 1003)), "");

        // fill: fill_f32 and fill_i32, run by the stand-in driver.
        Tensor tf = track(tensors, be.empty(Shape.of(3, 5), DType.FP32));
        be.fill(tf, 2.5f);
        float[] fb = new float[15];
        be.toHost(tf, fb);
        float[] want = new float[15];
        Arrays.fill(want, 2.5f);
        check("fill-f32", Arrays.equals(fb, want), Arrays.toString(fb));
        expect("c-launch fill_f32 grid=1,1,1 block=256,1,1 shared=0 stream=1 extra=null args=" + CudaStorage.address(tf) + " 2.5 15");
        Tensor tfi = track(tensors, be.empty(Shape.of(7), DType.INT32));
        be.fill(tfi, 7f);
        int[] fib = new int[7];
        be.toHost(tfi, fib);
        check("fill-i32", Arrays.equals(fib, new int[] {7, 7, 7, 7, 7, 7, 7}), Arrays.toString(fib));
        expect("c-launch fill_i32 grid=1,1,1 block=256,1,1 shared=0 stream=1 extra=null args=" + CudaStorage.address(tfi) + " 7 7");

        // item() reads one value back.
        Tensor one = track(tensors, be.empty(Shape.of(1), DType.FP32));
        be.fill(one, 4.25f);
        check("item", be.item(one) == 4.25f, "");

        // gemm, every transpose combination, offsets and padded leading dimensions, beta 0 and 0.5.
        for (int c = 0; c < 4; c++) gemmCase(be, tensors, rnd, (c & 2) != 0, (c & 1) != 0, c == 3 ? 0.5f : 0f);
        // sgemm failing in a context an earlier kernel left a sticky error in: the message names that error and the hint.
        call("libcublas.so.13", "standin_fail_next_sgemm");
        call("libcudart.so.13", "standin_poison_illegal_address");
        String fault;
        try {
            be.gemm(false, false, 2, 2, 2, 1f, tf, 0, 2, tf, 0, 2, 0f, tf, 4, 2);
            fault = "no exception";
        } catch (Cuda.CublasException e) {
            fault = e.getMessage();
        }
        call("libcudart.so.13", "standin_unpoison");
        check("gemm-earlier-fault", fault.startsWith("cublasSgemm (row-major m=2 n=2 k=2") && fault.contains("; the CUDA context reports cudaErrorStandIn (")
                && fault.contains("This error comes from an EARLIER kernel or copy"), fault);

        // add: recorded arguments, and the stand-in computes it.
        int n = 1000;
        float[] x = new float[n], y = new float[n], sum = new float[n];
        for (int i = 0; i < n; i++) { x[i] = rnd.nextFloat(); y[i] = rnd.nextFloat() - 0.5f; sum[i] = x[i] + y[i]; }
        Tensor ta = track(tensors, be.empty(Shape.of(n), DType.FP32)), tb2 = track(tensors, be.empty(Shape.of(n), DType.FP32)),
                ty = track(tensors, be.empty(Shape.of(n), DType.FP32));
        be.copyFromHost(x, 0, ta);
        be.copyFromHost(y, 0, tb2);
        be.add(ta, tb2, ty);
        float[] yb = new float[n];
        be.toHost(ty, yb);
        check("add", Arrays.equals(yb, sum), "");
        // grid = ceil(1000 / 256) = 4 blocks of 256 threads (far below the 32-per-SM cap of 132 SMs)
        expect("c-launch add_f32 grid=4,1,1 block=256,1,1 shared=0 stream=1 extra=null args=" + CudaStorage.address(ta) + " "
                + CudaStorage.address(tb2) + " " + CudaStorage.address(ty) + " " + n);

        // An optimiser step: 64-bit, f32 and 32-bit arguments in one launch (read by the PTX's types). Host scalars as
        // torch.optim.SGD defines them: -lr, weight decay, L1, momentum, 1 - dampening, nesterov, first step.
        Tensor pp = track(tensors, be.empty(Shape.of(300), DType.FP32)), pg = track(tensors, be.empty(Shape.of(300), DType.FP32)),
                pbuf = track(tensors, be.empty(Shape.of(300), DType.FP32));
        be.optimizerStep(new io.dltrain.runtime.backend.OptimizerHyper.Sgd(0.5f, 0.25f, true, 0.25f, 0f), pp, pg, new Tensor[] {pbuf}, 0.5f, 1);
        expect("c-launch sgd_step_f32 grid=2,1,1 block=256,1,1 shared=0 stream=1 extra=null args=" + CudaStorage.address(pp) + " "
                + CudaStorage.address(pg) + " " + CudaStorage.address(pbuf) + " 300 -0.5 0.25 0 0.5 0.75 1 1");

        // gemmBias on a shape the cuBLASLt stand-in refuses (n = 99): the fallback, sgemm then add_bias_f32 (run by the
        // stand-in), against a Java reference.
        int bm = 2, bn = 99, bk = 3;
        float[] ga = randoms(rnd, bm * bk), gb = randoms(rnd, bk * bn), gbias = randoms(rnd, bn), gref = new float[bm * bn];
        Tensor gA = track(tensors, be.empty(Shape.of(bm, bk), DType.FP32)), gB = track(tensors, be.empty(Shape.of(bk, bn), DType.FP32)),
                gBias = track(tensors, be.empty(Shape.of(bn), DType.FP32)), gC = track(tensors, be.empty(Shape.of(bm, bn), DType.FP32));
        be.copyFromHost(ga, 0, gA);
        be.copyFromHost(gb, 0, gB);
        be.copyFromHost(gbias, 0, gBias);
        be.gemmBias(false, false, bm, bn, bk, gA, gB, gBias, gC);
        for (int i = 0; i < bm; i++) {
            for (int j = 0; j < bn; j++) {
                float acc = 0;
                for (int p = 0; p < bk; p++) acc += ga[i * bk + p] * gb[p * bn + j];
                gref[i * bn + j] = 1f * acc + gbias[j];
            }
        }
        float[] ggot = new float[bm * bn];
        be.toHost(gC, ggot);
        check("gemmBias-fallback", sameBits(ggot, gref), "");
        expect("c-sgemm transa=0 transb=0 m=99 n=2 k=3 alpha=1 A=" + CudaStorage.address(gB) + " lda=99 B=" + CudaStorage.address(gA)
                + " ldb=3 beta=0 C=" + CudaStorage.address(gC) + " ldc=99");
        expect("c-launch add_bias_f32 grid=1,1,1 block=256,1,1 shared=0 stream=1 extra=null args=" + CudaStorage.address(gC) + " "
                + CudaStorage.address(gBias) + " 198 99 1");

        // copyBlocks with count > 1: cudaMemcpy2DAsync with byte pitches; copy: a device-to-device cudaMemcpyAsync.
        float[] src = new float[24];
        for (int i = 0; i < 24; i++) src[i] = i;
        Tensor ts = track(tensors, be.empty(Shape.of(4, 6), DType.FP32)), td = track(tensors, be.empty(Shape.of(4, 3), DType.FP32));
        be.copyFromHost(src, 0, ts);
        be.fill(td, -1f);
        be.copyBlocks(ts, 1, 6, td, 0, 3, 3, 4);
        float[] db = new float[12], dwant = new float[12];
        for (int r = 0; r < 4; r++) for (int j = 0; j < 3; j++) dwant[r * 3 + j] = src[1 + r * 6 + j];
        be.toHost(td, db);
        check("copyBlocks", Arrays.equals(db, dwant), Arrays.toString(db));
        expect("c-memcpy2d kind=3 dpitch=12 spitch=24 width=12 height=4 stream=1");
        Tensor tc = track(tensors, be.empty(Shape.of(4, 6), DType.FP32));
        be.copy(ts, tc);
        float[] cb = new float[24];
        be.toHost(tc, cb);
        check("copy", Arrays.equals(cb, src), "");

        // prefetch on the copy stream (id 2), then the compute stream (id 1) waits for it.
        float[] pre = new float[64];
        for (int i = 0; i < 64; i++) pre[i] = -i * 0.25f;
        Tensor tp = track(tensors, be.empty(Shape.of(64), DType.FP32));
        be.prefetchFromHost(pre, 0, tp).await();
        float[] pb = new float[64];
        be.toHost(tp, pb);
        check("prefetch", Arrays.equals(pb, pre), "");
        expect("c-memcpy kind=1 bytes=256 stream=2");
        expect("c-wait-event stream=2");
        expect("c-wait-event stream=1");

        // memoryStats: tensors hold memory; closing them returns it to the cache (reserved stays).
        MemoryStats before = be.memoryStats();
        System.out.println("java-memory-before " + before);
        long bytes = 0;
        for (Tensor t : tensors) bytes += CachingAllocator.roundSize(t.numel() * 4L);
        check("memory-in-use", before.inUseBytes() == bytes, before.inUseBytes() + " vs " + bytes);
        for (Tensor t : tensors) t.close();
        MemoryStats after = be.memoryStats();
        System.out.println("java-memory-after " + after);
        check("memory-released", after.inUseBytes() == 0 && after.reservedBytes() == before.reservedBytes()
                && after.peakBytes() >= before.inUseBytes(), after.toString());

        be.close();
        System.out.println("java-closed");
        report();
    }

    /** Each stand-in prints its live objects and error count. */
    static void report() throws Throwable {
        call("libcudart.so.13", "standin_cudart_report");
        call("libcuda.so.1", "standin_cuda_report");
        call("libcublas.so.13", "standin_cublas_report");
        call("libcudnn_graph.so.9", "standin_cudnn_report");
    }

    /** Calls {@code void fn(void)} of a stand-in (the already loaded one: dlopen finds it by its soname). */
    static void call(String lib, String fn) throws Throwable {
        Linker.nativeLinker().downcallHandle(SymbolLookup.libraryLookup(lib, Arena.global()).find(fn).orElseThrow(),
                FunctionDescriptor.ofVoid()).invokeExact();
    }

    static Tensor track(List<Tensor> all, Tensor t) { all.add(t); return t; }

    /** The message of the exception loading one module "bad" with this PTX text throws ("none" if it loads). */
    static String loadError(CudaBackend be, String ptx) {
        try (PtxKernels k = new PtxKernels(be, 1, Map.of("bad", ptx))) {
            return "none";
        } catch (Cuda.CudaException e) {
            return e.getMessage();
        }
    }

    static void check(String name, boolean ok, String detail) { System.out.println("check " + name + " " + ok + " " + detail); }

    static void expect(String line) { System.out.println("java-expect " + line); }

    private static boolean sameBits(float[] a, float[] b) {
        if (a.length != b.length) return false;
        for (int i = 0; i < a.length; i++) if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) return false;
        return true;
    }

    /** One row-major gemm through the backend, against a Java reference that sums in the same order (so exactly equal). */
    private static void gemmCase(CudaBackend be, List<Tensor> tensors, Random rnd, boolean tA, boolean tB, float beta) {
        int m = 3, n = 4, k = 5;
        int lda = (tA ? m : k) + 2, ldb = (tB ? k : n) + 1, ldc = n + 3;   // padded row strides
        int aOff = 3, bOff = 5, cOff = 2;
        int aLen = aOff + (tA ? k : m) * lda, bLen = bOff + (tB ? n : k) * ldb, cLen = cOff + m * ldc;
        float[] a = randoms(rnd, aLen), b = randoms(rnd, bLen), c0 = randoms(rnd, cLen);
        Tensor A = track(tensors, be.empty(Shape.of(aLen), DType.FP32)), B = track(tensors, be.empty(Shape.of(bLen), DType.FP32)),
                C = track(tensors, be.empty(Shape.of(cLen), DType.FP32));
        be.copyFromHost(a, 0, A);
        be.copyFromHost(b, 0, B);
        be.copyFromHost(c0, 0, C);
        float alpha = 1.5f;
        be.gemm(tA, tB, m, n, k, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
        float[] got = new float[cLen], ref = c0.clone();
        be.toHost(C, got);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float acc = 0;
                for (int p = 0; p < k; p++) {
                    float av = tA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    float bv = tB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    acc += av * bv;
                }
                int at = cOff + i * ldc + j;
                ref[at] = beta == 0 ? alpha * acc : alpha * acc + beta * c0[at];
            }
        }
        check("gemm-" + (tA ? "T" : "N") + (tB ? "T" : "N"), sameBits(got, ref), "got " + Arrays.toString(got) + " want " + Arrays.toString(ref));
        // Column-major C^T = op(B)^T op(A)^T: cuBLAS's A is our B, its m is our n; leading dimensions pass through.
        expect("c-sgemm transa=" + (tB ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N) + " transb=" + (tA ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N)
                + " m=" + n + " n=" + m + " k=" + k + " alpha=1.5 A=" + (CudaStorage.address(B) + 4L * bOff) + " lda=" + ldb
                + " B=" + (CudaStorage.address(A) + 4L * aOff) + " ldb=" + lda + " beta=" + (beta == 0 ? "0" : "0.5")
                + " C=" + (CudaStorage.address(C) + 4L * cOff) + " ldc=" + ldc);
    }

    static float[] randoms(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    // ------------------------------------------------------------------ the stand-ins

    /** libcudart.so.13: device memory is malloc'd host memory; every handle and byte range is checked. */
    static final String STUB_CUDART = """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <stddef.h>
            #include <cuda_runtime_api.h>
            #define LOG(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
            #define ERR(...) do { errors++; printf("c-error " __VA_ARGS__); fflush(stdout); } while (0)
            #define TOTAL (80ULL << 30)
            enum { STREAM = 1, EVENT = 2, DEVICE = 3, PINNED = 4 };
            typedef struct { void *h; size_t n; int kind, id; } Obj;
            static Obj objs[1 << 16];
            static int nobjs, ids[5], errors;
            static size_t device_bytes;
            static void *add(int kind, size_t n) {
              if (nobjs == (int) (sizeof objs / sizeof objs[0])) { ERR("more than %d live streams, events and blocks\\n", nobjs); abort(); }
              void *h = malloc(n ? n : 16);
              objs[nobjs++] = (Obj) {h, n, kind, ++ids[kind]};
              return h;
            }
            static Obj *find(const void *h, int kind) {
              for (int i = 0; i < nobjs; i++) if (objs[i].h == h && objs[i].kind == kind) return &objs[i];
              return NULL;
            }
            static int drop(void *h, int kind) {
              Obj *o = find(h, kind);
              if (!o) return 0;
              if (kind == DEVICE) device_bytes -= o->n;
              free(h); *o = objs[--nobjs]; return 1;
            }
            static int live(int kind) { int c = 0; for (int i = 0; i < nobjs; i++) c += objs[i].kind == kind; return c; }
            /* 1 when [p, p + n) lies inside one live block of this kind */
            static int inside(const void *p, size_t n, int kind) {
              const char *c = p;
              for (int i = 0; i < nobjs; i++)
                if (objs[i].kind == kind && c >= (char *) objs[i].h && c + n <= (char *) objs[i].h + objs[i].n) return 1;
              return 0;
            }
            int standin_device_range(const void *p, size_t n) { int ok = inside(p, n, DEVICE); if (!ok) ERR("device range %p + %zu is outside every cudaMalloc block\\n", p, n); return ok; }
            /* Multiprocessors the stand-in GPU reports: 132 (an H100 SXM); the race check sets 1, so that grid-stride
               kernels (grids capped at 32 blocks per SM) loop over tensors beyond 8192 elements. */
            static int sm_count = 132;
            void standin_set_sm_count(int n) { sm_count = n; }
            int standin_sm_count(void) { return sm_count; }
            /* The cudaMalloc block that holds address p (its start, *n its size); NULL when none does (the race check). */
            void *standin_device_block_of(unsigned long long p, size_t *n) {
              const char *c = (const char *) p;
              for (int i = 0; i < nobjs; i++)
                if (objs[i].kind == DEVICE && c >= (char *) objs[i].h && c < (char *) objs[i].h + objs[i].n) { *n = objs[i].n; return objs[i].h; }
              return NULL;
            }
            /* 0: the legacy default stream (NULL); else the creation number of a live stream; -1: unknown */
            int standin_stream_id(const void *s) { if (!s) return 0; Obj *o = find(s, STREAM); return o ? o->id : -1; }
            static int stream_ok(const void *s, const char *call) {
              if (standin_stream_id(s) < 0) { ERR("%s: unknown stream %p\\n", call, s); return 0; }
              return 1;
            }
            void standin_cudart_report(void) {
              LOG("c-live cudart streams=%d events=%d device=%d pinned=%d device_bytes=%zu errors=%d\\n",
                  live(STREAM), live(EVENT), live(DEVICE), live(PINNED), device_bytes, errors);
            }
            cudaError_t cudaGetDeviceCount(int *c) { *c = 1; return cudaSuccess; }
            cudaError_t cudaDriverGetVersion(int *v) { *v = 13000; return cudaSuccess; }
            cudaError_t cudaRuntimeGetVersion(int *v) { *v = 13000; return cudaSuccess; }
            cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d) {
              if (d != 0) return cudaErrorInvalidDevice;
              memset(p, 0, sizeof *p);
              strcpy(p->name, "Stand-in GPU (host memory)");
              p->major = 9; p->minor = 0; p->multiProcessorCount = sm_count; p->totalGlobalMem = TOTAL;
              LOG("c-props sizeof=%zu name=%zu totalGlobalMem=%zu major=%zu minor=%zu multiProcessorCount=%zu\\n", sizeof *p,
                  offsetof(struct cudaDeviceProp, name), offsetof(struct cudaDeviceProp, totalGlobalMem), offsetof(struct cudaDeviceProp, major),
                  offsetof(struct cudaDeviceProp, minor), offsetof(struct cudaDeviceProp, multiProcessorCount));
              return cudaSuccess;
            }
            /* Called by a child: the GPU is held by another process in exclusive-process mode (cudaSetDevice makes the
               context current, which such a GPU refuses; its properties still read). */
            static cudaError_t set_device_error = cudaSuccess;
            void standin_devices_busy(void) { set_device_error = cudaErrorDevicesUnavailable; }
            cudaError_t cudaSetDevice(int d) { LOG("c-set-device %d\\n", d); return d != 0 ? cudaErrorInvalidDevice : set_device_error; }
            cudaError_t cudaGetDevice(int *d) { *d = 0; return cudaSuccess; }
            cudaError_t cudaFree(void *p) {
              if (!p) { LOG("c-context\\n"); return cudaSuccess; }
              if (!drop(p, DEVICE)) { ERR("cudaFree(%p): not a live cudaMalloc block\\n", p); return cudaErrorInvalidValue; }
              return cudaSuccess;
            }
            /* A device of TOTAL bytes: a request beyond what is left fails as on a full GPU (the memory is only reserved
               virtual memory until it is written). */
            cudaError_t cudaMalloc(void **p, size_t n) {
              if (n > TOTAL - device_bytes) { *p = NULL; LOG("c-malloc-refused %zu in-use=%zu\\n", n, device_bytes); return cudaErrorMemoryAllocation; }
              *p = add(DEVICE, n); device_bytes += n; LOG("c-malloc %zu\\n", n); return cudaSuccess;
            }
            cudaError_t cudaMallocHost(void **p, size_t n) { *p = add(PINNED, n); LOG("c-malloc-host %zu\\n", n); return cudaSuccess; }
            cudaError_t cudaFreeHost(void *p) {
              if (!drop(p, PINNED)) { ERR("cudaFreeHost(%p): not a live cudaMallocHost block\\n", p); return cudaErrorInvalidValue; }
              return cudaSuccess;
            }
            cudaError_t cudaMemGetInfo(size_t *f, size_t *t) { *t = TOTAL; *f = TOTAL - device_bytes; return cudaSuccess; }
            cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
              *s = add(STREAM, 0); LOG("c-stream-create id=%d flags=%u\\n", ids[STREAM], flags); return cudaSuccess;
            }
            cudaError_t cudaStreamSynchronize(cudaStream_t s) { return stream_ok(s, "cudaStreamSynchronize") ? cudaSuccess : cudaErrorInvalidResourceHandle; }
            cudaError_t cudaDeviceSynchronize(void) { LOG("c-device-sync\\n"); return cudaSuccess; }
            /* Called by a child: the context as after a kernel's illegal address (a sticky error, which every later
               query reports) or healthy again. Only cudaStreamQuery says so: the other calls go on working, so that a
               caller that tried again another way would be seen to. */
            static cudaError_t sticky = cudaSuccess;
            void standin_poison_illegal_address(void) { sticky = cudaErrorIllegalAddress; }
            void standin_unpoison(void) { sticky = cudaSuccess; }
            cudaError_t cudaStreamQuery(cudaStream_t s) {
              LOG("c-stream-query stream=%d\\n", standin_stream_id(s));
              return stream_ok(s, "cudaStreamQuery") ? sticky : cudaErrorInvalidResourceHandle;
            }
            cudaError_t cudaStreamDestroy(cudaStream_t s) {
              if (!s || !drop(s, STREAM)) { ERR("cudaStreamDestroy(%p): not a live stream\\n", (void *) s); return cudaErrorInvalidResourceHandle; }
              return cudaSuccess;
            }
            cudaError_t cudaEventCreate(cudaEvent_t *e) { *e = add(EVENT, 0); return cudaSuccess; }
            cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags) { *e = add(EVENT, 0); return cudaSuccess; }
            static int event_ok(const void *e, const char *call) {
              if (!find(e, EVENT)) { ERR("%s: unknown event %p\\n", call, e); return 0; }
              return 1;
            }
            cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
              return event_ok(e, "cudaEventRecord") && stream_ok(s, "cudaEventRecord") ? cudaSuccess : cudaErrorInvalidResourceHandle;
            }
            cudaError_t cudaEventSynchronize(cudaEvent_t e) { return event_ok(e, "cudaEventSynchronize") ? cudaSuccess : cudaErrorInvalidResourceHandle; }
            cudaError_t cudaEventDestroy(cudaEvent_t e) {
              if (!drop(e, EVENT)) { ERR("cudaEventDestroy(%p): not a live event\\n", (void *) e); return cudaErrorInvalidResourceHandle; }
              return cudaSuccess;
            }
            cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
              LOG("c-wait-event stream=%d\\n", standin_stream_id(s));
              return event_ok(e, "cudaStreamWaitEvent") && stream_ok(s, "cudaStreamWaitEvent") ? cudaSuccess : cudaErrorInvalidResourceHandle;
            }
            /* Each side of a copy must lie inside one block of the kind the copy kind names. */
            static int sides_ok(const void *dst, size_t dn, const void *src, size_t sn, enum cudaMemcpyKind kind, const char *call) {
              int d = kind == cudaMemcpyDeviceToHost ? PINNED : DEVICE, s = kind == cudaMemcpyHostToDevice ? PINNED : DEVICE;
              if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice) {
                ERR("%s: unexpected copy kind %d\\n", call, (int) kind); return 0;
              }
              if (!inside(dst, dn, d)) { ERR("%s: destination %p + %zu is outside every %s block\\n", call, dst, dn, d == PINNED ? "pinned" : "device"); return 0; }
              if (!inside(src, sn, s)) { ERR("%s: source %p + %zu is outside every %s block\\n", call, src, sn, s == PINNED ? "pinned" : "device"); return 0; }
              return 1;
            }
            cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, cudaStream_t s) {
              LOG("c-memcpy kind=%d bytes=%zu stream=%d\\n", (int) kind, n, standin_stream_id(s));
              if (!stream_ok(s, "cudaMemcpyAsync") || !sides_ok(dst, n, src, n, kind, "cudaMemcpyAsync")) return cudaErrorInvalidValue;
              memmove(dst, src, n); return cudaSuccess;
            }
            cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                                          enum cudaMemcpyKind kind, cudaStream_t s) {
              LOG("c-memcpy2d kind=%d dpitch=%zu spitch=%zu width=%zu height=%zu stream=%d\\n", (int) kind, dpitch, spitch, width, height, standin_stream_id(s));
              if (width > dpitch || width > spitch) { ERR("cudaMemcpy2DAsync: width %zu exceeds a pitch\\n", width); return cudaErrorInvalidPitchValue; }
              if (height == 0) return cudaSuccess;
              if (!stream_ok(s, "cudaMemcpy2DAsync")
                  || !sides_ok(dst, (height - 1) * dpitch + width, src, (height - 1) * spitch + width, kind, "cudaMemcpy2DAsync")) return cudaErrorInvalidValue;
              for (size_t r = 0; r < height; r++) memmove((char *) dst + r * dpitch, (const char *) src + r * spitch, width);
              return cudaSuccess;
            }
            cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) {
              LOG("c-memset bytes=%zu value=%d stream=%d\\n", n, v, standin_stream_id(s));
              if (!stream_ok(s, "cudaMemsetAsync") || !inside(p, n, DEVICE)) { ERR("cudaMemsetAsync: bad range %p + %zu\\n", p, n); return cudaErrorInvalidValue; }
              memset(p, v, n); return cudaSuccess;
            }
            cudaError_t cudaGetLastError(void) { return cudaSuccess; }
            const char *cudaGetErrorName(cudaError_t e) { return "cudaErrorStandIn"; }
            const char *cudaGetErrorString(cudaError_t e) { return "an error reported by the stand-in runtime (see the c-error line)"; }
            """;

    /** libcuda.so.1: modules, functions and launches; parameter types from the PTX text. */
    static final String STUB_DRIVER = """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <stdint.h>
            #include <cuda.h>
            #define LOG(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
            #define ERR(...) do { errors++; printf("c-error " __VA_ARGS__); fflush(stdout); } while (0)
            int standin_device_range(const void *p, size_t n);
            int standin_stream_id(const void *s);
            /* The kernel emulator (kernels/src/test/cuda/emu), when the driver is linked with it; else NULL. */
            int standin_kernel_run(const char *name, unsigned gx, unsigned bx, void **params) __attribute__((weak));
            void standin_kernel_order(int reverse) __attribute__((weak));
            void *standin_device_block_of(unsigned long long p, size_t *n);
            /* Parameter types come from the PTX text itself: '8' 64-bit (.u64/.s64/.b64), 'f' .f32, 'i' 32-bit integer. */
            typedef struct { char name[128]; char types[64]; int nparams, module; } Entry;
            typedef struct { int id, live, nentries; Entry entries[64]; } Module;
            static Module *modules[64];
            static int nmodules, errors, launches;
            /*
             * The race check (standin_race_check(1), EmulatedDevice's -Ddltrain.emu.raceCheck=true): every launch runs
             * twice from the same memory, blocks and threads first in order, then in reverse order (the emulator runs
             * one thread at a time, from barrier to barrier); the device blocks its pointer arguments point into (and, for
             * the multi-tensor optimiser kernels, those their table's pointers point into) must come out byte for byte the same. A kernel whose result depends on the order its threads or blocks run in
             * (a missing barrier, a thread reading what another writes, an order-dependent float atomic) fails with a
             * c-error naming it.
             */
            int standin_sm_count(void);
            static int race_check, race_checked, race_at_cap, nchecked_names;
            static char checked_names[64][128];
            void standin_race_check(int on) { race_check = on; }
            typedef struct { char *at; size_t n; char *before, *after; } Snap;
            static void snap_block(Snap *snaps, int *ns, int max, unsigned long long v) {
              size_t n; char *at = standin_device_block_of(v, &n);
              int seen = 0;
              for (int j = 0; j < *ns; j++) seen |= snaps[j].at == at;
              if (!at || seen) return;
              if (*ns == max) { ERR("race check: more than %d device blocks in one launch\\n", max); return; }
              snaps[*ns] = (Snap) {at, n, malloc(n), malloc(n)};
              memcpy(snaps[*ns].before, at, n);
              (*ns)++;
            }
            static int run_checked(const char *name, unsigned gx, unsigned bx, void **params, const char *types, int nparams) {
              Snap snaps[256]; int ns = 0;
              for (int i = 0; i < nparams; i++) {
                if (types[i] != '8') continue;
                unsigned long long v; memcpy(&v, params[i], 8);
                snap_block(snaps, &ns, 256, v);
              }
              /* optim.cu's <opt>_multi_f32: parameter 0 is a table of DL_MULTI_COLS (7) long longs per tensor, parameter 1
                 the tensor count; columns 0-4 are the device pointers the launch writes through (device memory is host
                 memory here). */
              size_t len = strlen(name);
              if (len > 10 && !strcmp(name + len - 10, "_multi_f32") && nparams >= 2 && types[0] == '8') {
                unsigned long long tab; int rows; memcpy(&tab, params[0], 8); memcpy(&rows, params[1], 4);
                const unsigned long long *t = (const unsigned long long *) tab;
                for (int r = 0; r < rows; r++) for (int c = 0; c < 5; c++) if (t[7 * r + c]) snap_block(snaps, &ns, 256, t[7 * r + c]);
              }
              standin_kernel_order(0);
              int ok = standin_kernel_run(name, gx, bx, params);
              for (int j = 0; j < ns; j++) { memcpy(snaps[j].after, snaps[j].at, snaps[j].n); memcpy(snaps[j].at, snaps[j].before, snaps[j].n); }
              standin_kernel_order(1);
              if (ok) standin_kernel_run(name, gx, bx, params);
              standin_kernel_order(0);
              for (int j = 0; j < ns; j++) {
                if (ok && memcmp(snaps[j].after, snaps[j].at, snaps[j].n)) {
                  size_t k = 0; while (snaps[j].after[k] == snaps[j].at[k]) k++;
                  ERR("race check: kernel %s (grid %u x %u): the result depends on the order its threads run in (byte %zu of a %zu-byte device block differs)\\n",
                      name, gx, bx, k, snaps[j].n);
                }
                free(snaps[j].before); free(snaps[j].after);
              }
              race_checked++;
              if (gx == 32u * (unsigned) standin_sm_count() && bx == 256) race_at_cap++;   /* PtxKernels.gridFor's cap */
              int known = 0;
              for (int j = 0; j < nchecked_names; j++) known |= !strcmp(checked_names[j], name);
              if (!known && nchecked_names < 64) strncpy(checked_names[nchecked_names++], name, 127);
              return ok;
            }
            static int live_modules(void) { int c = 0; for (int i = 0; i < nmodules; i++) c += modules[i]->live; return c; }
            void standin_cuda_report(void) {
              LOG("c-live driver modules=%d launches=%d errors=%d\\n", live_modules(), launches, errors);
              if (race_check) LOG("c-race-check launches=%d kernels=%d at-grid-cap=%d\\n", race_checked, nchecked_names, race_at_cap);
            }
            CUresult cuInit(unsigned int flags) { return CUDA_SUCCESS; }
            CUresult cuDriverGetVersion(int *v) { *v = 13000; return CUDA_SUCCESS; }
            CUresult cuDeviceGetCount(int *n) { *n = 1; return CUDA_SUCCESS; }
            CUresult cuGetErrorName(CUresult r, const char **s) { *s = "CUDA_ERROR_STAND_IN"; return CUDA_SUCCESS; }
            CUresult cuGetErrorString(CUresult r, const char **s) { *s = "an error reported by the stand-in driver (see the c-error line)"; return CUDA_SUCCESS; }
            CUresult cuModuleLoadData(CUmodule *m, const void *image) {
              const char *t = image, *p = t;
              Module *mod = calloc(1, sizeof *mod);
              mod->id = nmodules + 1; mod->live = 1;
              while ((p = strstr(p, ".entry ")) != NULL && mod->nentries < 64) {
                Entry *e = &mod->entries[mod->nentries++];
                p += 7;
                int n = 0;
                while (*p && *p != '(' && *p != ' ' && *p != '\\n' && n < 127) e->name[n++] = *p++;
                const char *end = strchr(p, ')');
                const char *q = p;
                while ((q = strstr(q, ".param .")) != NULL && q < end) {
                  q += 8;
                  char c = !strncmp(q, "u64", 3) || !strncmp(q, "s64", 3) || !strncmp(q, "b64", 3) ? '8' : !strncmp(q, "f32", 3) ? 'f'
                         : !strncmp(q, "u32", 3) || !strncmp(q, "s32", 3) || !strncmp(q, "b32", 3) ? 'i' : '?';
                  e->types[e->nparams++] = c;
                }
                e->module = mod->id;
                p = end;
              }
              modules[nmodules++] = mod;
              LOG("c-module id=%d bytes=%zu entries=%d\\n", mod->id, strlen(t), mod->nentries);
              *m = (CUmodule) mod;
              return CUDA_SUCCESS;
            }
            /* With an error log: a module containing "standin-reject" is refused as the JIT compiler would refuse bad PTX
               (its message in the log), one declaring ".version 99." as PTX from a newer nvcc; the rest load as above. */
            CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned int n, CUjit_option *opts, void **vals) {
              char *log = NULL; size_t cap = 0; int size_at = -1;
              for (unsigned int i = 0; i < n; i++) {
                if (opts[i] == CU_JIT_ERROR_LOG_BUFFER) log = vals[i];
                else if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) { cap = (size_t) (uintptr_t) vals[i]; size_at = (int) i; }
              }
              LOG("c-module-load-ex options=%u log=%d cap=%zu\\n", n, log != NULL, cap);
              if (strstr(image, "standin-reject")) {
                const char *msg = "ptxas application ptx input, line 3; error   : stand-in refuses this module";
                if (log && cap) {
                  snprintf(log, cap, "%s", msg);
                  if (size_at >= 0) vals[size_at] = (void *) (uintptr_t) (strlen(msg) + 1);
                }
                return CUDA_ERROR_INVALID_PTX;
              }
              if (strstr(image, ".version 99.")) return CUDA_ERROR_UNSUPPORTED_PTX_VERSION;
              return cuModuleLoadData(m, image);
            }
            static Module *live_module(CUmodule m) {
              for (int i = 0; i < nmodules; i++) if ((CUmodule) modules[i] == m && modules[i]->live) return modules[i];
              return NULL;
            }
            CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
              Module *mod = live_module(m);
              if (!mod) { ERR("cuModuleGetFunction(%s): unknown module\\n", name); return CUDA_ERROR_INVALID_HANDLE; }
              for (int i = 0; i < mod->nentries; i++)
                if (!strcmp(mod->entries[i].name, name)) {
                  *f = (CUfunction) &mod->entries[i];
                  LOG("c-function module=%d %s params=%s\\n", mod->id, name, mod->entries[i].types);
                  return CUDA_SUCCESS;
                }
              ERR("cuModuleGetFunction: %s is not in module %d\\n", name, mod->id);
              return CUDA_ERROR_NOT_FOUND;
            }
            CUresult cuModuleUnload(CUmodule m) {
              Module *mod = live_module(m);
              if (!mod) { ERR("cuModuleUnload: unknown module\\n"); return CUDA_ERROR_INVALID_HANDLE; }
              mod->live = 0; return CUDA_SUCCESS;
            }
            CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                                    unsigned int bz, unsigned int shared, CUstream s, void **params, void **extra) {
              Entry *e = (Entry *) f;
              if (!live_module((CUmodule) modules[e->module - 1])) { ERR("cuLaunchKernel: function of an unloaded module\\n"); return CUDA_ERROR_INVALID_HANDLE; }
              launches++;
              char args[2048] = "";
              unsigned long long u[64]; float fl[64]; int in[64];
              for (int i = 0; i < e->nparams; i++) {
                char one[64];
                if (e->types[i] == '8') { memcpy(&u[i], params[i], 8); snprintf(one, sizeof one, "%llu", u[i]); }
                else if (e->types[i] == 'f') { memcpy(&fl[i], params[i], 4); snprintf(one, sizeof one, "%.9g", fl[i]); }
                else { memcpy(&in[i], params[i], 4); snprintf(one, sizeof one, "%d", in[i]); }
                strcat(args, i ? " " : ""); strcat(args, one);
              }
              /* Linked with the kernel emulator (EmulatedDeviceTest): every kernel really runs, on the host. */
              if (standin_kernel_run) {
                if (gy != 1 || gz != 1 || by != 1 || bz != 1 || shared != 0 || extra) { ERR("cuLaunchKernel %s: not a 1-D launch\\n", e->name); return CUDA_ERROR_INVALID_VALUE; }
                int ran = race_check && standin_kernel_order ? run_checked(e->name, gx, bx, params, e->types, e->nparams)
                                                             : standin_kernel_run(e->name, gx, bx, params);
                if (!ran) { ERR("cuLaunchKernel: no emulated kernel %s\\n", e->name); return CUDA_ERROR_NOT_FOUND; }
                return CUDA_SUCCESS;
              }
              LOG("c-launch %s grid=%u,%u,%u block=%u,%u,%u shared=%u stream=%d extra=%s args=%s\\n", e->name, gx, gy, gz, bx, by, bz,
                  shared, standin_stream_id(s), extra ? "set" : "null", args);
              /* Four kernels really run, on the host, so their results can be read back. */
              if (!strcmp(e->name, "fill_f32") && standin_device_range((void *) u[0], 4 * u[2]))
                for (unsigned long long i = 0; i < u[2]; i++) ((float *) u[0])[i] = fl[1];
              if (!strcmp(e->name, "fill_i32") && standin_device_range((void *) u[0], 4 * u[2]))
                for (unsigned long long i = 0; i < u[2]; i++) ((int *) u[0])[i] = in[1];
              if (!strcmp(e->name, "add_bias_f32") && standin_device_range((void *) u[0], 4 * u[2]) && standin_device_range((void *) u[1], 4 * (size_t) in[3]))
    for (unsigned long long i = 0; i < u[2]; i++) ((float *) u[0])[i] += ((float *) u[1])[(i / u[4]) % in[3]];
  if (!strcmp(e->name, "add_f32") && standin_device_range((void *) u[0], 4 * u[3]) && standin_device_range((void *) u[1], 4 * u[3])
                  && standin_device_range((void *) u[2], 4 * u[3]))
                for (unsigned long long i = 0; i < u[3]; i++) ((float *) u[2])[i] = ((float *) u[0])[i] + ((float *) u[1])[i];
              return CUDA_SUCCESS;
            }
            """;

    /** libcublas.so.13: handle lifecycle and a host sgemm. */
    static final String STUB_BLAS = """
            #include <stdio.h>
            #include <stdlib.h>
            #define LOG(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
            #define ERR(...) do { errors++; printf("c-error " __VA_ARGS__); fflush(stdout); } while (0)
            int standin_device_range(const void *p, size_t n);
            int standin_stream_id(const void *s);
            typedef struct { int magic; } Handle;
            static int live, errors;
            void standin_cublas_report(void) { LOG("c-live cublas handles=%d errors=%d\\n", live, errors); }
            static int ok(Handle *h) { if (!h || h->magic != 0xB1A5) { ERR("cuBLAS: bad handle %p\\n", (void *) h); return 0; } return 1; }
            int cublasCreate_v2(Handle **h) { *h = calloc(1, sizeof **h); (*h)->magic = 0xB1A5; live++; return 0; }
            int cublasDestroy_v2(Handle *h) { if (!ok(h)) return 1; h->magic = 0; free(h); live--; return 0; }
            int cublasSetStream_v2(Handle *h, void *s) { LOG("c-cublas-stream %d\\n", standin_stream_id(s)); return ok(h) ? 0 : 1; }
            int cublasSetMathMode(Handle *h, int mode) { LOG("c-cublas-math %d\\n", mode); return ok(h) ? 0 : 1; }
            int cublasGetProperty(int type, int *v) { *v = type == 0 ? 13 : type == 1 ? 1 : 0; return 0; }   /* 13.1.0 */
            const char *cublasGetStatusString(int s) { return "stand-in cuBLAS status"; }
            const char *cublasGetStatusName(int s) { return s == 15 ? "CUBLAS_STATUS_NOT_SUPPORTED" : "CUBLAS_STATUS_(stand-in)"; }
            /* Column-major C = alpha op(A) op(B) + beta C, as cuBLAS defines it (C not read when beta == 0). */
            /* Called by a child: the next sgemm fails as on an execution failure (CUBLAS_STATUS_EXECUTION_FAILED). */
            static int fail_sgemm;
            void standin_fail_next_sgemm(void) { fail_sgemm = 1; }
            int cublasSgemm_v2(Handle *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
                               const float *B, int ldb, const float *beta, float *C, int ldc) {
              LOG("c-sgemm transa=%d transb=%d m=%d n=%d k=%d alpha=%.9g A=%llu lda=%d B=%llu ldb=%d beta=%.9g C=%llu ldc=%d\\n",
                  ta, tb, m, n, k, *alpha, (unsigned long long) A, lda, (unsigned long long) B, ldb, *beta, (unsigned long long) C, ldc);
              if (!ok(h)) return 1;
              if (fail_sgemm) { fail_sgemm = 0; return 13; }
              int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
              if (lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1)) { ERR("cublasSgemm: leading dimension too small\\n"); return 7; }
              if ((k > 0 && (!standin_device_range(A, 4 * ((size_t) (ac - 1) * lda + ar)) || !standin_device_range(B, 4 * ((size_t) (bc - 1) * ldb + br))))
                  || !standin_device_range(C, 4 * ((size_t) (n - 1) * ldc + m))) return 14;
              for (int j = 0; j < n; j++)
                for (int i = 0; i < m; i++) {
                  float acc = 0;
                  for (int p = 0; p < k; p++) acc += (ta ? A[p + (size_t) i * lda] : A[i + (size_t) p * lda]) * (tb ? B[j + (size_t) p * ldb] : B[p + (size_t) j * ldb]);
                  C[i + (size_t) j * ldc] = *beta == 0 ? *alpha * acc : *alpha * acc + *beta * C[i + (size_t) j * ldc];
                }
              return 0;
            }
            """;

    /** libcudnn_graph.so.9: handle lifecycle and version (the backend's constructor makes no other cuDNN call). */
    static final String STUB_CUDNN = """
            #include <stdio.h>
            #include <stdlib.h>
            #define LOG(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
            int standin_stream_id(const void *s);
            static int live, errors;
            void standin_cudnn_report(void) { LOG("c-live cudnn handles=%d errors=%d\\n", live, errors); }
            static int fail_create;
            /* Called by the child (Foreign Function API) to make the next cudnnCreate fail, as without a usable cuDNN. */
            void standin_fail_cudnn_create(void) { fail_create = 1; }
            int cudnnCreate(int **h) {
              if (fail_create) return 1;   /* CUDNN_STATUS_NOT_INITIALIZED */
              *h = malloc(sizeof(int)); **h = 0xD1; live++; return 0;
            }
            int cudnnDestroy(int *h) { if (!h || *h != 0xD1) { errors++; LOG("c-error cudnnDestroy: bad handle\\n"); return 1; } *h = 0; free(h); live--; return 0; }
            int cudnnSetStream(int *h, void *s) { LOG("c-cudnn-stream %d\\n", standin_stream_id(s)); return h && *h == 0xD1 ? 0 : 1; }
            size_t cudnnGetVersion(void) { return 91900; }
            const char *cudnnGetErrorString(int s) { return "stand-in cuDNN status"; }
            """;

    static void build(Path dir, String soname, String source, String version, String... extra) throws Exception {
        Path src = dir.resolve(soname + ".c");
        Files.writeString(src, source);
        List<String> cmd = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-O1", "-ffp-contract=off", "-I" + INCLUDE,
                "-Wl,-soname," + soname, "-o", dir.resolve(soname).toString(), src.toString()));
        // The JNI wrappers import versioned symbols (cudaMalloc@libcudart.so.13): the library must define the version.
        Path map = dir.resolve(soname + ".map");
        Files.writeString(map, version + " { global: *; };\n");
        cmd.add("-Wl,--version-script=" + map);
        cmd.addAll(List.of(extra));
        StubDriverLoadTest.Result r = StubDriverLoadTest.run(cmd, null);
        assertEquals(0, r.exit(), "gcc failed for " + soname + ":\n" + r.out());
    }

    /** Builds the stand-ins into dir (skipping the test without gcc or the headers) and runs this class's child with args. */
    static String runChild(Path dir, String... args) throws Exception {
        return runChild(dir, CudaBackendStandInTest.class, STUB_CUDNN, null, null, args);
    }

    /**
     * Builds the stand-ins into dir, with the given cuDNN 9 sources (graph: handles; ops and cnn: null for empty
     * libraries; ops and cnn are linked against the cudart stand-in, cnn also against ops), and runs main's
     * {@code main(dir, args...)} in a child JVM with only the stand-ins on the library path. Skips without gcc, the
     * headers, or where a real driver is installed.
     */
    static String runChild(Path dir, Class<?> main, String cudnnGraph, String cudnnOps, String cudnnCnn, String... args) throws Exception {
        return runChild(dir, main, cudnnGraph, cudnnOps, cudnnCnn, List.of(), args);
    }

    /** As above, with extra linker arguments for the driver stand-in (EmulatedDevice links the kernel emulator). */
    static String runChild(Path dir, Class<?> main, String cudnnGraph, String cudnnOps, String cudnnCnn, List<String> driverLink,
                           String... args) throws Exception {
        buildStandIns(dir, cudnnGraph, cudnnOps, cudnnCnn, driverLink);
        StubDriverLoadTest.Result child = runJava(dir, main, List.of(), args);
        assertEquals(0, child.exit(), "child JVM failed:\n" + child.out());
        return child.out();
    }

    /**
     * Builds the stand-ins into dir (see {@link #runChild(Path, Class, String, String, String, String...)}); skips the
     * calling test without gcc, the headers, or where a real driver is installed.
     */
    static void buildStandIns(Path dir, String cudnnGraph, String cudnnOps, String cudnnCnn, List<String> driverLink) throws Exception {
        Assumptions.assumeTrue(Files.exists(INCLUDE.resolve("cuda_runtime_api.h")) && Files.exists(INCLUDE.resolve("cuda.h")),
                "no CUDA toolkit headers at " + INCLUDE + " to build the stand-ins against");
        Assumptions.assumeTrue(!Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1")) && !Files.exists(Path.of("/usr/lib64/libcuda.so.1")),
                "a real NVIDIA driver is installed here; the GPU suite tests the real backend");
        try {
            build(dir, "libcudart.so.13", STUB_CUDART, "libcudart.so.13");
        } catch (IOException e) {
            Assumptions.abort("no gcc to build the stand-in libraries: " + e.getMessage());
        }
        // The others use the runtime stand-in's memory and stream tables (standin_device_range, standin_stream_id).
        String[] link = {"-L" + dir, "-l:libcudart.so.13"};
        List<String> driverArgs = new ArrayList<>(List.of(link));
        driverArgs.addAll(driverLink);
        build(dir, "libcuda.so.1", STUB_DRIVER, "libcuda.so.1", driverArgs.toArray(new String[0]));
        build(dir, "libcublas.so.13", STUB_BLAS, "libcublas.so.13", link);
        build(dir, "libcublasLt.so.13", CublasLtStubTest.STUB_LT, "libcublasLt.so.13", driverLink.toArray(new String[0]));
        build(dir, "libcudnn_graph.so.9", cudnnGraph, "libcudnn_graph.so.9", link);
        build(dir, "libcudnn_ops.so.9", cudnnOps != null ? cudnnOps : "int standin_ops(void) { return 0; }\n", "libcudnn_ops.so.9", link);
        build(dir, "libcudnn_cnn.so.9", cudnnCnn != null ? cudnnCnn : "int standin_cnn(void) { return 0; }\n", "libcudnn_cnn.so.9",
                "-L" + dir, "-l:libcudart.so.13", "-l:libcudnn_ops.so.9");
        build(dir, "libcudnn_adv.so.9", "int standin_adv(void) { return 0; }\n", "libcudnn_adv.so.9");
    }

    /**
     * Runs {@code main.main(dir, args...)} in a child JVM (this JVM's class path, jvmArgs added) with only the stand-ins
     * in dir on the library path; returns its exit status and output.
     */
    static StubDriverLoadTest.Result runJava(Path dir, Class<?> main, List<String> jvmArgs, String... args) throws Exception {
        return runJava(dir, System.getProperty("java.class.path"), main, jvmArgs, args);
    }

    /** As above, on the given class path (the shaded jar's test runs it from that jar). */
    static StubDriverLoadTest.Result runJava(Path dir, String classPath, Class<?> main, List<String> jvmArgs, String... args) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
                // A private JavaCPP cache: JavaCPP links the libraries it finds into its cache directory, and links to
                // stand-ins must not end up in the shared one (other JVMs would then load them).
                "-Dorg.bytedeco.javacpp.cachedir=" + dir.resolve("javacpp-cache")));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", classPath, main.getName(), dir.toString()));
        cmd.addAll(List.of(args));
        // Only the stand-ins on the library path.
        StubDriverLoadTest.Result child = StubDriverLoadTest.run(cmd, dir.toString());
        // JavaCPP linked the toolkit's libcudart into the private cache: remove the links before JUnit deletes the
        // directory (it warns about links that point outside it).
        if (Files.isDirectory(dir.resolve("javacpp-cache"))) {   // absent when the child failed before loading anything
            try (var files = Files.walk(dir.resolve("javacpp-cache"))) {
                for (Path f : files.filter(Files::isSymbolicLink).toList()) Files.delete(f);
            }
        }
        return child;
    }

    /**
     * A GPU that another process holds in exclusive-process mode (cudaSetDevice fails with cudaErrorDevicesUnavailable;
     * its properties still read, so the cheap probe calls it usable): --device auto threw the CUDA error instead of
     * falling back, and --device cuda failed with it as a failure while running, not a refusal of the device. auto now
     * falls back with the reason, cuda is refused with it (exit 2 in the CLI), nothing is left behind; info's probe,
     * which opens each device for its free memory, lists it with its problem.
     */
    @Test
    void aGpuHeldByAnotherProcessIsReportedNotThrown(@TempDir Path dir) throws Exception {
        String out = runChild(dir, "busy");
        String failed = "cudaSetDevice(0) failed: cudaErrorStandIn (an error reported by the stand-in runtime (see the c-error line))";
        assertTrue(out.contains("java-probe usable=false reason=cuda:0 (Stand-in GPU (host memory)) does not answer: " + failed), out);
        assertTrue(out.contains("java-auto CpuBackend notices=[no usable GPU: cuda:0 (Stand-in GPU (host memory)) could not be opened: "
                + failed), out);
        assertTrue(out.contains("java-cuda-failed io.dltrain.runtime.backend.BackendUnavailableException: device \"cuda\" cannot be used: "
                + "cuda:0 (Stand-in GPU (host memory)) could not be opened: " + failed), out);
        assertTrue(out.contains("Use device \"cpu\" (or new CpuBackend()), or \"auto\" to fall back to the CPU."), out);
        assertTrue(out.contains("java-cuda-failed-command-line --device cuda cannot be used: "
                + "cuda:0 (Stand-in GPU (host memory)) could not be opened: " + failed), out);
        assertTrue(out.contains("Use --device cpu, or --device auto to fall back to the CPU."), out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);
        assertTrue(out.contains("c-live cudart streams=0 events=0 device=0 pinned=0 device_bytes=0 errors=0\n"), out);
    }

    @Test
    void constructorFailureReleasesEverythingItCreated(@TempDir Path dir) throws Exception {
        String out = runChild(dir, "fail-cudnn");
        assertTrue(out.contains("java-construct-failed cudnnCreate failed: cuDNN status 1 (stand-in cuDNN status) suppressed=0\n"), out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);
        // Streams, cuBLAS and cuBLASLt existed when cudnnCreate failed: all gone.
        assertEquals(2, CublasLtStubTest.lines(out, "c-stream-create").size(), out);
        assertTrue(out.contains("c-live cudart streams=0 events=0 device=0 pinned=0 device_bytes=0 errors=0\n"), out);
        assertTrue(out.contains("c-live cublas handles=0 errors=0\n") && out.contains("c-live cudnn handles=0 errors=0\n"), out);
        assertTrue(out.contains("c-destroy handle=1 live=0"), "cuBLASLt handle destroyed:\n" + out);
    }

    @Test
    void realBackendRunsAgainstStandInLibraries(@TempDir Path dir) throws Exception {
        String out = runChild(dir);
        assertTrue(out.contains("java-closed"), out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);

        // Every check the child made passed, and all of them ran.
        List<String> checks = CublasLtStubTest.lines(out, "check ");
        assertEquals(List.of(), checks.stream().filter(l -> !l.split(" ")[2].equals("true")).toList(), out);
        assertEquals(List.of("ptx-jit-log", "ptx-newer-than-driver", "fp32-roundtrip", "int32-roundtrip", "fill-f32", "fill-i32", "item", "gemm-NN", "gemm-NT", "gemm-TN",
                "gemm-TT", "gemm-earlier-fault", "add", "gemmBias-fallback", "copyBlocks", "copy", "prefetch", "memory-in-use", "memory-released"),
                checks.stream().map(l -> l.split(" ")[1]).toList(), out);
        // Every call the child expected reached the C side with exactly these values.
        for (String e : CublasLtStubTest.lines(out, "java-expect ")) {
            String line = e.substring("java-expect ".length());
            assertTrue(out.lines().anyMatch(line::equals), "no C-side line \"" + line + "\":\n" + out);
        }

        // The constructor: context, two non-blocking streams, handles on the compute stream, FP32 GEMM math.
        assertTrue(out.contains("c-context\n"), out);
        assertEquals(List.of("c-stream-create id=1 flags=1", "c-stream-create id=2 flags=1"), CublasLtStubTest.lines(out, "c-stream-create"), out);
        assertTrue(out.contains("c-cublas-stream 1\n") && out.contains("c-cublas-math " + cublas.CUBLAS_DEFAULT_MATH + "\n")
                && out.contains("c-cudnn-stream 1\n"), out);
        // Every PTX module loaded, each with the entries the PTX declares; a kernel found in its module.
        Map<String, String> ptx = PtxKernels.ptxSources();
        List<String> modules = CublasLtStubTest.lines(out, "c-module ");
        assertEquals(ptx.size(), modules.size(), out);
        int id = 1;
        for (String text : ptx.values()) {
            assertEquals("c-module id=" + id + " bytes=" + text.length() + " entries=" + KernelSignatures.parsePtxEntries(text).size(),
                    modules.get(id - 1));
            id++;
        }
        // Kernel launches carry the PTX parameter types the signature table promises (p: 64-bit, f: f32, i: 32-bit).
        assertTrue(out.contains("c-function module=" + (new ArrayList<>(ptx.keySet()).indexOf("elementwise") + 1) + " fill_f32 params=8f8\n"), "fill_f32(float*, float, long long) in elementwise.ptx:\n" + out);
        assertTrue(out.contains(" sgd_step_f32 params=8888fffffii\n"), "sgd_step_f32's PTX parameters:\n" + out);
        // The layout of cudaDeviceProp the JNI wrapper uses is the toolkit header's.
        String cProps = CublasLtStubTest.lines(out, "c-props ").get(0).substring("c-props ".length());
        String jProps = CublasLtStubTest.lines(out, "java-props ").get(0).substring("java-props ".length());
        assertEquals(cProps, jProps, "cudaDeviceProp layout: C (toolkit header) vs Java (presets)");

        // describe(): what the stand-ins reported, through the probe and the device properties.
        for (String d : List.of("name=Stand-in GPU (host memory)", "compute_capability=9.0", "multiprocessors=132",
                "memory_total_bytes=" + (80L << 30), "driver_cuda=13.0", "runtime_cuda=13.0", "cublas=13.1.0", "cudnn=9.19.0",
                "gemm=cuBLAS sgemm (FP32)", "gemm_bias=cuBLASLt matmul, BIAS epilogue, then ReLU (per-shape fallback: sgemm + add_bias_f32 [+ ReLU])",
                "conv_algorithms=cuDNN heuristics"))
            assertTrue(out.contains("java-describe " + d + "\n"), d + ":\n" + out);

        // close(): every stream, event, block, pinned buffer, module and handle released.
        assertTrue(out.contains("c-live cudart streams=0 events=0 device=0 pinned=0 device_bytes=0 errors=0\n"), out);
        assertTrue(out.contains("c-live driver modules=0 launches=") && CublasLtStubTest.lines(out, "c-live driver").get(0).endsWith(" errors=0"), out);
        assertTrue(out.contains("c-live cublas handles=0 errors=0\n") && out.contains("c-live cudnn handles=0 errors=0\n"), out);
        assertTrue(out.contains("c-destroy handle=1 live=0"), "cuBLASLt handle destroyed:\n" + out);
    }
}
