package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backend's thread pool: the thread count decides the chunks, and so the exact results; the threads that run
 * the chunks are at most one per core (with 1000 threads on 2 cores, a 10-second MLP run took over 10 minutes).
 */
class ParallelTest {

    @Test
    void moreThreadsThanCoresAreRunByOneThreadPerCore() {
        int cores = Runtime.getRuntime().availableProcessors(), threads = 8 * cores + 3;
        try (Parallel p = new Parallel(threads)) {
            assertEquals(threads, p.threads(), "the setting, which decides the chunks");
            assertEquals(cores, p.runners());
            AtomicIntegerArray runs = new AtomicIntegerArray(threads);
            Set<String> ranOn = ConcurrentHashMap.newKeySet();
            int[][] bounds = new int[threads][];
            p.forChunks(1000, threads, (c, start, end) -> {
                runs.incrementAndGet(c);
                bounds[c] = new int[] {start, end};
                ranOn.add(Thread.currentThread().getName());
            });
            for (int c = 0; c < threads; c++) {
                assertEquals(1, runs.get(c), "chunk " + c + " ran once");
                assertArrayEquals(new int[] {1000 * c / threads, 1000 * (c + 1) / threads}, bounds[c], "chunk " + c);
            }
            assertTrue(ranOn.size() <= cores, "at most one thread per core ran the chunks: " + ranOn);
        }
        try (Parallel p = new Parallel(Math.max(1, cores))) {
            assertEquals(p.threads(), p.runners(), "up to the core count, every thread runs");
        }
    }

    @Test
    void resultsDependOnTheThreadCountNotOnHowManyThreadsRunTheChunks() {
        List<float[]> reference = null;
        for (int runners : new int[] {12, 3, 1}) {
            try (CpuBackend be = new CpuBackend(new Parallel(12, runners))) {
                List<float[]> out = convAndGemm(be);
                if (reference == null) reference = out;
                else for (int i = 0; i < out.size(); i++)
                    assertArrayEquals(reference.get(i), out.get(i), 0f, "result " + i + " with 12 threads run by " + runners);
            }
        }
    }

    /** A convolution forward and both backwards (whose reductions combine per-chunk partials), a GEMM and a sum. */
    private static List<float[]> convAndGemm(CpuBackend be) {
        SplittableRandom rng = new SplittableRandom(11);
        List<float[]> out = new ArrayList<>();
        try (Scope s = Scope.open()) {
            ConvParams p = ConvParams.of(1, 1);
            Tensor x = rand(be, rng, 24, 3, 10, 10), w = rand(be, rng, 8, 3, 3, 3), bias = rand(be, rng, 8);
            Tensor y = be.empty(Shape.of(24, 8, 10, 10));
            be.convForward(x, w, bias, y, p);
            Tensor dy = rand(be, rng, 24, 8, 10, 10), dw = be.empty(w.shape()), dx = be.empty(x.shape());
            be.convBackwardFilter(x, dy, dw, p, false);
            be.convBackwardData(dy, w, dx, p);
            Tensor a = rand(be, rng, 64, 96), b = rand(be, rng, 96, 80), c = be.empty(Shape.of(64, 80));
            be.gemm(false, false, 64, 80, 96, 1f, a, 0, 96, b, 0, 80, 0f, c, 0, 80);
            Tensor sum = be.empty(Shape.of(1));
            be.sum(y, 1f, sum);
            for (Tensor t : new Tensor[] {y, dw, dx, c, sum}) out.add(t.toFloatArray());
        }
        return out;
    }

    private static Tensor rand(CpuBackend be, SplittableRandom rng, int... dims) {
        return be.fromHost(Check.uniform(rng, Shape.of(dims).size(), -1, 1), Shape.of(dims));
    }
}
