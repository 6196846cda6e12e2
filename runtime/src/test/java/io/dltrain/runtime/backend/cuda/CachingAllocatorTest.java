package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.MemoryStats;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The caching allocator's logic over a fake device with a fixed capacity (no GPU needed). */
class CachingAllocatorTest {
    private static final long MIB = 1L << 20;

    /** A device of {@code capacity} bytes that records every malloc and free and rejects double frees. */
    static final class FakeDevice implements DeviceMemoryApi {
        final long capacity;
        final Map<Long, Long> live = new HashMap<>();
        /** "sync" and "free" in the order they were called. */
        final List<String> calls = new ArrayList<>();
        long used, nextAddress = 0x7000_0000_0000L, mallocs, frees, refused;
        /** The free call number (1-based) that throws, as a dead context's cudaFree would; 0: none. */
        long failFree;

        FakeDevice(long capacity) { this.capacity = capacity; }

        @Override
        public long malloc(long bytes) {
            if (used + bytes > capacity) { refused++; return 0; }
            long p = nextAddress;
            nextAddress += bytes + 4096;
            live.put(p, bytes);
            used += bytes;
            mallocs++;
            return p;
        }

        @Override
        public void free(long ptr) {
            calls.add("free");
            if (failFree != 0 && frees + 1 == failFree) { failFree = 0; throw new IllegalStateException("cudaFree failed (fake)"); }
            Long b = live.remove(ptr);
            if (b == null) throw new AssertionError("free of unknown or already freed pointer 0x" + Long.toHexString(ptr));
            used -= b;
            frees++;
        }

        @Override public void synchronize() { calls.add("sync"); }

        @Override public long[] memInfo() { return new long[] {capacity - used, capacity}; }
    }

    @Test
    void emptyingTheCacheWaitsForTheDeviceBeforeTheFirstFree() {
        FakeDevice dev = new FakeDevice(64 * MIB);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        al.emptyCache();
        assertEquals(List.of(), dev.calls, "nothing cached: no wait, no free");
        DeviceBuffer a = al.allocate(4 * MIB, "a"), b = al.allocate(1000, "b"), c = al.allocate(2 * MIB, "c");
        a.close(); b.close();
        al.emptyCache();
        assertEquals(List.of("sync", "free", "free"), dev.calls, "one wait, then the two cached blocks");
        dev.calls.clear();
        // The out-of-memory retry empties the cache the same way.
        c.close();
        DeviceBuffer big = al.allocate(63 * MIB, "big");
        assertEquals(List.of("sync", "free"), dev.calls);
        big.close();
        dev.calls.clear();
        al.close();
        assertEquals(List.of("free"), dev.calls, "close() does not wait: its caller has synchronised the streams");
    }

    @Test
    void aFreeThatThrowsLeavesNoFreedBlockInTheCache() {
        FakeDevice dev = new FakeDevice(64 * MIB);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        DeviceBuffer a = al.allocate(4 * MIB, "a"), b = al.allocate(4 * MIB, "b");
        long pa = a.address(), pb = b.address();
        a.close(); b.close();
        dev.failFree = 2;   // the first free succeeds, the second throws
        assertThrows(IllegalStateException.class, al::emptyCache);
        assertEquals(dev.used, al.reservedBytes(), "reserved counts exactly the blocks the device still holds");
        // The block freed before the failure must never be handed out again; the one that failed may stay cached.
        assertEquals(0, al.cachedBytes(), "both blocks left the cache");
        DeviceBuffer c = al.allocate(4 * MIB, "c");
        assertTrue(dev.live.containsKey(c.address()), "handed out 0x" + Long.toHexString(c.address()) + ", which was freed");
        assertEquals(3, dev.mallocs, "served by a new device block, not a freed one");
        assertNotEquals(pa, c.address());
        assertNotEquals(pb, c.address());
        c.close();
        al.close();
        assertEquals(4 * MIB, dev.used, "only the block whose free failed is left on the device");
    }

    @Test
    void roundsSmallTo512BytesAndLargeTo2MiBSegments() {
        assertEquals(512, CachingAllocator.roundSize(0));
        assertEquals(512, CachingAllocator.roundSize(1));
        assertEquals(512, CachingAllocator.roundSize(512));
        assertEquals(1024, CachingAllocator.roundSize(513));
        assertEquals(MIB, CachingAllocator.roundSize(MIB));
        assertEquals(2 * MIB, CachingAllocator.roundSize(MIB + 1));
        assertEquals(4 * MIB, CachingAllocator.roundSize(2 * MIB + 1));
        assertThrows(IllegalArgumentException.class, () -> CachingAllocator.roundSize(-1));
    }

    @Test
    void freedBlockIsReusedWithoutTouchingTheDevice() {
        FakeDevice dev = new FakeDevice(64 * MIB);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        DeviceBuffer a = al.allocate(1000, "a");
        long addr = a.address();
        assertEquals(1024, a.bytes());
        a.close();
        DeviceBuffer b = al.allocate(900, "b");      // rounds to 1024 as well
        assertEquals(addr, b.address(), "the cached block should be handed out again");
        assertEquals(1, dev.mallocs);
        assertEquals(1, al.cacheHits());
        b.close();
        a.close();   // a second close of a stale handle is ignored
        assertEquals(0, al.inUseBytes());
    }

    @Test
    void bestFitPicksTheSmallestCachedBlockThatFits() {
        FakeDevice dev = new FakeDevice(64 * MIB);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        DeviceBuffer big = al.allocate(8 * MIB, "big"), mid = al.allocate(4 * MIB, "mid"), small = al.allocate(2 * MIB, "small");
        long midAddr = mid.address();
        big.close(); mid.close(); small.close();
        DeviceBuffer r = al.allocate(3 * MIB, "r");   // rounds to 4 MiB: the 4 MiB block fits best (8 MiB is also big enough)
        assertEquals(midAddr, r.address());
        // A 512-byte request never takes a multi-MiB cached block: waste is bounded.
        DeviceBuffer tiny = al.allocate(100, "tiny");
        assertEquals(512, tiny.bytes());
        assertEquals(4, dev.mallocs);
        r.close(); tiny.close();
    }

    @Test
    void statsTrackInUseReservedAndPeak() {
        FakeDevice dev = new FakeDevice(64 * MIB);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        DeviceBuffer a = al.allocate(3 * MIB, "a");   // 4 MiB
        DeviceBuffer b = al.allocate(1000, "b");      // 1024 B
        assertEquals(new MemoryStats(4 * MIB + 1024, 4 * MIB + 1024, 4 * MIB + 1024), al.stats());
        a.close();
        assertEquals(new MemoryStats(1024, 4 * MIB + 1024, 4 * MIB + 1024), al.stats());
        assertEquals(4 * MIB, al.cachedBytes());
        DeviceBuffer c = al.allocate(512, "c");
        assertEquals(1536, al.inUseBytes());
        assertEquals(4 * MIB + 1024, al.peakBytes(), "peak is the largest in-use total ever seen");
        al.emptyCache();
        assertEquals(1536, al.reservedBytes());
        assertEquals(dev.used, al.reservedBytes(), "reserved equals what the device has handed out");
        b.close(); c.close();
        al.close();
        assertEquals(0, dev.used, "close() returns every block to the device");
        assertTrue(dev.live.isEmpty());
    }

    @Test
    void outOfMemoryEmptiesTheCacheAndRetriesOnce() {
        FakeDevice dev = new FakeDevice(10 * MIB);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        // Fill the device with cached blocks of a size that cannot serve the next request.
        DeviceBuffer x = al.allocate(4 * MIB, "x"), y = al.allocate(4 * MIB, "y");
        x.close(); y.close();
        assertEquals(8 * MIB, al.reservedBytes());
        DeviceBuffer big = al.allocate(6 * MIB, "big");   // 4 MiB blocks are too small; the device has 2 MiB left
        assertEquals(6 * MIB, big.bytes());
        assertEquals(1, dev.refused, "the first attempt fails, the retry after emptying the cache succeeds");
        assertEquals(6 * MIB, al.reservedBytes());
        assertEquals(0, al.cachedBytes());
        big.close();
    }

    @Test
    void outOfMemoryAfterRetryThrowsAClearMessage() {
        FakeDevice dev = new FakeDevice(10 * MIB);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        DeviceBuffer held = al.allocate(6 * MIB, "weights");
        DeviceOutOfMemoryException e = assertThrows(DeviceOutOfMemoryException.class,
                () -> al.allocate(5 * MIB, "tensor [256, 5120] FP32"));
        assertEquals(2, dev.refused, "one attempt, then one retry");
        String m = e.getMessage();
        assertTrue(m.contains("fake:0"), m);
        assertTrue(m.contains("tried to allocate 5.00 MiB"), m);
        assertTrue(m.contains("6.00 MiB rounded"), m);
        assertTrue(m.contains("tensor [256, 5120] FP32"), m);
        assertTrue(m.contains("6.00 MiB in use"), m);
        assertTrue(m.contains("6.00 MiB reserved"), m);
        assertTrue(m.contains("4.00 MiB free of 10.00 MiB total"), m);
        // what to change, for a Java caller (Learner.batchSize, a DataLoader's) and the command line alike
        assertTrue(m.endsWith("the device has 4.00 MiB free of 10.00 MiB total. Try a smaller batch size (--batch-size on the command line),"
                + " or a smaller model or input size."), m);
        // The allocator is still consistent and usable.
        held.close();
        DeviceBuffer again = al.allocate(5 * MIB, "retry");
        assertEquals(6 * MIB, again.bytes());
        again.close();
    }

    @Test
    void steadyStateLeavesReservedUnchanged() {
        FakeDevice dev = new FakeDevice(1L << 30);
        CachingAllocator al = new CachingAllocator(dev, "fake:0");
        long[] pattern = {4, 1000, 4096, 100_000, 3 * MIB, 512, 12 * MIB + 7, 64, 700_000};
        long reservedAfterFirst = -1, mallocsAfterFirst = -1;
        for (int step = 0; step < 50; step++) {
            List<DeviceBuffer> live = new ArrayList<>();
            // A training step: allocations interleaved with frees (activations freed in reverse order).
            for (int i = 0; i < pattern.length; i++) {
                live.add(al.allocate(pattern[i], "t" + i));
                if (i % 3 == 2) live.remove(live.size() - 2).close();
            }
            for (int i = live.size() - 1; i >= 0; i--) live.get(i).close();
            assertEquals(0, al.inUseBytes());
            if (step == 0) {
                reservedAfterFirst = al.reservedBytes();
                mallocsAfterFirst = dev.mallocs;
            } else {
                assertEquals(reservedAfterFirst, al.reservedBytes(), "reserved grew at step " + step);
                assertEquals(mallocsAfterFirst, dev.mallocs, "device malloc at step " + step);
            }
        }
        assertEquals(reservedAfterFirst, dev.used);
        al.close();
        assertEquals(0, dev.used);
    }

    @Test
    void useAfterCloseIsAnError() {
        CachingAllocator al = new CachingAllocator(new FakeDevice(MIB), "fake:0");
        DeviceBuffer b = al.allocate(10, "b");
        al.close();
        b.close();   // ignored: the block was already returned to the device
        assertThrows(IllegalStateException.class, () -> al.allocate(10, "late"));
    }
}
