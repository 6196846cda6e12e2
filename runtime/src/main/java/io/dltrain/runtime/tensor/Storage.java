package io.dltrain.runtime.tensor;

/**
 * Memory owned by a backend: a pooled host array on the CPU, a device allocation on CUDA.
 * {@link #release()} hands it back to the backend's allocator at once; nothing waits for the GC.
 */
public interface Storage {
    /** Capacity in elements. */
    long elements();

    DType dtype();

    /** Returns the memory to the owning backend's pool. Called once, by the owning tensor's close(). */
    void release();
}
