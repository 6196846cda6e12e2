package io.dltrain.runtime.data;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Device;

import java.util.Arrays;
import java.util.Iterator;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Turns a {@link Dataset} (or a subset of its indices) into a stream of mini-batches, loaded ahead of the training
 * loop by background worker threads. Mirrors {@code torch.utils.data.DataLoader(dataset, batch_size, shuffle,
 * drop_last, num_workers, prefetch)} with these guarantees:
 * <ul>
 *   <li><b>Deterministic order.</b> The sample order of an epoch depends only on (seed, epoch): a Fisher-Yates
 *   shuffle driven by a {@link SplittableRandom} seeded from both, never on thread timing. Batches are delivered
 *   in order ({@link Batch#index()} 0, 1, 2, ...), whichever worker finished first.</li>
 *   <li><b>No steady-state allocation.</b> Workers fill a ring of reusable {@link Batch} buffers ({@code prefetch},
 *   or {@code workers + 2} if more, so that every worker has a batch to fill while the consumer holds two: a ring of
 *   4 would leave 16 workers loading 2 or 3 batches at a time), allocated once in the constructor; batch k always
 *   lives in slot {@code k % ring}. The consumer hands a buffer back with {@link Batch#release()}; a worker may
 *   refill the slot only after that. Memory therefore grows with the workers, as PyTorch's prefetch_factor does.</li>
 *   <li><b>Errors name the sample.</b> An exception thrown by {@link Dataset#read} in a worker is rethrown from the
 *   iterator's {@code next()} when the consumer reaches the failing batch, wrapped with the dataset name, the sample
 *   index and the batch/epoch, so earlier batches are still delivered and the outcome does not depend on timing.</li>
 *   <li><b>No leaked threads.</b> Starting a new epoch cancels the previous one (its workers are stopped and joined
 *   before the new ones start); {@link #close()} does the same, so abandoning an epoch half-way (early stopping,
 *   an exception in the training loop) leaves no loader thread alive once close() returns. The one exception is a
 *   worker stuck in a read that neither returns nor answers an interrupt (a hung network file system, a FIFO with no
 *   writer): close() leaves it behind after {@link #CLOSE_WAIT_MILLIS}, a daemon thread writing into buffers that are
 *   no longer read, rather than hang the caller with it.</li>
 *   <li><b>A stop need not wait for the data.</b> {@link #stopWaiting()} (any thread) makes the consumer's wait for a
 *   batch end with {@link WaitStopped}, which names the samples still being read and for how long: a training run
 *   stopped on a signal while a read hangs can still checkpoint what it has trained.</li>
 * </ul>
 *
 * <p><b>Why platform daemon threads rather than virtual threads:</b> the work is CPU-bound (decoding in-memory bytes
 * into floats) with no blocking I/O to overlap, which is the only thing virtual threads buy; on the ForkJoin
 * carrier pool they would compete with, and be scheduled less predictably than, the compute threads of the CPU
 * backend. A handful of named platform threads per epoch costs microseconds, shows up by name in thread dumps
 * ({@code dl-train-loader-<dataset>-e<epoch>-w<i>}), and being daemons can never keep the JVM alive.
 *
 * <p>{@code workers == 0} loads each batch in the consumer's thread inside {@code next()} (PyTorch's
 * {@code num_workers=0}); useful for debugging. The iterator of an epoch is meant for a single consumer thread.
 * Batches of an epoch are invalid once the next epoch starts or the loader is closed.
 */
public final class DataLoader implements AutoCloseable {

    /**
     * Cumulative loader statistics since construction.
     *
     * @param samplesLoaded samples read by workers (or by the consumer when workers == 0)
     * @param busySeconds   total time spent reading samples, summed over all workers
     * @param waitSeconds   time the consumer spent blocked in {@code next()} waiting for a batch that wasn't ready
     *                      (with workers == 0 this is the whole load time, since the consumer loads itself)
     * @param workers       configured worker count
     */
    public record Stats(long samplesLoaded, double busySeconds, double waitSeconds, int workers) {
        /**
         * Samples per second of busy worker time, i.e. the rate one worker sustains; the loader's peak throughput
         * is about this times {@code max(1, workers)}. 0 when nothing has been loaded yet.
         */
        public double samplesPerSecond() { return busySeconds > 0 ? samplesLoaded / busySeconds : 0.0; }
    }

    private final Dataset ds;
    private final int[] indices;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean dropLast;
    private final long seed;
    private final int workers;
    private final int sampleNumel;
    private final int numClasses;
    private final int batchesPerEpoch;
    /** Ring size: prefetch or workers + 2, whichever is more, but never more than the batches in an epoch. */
    private final int ring;
    private final float[][] xBufs;
    private final int[][] yBufs;
    /** Regression targets, one ring slot each; null for a classification dataset. */
    private final float[][] tBufs;

    private final LongAdder samplesLoaded = new LongAdder();
    private final LongAdder busyNanos = new LongAdder();
    private final LongAdder waitNanos = new LongAdder();

    /** The epoch in flight; volatile for {@link #stopWaiting()}, which does not take this loader's lock. */
    private volatile Run current;
    /** Who is told of a long wait for a batch ({@link #noticeSlowWaits}), or null. */
    private volatile SlowWaits slowWaits;

    private record SlowWaits(long afterNanos, Consumer<String> notice) {}
    private boolean closed;

    /**
     * How long {@link #close()} waits for the workers to exit once asked to: a read in progress normally ends within
     * milliseconds; one that has not after this long is stuck, and its thread is left behind.
     */
    public static final long CLOSE_WAIT_MILLIS = 2_000;

    /**
     * Written into a sample's last float before {@link Dataset#read}: still there after it, the read wrote less than the
     * sample shape. A NaN with a payload no arithmetic makes (they give the canonical NaN) and that a dataset's own NaN
     * features, copied or computed, do not carry.
     */
    private static final int UNWRITTEN_BITS = 0x7fc0_d17e;
    private static final float UNWRITTEN = Float.intBitsToFloat(UNWRITTEN_BITS);

    /**
     * Reads sample index of ds into x (of sampleShape().numel() floats) as the loader does, its last float marked first,
     * and returns its label; a read that leaves the mark is refused as the loader refuses it. For a sample read outside
     * a loader (Learner.predict); what names the caller ("predict(): ").
     *
     * @throws DataLoadException if the read left the sample's last float unwritten, or threw (naming the dataset and the
     *                           sample, as the loader does; the read's exception is the cause)
     */
    public static int readChecked(Dataset ds, int index, float[] x, String what) {
        if (x.length > 0) x[x.length - 1] = UNWRITTEN;
        int label;
        try {
            label = ds.read(index, x, 0);
        } catch (RuntimeException e) {
            throw new DataLoadException(what + ds.name() + ": reading " + described(ds, index) + " failed: " + readFailure(ds, e), e);
        }
        if (x.length == 0) return label;
        if (Float.floatToRawIntBits(x[x.length - 1]) == UNWRITTEN_BITS)
            throw new DataLoadException(what + ds.name() + ": " + described(ds, index) + " left element " + (x.length - 1) + " of its "
                    + x.length + " features unwritten: Dataset.read must write sampleShape().numel() = " + x.length
                    + " floats for sample shape " + ds.sampleShape(), null);
        return label;
    }

    /**
     * What a read's exception says: our own exceptions' messages (written for people), a foreign one with its class name
     * (NullPointerException, ...); for an array index out of bounds, that read may have written past its sample (the
     * batch buffer ends with the batch's last sample).
     */
    static String readFailure(Dataset ds, Throwable t) {
        String what = t.getClass().getName().startsWith("io.dltrain.") && t.getMessage() != null ? t.getMessage() : t.toString();
        if (t instanceof ArrayIndexOutOfBoundsException) {   // an array's (System.arraycopy's too), not a list's
            io.dltrain.runtime.tensor.Shape s = ds.sampleShape();
            what += "; Dataset.read must write sampleShape().numel() = " + s.numel() + " floats from dstOffset, no more (sample shape "
                    + s + "): does the dataset write more than its sampleShape()?";
        }
        return what;
    }

    /**
     * Sample index of ds as the dataset describes it ("sample 8 (/data/b/z.png)"), or "sample 8" where describe itself
     * fails or gives null: describe is the dataset's own code, and a message about a sample (a WaitStopped a stop relies
     * on, a refused read) must not become describe's exception.
     */
    public static String described(Dataset ds, int index) {
        try {
            String d = ds.describe(index);
            return d != null ? d : "sample " + index;
        } catch (RuntimeException e) {
            return "sample " + index;
        }
    }

    /**
     * Thrown by the iterator's {@code next()} after {@link #stopWaiting()}, or when the consumer's thread is interrupted
     * while it waits (its interrupt status is kept), instead of waiting for a batch that is not loaded yet. Nothing of the
     * batch has been delivered; the message names it and the samples still being read.
     */
    public static final class WaitStopped extends RuntimeException {
        WaitStopped(String message) { super(message); }
    }

    /**
     * @param ds        the dataset to read
     * @param indices   the sample indices making up one epoch (a train or validation subset), or null for all
     *                  samples 0..ds.size()-1; indices may repeat
     * @param batchSize samples per batch, at least 1
     * @param shuffle   shuffle the order every epoch (deterministically from seed and epoch); false keeps
     *                  {@code indices} order
     * @param dropLast  drop the last batch of an epoch if it would be smaller than batchSize
     * @param seed      shuffle seed
     * @param workers   background loader threads; 0 loads in the consumer's thread
     * @param prefetch  number of reusable batch buffers (batches loaded ahead, including the one the consumer
     *                  holds), at least 1; 2 or more lets loading overlap training; raised to workers + 2
     */
    public DataLoader(Dataset ds, int[] indices, int batchSize, boolean shuffle, boolean dropLast,
                      long seed, int workers, int prefetch) {
        if (ds == null) throw new IllegalArgumentException("dataset is null");
        if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        if (workers < 0) throw new IllegalArgumentException("workers must be >= 0 (0 = load in the caller's thread), got " + workers);
        if (prefetch < 1) throw new IllegalArgumentException("prefetch must be >= 1 (number of batch buffers), got " + prefetch);
        int n = ds.size();
        if (indices == null) {
            indices = new int[n];
            for (int i = 0; i < n; i++) indices[i] = i;
        } else {
            indices = indices.clone();
            for (int i = 0; i < indices.length; i++) {
                if (indices[i] < 0 || indices[i] >= n)
                    throw new IllegalArgumentException("indices[" + i + "] = " + indices[i] + " is outside dataset "
                            + ds.name() + " of size " + n);
            }
        }
        long numel = ds.sampleShape().numel();
        if (numel < 1 || numel > Integer.MAX_VALUE)
            throw new IllegalArgumentException("dataset " + ds.name() + " has sample shape " + ds.sampleShape()
                    + " (" + numel + " elements per sample); need 1..2^31-1");
        // a batch never holds more than every sample: a batch size above the data's size gives one smaller batch (as in
        // PyTorch) and buffers of that size, not of the batch size asked for
        int rows = Math.max(1, Math.min(batchSize, indices.length));
        long batchFloats = (long) rows * numel;
        if (batchFloats > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("batchSize " + rows + " x sample shape " + ds.sampleShape()
                    + " = " + batchFloats + " floats does not fit in one Java array; use a smaller batch size");
        this.ds = ds;
        this.indices = indices;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.dropLast = dropLast;
        this.seed = seed;
        this.workers = workers;
        this.sampleNumel = (int) numel;
        this.numClasses = ds.numClasses();
        this.batchesPerEpoch = dropLast ? indices.length / batchSize : (indices.length + batchSize - 1) / batchSize;
        this.ring = (int) Math.max(1, Math.min(Math.max(prefetch, workers + 2L), batchesPerEpoch));
        // The only large allocation: the ring, once. Epochs reuse these arrays.
        this.xBufs = new float[ring][(int) batchFloats];
        this.yBufs = new int[ring][rows];
        this.tBufs = ds.task() == io.dltrain.runtime.train.Task.REGRESSION ? new float[ring][rows] : null;
    }

    public Dataset dataset() { return ds; }

    /** Samples in one epoch (the subset size, before dropLast). */
    public int samples() { return indices.length; }

    public int batchSize() { return batchSize; }

    public int batchesPerEpoch() { return batchesPerEpoch; }

    /** The dataset indices of epoch {@code epoch}'s samples, in the order its batches give them (a copy). */
    public int[] sampleOrder(int epoch) { return order(epoch); }

    /**
     * Starts epoch {@code epoch} (from 0) and returns its batches in order. Any epoch still running is cancelled
     * first (its workers stopped and joined, however long a read in progress takes: the new epoch's workers fill the
     * same buffers; so after a {@link #stopWaiting} on a read that hangs, make a new loader rather than another epoch
     * of this one; its batches become invalid). Call {@link Batch#release()} on each
     * batch once done with its arrays; holding {@code prefetch} batches unreleased and asking for another is an
     * error (it could never be filled).
     */
    public synchronized Iterator<Batch> epoch(int epoch) { return epoch(epoch, 0); }

    /**
     * As {@link #epoch(int)}, from batch {@code firstBatch} on: the batches before it are neither loaded nor returned,
     * and the ones after are the same as in the whole epoch (the order depends on (seed, epoch) alone, and augmenting
     * datasets seed each sample from (seed, epoch, index)). A resumed run skips what it has trained this way.
     */
    public synchronized Iterator<Batch> epoch(int epoch, int firstBatch) {
        if (closed) throw new IllegalStateException("DataLoader for " + ds.name() + " is closed");
        if (epoch < 0) throw new IllegalArgumentException("epoch must be >= 0, got " + epoch);
        if (firstBatch < 0 || firstBatch > batchesPerEpoch)
            throw new IllegalArgumentException("first batch must be in [0, " + batchesPerEpoch + "], got " + firstBatch);
        if (current != null) {
            current.cancel(0); // all the way: the new epoch's workers fill the same buffers
            current = null;
        }
        ds.setEpoch(epoch); // no worker is running: per-epoch augmentation seeds change here
        Run run = new Run(epoch, order(epoch), firstBatch);
        run.start();
        current = run;
        return run;
    }

    /**
     * Has {@code notice} told, once per batch, when the consumer has waited {@code after} for it: the message names the
     * batch and the samples in their read ("waiting 60 s for batch 2 of 5 in epoch 1 of imagefolder/train: still being
     * read: sample 8 (/data/b/z.png) for 60.1 s"), so that a read that hangs is seen, not only a progress bar that stops.
     * The consumer calls it, then goes on waiting. {@code notice} null: no notices (the default).
     */
    public void noticeSlowWaits(java.time.Duration after, Consumer<String> notice) {
        slowWaits = notice == null ? null : new SlowWaits(after.toNanos(), notice);
    }

    /**
     * Makes the consumer of the running epoch stop waiting: a {@code next()} blocked on a batch that is not loaded yet,
     * or a later one that would block, throws {@link WaitStopped} instead (a batch already loaded is still handed
     * out). For stopping a run whose data read hangs; safe from any thread, without waiting for the read. The next
     * {@link #epoch} starts without it. With {@code workers == 0} the consumer reads itself and cannot be stopped.
     */
    public void stopWaiting() {
        Run run = current;
        if (run != null) run.stopWaiting();
    }

    public Stats stats() {
        return new Stats(samplesLoaded.sum(), busyNanos.sum() * 1e-9, waitNanos.sum() * 1e-9, workers);
    }

    /**
     * Stops the running epoch's workers and waits for them to exit, for at most {@link #CLOSE_WAIT_MILLIS}: a worker
     * stuck in a read that ignores interrupts is left behind (a daemon thread; nothing reads its buffers again).
     * Idempotent.
     */
    @Override
    public synchronized void close() {
        closed = true;
        if (current != null) {
            current.cancel(CLOSE_WAIT_MILLIS);
            current = null;
        }
    }

    /**
     * How many loader threads to give {@code data} when the caller does not say (the CLI's {@code --workers auto}).
     * Results never depend on it, only speed and memory: each worker loads whole batches and holds one batch buffer.
     * A dataset that decodes a file per sample ({@link Dataset#decodesFiles}) feeding a GPU gets one worker per core
     * but one (the training loop's), as many as an eighth of the heap holds batch buffers for (a loader allocates
     * workers + 2 buffers when it is made, and a training run makes three: training, validation, test): JPEG decoding
     * runs at about 190 ImageNet-sized samples a second per core, so one worker would hold a GPU to that. Everything
     * else gets 1: an in-memory dataset copies a sample in microseconds, and on the CPU backend the compute threads
     * already use every core.
     */
    public static int autoWorkers(Dataset data, Backend be, int batchSize) {
        return autoWorkers(data.decodesFiles(), be.device().kind() == Device.Kind.CUDA, 4L * batchSize * data.sampleShape().numel(),
                Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory());
    }

    /** The rule of {@link #autoWorkers(Dataset, Backend, int)}; batchBytes is one batch buffer's size. */
    public static int autoWorkers(boolean decodesFiles, boolean gpu, long batchBytes, int cores, long maxHeap) {
        if (!decodesFiles || !gpu) return 1;
        long byMemory = Math.max(1, maxHeap / 8 / Math.max(1, batchBytes));
        return (int) Math.max(1, Math.min(Math.max(1, cores - 1), byMemory));
    }

    /**
     * Splits 0..n-1 into {trainIdx, valIdx}: a seeded Fisher-Yates shuffle, then the first
     * round(n * valFraction) shuffled indices (for a fraction > 0 and n >= 2: at least 1 and at most n - 1, so neither
     * part is empty) form the validation set and the rest the training set. Each part is
     * returned sorted ascending; together they are disjoint and cover 0..n-1 exactly once. Same (n, valFraction,
     * seed), same split.
     */
    public static int[][] split(int n, double valFraction, long seed) {
        if (n < 0) throw new IllegalArgumentException("n must be >= 0, got " + n);
        if (!(valFraction >= 0.0 && valFraction < 1.0))
            throw new IllegalArgumentException("valFraction must be in [0, 1), got " + valFraction);
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        // A stream distinct from every epoch's shuffle stream for the same seed (different salt).
        shuffleInPlace(perm, new SplittableRandom(mix64(seed ^ 0x5851F42D4C957F2DL) + 0x6A09E667F3BCC909L));
        // a fraction > 0 holds out at least one sample and leaves at least one for training (when there are two)
        int nVal = valFraction == 0 || n < 2 ? 0 : (int) Math.min(n - 1, Math.max(1, Math.round(n * valFraction)));
        int[] val = Arrays.copyOfRange(perm, 0, nVal);
        int[] train = Arrays.copyOfRange(perm, nVal, n);
        Arrays.sort(val);
        Arrays.sort(train);
        return new int[][]{train, val};
    }

    // ----------------------------------------------------------------------------------------------------------

    /** The sample order of an epoch: a function of (indices, shuffle, seed, epoch) only. */
    private int[] order(int epoch) {
        int[] order = indices.clone();
        if (shuffle) {
            // Mix seed and epoch through two rounds of a 64-bit finaliser so that nearby (seed, epoch) pairs give
            // unrelated streams (SplittableRandom(s) and SplittableRandom(s + gamma) would be shifted copies).
            long s = mix64(seed + mix64(epoch * 0x9E3779B97F4A7C15L + 0xD1B54A32D192ED03L));
            shuffleInPlace(order, new SplittableRandom(s));
        }
        return order;
    }

    private static void shuffleInPlace(int[] a, SplittableRandom rng) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    /** Stafford's variant 13 of the MurmurHash3 64-bit finaliser. */
    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * One epoch in flight: the shared slot state, its workers and the consumer-side iterator. Slot protocol, all
     * under {@code lock}: a worker that claimed batch k waits until {@code freeFor[k % ring] == k} (the slot's
     * previous batch, k - ring, was released), fills the buffers without the lock, then publishes
     * {@code filled[slot] = k}. The consumer waits for {@code filled[slot] == k}, marks the slot held, and the
     * batch's release() sets {@code freeFor[slot] = k + ring}. Workers claim batches in increasing order from an
     * atomic counter, so the lowest unfinished batch is always fillable: no deadlock as long as the consumer
     * releases what it has consumed.
     */
    private final class Run implements Iterator<Batch> {
        private final int epoch;
        private final int[] order;
        private final Batch[] batches;
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private final int[] filled;
        private final int[] freeFor;
        private final boolean[] held;
        private final AtomicInteger nextClaim = new AtomicInteger();
        private Thread[] threads = new Thread[0];
        private volatile boolean cancelled;
        /** Set by {@link DataLoader#stopWaiting()}: the consumer throws {@link WaitStopped} rather than wait. */
        private volatile boolean stopWaiting;
        /** Per worker: the sample it is reading (-1: none) and since when (System.nanoTime), for {@link WaitStopped}. */
        private final AtomicIntegerArray reading;
        private final AtomicLongArray readingSince;
        /** Lowest batch whose loading failed, and its wrapped exception (guarded by lock). */
        private int failedBatch = Integer.MAX_VALUE;
        private RuntimeException failure;
        /** Consumer side: next batch number to deliver. */
        private int nextDeliver;

        Run(int epoch, int[] order, int firstBatch) {
            this.epoch = epoch;
            this.order = order;
            this.batches = new Batch[ring];
            this.filled = new int[ring];
            this.freeFor = new int[ring];
            this.held = new boolean[ring];
            // one entry per worker start() makes: at most one per slot of the ring
            this.reading = new AtomicIntegerArray(Math.max(1, Math.min(workers, ring)));
            this.readingSince = new AtomicLongArray(Math.max(1, Math.min(workers, ring)));
            for (int w = 0; w < reading.length(); w++) reading.set(w, -1);
            for (int s = 0; s < ring; s++) {
                final int slot = s;
                // Fresh Batch views per epoch over the same arrays: a stale batch from a cancelled epoch then
                // releases into its own (dead) Run and cannot free a slot of the current one.
                batches[s] = new Batch(xBufs[s], yBufs[s], tBufs == null ? null : tBufs[s], () -> release(slot));
                filled[s] = -1;
            }
            for (int k = firstBatch; k < firstBatch + ring; k++) freeFor[k % ring] = k; // batch k goes in slot k % ring
            nextClaim.set(firstBatch);
            nextDeliver = firstBatch;
        }

        void start() {
            int n = Math.min(workers, Math.min(ring, batchesPerEpoch - nextDeliver));
            threads = new Thread[n];
            for (int w = 0; w < n; w++) {
                final int worker = w;
                Thread t = new Thread(() -> work(worker), "dl-train-loader-" + ds.name() + "-e" + epoch + "-w" + w);
                t.setDaemon(true);
                threads[w] = t;
            }
            for (Thread t : threads) t.start();
        }

        /**
         * Stops the workers and waits until every one has exited, or, with {@code maxMillis > 0}, until that time has
         * passed: a worker still alive then is stuck in a read that ignores interrupts, and is left behind.
         */
        void cancel(long maxMillis) {
            cancelled = true;
            wakeAll();
            boolean interrupted = false;
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(maxMillis);
            // Workers check `cancelled` between samples and wake from await() on the signal above; the interrupt
            // additionally unblocks a Dataset.read that does interruptible I/O. All at once: one stuck worker must not
            // keep the others from theirs.
            for (Thread t : threads) t.interrupt();
            for (Thread t : threads) {
                while (t.isAlive()) {
                    long left = maxMillis > 0 ? TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()) : 0;
                    if (maxMillis > 0 && left <= 0) break; // stuck: left behind
                    try {
                        t.join(left); // 0: until it exits
                    } catch (InterruptedException e) {
                        interrupted = true; // keep waiting: returning with live workers would leak them
                    }
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }

        private boolean mustStop(int k) { return cancelled || failedBatch < k; }

        private void work(int worker) {
            try {
                while (true) {
                    int k = nextClaim.getAndIncrement();
                    if (k >= batchesPerEpoch) return;
                    int slot = k % ring;
                    lock.lock();
                    try {
                        while (freeFor[slot] != k && !mustStop(k)) changed.await();
                        if (mustStop(k)) return;
                    } finally {
                        lock.unlock();
                    }
                    if (!fill(k, slot, worker)) return;
                    lock.lock();
                    try {
                        filled[slot] = k;
                        changed.signalAll();
                    } finally {
                        lock.unlock();
                    }
                }
            } catch (InterruptedException e) {
                // Only cancel() interrupts workers: just exit.
            }
        }

        /** Where batch k is, for people: "batch 2 of 422 in epoch 1" (1-based; an unshuffled pass names no epoch). */
        private String where(int k) {
            return "batch " + (k + 1) + " of " + batchesPerEpoch + (shuffle ? " in epoch " + (epoch + 1) : "");
        }

        /**
         * Reads batch k into its slot; returns false (after recording the failure) if a read failed or the epoch
         * was cancelled mid-batch. {@code worker} is the worker's number, or -1 for the consumer's own thread.
         */
        private boolean fill(int k, int slot, int worker) {
            Batch b = batches[slot];
            int start = k * batchSize;
            int size = Math.min(batchSize, order.length - start);
            long t0 = System.nanoTime();
            int done = 0;
            try {
                for (int i = 0; i < size; i++) {
                    if (cancelled) return false;
                    int idx = order[start + i];
                    int label;
                    float target = 0;
                    if (worker >= 0) {
                        readingSince.set(worker, System.nanoTime());
                        reading.set(worker, idx);
                    }
                    // the sample's last float is marked before the read: a read that writes fewer floats than the sample
                    // shape holds leaves the mark, where the reused buffer would otherwise hold another sample's value
                    int last = (i + 1) * sampleNumel - 1;
                    b.x[last] = UNWRITTEN;
                    // and the float after it (the next sample's first, or unused room in a short last batch): a read that
                    // writes more than its sample shape holds changes it, where the next sample's read would hide the overrun
                    boolean after = last + 1 < b.x.length;
                    if (after) b.x[last + 1] = UNWRITTEN;
                    try {
                        label = ds.readInEpoch(epoch, idx, b.x, i * sampleNumel); // this run's epoch, whatever the dataset's field says
                        if (b.t != null) target = ds.target(idx);
                    } catch (Throwable t) {
                        fail(k, new DataLoadException(ds.name() + ": reading " + described(idx) + " failed (" + where(k) + "): "
                                + readFailure(ds, t), t));
                        return false;
                    }
                    if (after && Float.floatToRawIntBits(b.x[last + 1]) != UNWRITTEN_BITS) {
                        fail(k, new DataLoadException(ds.name() + ": " + described(idx) + " wrote past its " + sampleNumel + " features ("
                                + where(k) + "): Dataset.read must write sampleShape().numel() = " + sampleNumel + " floats from dstOffset,"
                                + " no more (sample shape " + ds.sampleShape() + "); the extra values went past its place in the"
                                + " batch buffer", null));
                        return false;
                    }
                    if (Float.floatToRawIntBits(b.x[last]) == UNWRITTEN_BITS) {
                        fail(k, new DataLoadException(ds.name() + ": " + described(idx) + " left element " + (sampleNumel - 1) + " of its "
                                + sampleNumel + " features unwritten (" + where(k) + "): Dataset.read must write sampleShape().numel() = "
                                + sampleNumel + " floats for sample shape " + ds.sampleShape() + ", as the place it is given in the batch"
                                + " buffer still holds another sample's values", null));
                        return false;
                    }
                    if (b.t != null) {
                        // regression: the label is not used; a non-finite target would turn the loss into NaN
                        if (!Float.isFinite(target)) {
                            fail(k, new DataLoadException(ds.name() + ": " + described(idx) + " has target " + target
                                    + ", which is not a finite number (" + where(k) + ")", null));
                            return false;
                        }
                        b.t[i] = target;
                        b.y[i] = 0;
                        done++;
                        continue;
                    }
                    if (label < 0 || label >= numClasses) {
                        fail(k, new DataLoadException(ds.name() + ": " + described(idx) + " has label " + label
                                + ", outside [0, " + numClasses + ") (" + where(k) + ")", null));
                        return false;
                    }
                    b.y[i] = label;
                    done++;
                }
                b.size = size;
                b.index = k;
                return true;
            } finally {
                if (worker >= 0) reading.set(worker, -1);
                busyNanos.add(System.nanoTime() - t0);
                samplesLoaded.add(done);
            }
        }

        void stopWaiting() {
            stopWaiting = true;
            wakeAll();
        }

        /** Wakes the consumer and the workers from their waits, to see a flag just set. */
        private void wakeAll() {
            lock.lock();
            try {
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        /** Why the consumer stopped waiting for batch k: which samples are being read, and for how long. */
        private WaitStopped waitStopped(int k) {
            String inRead = inRead();
            return new WaitStopped("stopped waiting for " + where(k) + " of " + ds.name() + ": "
                    + (inRead.isEmpty() ? "it was still loading" : "still being read: " + inRead));
        }

        private String described(int idx) { return DataLoader.described(ds, idx); }

        /** The samples the workers are reading and for how long ("sample 8 (/data/b/z.png) for 61.2 s"), or "". */
        private String inRead() {
            StringBuilder inRead = new StringBuilder();
            long now = System.nanoTime();
            for (int w = 0; w < reading.length(); w++) {
                int idx = reading.get(w);
                long since = readingSince.get(w);
                if (idx < 0) continue;
                inRead.append(inRead.isEmpty() ? "" : ", ").append(described(idx))
                        .append(String.format(Locale.ROOT, " for %.1f s", (now - since) / 1e9));
            }
            return inRead.toString();
        }

        private void fail(int k, RuntimeException e) {
            lock.lock();
            try {
                if (k < failedBatch) {
                    failedBatch = k;
                    failure = e;
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        private void release(int slot) {
            lock.lock();
            try {
                if (!held[slot]) return; // double release, or a batch of a cancelled epoch: nothing to do
                held[slot] = false;
                freeFor[slot] = batches[slot].index + ring;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public boolean hasNext() {
            if (nextDeliver >= batchesPerEpoch) return false;
            if (cancelled) throw cancelledError();
            return true;
        }

        @Override
        public Batch next() {
            int k = nextDeliver;
            if (k >= batchesPerEpoch)
                throw new NoSuchElementException("epoch " + epoch + " of " + ds.name() + " has only " + batchesPerEpoch + " batches");
            if (cancelled) throw cancelledError();
            int slot = k % ring;
            lock.lock();
            try {
                if (held[slot])
                    throw new IllegalStateException("batch " + batches[slot].index + " of " + ds.name()
                            + " was not released and its buffer is needed for batch " + k + " (prefetch " + ring
                            + "): call batch.release() once done with a batch");
                if (workers == 0) {
                    // workers == 0: load here, in the consumer's thread.
                    long t0 = System.nanoTime();
                    try {
                        if (!fill(k, slot, -1)) throw failure != null ? failure : cancelledError();
                    } finally {
                        waitNanos.add(System.nanoTime() - t0);
                    }
                } else {
                    if (filled[slot] != k) {
                        // Not ready: this is the time the training loop is starved, so it is what waitSeconds counts.
                        long t0 = System.nanoTime();
                        SlowWaits slow = slowWaits;
                        boolean told = slow == null;
                        try {
                            while (filled[slot] != k) {
                                if (failedBatch <= k) throw failure;
                                if (cancelled) throw cancelledError();
                                if (stopWaiting) {
                                    // the message names the samples through Dataset.describe, the dataset's code: not
                                    // under this lock (a dataset that locks itself in a read that hangs would hold it)
                                    WaitStopped stopped;
                                    lock.unlock();
                                    try {
                                        stopped = waitStopped(k);
                                    } finally {
                                        lock.lock();
                                    }
                                    throw stopped;
                                }
                                if (told) {
                                    changed.await();
                                    continue;
                                }
                                long left = t0 + slow.afterNanos() - System.nanoTime();
                                if (left > 0) {
                                    changed.awaitNanos(left);
                                    continue;
                                }
                                // a wait this long is not slow decoding but a read that hangs: say which, once per batch
                                // (outside the lock: the notice is the caller's code), then go on waiting
                                told = true;
                                lock.unlock();
                                try {
                                    String inRead = inRead();
                                    slow.notice().accept(String.format(Locale.ROOT, "waiting %.0f s for %s of %s: %s", (System.nanoTime() - t0) / 1e9,
                                            where(k), ds.name(), inRead.isEmpty() ? "it is still loading" : "still being read: " + inRead));
                                } finally {
                                    lock.lock();
                                }
                            }
                        } catch (InterruptedException e) {
                            // the consumer's thread was interrupted (Future.cancel(true)): a stop, as stopWaiting() is;
                            // its interrupt status is kept for the caller
                            Thread.currentThread().interrupt();
                            lock.unlock();
                            WaitStopped stopped;
                            try {
                                String inRead = inRead();
                                stopped = new WaitStopped("interrupted while waiting for " + where(k) + " of " + ds.name()
                                        + (inRead.isEmpty() ? "" : ": still being read: " + inRead));
                            } finally {
                                lock.lock();
                            }
                            throw stopped;
                        } finally {
                            waitNanos.add(System.nanoTime() - t0);
                        }
                    }
                    filled[slot] = -1;
                }
                held[slot] = true;
                nextDeliver = k + 1;
                return batches[slot];
            } finally {
                lock.unlock();
            }
        }

        private IllegalStateException cancelledError() {
            return new IllegalStateException("epoch " + epoch + " of " + ds.name()
                    + " was cancelled: a newer epoch was started or the DataLoader was closed");
        }
    }
}
