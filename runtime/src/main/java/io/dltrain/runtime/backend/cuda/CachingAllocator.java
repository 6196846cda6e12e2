package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.MemoryStats;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.TreeMap;

import static io.dltrain.runtime.backend.cuda.CudaLibraries.human;

/**
 * A caching device allocator in the manner of PyTorch's CUDACachingAllocator, written over {@link DeviceMemoryApi} so
 * its logic is tested on the CPU. cudaMalloc and cudaFree are slow (and cudaFree may synchronise the device), so freed
 * blocks are kept and handed out again; after the first training step every request is served from the cache.
 *
 * <ul>
 *   <li>Sizes are rounded: requests up to {@value #SMALL_MAX} bytes to a multiple of {@value #SMALL_GRANULE} bytes,
 *       larger ones to whole 2 MiB segments, so tensors of nearby sizes share cached blocks.</li>
 *   <li>Reuse is best-fit by size among cached free blocks, but a block is not handed out for a request less than
 *       half its size (small) or four fifths of it (large): blocks are never split, so this bounds the waste.</li>
 *   <li>When the device refuses a new block, every cached block is returned to the driver (after waiting for the
 *       device: work queued earlier may still be using a cached block, and cudaFree is not documented to wait for it)
 *       and the request is tried once more; if it fails again a {@link DeviceOutOfMemoryException} says what was asked, in use, reserved and
 *       free, and suggests a smaller batch size.</li>
 *   <li>The backend queues all work on one compute stream, so a block freed by a tensor is immediately reusable by
 *       work queued later on that stream (stream order guarantees the earlier work that used it finishes first), as
 *       PyTorch does for a block's allocation stream.</li>
 * </ul>
 * Thread-safe (one lock); blocks are {@link DeviceBuffer}s whose {@code close()} returns them to the cache.
 */
public final class CachingAllocator implements AutoCloseable {
    /** Rounding granularity of small requests. */
    public static final long SMALL_GRANULE = 512;
    /** Requests up to this size are "small". */
    public static final long SMALL_MAX = 1L << 20;
    /** Large requests are rounded to whole segments of this size. */
    public static final long LARGE_SEGMENT = 2L << 20;

    private final DeviceMemoryApi api;
    private final String deviceName;
    /** Cached free blocks by size (best fit = ceiling). */
    private final TreeMap<Long, ArrayDeque<Block>> cached = new TreeMap<>();
    private final Map<Block, Boolean> live = new IdentityHashMap<>();
    private long inUse, reserved, peak, cachedBytes;
    private long deviceAllocations, cacheHits;
    private boolean closed;

    /** @param deviceName for messages ("cuda:0") */
    public CachingAllocator(DeviceMemoryApi api, String deviceName) {
        this.api = api;
        this.deviceName = deviceName;
    }

    /** The size a request is rounded to (at least one granule, so empty tensors get a valid address too). */
    public static long roundSize(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative allocation size " + bytes);
        long b = Math.max(1, bytes);
        return b <= SMALL_MAX ? ceil(b, SMALL_GRANULE) : ceil(b, LARGE_SEGMENT);
    }

    private static long ceil(long v, long granule) { return (v + granule - 1) / granule * granule; }

    /** The largest cached block that may serve a request of (rounded) size {@code size}. */
    static long reuseLimit(long size) {
        return size <= SMALL_MAX ? 2 * size : size + size / 4;
    }

    /** A block of at least {@code bytes}; {@code purpose} ("tensor [64, 128] FP32", "cuDNN workspace") names it in errors. */
    public synchronized DeviceBuffer allocate(long bytes, String purpose) {
        if (closed) throw new IllegalStateException("allocator of " + deviceName + " used after the backend was closed");
        long size = roundSize(bytes);
        Block b = takeCached(size);
        if (b != null) {
            cacheHits++;
        } else {
            long ptr = api.malloc(size);
            if (ptr == 0) {
                // Out of memory: give the cache back to the driver (it may be fragmented into the wrong sizes), retry once.
                emptyCacheLocked(true);
                ptr = api.malloc(size);
                if (ptr == 0) throw outOfMemory(bytes, size, purpose);
            }
            deviceAllocations++;
            reserved += size;
            b = new Block(ptr, size);
        }
        live.put(b, Boolean.TRUE);
        inUse += b.size;
        peak = Math.max(peak, inUse);
        return b;
    }

    private Block takeCached(long size) {
        Map.Entry<Long, ArrayDeque<Block>> e = cached.ceilingEntry(size);
        if (e == null || e.getKey() > reuseLimit(size)) return null;
        Block b = e.getValue().pop();
        if (e.getValue().isEmpty()) cached.remove(e.getKey());
        cachedBytes -= b.size;
        b.free = false;
        return b;
    }

    private DeviceOutOfMemoryException outOfMemory(long bytes, long size, String purpose) {
        String dev;
        try {
            long[] info = api.memInfo();
            dev = "the device has " + human(info[0]) + " free of " + human(info[1]) + " total";
        } catch (RuntimeException e) {
            dev = "the device's free memory could not be read (" + e.getMessage() + ")";
        }
        return new DeviceOutOfMemoryException("CUDA out of memory on " + deviceName + ": tried to allocate " + human(bytes)
                + (size != bytes ? " (" + human(size) + " rounded)" : "") + " for " + purpose + "; " + human(inUse)
                + " in use by tensors, " + human(reserved) + " reserved by dl-train's allocator, " + dev
                + ". Try a smaller batch size (--batch-size on the command line), or a smaller model or input size.");
    }

    private synchronized void release(Block b) {
        if (closed || b.free || live.remove(b) == null) return;   // after close(), or freed twice: nothing to do
        b.free = true;
        inUse -= b.size;
        cached.computeIfAbsent(b.size, k -> new ArrayDeque<>()).push(b);
        cachedBytes += b.size;
    }

    /** Returns every cached free block to the driver (PyTorch's torch.cuda.empty_cache()). */
    public synchronized void emptyCache() { emptyCacheLocked(true); }

    /** @param sync wait for the device first (not in close(), whose caller has waited for it) */
    private void emptyCacheLocked(boolean sync) {
        if (cached.isEmpty()) return;
        if (sync) api.synchronize();   // a cached block may still be read or written by queued work: cudaFree need not wait for it
        // Each block leaves the cache before it is freed: if a free throws (a dead context), no freed block stays behind
        // to be handed out again; the block it failed on still counts as reserved, as the device may still hold it.
        for (Map.Entry<Long, ArrayDeque<Block>> e; (e = cached.firstEntry()) != null; ) {
            Block b = e.getValue().pop();
            if (e.getValue().isEmpty()) cached.remove(e.getKey());
            cachedBytes -= b.size;
            api.free(b.ptr);
            reserved -= b.size;
        }
    }

    public synchronized MemoryStats stats() { return new MemoryStats(inUse, reserved, peak); }

    public synchronized long inUseBytes() { return inUse; }

    public synchronized long reservedBytes() { return reserved; }

    public synchronized long peakBytes() { return peak; }

    /** Bytes held in cached free blocks (reserved - in use). */
    public synchronized long cachedBytes() { return cachedBytes; }

    /** How many blocks were obtained from the device (not the cache) since creation. */
    public synchronized long deviceAllocations() { return deviceAllocations; }

    /** How many requests the cache served. */
    public synchronized long cacheHits() { return cacheHits; }

    /**
     * Frees every block, cached or still in use (tensors still open become invalid, as {@code Backend.close()} says);
     * blocks closed afterwards are ignored. Call after the device is idle.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        emptyCacheLocked(false);
        for (Block b : new ArrayList<>(live.keySet())) {
            api.free(b.ptr);
            reserved -= b.size;
            inUse -= b.size;
        }
        live.clear();
        closed = true;
    }

    /** One device block. Identity (not address) is what the allocator tracks. */
    private final class Block implements DeviceBuffer {
        final long ptr, size;
        boolean free;   // guarded by the allocator's lock

        Block(long ptr, long size) {
            this.ptr = ptr;
            this.size = size;
        }

        @Override public long address() { return ptr; }

        @Override public long bytes() { return size; }

        @Override public void close() { release(this); }

        @Override public String toString() { return "DeviceBuffer[" + human(size) + " at 0x" + Long.toHexString(ptr) + "]"; }
    }
}
