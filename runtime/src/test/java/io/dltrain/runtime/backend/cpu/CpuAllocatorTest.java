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
import static org.junit.jupiter.api.Assertions.assertSame;
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
        pool.free(x);
        pool.free(y);
        long reserved = pool.reservedBytes();
        for (int step = 0; step < 10; step++) {
            float[] a = pool.floats(1000);
            int[] b = pool.ints(10);
            assertSame(x, a);
            assertSame(y, b);
            pool.free(a);
            pool.free(b);
        }
        assertEquals(reserved, pool.reservedBytes());
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
            for (int k = 0; k < 3; k++) pool.free(pool.floats(n + k));
            if (pool.inUseBytes() != 0) throw new AssertionError("in use " + pool.inUseBytes());
            System.out.println("3 lengths served; " + pool.reservedBytes() + " bytes reserved");
        }
    }
}
