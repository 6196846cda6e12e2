package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU suite's op-by-op comparison ({@link CudaVsCpuTest}, every test method) run on this machine against the REAL
 * {@link CudaBackend} whose CUDA libraries are host-side stand-ins that compute: device memory is host memory (the
 * cudart stand-in), every one of our kernels runs its unchanged CUDA C source on the host (kernels/src/test/cuda/emu:
 * the .cu files compiled with g++ over a small emulation of blocks, threads, barriers and shared memory, called by
 * the driver stand-in's cuLaunchKernel), sgemm and cuBLASLt matmuls are host loops, and cuDNN's convolution, pooling,
 * activation, softmax and batch-norm calls are computed on the host from the descriptors they are given
 * ({@link CudnnOpsStandInTest}'s stand-ins).
 *
 * <p>So this checks, without a GPU: every Java line of the CUDA backend on the paths the suite takes (argument
 * marshalling, launch shapes, descriptors, workspaces, the caching allocator, copies through pinned staging), our
 * kernels' indexing, grid-stride loops, block reductions and barriers, and the suite itself. It does NOT check the
 * CUDA math library (glibc's expf etc. stand in), the real cuBLAS/cuBLASLt/cuDNN numerics and algorithms, memory
 * races, or speed: those need the GPU run.
 */
class EmulatedDeviceTest {
    static final Path KERNELS = Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).resolve("../kernels").normalize();

    /** Runs in the child JVM: every @Test of CudaVsCpuTest against CudaBackend on the computing stand-ins. */
    public static void main(String[] args) throws Throwable {
        // As CudaBackendStandInTest's child: the stand-in cudart loaded first, so the JNI wrapper binds to it.
        System.load(Path.of(args[0], "libcudart.so.13").toString());
        CudaBackend dev = new CudaBackend(0);
        CpuBackend cpu = new CpuBackend(2);
        CudaVsCpuTest.dev = dev;
        CudaVsCpuTest.cpu = cpu;
        List<Method> tests = new ArrayList<>(Arrays.stream(CudaVsCpuTest.class.getDeclaredMethods())
                .filter(m -> m.isAnnotationPresent(Test.class)).sorted(Comparator.comparing(Method::getName)).toList());
        for (Method m : tests) {
            m.setAccessible(true);
            long t0 = System.nanoTime();
            try {
                m.invoke(new CudaVsCpuTest());
                System.out.printf("java-test %s pass %.1fs%n", m.getName(), (System.nanoTime() - t0) / 1e9);
            } catch (InvocationTargetException e) {
                Throwable c = e.getCause();
                String msg = String.valueOf(c.getMessage()).lines().findFirst().orElse("");
                System.out.println("java-test " + m.getName() + " FAIL " + c.getClass().getSimpleName() + ": " + msg);
                c.printStackTrace(System.out);
            }
        }
        dev.close();
        cpu.close();
        System.out.println("java-done " + tests.size());
    }

    @Test
    void gpuSuiteOpByOpOnTheEmulatedDevice(@TempDir Path dir) throws Exception {
        Path src = KERNELS.resolve("src/test/cuda/emu/kernels_emu.cpp");
        assertTrue(Files.exists(src), "missing " + src);
        List<String> gxx = List.of("g++", "-std=c++20", "-shared", "-fPIC", "-ffp-contract=off", "-O1",
                "-I" + KERNELS.resolve("src/main/cuda"), "-I" + src.getParent(), "-o", dir.resolve("libkernelsemu.so").toString(), src.toString());
        StubDriverLoadTest.Result built;
        try {
            built = StubDriverLoadTest.run(gxx, null);
        } catch (java.io.IOException e) {
            Assumptions.abort("no g++ to build the kernel emulator: " + e.getMessage());
            return;
        }
        assertEquals(0, built.exit(), "g++ failed on the kernel emulator:\n" + String.join(" ", gxx) + "\n" + built.out());

        String out = CudaBackendStandInTest.runChild(dir, EmulatedDeviceTest.class, CudaBackendStandInTest.STUB_CUDNN,
                CudnnOpsStandInTest.STUB_CUDNN_OPS, CudnnOpsStandInTest.STUB_CUDNN_CNN,
                List.of("-L" + dir, "-Wl,--no-as-needed", "-l:libkernelsemu.so", "-Wl,-rpath," + dir));
        List<String> results = CublasLtStubTest.lines(out, "java-test ");
        long expected = Arrays.stream(CudaVsCpuTest.class.getDeclaredMethods()).filter(m -> m.isAnnotationPresent(Test.class)).count();
        assertEquals(expected, results.size(), "every CudaVsCpuTest method ran:\n" + out);
        List<String> failed = results.stream().filter(l -> l.contains(" FAIL ")).toList();
        assertEquals(List.of(), failed, "CudaVsCpuTest on the emulated device:\n" + out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);
        System.out.println(String.join("\n", results));
    }

    // Found so far: cublasSgemm with k = 0 (Linear on zero input features, gemmBias's k = 0 case) passed lda = 0, which
    // cuBLAS refuses (ld >= max(1, rows)); CudaBackend.gemm now passes ld >= 1 when k = 0.
}
