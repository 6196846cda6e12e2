package io.dltrain.runtime.backend.cuda;

/**
 * A block of device memory from the {@link CudaContext}'s allocator. {@link #close()} returns it to the cache
 * (stream-ordered); it never waits for the garbage collector.
 */
public interface DeviceBuffer extends AutoCloseable {
    /** Device address of the first byte. */
    long address();

    /** Usable size in bytes (at least what was asked). */
    long bytes();

    @Override
    void close();
}
