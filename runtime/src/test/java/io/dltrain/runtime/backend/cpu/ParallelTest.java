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
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

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

    /**
     * The caller, done with its own chunks, spins for at most {@link Parallel#SPIN_NANOS} and then parks until the worker
     * running the last chunk wakes it: an unbounded spin burnt the core (or a container's CPU quota) that the worker needed.
     */
    @Test
    void aCallerWaitingOnASlowChunkParksAndIsWokenWhenItEnds() {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            try (Parallel p = new Parallel(2, 2)) {
                Thread caller = Thread.currentThread();
                CountDownLatch bothStarted = new CountDownLatch(2);
                AtomicBoolean callerChunkDone = new AtomicBoolean(), sawCallerParked = new AtomicBoolean();
                long[] sum = new long[2];
                long t0 = System.nanoTime();
                p.forChunks(2000, 2, (c, start, end) -> {
                    bothStarted.countDown();
                    await(bothStarted); // so the worker runs one of the two chunks
                    for (int i = start; i < end; i++) sum[c] += i;
                    if (Thread.currentThread() == caller) {
                        callerChunkDone.set(true);
                        return;
                    }
                    // the worker's chunk outlasts the spin bound: wait (up to 5 s) for the caller to park
                    long deadline = System.nanoTime() + 5_000_000_000L;
                    while (System.nanoTime() < deadline && !sawCallerParked.get()) {
                        if (callerChunkDone.get() && caller.getState() == Thread.State.WAITING && LockSupport.getBlocker(caller) != null)
                            sawCallerParked.set(true);
                        else LockSupport.parkNanos(100_000);
                    }
                });
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(sawCallerParked.get(), "the caller parked (rather than spinning) while the worker's chunk ran");
                assertEquals(999L * 1000 / 2, sum[0], "chunk 0");
                assertEquals((1000L + 1999) * 1000 / 2, sum[1], "chunk 1");
                assertTrue(ms < 5_000, "returned promptly once the last chunk ended: " + ms + " ms");
            }
        });
    }

    /** Many back-to-back calls, some of whose worker chunks outlast the spin bound: every call ends, none is lost. */
    @Test
    void manyCallsSomeSlowerThanTheSpinBoundAllReturn() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            try (Parallel p = new Parallel(2, 2)) {
                Thread caller = Thread.currentThread();
                AtomicLong items = new AtomicLong();
                int calls = 20_000;
                for (int k = 0; k < calls; k++) {
                    boolean slow = k % 200 == 0;
                    p.forChunks(10, 2, (c, start, end) -> {
                        if (slow && Thread.currentThread() != caller) LockSupport.parkNanos(2 * Parallel.SPIN_NANOS);
                        items.addAndGet(end - start);
                    });
                    if (items.get() != 10L * (k + 1)) fail("call " + k + " returned before its chunks were done: " + items.get());
                }
                assertEquals(10L * calls, items.get());
            }
        });
    }

    /** An exception thrown in a worker's chunk, while the caller is parked waiting for it, reaches the caller. */
    @Test
    void anExceptionInAWorkersSlowChunkReachesTheParkedCaller() {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            try (Parallel p = new Parallel(2, 2)) {
                Thread caller = Thread.currentThread();
                IllegalStateException boom = new IllegalStateException("boom in a worker's chunk");
                CountDownLatch bothStarted = new CountDownLatch(2);
                IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> p.forChunks(2, 2, (c, start, end) -> {
                    bothStarted.countDown();
                    await(bothStarted);
                    if (Thread.currentThread() != caller) {
                        LockSupport.parkNanos(20 * Parallel.SPIN_NANOS);
                        throw boom;
                    }
                }));
                assertSame(boom, thrown);
                AtomicLong items = new AtomicLong(); // and the pool still works
                p.forChunks(100, 2, (c, start, end) -> items.addAndGet(end - start));
                assertEquals(100, items.get());
            }
        });
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(10, TimeUnit.SECONDS)) fail("the other chunk never started: no worker ran it");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail("interrupted");
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
