package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.nn.LayerGoldenTest;
import io.dltrain.runtime.optim.OptimizerGoldenTest;
import io.dltrain.runtime.train.BatchUploadsGpuTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU suite's op-by-op comparison ({@link CudaVsCpuTest}, every test method; {@link OptimizerGoldenTest}'s
 * replay of torch.optim's updates; and {@link LayerGoldenTest}'s of torch.nn's layers) run on this machine against the REAL
 * {@link CudaBackend} whose CUDA libraries are host-side stand-ins that compute: device memory is host memory (the
 * cudart stand-in), every one of our kernels runs its unchanged CUDA C source on the host (kernels/src/test/cuda/emu:
 * the .cu files compiled with g++ over a small emulation of blocks, threads, barriers and shared memory, called by
 * the driver stand-in's cuLaunchKernel), sgemm and cuBLASLt matmuls are host loops, and cuDNN's convolution, pooling,
 * activation, softmax and batch-norm calls are computed on the host from the descriptors they are given
 * ({@link CudnnOpsStandInTest}'s stand-ins).
 *
 * <p>So this checks, without a GPU: every Java line of the CUDA backend on the paths the suite takes (argument
 * marshalling, launch shapes, descriptors, workspaces, the caching allocator, copies through pinned staging), our
 * kernels' indexing, grid-stride loops, block reductions and barriers, and the suite itself; with the race check,
 * that no kernel's result depends on the order its threads and blocks run in. It does NOT check the CUDA math
 * library (glibc's expf etc. stand in), the real cuBLAS/cuBLASLt/cuDNN numerics and algorithms, what only concurrent
 * execution shows (memory-model reordering, warp-level assumptions), or speed: those need the GPU run.
 */
class EmulatedDeviceTest {
    @Test
    void gpuSuiteOnTheEmulatedDevice(@TempDir Path dir) throws Exception {
        EmulatedDevice.build(dir);
        String out = EmulatedDevice.junit(dir, List.of(), CudaVsCpuTest.class, CudaMemoryTest.class, BatchUploadsGpuTest.class,
                OptimizerGoldenTest.class, LayerGoldenTest.class);
        List<String> results = EmulatedDevice.results(out);
        System.out.println(String.join("\n", results));
        assertEquals(List.of(), results.stream().filter(l -> !l.startsWith("junit pass ")).toList(),
                "GPU tests that did not pass on the emulated device:\n" + out);
        // Every test method ran (none skipped as "no usable GPU").
        long expected = Stream.of(CudaVsCpuTest.class, CudaMemoryTest.class, BatchUploadsGpuTest.class, OptimizerGoldenTest.class,
                        LayerGoldenTest.class)
                .flatMap(c -> Arrays.stream(c.getDeclaredMethods())).filter(m -> m.isAnnotationPresent(Test.class)).count();
        assertEquals(expected, results.size(), out);
        assertEquals(List.of(), EmulatedDevice.cErrors(out), "the stand-ins saw a wrong call:\n" + out);
        assertTrue(out.contains("c-device-sync"), "CudaMemoryTest's emptyCache() did not wait for the device (cudaDeviceSynchronize)");
    }

    /**
     * The op suite again with the emulator's race check ({@link EmulatedDevice#RACE_CHECK}): each of our kernels'
     * launches runs with its blocks and threads in order and in reverse order, and must give the same bytes. This finds
     * order dependence between threads (a missing barrier, one thread reading another's unsynchronised write, a float
     * atomic whose sum depends on order); it cannot find what only concurrent execution shows (warp-level assumptions,
     * memory-model reordering).
     */
    @Test
    void ourKernelsGiveTheSameBytesWhateverOrderTheirThreadsRunIn(@TempDir Path dir) throws Exception {
        EmulatedDevice.build(dir);
        // With the RELU_BIAS epilogue on too, so that this run takes the fused Linear + ReLU path the first one does not.
        String out = EmulatedDevice.junit(dir, List.of("-D" + EmulatedDevice.RACE_CHECK + "=true", "-D" + CublasLt.RELU_SWITCH + "=true"),
                CudaVsCpuTest.class);
        List<String> results = EmulatedDevice.results(out);
        assertEquals(List.of(), results.stream().filter(l -> !l.startsWith("junit pass ")).toList(), out);
        assertEquals(List.of(), EmulatedDevice.cErrors(out), "order-dependent kernels or wrong calls:\n" + out);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^c-race-check launches=(\\d+) kernels=(\\d+) at-grid-cap=(\\d+)$").matcher(out);
        assertTrue(m.find(), "no c-race-check line:\n" + out);
        System.out.println("race check: " + m.group(1) + " launches of " + m.group(2) + " kernels ran in both orders with the same result; "
                + m.group(3) + " at the grid cap of the one-multiprocessor stand-in (32 blocks of 256: beyond 8192 elements a grid-stride loop goes round again)");
        assertTrue(Integer.parseInt(m.group(3)) > 0, "no launch reached the grid cap: grid-stride loops never looped: " + m.group());
        assertTrue(Integer.parseInt(m.group(1)) > 100, m.group());
        long kernels = 0;   // the kernels in kernels/src/main/cuda
        try (var files = java.nio.file.Files.list(EmulatedDevice.KERNELS.resolve("src/main/cuda"))) {
            for (Path f : files.filter(f -> f.toString().endsWith(".cu")).toList())
                kernels += java.nio.file.Files.readString(f).split("extern \"C\" __global__", -1).length - 1;
        }
        assertEquals(kernels, Integer.parseInt(m.group(2)), "every kernel of kernels/src/main/cuda checked: " + m.group());
    }

    // Found so far: cublasSgemm with k = 0 (Linear on zero input features, gemmBias's k = 0 case) passed lda = 0, which
    // cuBLAS refuses (ld >= max(1, rows)); CudaBackend.gemm now passes ld >= 1 when k = 0.
}
