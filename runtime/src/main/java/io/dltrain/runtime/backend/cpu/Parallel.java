package io.dltrain.runtime.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;

/**
 * The CPU backend's threads. Work is split into contiguous chunks that depend only on the problem size and the
 * thread count, and reductions combine per-chunk partials in chunk order, so results are bit-identical from run
 * to run for the same thread count. All parallelism lives here: OpenBLAS itself runs single-threaded.
 */
public final class Parallel implements AutoCloseable {
    /** The body of a parallel loop over [start, end). */
    @FunctionalInterface
    public interface Range { void run(int start, int end); }

    private final int threads;
    private final ForkJoinPool pool;

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.pool = threads == 1 ? null : new ForkJoinPool(threads);
    }

    public int threads() { return threads; }

    /** Number of chunks for n items when each chunk should hold at least minPerChunk of them. */
    public int chunks(long n, long minPerChunk) {
        if (pool == null || n <= minPerChunk) return 1;
        return (int) Math.min(threads, Math.max(1, n / Math.max(1, minPerChunk)));
    }

    /** Runs body over [0, n) in up to threads() contiguous chunks of at least minPerChunk items. */
    public void forRange(int n, int minPerChunk, Range body) {
        int chunks = chunks(n, minPerChunk);
        forChunks(n, chunks, (c, s, e) -> body.run(s, e));
    }

    /** The body of a chunked loop: chunk index c covering [start, end). */
    @FunctionalInterface
    public interface Chunk { void run(int chunk, int start, int end); }

    /** Runs body over [0, n) split into exactly {@code chunks} contiguous chunks (chunk i gets [n*i/chunks, n*(i+1)/chunks)). */
    public void forChunks(int n, int chunks, Chunk body) {
        if (n <= 0) return;
        if (chunks <= 1 || pool == null) { body.run(0, 0, n); return; }
        RecursiveAction[] tasks = new RecursiveAction[chunks];
        for (int c = 0; c < chunks; c++) {
            int s = (int) ((long) n * c / chunks), e = (int) ((long) n * (c + 1) / chunks), ci = c;
            tasks[c] = new RecursiveAction() { @Override protected void compute() { body.run(ci, s, e); } };
        }
        if (ForkJoinTask.inForkJoinPool()) { ForkJoinTask.invokeAll(tasks); return; }
        pool.invoke(new RecursiveAction() { @Override protected void compute() { ForkJoinTask.invokeAll(tasks); } });
    }

    @Override
    public void close() { if (pool != null) pool.shutdownNow(); }
}
