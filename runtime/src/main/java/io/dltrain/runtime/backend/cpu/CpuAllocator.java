package io.dltrain.runtime.backend.cpu;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntFunction;

/**
 * A caching allocator for host arrays. A training step allocates the same shapes every time, so after the first step
 * every request is served from the pool: no allocation, no zeroing, no GC work. An array handed out holds whatever its
 * last user left in it (only a new array is zeros); its length may exceed the request: the storage keeps the requested
 * count, and every kernel reaches its elements through the tensor's offset and count, never the array's length.
 *
 * <p>Best fit across lengths: a request for n elements takes the shortest free array of n to {@link #FIT} x n elements
 * (so at most half of an array handed out is unused), and only where there is none makes a new array of exactly n. Kept
 * by exact length, a model whose lengths differ from one layer to the next (densenet121's concatenations grow the
 * channel count) kept free arrays it never used again while making new ones a little shorter: densenet121's training
 * step at batch 16 reserved 4,361 MiB for a peak of 3,250 MiB in use, and reserves 3,443 MiB with this (RSS 4,682 to
 * 3,788 MiB; benchmarks/results/cpu-allocpool-*.txt). Size classes (lengths rounded up to 4 or 8 steps per power of two)
 * did worse on one step's allocations replayed: densenet121's channel counts are multiples of 32, already on the steps.
 *
 * <p>Statistics mirror the CUDA allocator's. In use and peak count the requested bytes (4 x n per tensor, whatever
 * the array's length): the tensors' own size. Reserved counts every array the pool holds, in use or free, by its
 * length, so reserved minus in use is the free arrays plus the unused tails of the arrays in use.
 *
 * <p>The free arrays kept are bounded: at most {@link #KEEP_FREE} times the peak in use. A training run needs a few
 * sets of shapes (the full batch, and the last, smaller batch of training, validation and test: 1.9 times the peak
 * in a CLI run of lenet5), which stay; shapes that do not come back, such as a long-lived backend evaluating data sets
 * of many sizes (each last batch its own shapes), are let go, the lengths used least recently first. Unbounded, such a
 * backend kept 299 MB of free arrays for 0.25 MB in use after 100 sizes, and ran out of a 200 MB heap after 70.
 */
final class CpuAllocator {
    /** Free bytes kept, as a multiple of the peak bytes in use. */
    static final int KEEP_FREE = 4;

    /**
     * A request for n elements may take a free array of up to FIT x n elements. densenet121's step replayed, reserved
     * MiB by bound: 1 (exact length) 4,361; 1.25: 3,622; 1.5: 3,545; 2: 3,443; 4: 3,446, with 28 and 84 MiB of unused
     * tails at the peak for 2 and 4.
     */
    static final int FIT = 2;

    /** The free arrays of one length, and when an array of that length was last handed out. */
    private static final class Bin<T> {
        final ArrayDeque<T> free = new ArrayDeque<>();
        long used;
    }

    /**
     * The bins of one element type: every length the pool made an array of, and by length the bins that hold a free
     * array, which alone a request searches (one ceiling lookup). Searched among every bin, a request for n walked past
     * the bins between n and 2n whose arrays were all in use: 9,999 such lengths made each request and its free cost
     * 63 to 67 us of CPU, one lookup 39 to 108 ns (benchmarks/results/cpu-allocator-cost-*.txt).
     */
    private static final class Bins<T> {
        final HashMap<Integer, Bin<T>> all = new HashMap<>();
        final TreeMap<Integer, Bin<T>> withFree = new TreeMap<>();

        void clear() { all.clear(); withFree.clear(); }
    }

    private final Bins<float[]> floats = new Bins<>();
    private final Bins<int[]> ints = new Bins<>();
    private long inUse, reserved, free, peak, requests;

    /** Set by the backend's close(): every array access then fails (CpuBackend.f / i), and freed arrays are dropped. */
    volatile boolean closed;

    /** An array of at least n floats (at most FIT x n); give it back with free(a, n). */
    synchronized float[] floats(int n) { return take(floats, n, float[]::new); }

    /** An array of at least n ints (at most FIT x n); give it back with free(a, n). */
    synchronized int[] ints(int n) { return take(ints, n, int[]::new); }

    /**
     * The shortest free array of n to FIT x n 4-byte elements from bins, or a new one of n. Where the heap runs out while
     * free arrays sit in the pool, drops them all and tries once more (as the CUDA allocator empties its cache and
     * retries): a run's last, smaller batch, its validation and its test batches each ask for a new set of lengths, while
     * the full batch's arrays stay free in the pool; without this, a batch size that trained within the heap ran out at
     * the epoch's last batch or at validation, with the pool holding enough to spare.
     */
    private <A> A take(Bins<A> bins, int n, IntFunction<A> make) {
        Map.Entry<Integer, Bin<A>> fits = bins.withFree.ceilingEntry(n);
        if (fits != null && fits.getKey() <= (long) FIT * n) {
            Bin<A> bin = fits.getValue();
            A a = bin.free.poll();
            if (bin.free.isEmpty()) bins.withFree.remove(fits.getKey());
            bin.used = ++requests;
            free -= 4L * fits.getKey();
            use(4L * n);
            return a;
        }
        A a;
        try {
            a = make.apply(n);
        } catch (OutOfMemoryError e) {
            if (free == 0) throw e; // nothing free to drop
            trim();
            a = make.apply(n);
        }
        bins.all.computeIfAbsent(n, k -> new Bin<>()).used = ++requests;
        reserved += 4L * n;
        use(4L * n);
        return a;
    }

    private void use(long bytes) { inUse += bytes; peak = Math.max(peak, inUse); }

    /** Gives back an array that floats(n) handed out. */
    synchronized void free(float[] a, int n) { give(floats, a, a.length, n); }

    /** Gives back an array that ints(n) handed out. */
    synchronized void free(int[] a, int n) { give(ints, a, a.length, n); }

    private <A> void give(Bins<A> bins, A a, int length, int n) {
        inUse -= 4L * n;
        if (closed) { reserved -= 4L * length; return; } // a closed backend keeps no free arrays
        Bin<A> bin = bins.all.computeIfAbsent(length, k -> new Bin<>());
        if (bin.free.isEmpty()) bins.withFree.put(length, bin);
        bin.free.push(a);
        free += 4L * length;
        if (free > KEEP_FREE * peak) evict();
    }

    /**
     * Drops the free arrays of the lengths handed out least recently until at most KEEP_FREE x peak bytes are free. Such
     * a length loses its bin: arrays of it still in use come back to a new one, first in line to go again.
     */
    private void evict() {
        while (free > KEEP_FREE * peak) {
            Map.Entry<Integer, Bin<float[]>> f = oldest(floats);
            Map.Entry<Integer, Bin<int[]>> i = oldest(ints);
            if (f == null && i == null) return;
            if (i == null || (f != null && f.getValue().used < i.getValue().used)) drop(floats, f.getKey());
            else drop(ints, i.getKey());
        }
    }

    /** Removes the bin of one length, letting its free arrays go. */
    private void drop(Bins<?> bins, int length) {
        bins.withFree.remove(length);
        long bytes = 4L * length * bins.all.remove(length).free.size();
        reserved -= bytes;
        free -= bytes;
    }

    /** The bin with free arrays whose length was handed out least recently, or null. */
    private static <T> Map.Entry<Integer, Bin<T>> oldest(Bins<T> bins) {
        Map.Entry<Integer, Bin<T>> oldest = null;
        for (Map.Entry<Integer, Bin<T>> e : bins.withFree.entrySet())
            if (oldest == null || e.getValue().used < oldest.getValue().used) oldest = e;
        return oldest;
    }

    /** Drops every cached array (the GC may then reclaim them). */
    synchronized void trim() {
        reserved -= free;
        free = 0;
        floats.clear();
        ints.clear();
    }

    /** Bytes requested by the tensors in use (4 x n each, whatever their arrays' lengths). */
    synchronized long inUseBytes() { return inUse; }
    /** Bytes of every array the pool holds, in use or free, by their lengths. */
    synchronized long reservedBytes() { return reserved; }
    /** The most bytes in use at once (as inUseBytes counts them). */
    synchronized long peakBytes() { return peak; }
    /** Bytes of the free arrays kept for reuse. */
    synchronized long freeBytes() { return free; }
    /** The lengths a request searches (those with a free array), floats and ints: for tests. */
    synchronized int searchedLengths() { return floats.withFree.size() + ints.withFree.size(); }
}
