package io.dltrain.runtime.backend.cuda;

/**
 * The device-memory calls the {@link CachingAllocator} needs, behind an interface so its logic is unit-tested
 * on the CPU with a fake; the CUDA backend implements it with cudaMalloc / cudaFree / cudaMemGetInfo.
 */
public interface DeviceMemoryApi {
    /** A new device block of exactly {@code bytes}, or 0 when the device is out of memory (other failures throw). */
    long malloc(long bytes);

    void free(long ptr);

    /**
     * Waits until all work queued on the device has finished (cudaDeviceSynchronize). A cached block goes back to the
     * cache when the last work using it is queued, not when it has run, and cudaFree only "may" synchronise (CUDA
     * runtime API), so the allocator calls this before it hands cached blocks back to the driver.
     */
    void synchronize();

    /** {free, total} bytes of the device, as cudaMemGetInfo reports them. */
    long[] memInfo();
}
