package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.BackendUnavailableException;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Loading the CUDA bindings and explaining failures: the root cause parsed out of JavaCPP's UnsatisfiedLinkError chain,
 * version formatting, and, on a machine without the NVIDIA driver (like the build machine), the real probe and the
 * --device choices.
 */
class CudaLibrariesTest {

    /** What JavaCPP throws when libjnicudart.so's dependency is missing (shape copied from a real failure). */
    private static UnsatisfiedLinkError javacppFailure(String missingLib) {
        UnsatisfiedLinkError root = new UnsatisfiedLinkError("/root/.javacpp/cache/cuda-13.1-9.19-1.5.13-linux-x86_64.jar/org/bytedeco/cuda/"
                + "linux-x86_64/libjnicudart.so: " + missingLib + ": cannot open shared object file: No such file or directory");
        UnsatisfiedLinkError top = new UnsatisfiedLinkError("no jnicudart in java.library.path: /usr/java/packages/lib:/usr/lib64:/lib64:/lib:/usr/lib");
        top.initCause(root);
        return top;
    }

    /**
     * An unwritable JavaCPP cache (no writable home, no writable java.io.tmpdir) told a CPU-only user to put the CUDA
     * libraries on LD_LIBRARY_PATH; it now names the cache and the way to give one.
     */
    @Test
    void anUnwritableJavaCppCacheIsNotCalledAMissingLibrary() {
        String r = CudaLibraries.reasonFromLinkError(new UnsatisfiedLinkError(
                "java.io.IOException: Could not create the cache: Set the \"org.bytedeco.javacpp.cachedir\" system property."));
        assertTrue(r.startsWith("the CUDA bindings could not be loaded: JavaCPP found no writable cache directory to extract them to"), r);
        assertTrue(r.contains("-Dorg.bytedeco.javacpp.cachedir=DIR"), r);
        assertFalse(r.contains("LD_LIBRARY_PATH"), r);
    }

    @Test
    void errorsLeftByAFaultingKernelSayTheyCameFromEarlierWork() {
        // cudaErrorIllegalAddress, LaunchTimeout, Assert, HardwareStackError .. LaunchFailure (driver_types.h; cuda.h's
        // CUDA_ERROR_* have the same numbers)
        for (int sticky : new int[] {700, 702, 710, 714, 715, 716, 717, 718, 719}) {
            String hint = Cuda.stickyHint(sticky);
            assertTrue(hint.contains("EARLIER kernel or copy") && hint.contains("CUDA_LAUNCH_BLOCKING=1"), sticky + ": " + hint);
        }
        // out of memory, invalid value, not ready, launch out of resources (the failing launch itself), no device
        for (int other : new int[] {2, 1, 600, 701, 100}) assertEquals("", Cuda.stickyHint(other), "status " + other);
    }

    @Test
    void gpusOlderThanTuringAreRefusedWithTheReason() {
        String v100 = new CudaLibraries.DeviceInfo(1, "Tesla V100-SXM2-16GB", 7, 0, 80, 16L << 30, -1).unsupportedReason();
        assertEquals("Tesla V100-SXM2-16GB (cuda:1) has compute capability 7.0; CUDA 13 and dl-train's kernels need 7.5 (Turing) or newer", v100);
        assertNotNull(new CudaLibraries.DeviceInfo(0, "Tesla P100", 6, 0, 56, 16L << 30, -1).unsupportedReason());
        for (int[] cc : new int[][] {{7, 5}, {8, 0}, {8, 6}, {9, 0}, {10, 0}, {12, 0}})
            assertNull(new CudaLibraries.DeviceInfo(0, "GPU", cc[0], cc[1], 1, 1L << 30, -1).unsupportedReason(), cc[0] + "." + cc[1]);
    }

    @Test
    void missingDriverIsReportedAsNoDriver() {
        String r = CudaLibraries.reasonFromLinkError(javacppFailure("libcuda.so.1"));
        assertTrue(r.startsWith("no NVIDIA driver found"), r);
        assertTrue(r.contains("libcuda.so.1"), r);
    }

    @Test
    void missingCudaLibrariesAreNamedWithThePathAdvice() {
        for (String lib : List.of("libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcudnn.so.9", "libcudnn_adv.so.9")) {
            String r = CudaLibraries.reasonFromLinkError(javacppFailure(lib));
            assertTrue(r.startsWith(lib + " "), r);
            assertTrue(r.contains("not found"), r);
            assertTrue(r.contains("LD_LIBRARY_PATH") && r.contains("CUDA 13") && r.contains("cuDNN 9"), r);
        }
        assertTrue(CudaLibraries.reasonFromLinkError(javacppFailure("libcudnn.so.9")).contains("(cuDNN 9)"));
        // libjnicudnn links cuDNN 9's sub-libraries, not libcudnn.so.9: a missing one is cuDNN too.
        assertTrue(CudaLibraries.reasonFromLinkError(javacppFailure("libcudnn_adv.so.9")).contains("(cuDNN 9)"));
    }

    @Test
    void causeBehindWrappersAndSuppressedIsFound() {
        // A later touch of a class whose initialiser failed: NoClassDefFoundError -> ExceptionInInitializerError -> ...
        ExceptionInInitializerError init = new ExceptionInInitializerError(javacppFailure("libcudnn.so.9"));
        NoClassDefFoundError ncdf = new NoClassDefFoundError("Could not initialize class org.bytedeco.cuda.global.cudnn");
        ncdf.initCause(init);
        assertTrue(CudaLibraries.reasonFromLinkError(ncdf).startsWith("libcudnn.so.9 "));
        RuntimeException withSuppressed = new RuntimeException("loading failed");
        withSuppressed.addSuppressed(javacppFailure("libcuda.so.1"));
        assertTrue(CudaLibraries.reasonFromLinkError(withSuppressed).startsWith("no NVIDIA driver"));
    }

    @Test
    void aFunctionTheLibrariesLackIsNamedAndEagerBindingIsBlamedWhenSet() {
        // the shape of a real failure: the 13.1-built wrapper under LD_BIND_NOW=1 (StubDriverLoadTest runs it)
        String path = "/root/.javacpp/cache/cuda-13.1-9.19-1.5.13-linux-x86_64.jar/org/bytedeco/cuda/linux-x86_64/libjnicudart.so";
        UnsatisfiedLinkError top = new UnsatisfiedLinkError("no jnicudart in java.library.path: /usr/lib64:/lib64:/lib:/usr/lib");
        top.initCause(new UnsatisfiedLinkError(path + ": " + path + ": undefined symbol: cudaGreenCtxCreate, version libcudart.so.13"));

        String eager = CudaLibraries.reasonFromLinkError(top, "1");
        assertTrue(eager.contains("libjnicudart.so needs the function cudaGreenCtxCreate"), eager);
        assertTrue(eager.contains("unset LD_BIND_NOW"), eager);
        assertFalse(eager.contains("LD_LIBRARY_PATH"), "the libraries were found; the path advice would mislead: " + eager);

        for (String unset : new String[] {null, ""}) {
            String lazy = CudaLibraries.reasonFromLinkError(top, unset);
            assertTrue(lazy.contains("needs the function cudaGreenCtxCreate"), lazy);
            assertFalse(lazy.contains("LD_BIND_NOW"), lazy);
            assertTrue(lazy.contains("update the NVIDIA driver"), lazy);
        }
        // a missing library is still the first thing to fix when both appear in the chain
        top.addSuppressed(javacppFailure("libcudnn.so.9"));
        assertTrue(CudaLibraries.reasonFromLinkError(top, "1").startsWith("libcudnn.so.9 "));
    }

    @Test
    void unrecognisedFailureKeepsTheMessage() {
        String r = CudaLibraries.reasonFromLinkError(new UnsatisfiedLinkError("wrong ELF class: ELFCLASS32"));
        assertTrue(r.contains("wrong ELF class: ELFCLASS32"), r);
        assertTrue(r.contains("LD_LIBRARY_PATH"), r);
    }

    @Test
    void versionStrings() {
        assertEquals("13.1", CudaLibraries.cudaVersion(13010));
        assertEquals("12.4", CudaLibraries.cudaVersion(12040));
        assertEquals("unknown", CudaLibraries.cudaVersion(0));
        assertEquals("9.19.0", CudaLibraries.cudnnVersion(91900));
        assertEquals("9.1.1", CudaLibraries.cudnnVersion(90101));
        assertEquals("8.9.7", CudaLibraries.cudnnVersion(8907));
        assertEquals("1.50 GiB", CudaLibraries.human(3L << 29));
        assertEquals("512 B", CudaLibraries.human(512));
    }

    /**
     * NVIDIA (cuDNN developer guide, Compatibility): "cuDNN minor releases are binary backward-compatible with
     * applications built against the same or earlier minor release ... Applications built against cuDNN version x.z
     * are not guaranteed to work with x.y release when z>y." The presets are built against cuDNN 9.19.
     */
    @Test
    void aCudnnOlderThanTheBindingsIsNoted() {
        String older = CudaLibraries.cudnnCompatibilityNote(91002, 91900);
        assertTrue(older != null && older.contains("cuDNN 9.10.2 is older than the cuDNN 9.19.0") && older.contains("9.19 or newer"), older);
        assertNull(CudaLibraries.cudnnCompatibilityNote(91900, 91900), "the same minor release");
        assertNull(CudaLibraries.cudnnCompatibilityNote(91905, 91900), "a later patch of it");
        assertNull(CudaLibraries.cudnnCompatibilityNote(92400, 91900), "a later minor release");
        assertNull(CudaLibraries.cudnnCompatibilityNote(0, 91900), "unknown");
        // the bindings' own figure, from the presets' header
        assertEquals(91900, org.bytedeco.cuda.global.cudnn.CUDNN_VERSION);
    }

    @Test
    void deviceCountOutcomes() {
        // cudaError_t values from driver_types.h: 0 success, 35 insufficient driver, 100 no device, 999 unknown.
        String old = CudaLibraries.deviceCountProblem(35, 0, "12.2", "13.1", () -> "x");
        assertTrue(old.contains("too old") && old.contains("cudaErrorInsufficientDriver"), old);
        assertTrue(old.contains("driver supports CUDA 12.2") && old.contains("runtime is CUDA 13.1"), old);
        assertTrue(CudaLibraries.deviceCountProblem(100, 0, "13.1", "13.1", () -> "x").startsWith("no CUDA device found"));
        assertTrue(CudaLibraries.deviceCountProblem(0, 0, "13.1", "13.1", () -> "x").startsWith("no CUDA device found"));
        assertEquals("cudaGetDeviceCount failed: cudaErrorUnknown", CudaLibraries.deviceCountProblem(999, 0, "13.1", "13.1", () -> "cudaErrorUnknown"));
        assertNull(CudaLibraries.deviceCountProblem(0, 2, "13.0", "13.1", () -> "x"), "a 13.0 driver runs a 13.1 runtime");
    }

    /** A device whose cudaGetDeviceProperties, or cudaSetDevice / cudaMemGetInfo (free memory), fails with a status. */
    private static CudaLibraries.DeviceQueries gpus(int failProps, int failFree, String status) {
        return new CudaLibraries.DeviceQueries() {
            @Override
            public CudaLibraries.DeviceInfo properties(int i) {
                if (i == failProps) throw new Cuda.CudaException("cudaGetDeviceProperties(" + i + ") failed: " + status, 1);
                return new CudaLibraries.DeviceInfo(i, "NVIDIA H100 80GB HBM3", 9, 0, 132, 80L << 30, -1);
            }

            @Override
            public long freeBytes(int i) {
                if (i == failFree) throw new Cuda.CudaException("cudaSetDevice(" + i + ") failed: " + status, 46);
                return 79L << 30;
            }
        };
    }

    /**
     * A GPU that fails a query (held by another process in exclusive-process mode: cudaErrorDevicesUnavailable; an
     * uncorrectable ECC error; fallen off the bus) made the whole probe throw: `info` exited 1 with the CUDA error, `info
     * --json` printed no object, and the other GPUs went unlisted. It is now listed with its problem, free memory unknown.
     */
    @Test
    void aDeviceThatFailsAQueryIsListedWithItsProblem() {
        String busy = "cudaErrorDevicesUnavailable (CUDA-capable device(s) is/are busy or unavailable)";
        // the free-memory read fails on cuda:1 of 2 (info's probe): both listed, cuda:1 with its problem
        List<CudaLibraries.DeviceInfo> d = CudaLibraries.devices(2, true, gpus(-1, 1, busy));
        assertEquals(2, d.size());
        assertNull(d.get(0).problem());
        assertEquals(79L << 30, d.get(0).freeBytes());
        assertEquals("cudaSetDevice(1) failed: " + busy, d.get(1).problem());
        assertEquals(-1, d.get(1).freeBytes());
        assertEquals("NVIDIA H100 80GB HBM3", d.get(1).name());
        assertEquals(80L << 30, d.get(1).totalBytes());
        assertEquals("cuda:1 (NVIDIA H100 80GB HBM3) does not answer: cudaSetDevice(1) failed: " + busy
                + " (nvidia-smi shows whether another process holds it in exclusive-process mode, or the GPU has an error)",
                d.get(1).unsupportedReason());
        assertNull(CudaLibraries.noDeviceAnswers(d), "cuda:0 answers");
        // cudaGetDeviceProperties fails on cuda:0 of 2: listed, its properties unknown; cuda:1 read as usual
        String ecc = "cudaErrorECCUncorrectable (uncorrectable ECC error encountered)";
        d = CudaLibraries.devices(2, false, gpus(0, -1, ecc));
        assertEquals(2, d.size());
        assertFalse(d.get(0).propertiesKnown());
        assertEquals("cudaGetDeviceProperties(0) failed: " + ecc, d.get(0).problem());
        assertTrue(d.get(0).unsupportedReason().startsWith("cuda:0 does not answer: cudaGetDeviceProperties(0) failed: " + ecc),
                d.get(0).unsupportedReason());
        assertTrue(d.get(1).propertiesKnown() && d.get(1).problem() == null && d.get(1).unsupportedReason() == null, d.toString());
        assertEquals(-1, d.get(1).freeBytes(), "free memory not asked for");
        // the only GPU fails: CUDA unusable, with that device's problem as the reason
        List<CudaLibraries.DeviceInfo> one = CudaLibraries.devices(1, true, gpus(-1, 0, busy));
        assertEquals(one.getFirst().problemReason(), CudaLibraries.noDeviceAnswers(one));
        List<CudaLibraries.DeviceInfo> both = CudaLibraries.devices(2, false, gpus(0, -1, ecc)).stream()
                .map(x -> CudaLibraries.DeviceInfo.failed(x.index(), "cudaGetDeviceProperties(" + x.index() + ") failed: " + ecc)).toList();
        assertEquals("none of the 2 CUDA devices answers; " + both.getFirst().problemReason(), CudaLibraries.noDeviceAnswers(both));
    }

    private static boolean driverPresent() {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup.libraryLookup("libcuda.so.1", arena);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    @Test
    void withoutTheDriverTheRealProbeSaysSo() {
        assumeTrue(!driverPresent(), "libcuda.so.1 is present here: this test is for machines without the NVIDIA driver");
        CudaLibraries.Probe p = CudaLibraries.probe();
        assertFalse(p.usable());
        assertTrue(p.reason().startsWith("no NVIDIA driver found (libcuda.so.1"), p.reason());
        assertTrue(p.devices().isEmpty());
        assertEquals(p.reason(), CudaLibraries.load(), "later loads report the same first cause");
        assertEquals(p.reason(), Backends.cudaUnavailableReason());
    }

    @Test
    void withoutTheDriverDeviceChoicesBehave() {
        assumeTrue(!driverPresent(), "libcuda.so.1 is present here: this test is for machines without the NVIDIA driver");
        for (String d : List.of("cuda", "cuda:0", "cuda:3")) {
            BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> Backends.create(d, 1, m -> fail("no notice for " + d)));
            assertTrue(e.getMessage().contains("cannot be used: no NVIDIA driver found"), e.getMessage());
        }
        assertThrows(BackendUnavailableException.class, () -> new CudaBackend(0));
        List<String> notices = new ArrayList<>();
        try (Backend be = Backends.create("auto", 1, notices::add)) {
            assertInstanceOf(CpuBackend.class, be);
        }
        assertEquals(1, notices.size(), notices.toString());
        assertTrue(notices.get(0).startsWith("no usable GPU: no NVIDIA driver found"), notices.get(0));
        assertThrows(IllegalArgumentException.class, () -> Backends.create("cuda:x", 1, m -> {}));
    }

    /**
     * Backends.create is the library's: its refusal told a Java caller to "Use --device cpu, or --device auto", options
     * a program has not got. The exception says it in the terms of the call (the device argument, CpuBackend); the
     * command's words, which it prints, are its commandLineMessage, as Backends.unusableReason gives them.
     */
    @Test
    void aRefusedDeviceIsExplainedInTheTermsOfTheCall() {
        assumeTrue(!driverPresent(), "libcuda.so.1 is present here: this test is for machines without the NVIDIA driver");
        String why = Backends.cudaUnavailableReason();
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> Backends.create("cuda:1", 1, m -> {}));
        assertEquals("device \"cuda:1\" cannot be used: " + why + ". Use device \"cpu\" (or new CpuBackend()), or \"auto\" to fall back"
                + " to the CPU.", e.getMessage());
        assertEquals("--device cuda:1 cannot be used: " + why + ". Use --device cpu, or --device auto to fall back to the CPU.",
                e.commandLineMessage());
        assertEquals(e.commandLineMessage(), Backends.unusableReason("cuda:1"));
    }
}
