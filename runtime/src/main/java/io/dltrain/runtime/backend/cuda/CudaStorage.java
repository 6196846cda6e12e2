package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Storage;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Device storage: one block of the {@link CudaContext}'s allocator. {@link #release()} hands it back to the
 * allocator's cache at once (stream-ordered: later work on the same stream may reuse it; nothing waits for the GC).
 */
public final class CudaStorage implements Storage {
    private final DeviceBuffer buffer;
    private final long elements;
    private final DType dtype;
    private boolean released;

    public CudaStorage(DeviceBuffer buffer, long elements, DType dtype) {
        this.buffer = buffer;
        this.elements = elements;
        this.dtype = dtype;
    }

    /** The device address of element 0. */
    public long address() {
        if (released) throw new IllegalStateException("device storage used after release");
        return buffer.address();
    }

    @Override public long elements() { return elements; }

    @Override public DType dtype() { return dtype; }

    @Override
    public void release() {
        if (released) return;
        released = true;
        buffer.close();
    }

    /** The device address of a tensor's first element (storage address + offset * element size). */
    public static long address(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s)) {
            throw new IllegalArgumentException("expected a tensor on a CUDA device, got " + t
                    + "; copy it to the CUDA backend first");
        }
        return s.address() + t.offset() * (long) t.dtype().bytes();
    }
}
