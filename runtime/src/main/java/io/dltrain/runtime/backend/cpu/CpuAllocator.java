package io.dltrain.runtime.backend.cpu;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * A caching allocator for host arrays, keyed by exact length. A training step allocates the same shapes every
 * time, so after the first step every request is served from the pool: no allocation, no zeroing, no GC work.
 * Statistics mirror the CUDA allocator's (bytes in use, reserved, peak).
 *
 * <p>The free arrays kept are bounded: at most {@link #KEEP_FREE} times the peak in use. A training run needs a few
 * sets of shapes (the full batch, and the last, smaller batch of training, validation and test: 1.9 times the peak
 * in a CLI run of lenet5), which stay; shapes that do not come back, such as a long-lived backend evaluating data sets
 * of many sizes (each last batch its own shapes), are let go, those asked for least recently first. Unbounded, such a
 * backend kept 299 MB of free arrays for 0.25 MB in use after 100 sizes, and ran out of a 200 MB heap after 70.
 */
final class CpuAllocator {
    /** Free bytes kept, as a multiple of the peak bytes in use. */
    static final int KEEP_FREE = 4;

    /** The free arrays of one length, and when that length was last asked for. */
    private static final class Bin<T> {
        final ArrayDeque<T> free = new ArrayDeque<>();
        long asked;
    }

    private final HashMap<Integer, Bin<float[]>> floats = new HashMap<>();
    private final HashMap<Integer, Bin<int[]>> ints = new HashMap<>();
    private long inUse, reserved, peak, requests;

    /** Set by the backend's close(): every array access then fails (CpuBackend.f / i), and freed arrays are dropped. */
    volatile boolean closed;

    synchronized float[] floats(int n) { return take(floats, n, float[]::new); }

    synchronized int[] ints(int n) { return take(ints, n, int[]::new); }

    /**
     * An array of n 4-byte elements from bins, or a new one. Where the heap runs out while free arrays of other lengths
     * sit in the pool, drops them all and tries once more (as the CUDA allocator empties its cache and retries): a run's
     * last, smaller batch, its validation and its test batches each ask for a new set of lengths, while the full batch's
     * arrays stay free in the pool; without this, a batch size that trained within the heap ran out at the epoch's last
     * batch or at validation, with the pool holding enough to spare.
     */
    private <A> A take(HashMap<Integer, Bin<A>> bins, int n, IntFunction<A> make) {
        Bin<A> bin = bins.computeIfAbsent(n, k -> new Bin<>());
        bin.asked = ++requests;
        A a = bin.free.poll();
        if (a == null) {
            try {
                a = make.apply(n);
            } catch (OutOfMemoryError e) {
                if (reserved == inUse) throw e; // nothing free to drop
                trim();
                a = make.apply(n);
                bins.computeIfAbsent(n, k -> new Bin<>()).asked = requests; // trim() dropped the bins
            }
            reserved += 4L * n;
        }
        use(4L * n);
        return a;
    }

    private void use(long bytes) { inUse += bytes; peak = Math.max(peak, inUse); }

    synchronized void free(float[] a) {
        inUse -= 4L * a.length;
        if (closed) { reserved -= 4L * a.length; return; } // a closed backend keeps no free arrays
        floats.computeIfAbsent(a.length, k -> new Bin<>()).free.push(a);
        if (reserved - inUse > KEEP_FREE * peak) evict();
    }

    synchronized void free(int[] a) {
        inUse -= 4L * a.length;
        if (closed) { reserved -= 4L * a.length; return; } // a closed backend keeps no free arrays
        ints.computeIfAbsent(a.length, k -> new Bin<>()).free.push(a);
        if (reserved - inUse > KEEP_FREE * peak) evict();
    }

    /**
     * Drops the free arrays of the lengths asked for least recently until at most KEEP_FREE x peak bytes are free. Such
     * a length loses its bin: arrays of it still in use come back to a new one, first in line to go again.
     */
    private void evict() {
        while (reserved - inUse > KEEP_FREE * peak) {
            Map.Entry<Integer, Bin<float[]>> f = oldest(floats);
            Map.Entry<Integer, Bin<int[]>> i = oldest(ints);
            if (f == null && i == null) return;
            if (i == null || (f != null && f.getValue().asked < i.getValue().asked)) {
                reserved -= 4L * f.getKey() * f.getValue().free.size();
                floats.remove(f.getKey());
            } else {
                reserved -= 4L * i.getKey() * i.getValue().free.size();
                ints.remove(i.getKey());
            }
        }
    }

    /** The bin with free arrays whose length was asked for least recently, or null. */
    private static <T> Map.Entry<Integer, Bin<T>> oldest(HashMap<Integer, Bin<T>> bins) {
        Map.Entry<Integer, Bin<T>> oldest = null;
        for (Map.Entry<Integer, Bin<T>> e : bins.entrySet())
            if (!e.getValue().free.isEmpty() && (oldest == null || e.getValue().asked < oldest.getValue().asked)) oldest = e;
        return oldest;
    }

    /** Drops every cached array (the GC may then reclaim them). */
    synchronized void trim() {
        for (var b : floats.values()) for (float[] a : b.free) reserved -= 4L * a.length;
        for (var b : ints.values()) for (int[] a : b.free) reserved -= 4L * a.length;
        floats.clear();
        ints.clear();
    }

    synchronized long inUseBytes() { return inUse; }
    synchronized long reservedBytes() { return reserved; }
    synchronized long peakBytes() { return peak; }
}
