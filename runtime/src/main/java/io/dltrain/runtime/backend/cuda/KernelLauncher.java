package io.dltrain.runtime.backend.cuda;

/**
 * Launches our PTX kernels (module {@code kernels}): {@link PtxKernels} on a GPU, a recording fake in the CUDA
 * backend's test double. {@link PtxKernels} checks the arguments against {@link KernelSignatures} before every launch.
 */
public interface KernelLauncher {
    /**
     * Launches {@code kernel} (an {@code extern "C"} name from kernels/src/main/cuda) on the context's stream over
     * {@code n} independent elements, with a launch shape chosen by the launcher. Arguments are boxed Java values
     * in the kernel's parameter order: Long for pointers and 64-bit integers, Integer, Float.
     */
    void launch(String kernel, long n, Object... args);

    /** Launches with an explicit grid and block (reductions, one block per row or channel). */
    void launch(String kernel, int gridX, int blockX, int sharedBytes, Object... args);
}
