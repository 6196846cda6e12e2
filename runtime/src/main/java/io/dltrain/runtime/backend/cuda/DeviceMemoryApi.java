package io.dltrain.runtime.backend.cuda;

/**
 * The three device-memory calls the {@link CachingAllocator} needs, behind an interface so its logic is unit-tested
 * on the CPU with a fake; the CUDA backend implements it with cudaMalloc / cudaFree / cudaMemGetInfo.
 */
public interface DeviceMemoryApi {
    /** A new device block of exactly {@code bytes}, or 0 when the device is out of memory (other failures throw). */
    long malloc(long bytes);

    void free(long ptr);

    /** {free, total} bytes of the device, as cudaMemGetInfo reports them. */
    long[] memInfo();
}
