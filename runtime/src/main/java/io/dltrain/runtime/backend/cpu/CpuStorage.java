package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Storage;

/** Host storage: a pooled float[] (FP32) or int[] (INT32). release() returns the array to the backend's pool. */
final class CpuStorage implements Storage {
    private final CpuAllocator allocator;
    final float[] f;
    final int[] i;
    private final DType dtype;
    private boolean released;

    CpuStorage(CpuAllocator allocator, float[] f) { this.allocator = allocator; this.f = f; this.i = null; this.dtype = DType.FP32; }

    CpuStorage(CpuAllocator allocator, int[] i) { this.allocator = allocator; this.f = null; this.i = i; this.dtype = DType.INT32; }

    /** True once the backend that made this storage was closed. */
    boolean backendClosed() { return allocator.closed; }

    @Override public long elements() { return f != null ? f.length : i.length; }

    @Override public DType dtype() { return dtype; }

    @Override
    public void release() {
        if (released) return;
        released = true;
        if (f != null) allocator.free(f); else allocator.free(i);
    }
}
