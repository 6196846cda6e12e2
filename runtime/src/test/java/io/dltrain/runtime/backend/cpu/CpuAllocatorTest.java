package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.train.Learner;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backend's pool of host arrays: the shapes a step asks for again are served from it, and the free arrays of
 * shapes that do not come back are let go, so a long-lived backend does not fill the heap with them.
 */
class CpuAllocatorTest {

    @Test
    void aStepsShapesAreReusedAndNothingMoreIsReserved() {
        CpuAllocator pool = new CpuAllocator();
        float[] x = pool.floats(1000);
        int[] y = pool.ints(10);
        pool.free(x, 1000);
        pool.free(y, 10);
        long reserved = pool.reservedBytes();
        for (int step = 0; step < 10; step++) {
            float[] a = pool.floats(1000);
            int[] b = pool.ints(10);
            same(x, a);
            same(y, b);
            pool.free(a, 1000);
            pool.free(b, 10);
        }
        assertEquals(reserved, pool.reservedBytes());
    }

    /**
     * A request takes the shortest free array of n to FIT x n elements, of any length: densenet121's concatenations ask
     * for a new length at every layer, and kept by exact length its pool held 1,111 MiB of free arrays above its peak.
     * Longer than FIT x n is not taken (at most half an array unused), nor a shorter one; a new array is exactly n.
     */
    @Test
    void aFreeArrayServesShorterRequestsWithinTheFitBound() {
        CpuAllocator pool = new CpuAllocator();
        float[] a1000 = pool.floats(1000), a700 = pool.floats(700);
        pool.free(a1000, 1000);
        pool.free(a700, 700);
        same(a700, pool.floats(600), "the shortest free array that fits");
        same(a1000, pool.floats(600), "the next shortest");
        pool.free(a700, 600);
        pool.free(a1000, 600);

        float[] b = pool.floats(349); // 700 > 2 x 349: neither fits
        assertEquals(349, b.length);
        notSame(a700, b);
        same(a700, pool.floats(350));
        float[] c = pool.floats(1001); // longer than every free array: a new one
        assertEquals(1001, c.length);

        int[] i = pool.ints(100);
        pool.free(i, 100);
        same(i, pool.ints(50), "ints fit the same way, from their own bins");
        assertEquals(100, pool.floats(100).length, "floats never take an int array's place");
    }

    /** Every array handed out holds n to FIT x n elements, whatever lengths were freed before (1,000 random requests). */
    @Test
    void everyArrayHandedOutIsWithinTheFitBound() {
        CpuAllocator pool = new CpuAllocator();
        java.util.Random r = new java.util.Random(7);
        java.util.ArrayDeque<float[]> held = new java.util.ArrayDeque<>();
        java.util.ArrayDeque<Integer> asked = new java.util.ArrayDeque<>();
        for (int k = 0; k < 1000; k++) {
            if (!held.isEmpty() && r.nextInt(3) == 0) { pool.free(held.poll(), asked.poll()); continue; }
            int n = 1 + r.nextInt(5000);
            float[] a = pool.floats(n);
            assertTrue(a.length >= n && a.length <= CpuAllocator.FIT * n, n + " elements asked, " + a.length + " given");
            held.add(a);
            asked.add(n);
        }
    }

    /**
     * In use and peak count the requested bytes; reserved counts the arrays' lengths (in use or free); free the free
     * arrays' lengths. A closed backend keeps no freed array, and its reserved bytes fall by the array's length.
     */
    @Test
    void inUseCountsTheRequestAndReservedTheArrays() {
        CpuAllocator pool = new CpuAllocator();
        float[] a = pool.floats(1000);
        pool.free(a, 1000);
        float[] b = pool.floats(600);
        same(a, b);
        assertEquals(2400, pool.inUseBytes());
        assertEquals(4000, pool.peakBytes());
        assertEquals(4000, pool.reservedBytes());
        assertEquals(0, pool.freeBytes());
        int[] c = pool.ints(10);
        assertEquals(2440, pool.inUseBytes());
        assertEquals(4040, pool.reservedBytes());
        pool.free(c, 10);
        assertEquals(40, pool.freeBytes());
        pool.trim();
        assertEquals(0, pool.freeBytes());
        assertEquals(4000, pool.reservedBytes(), "trim drops the free arrays only");
        pool.closed = true;
        pool.free(b, 600);
        assertEquals(0, pool.inUseBytes());
        assertEquals(0, pool.reservedBytes());
        assertEquals(0, pool.freeBytes());
    }

    /** A tensor's storage holds the elements it asked for, not its array's length: a view past them is refused. */
    @Test
    void aTensorOnALongerArrayHasItsOwnElementCount() {
        try (CpuBackend be = new CpuBackend(1)) {
            be.empty(Shape.of(10, 100), io.dltrain.runtime.tensor.DType.FP32).close();
            try (var t = be.empty(Shape.of(6, 100), io.dltrain.runtime.tensor.DType.FP32)) {
                assertEquals(1000, CpuBackend.f(t).length, "served by the freed array of 1,000");
                assertEquals(600, t.storage().elements());
                assertEquals(2400, be.memoryInUse());
                assertEquals(4000, be.memoryReserved());
            }
        }
    }

    /**
     * Free bytes above KEEP_FREE x peak are let go, the lengths handed out least recently first: six lengths of 1,000 to
     * 1,005 floats, one at a time (none fits a longer request), leave 6 x 4 KB free against a peak of 4 KB; the first
     * two go. Trim drops the rest, and a length asked for again is then a new array.
     */
    @Test
    void freeArraysAboveTheBoundGoLeastRecentlyUsedFirst() {
        CpuAllocator pool = new CpuAllocator();
        float[][] a = new float[6][];
        for (int k = 0; k < 6; k++) pool.free(a[k] = pool.floats(1000 + k), 1000 + k);
        assertTrue(pool.freeBytes() <= CpuAllocator.KEEP_FREE * pool.peakBytes(), pool.freeBytes() + " free");
        assertEquals(4L * (1002 + 1003 + 1004 + 1005), pool.freeBytes());
        assertEquals(pool.freeBytes(), pool.reservedBytes());
        same(a[2], pool.floats(1000), "1,000 and 1,001 were let go: the shortest kept that fits");
        pool.trim();
        assertEquals(4L * 1002, pool.reservedBytes(), "only the array in use is left");
        float[] again = pool.floats(1003);
        notSame(a[3], again);
        assertEquals(1003, again.length);
    }

    /** A length whose arrays serve other lengths is in use, and is kept before lengths not handed out since. */
    @Test
    void aLengthServingOthersIsNotLetGoFirst() {
        CpuAllocator pool = new CpuAllocator();
        float[] big = pool.floats(2000); // peak 8 KB: 32 KB may stay free
        pool.free(big, 2000);
        float[][] a = new float[9][];
        for (int k = 0; k < 9; k++) {
            same(big, pool.floats(1500 - k)); // served by the 2,000 array: it stays recent
            pool.free(big, 1500 - k);
            pool.free(a[k] = pool.floats(2001 + k), 2001 + k); // 2,001.. : too long for the next 1,500 - k, each new
        }
        assertTrue(pool.freeBytes() <= CpuAllocator.KEEP_FREE * pool.peakBytes(), pool.freeBytes() + " free");
        same(big, pool.floats(1000), "the 2,000 array was kept");
        notSame(a[0], pool.floats(2001), "the oldest length not handed out since was let go");
    }

    /**
     * A request searches only the lengths that hold a free array. It walked every length the pool had made between n
     * and FIT x n, those whose arrays were all in use included (a model's parameters, a step's activations), so its cost
     * grew with them: with 9,999 such lengths, 63 to 67 us a request and its free, where one lookup takes 39 to 108 ns.
     */
    @Test
    void aRequestSearchesOnlyTheLengthsWithAFreeArray() {
        CpuAllocator pool = new CpuAllocator();
        for (int k = 0; k < 1000; k++) pool.floats(10_000 + k); // 1,000 lengths in use
        int[] labels = pool.ints(10_000);
        assertEquals(0, pool.searchedLengths(), "every array made is in use");
        float[] far = pool.floats(19_999);
        pool.free(far, 19_999);
        assertEquals(1, pool.searchedLengths());
        for (int round = 0; round < 3; round++) {
            float[] a = pool.floats(10_000); // past the 1,000 lengths in use, served by the free one
            same(far, a);
            assertEquals(0, pool.searchedLengths(), "its one free array is handed out");
            pool.free(a, 10_000);
            assertEquals(1, pool.searchedLengths());
        }
        pool.free(labels, 10_000);
        assertEquals(2, pool.searchedLengths(), "a free int array: its own length");
        same(labels, pool.ints(6_000));
        assertEquals(1, pool.searchedLengths());
    }

    /**
     * A backend evaluating data sets of 255 sizes (each last batch its own shapes): the free arrays stay within
     * KEEP_FREE times the peak in use. Unbounded, they grew with every size (299 MB for 0.25 MB in use after 100 sizes
     * with lenet5, and a 200 MB heap ran out after 70).
     */
    @Test
    void freeArraysOfShapesThatDoNotComeBackAreLetGo() {
        try (CpuBackend be = new CpuBackend(1);
             Module m = new Sequential(new Linear(new Context(be, 3), 8, 3));
             Learner l = new Learner(m).batchSize(256)) {
            l.evaluate(data(512));
            long firstReserved = be.memoryReserved();
            for (int k = 1; k < 256; k++) l.evaluate(data(512 + k));
            assertTrue(be.memoryReserved() - be.memoryInUse() <= CpuAllocator.KEEP_FREE * be.memoryPeak(),
                    "free " + (be.memoryReserved() - be.memoryInUse()) + " bytes, peak in use " + be.memoryPeak()
                            + " (reserved after the first evaluation: " + firstReserved + ")");
        }
    }

    /** expected and actual are the same array (a failure names their lengths, not their elements). */
    static void same(Object expected, Object actual) { same(expected, actual, "the same array"); }

    static void same(Object expected, Object actual, String what) {
        assertTrue(expected == actual, what + ": expected the array of " + java.lang.reflect.Array.getLength(expected)
                + " elements, got another of " + java.lang.reflect.Array.getLength(actual));
    }

    static void notSame(Object unexpected, Object actual) { notSame(unexpected, actual, "another array"); }

    static void notSame(Object unexpected, Object actual, String what) {
        assertTrue(unexpected != actual, what + ": got the array of " + java.lang.reflect.Array.getLength(actual) + " elements again");
    }

    /** n samples of 8 features in 3 classes. */
    static Dataset data(int n) {
        return new Dataset() {
            public String name() { return "sizes"; }
            public int size() { return n; }
            public Shape sampleShape() { return Shape.of(8); }
            public int numClasses() { return 3; }
            public List<String> classNames() { return List.of("a", "b", "c"); }
            public int read(int i, float[] dst, int off) {
                for (int j = 0; j < 8; j++) dst[off + j] = (i * 8 + j) % 7 - 3;
                return i % 3;
            }
        };
    }

    /**
     * A run's last, smaller batch (and its validation and test batches) asks for arrays of new lengths while the full
     * batch's arrays sit free in the pool, up to KEEP_FREE times the peak. Where the heap had room for one set but not two,
     * {@code new float[n]} ran out with the pool holding enough to spare: a batch size that trained ran out of memory at
     * the epoch's last batch. The pool now drops its free arrays and tries again. Shown in a JVM with a 48 MiB heap: three
     * 16 MiB arrays of different lengths, one at a time (each freed before the next), need one array's room, not three.
     */
    @Test
    void theHeapRunningOutWithFreeArraysPooledDropsThemAndRetries() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Xmx48m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                OneBatchAtATime.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child JVM did not end");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("3 lengths served"), out);
    }

    /** The child of the test above: allocates, frees, and allocates again at another length, as successive batch sizes do. */
    static final class OneBatchAtATime {
        public static void main(String[] args) {
            CpuAllocator pool = new CpuAllocator();
            int n = 4 << 20; // 16 MiB of floats
            for (int k = 0; k < 3; k++) pool.free(pool.floats(n + k), n + k); // each longer: none fits the next
            if (pool.inUseBytes() != 0) throw new AssertionError("in use " + pool.inUseBytes());
            System.out.println("3 lengths served; " + pool.reservedBytes() + " bytes reserved");
        }
    }
}
