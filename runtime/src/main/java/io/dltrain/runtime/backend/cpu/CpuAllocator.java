package io.dltrain.runtime.backend.cpu;

import java.util.ArrayDeque;
import java.util.HashMap;

/**
 * A caching allocator for host arrays, keyed by exact length. A training step allocates the same shapes every
 * time, so after the first step every request is served from the pool: no allocation, no zeroing, no GC work.
 * Statistics mirror the CUDA allocator's (bytes in use, reserved, peak).
 */
final class CpuAllocator {
    private final HashMap<Integer, ArrayDeque<float[]>> floats = new HashMap<>();
    private final HashMap<Integer, ArrayDeque<int[]>> ints = new HashMap<>();
    private long inUse, reserved, peak;

    synchronized float[] floats(int n) {
        ArrayDeque<float[]> q = floats.get(n);
        float[] a = q == null ? null : q.poll();
        if (a == null) { a = new float[n]; reserved += 4L * n; }
        use(4L * n);
        return a;
    }

    synchronized int[] ints(int n) {
        ArrayDeque<int[]> q = ints.get(n);
        int[] a = q == null ? null : q.poll();
        if (a == null) { a = new int[n]; reserved += 4L * n; }
        use(4L * n);
        return a;
    }

    private void use(long bytes) { inUse += bytes; peak = Math.max(peak, inUse); }

    synchronized void free(float[] a) { floats.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a); inUse -= 4L * a.length; }

    synchronized void free(int[] a) { ints.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a); inUse -= 4L * a.length; }

    /** Drops every cached array (the GC may then reclaim them). */
    synchronized void trim() {
        for (var q : floats.values()) for (float[] a : q) reserved -= 4L * a.length;
        for (var q : ints.values()) for (int[] a : q) reserved -= 4L * a.length;
        floats.clear();
        ints.clear();
    }

    synchronized long inUseBytes() { return inUse; }
    synchronized long reservedBytes() { return reserved; }
    synchronized long peakBytes() { return peak; }
}
