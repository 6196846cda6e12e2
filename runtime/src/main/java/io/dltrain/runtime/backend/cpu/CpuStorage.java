package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Storage;

/**
 * Host storage: a pooled float[] (FP32) or int[] (INT32) of at least n elements (the pool may hand out a longer one:
 * CpuAllocator). Its n elements are the storage; the array's length is not. release() returns the array to the pool.
 */
final class CpuStorage implements Storage {
    private final CpuAllocator allocator;
    final float[] f;
    final int[] i;
    private final int n;
    private final DType dtype;
    private boolean released;

    /** n floats from the allocator. */
    static CpuStorage floats(CpuAllocator allocator, int n) { return new CpuStorage(allocator, allocator.floats(n), null, n, DType.FP32); }

    /** n ints from the allocator. */
    static CpuStorage ints(CpuAllocator allocator, int n) { return new CpuStorage(allocator, null, allocator.ints(n), n, DType.INT32); }

    private CpuStorage(CpuAllocator allocator, float[] f, int[] i, int n, DType dtype) {
        this.allocator = allocator; this.f = f; this.i = i; this.n = n; this.dtype = dtype;
    }

    /** True once the backend that made this storage was closed. */
    boolean backendClosed() { return allocator.closed; }

    @Override public long elements() { return n; }

    @Override public DType dtype() { return dtype; }

    @Override
    public void release() {
        if (released) return;
        released = true;
        if (f != null) allocator.free(f, n); else allocator.free(i, n);
    }
}
