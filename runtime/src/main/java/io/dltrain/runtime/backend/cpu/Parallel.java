package io.dltrain.runtime.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The CPU backend's threads. Work is split into contiguous chunks that depend only on the problem size and the
 * thread count, and reductions combine per-chunk partials in chunk order, so results are bit-identical from run
 * to run for the same thread count, whichever thread happens to run which chunk. All parallelism lives here:
 * OpenBLAS itself runs single-threaded.
 *
 * <p>Why not a ForkJoinPool: a training step makes hundreds of short parallel calls (pooling a LeNet batch takes
 * ~100 us), and handing work from an outside thread to a ForkJoinPool and back costs 20-70 us each time. Here the
 * calling thread runs chunks too, {@code threads - 1} workers claim the rest from an atomic counter, and idle
 * workers spin for {@link #SPIN_NANOS} before parking, so back-to-back calls start within a microsecond or two. A caller
 * done with its own chunks likewise spins at most {@link #SPIN_NANOS} for the workers' chunks, then parks until the last
 * one ends, so that on a shared or CPU-limited machine it does not burn the time a descheduled worker needs.
 * A call made from inside a chunk (nested parallelism) runs inline on that thread.
 *
 * <p>The thread count decides the chunks (and so the results); the threads that run them are at most one per core
 * ({@link #runners()}): more threads than cores would spin and wait on each other's time slices (a 10-second MLP run
 * took over 10 minutes with 1000 threads on 2 cores), and fewer runners give the same bits, as any thread may run any
 * chunk.
 */
public final class Parallel implements AutoCloseable {
    /** The body of a parallel loop over [start, end). */
    @FunctionalInterface
    public interface Range { void run(int start, int end); }

    /** The body of a chunked loop: chunk index c covering [start, end). */
    @FunctionalInterface
    public interface Chunk { void run(int chunk, int start, int end); }

    /** How long an idle worker spins before parking: long enough to cover the gap between a step's ops. */
    static final long SPIN_NANOS = 200_000;

    /** One parallel call. Immutable but for its counters, so a worker that wakes late can only claim from its own job. */
    private static final class Job {
        final Chunk body;
        final int n, chunks;
        final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        volatile Throwable error;
        /** The caller, once it parks to wait for the chunks workers claimed; null while it runs or spins. */
        volatile Thread waiter;

        Job(Chunk body, int n, int chunks) { this.body = body; this.n = n; this.chunks = chunks; }

        /** Claims and runs chunks until none is left. */
        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    if (error == null) body.run(c, (int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
                } catch (Throwable t) {
                    if (error == null) error = t;
                } finally {
                    // the last chunk done wakes a parked caller: the caller sets waiter before its last look at done,
                    // and this reads waiter after its increment, so (both volatile) one of the two sees the other
                    if (done.incrementAndGet() == chunks) {
                        Thread w = waiter;
                        if (w != null) LockSupport.unpark(w);
                    }
                }
            }
        }
    }

    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private final int threads, runners;
    private final Thread[] workers;
    private final Object submit = new Object();
    private volatile Job current;
    private volatile boolean closed;

    /** {@code threads} chunks per parallel call, run by at most one thread per core. */
    public Parallel(int threads) {
        this(threads, Math.min(threads, Math.max(1, Runtime.getRuntime().availableProcessors())));
    }

    /** {@code threads} chunks per parallel call, run by {@code runners} threads (the caller and runners - 1 workers). */
    Parallel(int threads, int runners) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (runners < 1 || runners > threads) throw new IllegalArgumentException("runners must be in [1, " + threads + "], got " + runners);
        this.threads = threads;
        this.runners = runners;
        this.workers = new Thread[runners - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Thread(this::workerLoop, "dl-train-cpu-" + (i + 1));
            workers[i].setDaemon(true);
            workers[i].start();
        }
    }

    /** The thread count that decides the chunks: the backend's setting. */
    public int threads() { return threads; }

    /** The threads that run the chunks: the calling thread and its workers, at most one per core. */
    public int runners() { return runners; }

    /** Number of chunks for n items when each chunk should hold at least minPerChunk of them. */
    public int chunks(long n, long minPerChunk) {
        if (threads == 1 || n <= minPerChunk) return 1;
        return (int) Math.min(threads, Math.max(1, n / Math.max(1, minPerChunk)));
    }

    /** Runs body over [0, n) in up to threads() contiguous chunks of at least minPerChunk items. */
    public void forRange(int n, int minPerChunk, Range body) {
        forChunks(n, chunks(n, minPerChunk), (c, s, e) -> body.run(s, e));
    }

    /** Runs body over [0, n) split into exactly {@code chunks} contiguous chunks (chunk i gets [n*i/chunks, n*(i+1)/chunks)). */
    public void forChunks(int n, int chunks, Chunk body) {
        if (n <= 0) return;
        chunks = Math.max(1, chunks);
        if (chunks == 1 || workers.length == 0 || INSIDE.get()) {
            for (int c = 0; c < chunks; c++) body.run(c, (int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
            return;
        }
        if (closed) throw new IllegalStateException("the CPU backend was closed");
        Job job = new Job(body, n, chunks);
        synchronized (submit) { // one parallel call at a time; callers on other threads wait here
            current = job;
            for (Thread w : workers) LockSupport.unpark(w);
            INSIDE.set(Boolean.TRUE);
            try {
                job.work();
            } finally {
                INSIDE.set(Boolean.FALSE);
            }
            awaitWorkers(job);
            current = null;
        }
        Throwable t = job.error;
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
    }

    /**
     * Waits for the chunks that workers claimed: spins for {@link #SPIN_NANOS}, as an idle worker does, then parks until
     * the last chunk's worker unparks it. An unbounded spin here burnt the core (or, in a container with a CPU limit,
     * the quota) that a descheduled worker needed to finish its chunk. Spurious wakeups and an unpark left over from an
     * earlier call only cost another look at the counter; an interrupted caller (park returns at once) spins, as it
     * always did, and keeps its interrupt.
     */
    private static void awaitWorkers(Job job) {
        if (job.done.get() >= job.chunks) return;
        long spinUntil = System.nanoTime() + SPIN_NANOS;
        while (job.done.get() < job.chunks) {
            if (System.nanoTime() < spinUntil) {
                Thread.onSpinWait();
            } else {
                job.waiter = Thread.currentThread();
                if (job.done.get() < job.chunks) LockSupport.park(job);
            }
        }
    }

    private void workerLoop() {
        INSIDE.set(Boolean.TRUE);
        Job last = null;
        while (!closed) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            Job j;
            while ((j = current) == null || j == last) {
                if (closed) return;
                if (System.nanoTime() < spinUntil) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            last = j;
            j.work();
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
        // wait until they have exited (at once: a parked worker sees `closed` when unparked, a busy one after its chunk),
        // so that no dl-train-cpu thread outlives close(), as no loader thread outlives a DataLoader's; an interrupt does
        // not cut the wait short, and is kept. A worker not gone within a second (a chunk that hangs) is left: a daemon
        boolean interrupted = false;
        long deadline = System.nanoTime() + JOIN_NANOS;
        for (Thread w : workers) {
            while (w != Thread.currentThread() && w.isAlive()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) break;
                try {
                    w.join(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** How long {@link #close} waits for its workers to exit. */
    private static final long JOIN_NANOS = 1_000_000_000L;
}
