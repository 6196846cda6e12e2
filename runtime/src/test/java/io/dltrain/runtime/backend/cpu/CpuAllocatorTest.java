package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.train.Learner;
import org.junit.jupiter.api.Test;

import java.util.List;

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
}
