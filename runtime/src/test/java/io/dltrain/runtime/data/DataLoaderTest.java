package io.dltrain.runtime.data;

import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DataLoader: coverage and order of epochs, determinism independent of worker count, dropLast, error propagation,
 * cancellation without leaked threads, and split(). The synthetic dataset writes its own index into every feature
 * (plus a per-position offset), so each delivered sample can be checked against its label and position exactly.
 */
class DataLoaderTest {
    static final int NUMEL = 3;

    /** Sample i: features {i, i + 0.25, i + 0.5}, label i % 10. Optional failure index and per-read delay. */
    static class Synthetic implements Dataset {
        final String name;
        final int n;
        final int failAt;
        final long sleepMillis;
        final AtomicInteger reads = new AtomicInteger();

        Synthetic(String name, int n, int failAt, long sleepMillis) {
            this.name = name;
            this.n = n;
            this.failAt = failAt;
            this.sleepMillis = sleepMillis;
        }

        Synthetic(String name, int n) { this(name, n, -1, 0); }

        @Override public String name() { return name; }
        @Override public int size() { return n; }
        @Override public Shape sampleShape() { return Shape.of(1, 1, NUMEL); }
        @Override public int numClasses() { return 10; }
        @Override public List<String> classNames() { return List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"); }

        @Override public int read(int index, float[] dst, int dstOffset) {
            reads.incrementAndGet();
            if (sleepMillis > 0) {
                try { Thread.sleep(sleepMillis); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
            }
            if (index == failAt) throw new IllegalStateException("synthetic failure");
            for (int j = 0; j < NUMEL; j++) dst[dstOffset + j] = index + 0.25f * j;
            return index % 10;
        }
    }

    /** Consumes a whole epoch, checking each sample's features against its label, and returns the sample order. */
    static int[] consume(DataLoader dl, int epoch, List<Integer> sizes) {
        List<Integer> order = new ArrayList<>();
        Iterator<Batch> it = dl.epoch(epoch);
        int expectIndex = 0;
        while (it.hasNext()) {
            Batch b = it.next();
            assertEquals(expectIndex++, b.index(), "batches arrive in order");
            if (sizes != null) sizes.add(b.size());
            for (int i = 0; i < b.size(); i++) {
                int idx = (int) b.x[i * NUMEL];
                for (int j = 0; j < NUMEL; j++) assertEquals(idx + 0.25f * j, b.x[i * NUMEL + j], "feature " + j + " of sample " + idx);
                assertEquals(idx % 10, b.y[i], "label of sample " + idx);
                order.add(idx);
            }
            b.release();
        }
        assertEquals(dl.batchesPerEpoch(), expectIndex);
        return order.stream().mapToInt(Integer::intValue).toArray();
    }

    static int[] range(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        return a;
    }

    static List<Thread> liveLoaderThreads(String dsName) {
        List<Thread> live = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet())
            if (t.isAlive() && t.getName().startsWith("dl-train-loader-" + dsName + "-")) live.add(t);
        return live;
    }

    /** The CLI's --workers auto: one per core but one for image files feeding a GPU, memory permitting; else 1. */
    @Test
    void autoWorkersRule() {
        long mib = 1L << 20;
        assertEquals(15, DataLoader.autoWorkers(true, true, 150 * mib, 16, 32768 * mib), "image files on a GPU: cores - 1");
        assertEquals(6, DataLoader.autoWorkers(true, true, 150 * mib, 16, 8192 * mib), "as many as an eighth of the heap holds: 1024 / 150");
        assertEquals(1, DataLoader.autoWorkers(true, false, 150 * mib, 16, 8192 * mib), "on the CPU the compute threads use every core");
        assertEquals(1, DataLoader.autoWorkers(false, true, 150 * mib, 16, 8192 * mib), "in-memory data");
        assertEquals(3, DataLoader.autoWorkers(true, true, 600 * mib, 16, 16384 * mib), "an eighth of the heap holds 3 batch buffers of 600 MiB");
        assertEquals(1, DataLoader.autoWorkers(true, true, 600 * mib, 16, 1024 * mib), "never below 1");
        assertEquals(1, DataLoader.autoWorkers(true, true, mib, 1, 8192 * mib), "one core");
    }

    /**
     * A batch size above the data's size gives one batch of every sample, with buffers of that size: they were made for
     * the batch size asked for, so 20 images with batch 1,000,000 ran out of heap (and 2^30 here was refused outright).
     */
    @Test
    void aBatchSizeAboveTheDataSizeAllocatesForTheData() {
        try (DataLoader dl = new DataLoader(new Synthetic("five", 5), null, 1 << 30, false, false, 1, 1, 4)) {
            assertEquals(1, dl.batchesPerEpoch());
            Iterator<Batch> it = dl.epoch(0);
            Batch b = it.next();
            assertEquals(5, b.size());
            assertEquals(5 * NUMEL, b.x.length);
            assertEquals(5, b.y.length);
            assertEquals(4f, b.x[4 * NUMEL]);
            b.release();
            assertFalse(it.hasNext());
        }
    }

    /** epoch(e, k) is epoch(e) without its first k batches, which it does not load. */
    @Test
    void anEpochCanStartAtALaterBatchWithoutLoadingTheEarlierOnes() {
        int n = 100;
        AtomicInteger reads = new AtomicInteger();
        Dataset ds = new Dataset() {
            public String name() { return "count"; }
            public int size() { return n; }
            public Shape sampleShape() { return Shape.of(1); }
            public int numClasses() { return 2; }
            public List<String> classNames() { return List.of("a", "b"); }
            public int read(int i, float[] dst, int off) { reads.incrementAndGet(); dst[off] = i; return i % 2; }
        };
        for (int workers : new int[] {0, 1, 3}) {
            try (DataLoader dl = new DataLoader(ds, null, 8, true, false, 5, workers, 4)) {
                List<float[]> whole = new ArrayList<>();
                for (var it = dl.epoch(2); it.hasNext(); ) { Batch b = it.next(); whole.add(Arrays.copyOf(b.x, b.size())); b.release(); }
                assertEquals(13, whole.size());
                reads.set(0);
                int k = 0;
                for (var it = dl.epoch(2, 5); it.hasNext(); k++) {
                    Batch b = it.next();
                    assertArrayEquals(whole.get(5 + k), Arrays.copyOf(b.x, b.size()), "batch " + (5 + k) + ", " + workers + " workers");
                    b.release();
                }
                assertEquals(8, k);
                assertEquals(n - 5 * 8, reads.get(), "the first 5 batches are not read");
                assertFalse(dl.epoch(2, 13).hasNext(), "from the end: nothing");
                assertThrows(IllegalArgumentException.class, () -> dl.epoch(2, 14));
            }
        }
    }

    @Test
    void everyIndexExactlyOncePerEpochWithPartialLastBatch() {
        Synthetic ds = new Synthetic("cover", 103);
        try (DataLoader dl = new DataLoader(ds, null, 10, true, false, 7, 3, 4)) {
            assertEquals(103, dl.samples());
            assertEquals(11, dl.batchesPerEpoch());
            for (int e = 0; e < 3; e++) {
                List<Integer> sizes = new ArrayList<>();
                int[] order = consume(dl, e, sizes);
                int[] sorted = order.clone();
                Arrays.sort(sorted);
                assertArrayEquals(range(103), sorted, "epoch " + e + " must contain every index exactly once");
                for (int b = 0; b < 10; b++) assertEquals(10, sizes.get(b));
                assertEquals(3, sizes.get(10), "last partial batch holds the remaining 103 - 100 samples");
            }
            DataLoader.Stats st = dl.stats();
            assertEquals(3 * 103, st.samplesLoaded());
            assertEquals(3, st.workers());
            assertTrue(st.busySeconds() > 0 && st.samplesPerSecond() > 0);
            assertTrue(st.waitSeconds() >= 0);
        }
    }

    /**
     * More workers than batches (--workers 2147483647 on the command line): an epoch starts one per batch at most. Each
     * epoch allocated per-worker bookkeeping for every worker asked for: "OutOfMemoryError: Requested array size exceeds
     * VM limit" at the first epoch (and 1.2 GB per epoch for --workers 100000000); and workers + 2 overflowed the ring size.
     */
    @Test
    void aHugeWorkerCountStartsOnePerBatchAtMost() {
        Synthetic ds = new Synthetic("many-workers", 103);
        for (int workers : new int[] {Integer.MAX_VALUE, 100_000_000}) {
            try (DataLoader dl = new DataLoader(ds, null, 10, true, false, 7, workers, 4)) {
                int[] sorted = consume(dl, 0, new ArrayList<>());
                Arrays.sort(sorted);
                assertArrayEquals(range(103), sorted, workers + " workers");
                assertEquals(workers, dl.stats().workers());
            }
        }
    }

    @Test
    void orderDependsOnlyOnSeedAndEpoch() {
        Synthetic ds = new Synthetic("order", 257);
        // Different worker counts and ring sizes (including loading in the caller's thread) must agree.
        try (DataLoader a = new DataLoader(ds, null, 16, true, false, 42, 1, 2);
             DataLoader b = new DataLoader(ds, null, 16, true, false, 42, 4, 3);
             DataLoader c = new DataLoader(ds, null, 16, true, false, 42, 0, 1);
             DataLoader other = new DataLoader(ds, null, 16, true, false, 43, 2, 2)) {
            int[] a0 = consume(a, 0, null), a1 = consume(a, 1, null);
            // Epochs run out of order on b: the order still depends only on the epoch number.
            int[] b1 = consume(b, 1, null), b0 = consume(b, 0, null);
            assertArrayEquals(a0, b0);
            assertArrayEquals(a1, b1);
            assertArrayEquals(a1, consume(c, 1, null));
            assertArrayEquals(a0, consume(a, 0, null), "re-running epoch 0 reproduces it");
            assertFalse(Arrays.equals(a0, a1), "epochs 0 and 1 must be shuffled differently");
            assertFalse(Arrays.equals(a0, range(257)), "shuffle must change the order");
            assertFalse(Arrays.equals(a0, consume(other, 0, null)), "a different seed must give a different order");
        }
    }

    @Test
    void noShuffleKeepsGivenIndicesInOrder() {
        Synthetic ds = new Synthetic("subset", 50);
        int[] subset = {49, 3, 3, 17, 0, 25, 8};
        try (DataLoader dl = new DataLoader(ds, subset, 3, false, false, 1, 2, 2)) {
            assertEquals(7, dl.samples());
            assertEquals(3, dl.batchesPerEpoch());
            assertArrayEquals(subset, consume(dl, 0, null));
            assertArrayEquals(subset, consume(dl, 5, null));
        }
        assertThrows(IllegalArgumentException.class, () -> new DataLoader(ds, new int[]{1, 50}, 3, false, false, 1, 1, 1));
    }

    @Test
    void dropLastDropsOnlyThePartialBatch() {
        Synthetic ds = new Synthetic("droplast", 103);
        try (DataLoader dl = new DataLoader(ds, null, 10, true, true, 3, 2, 3)) {
            assertEquals(10, dl.batchesPerEpoch());
            List<Integer> sizes = new ArrayList<>();
            int[] order = consume(dl, 0, sizes);
            assertEquals(100, order.length);
            assertTrue(sizes.stream().allMatch(s -> s == 10), "all batches full: " + sizes);
            assertEquals(100, Arrays.stream(order).distinct().count(), "no sample repeated");
        }
        try (DataLoader exact = new DataLoader(ds, null, 103, false, true, 3, 1, 2)) {
            assertEquals(1, exact.batchesPerEpoch(), "a batch that is exactly full is kept");
        }
        try (DataLoader none = new DataLoader(ds, null, 200, false, true, 3, 1, 2)) {
            assertEquals(0, none.batchesPerEpoch());
            Iterator<Batch> it = none.epoch(0);
            assertFalse(it.hasNext());
            assertThrows(NoSuchElementException.class, it::next);
        }
    }

    @Test
    void workerExceptionIsRethrownWithDatasetNameAndIndex() {
        Synthetic ds = new Synthetic("faulty", 100, 57, 0);
        for (int workers : new int[]{0, 1, 3}) {
            try (DataLoader dl = new DataLoader(ds, null, 10, false, false, 1, workers, 3)) {
                Iterator<Batch> it = dl.epoch(0);
                // Samples 0..49 (batches 0..4) come before the failing sample and are delivered normally.
                for (int b = 0; b < 5; b++) {
                    Batch batch = it.next();
                    assertEquals(b, batch.index());
                    assertEquals(b * 10, (int) batch.x[0]);
                    batch.release();
                }
                RuntimeException e = assertThrows(RuntimeException.class, it::next);
                assertTrue(e.getMessage().contains("faulty") && e.getMessage().contains("sample 57"),
                        "message must name the dataset and sample: " + e.getMessage());
                assertTrue(e.getMessage().contains("(batch 6 of 10): java.lang.IllegalStateException: synthetic failure"),
                        "1-based batch of the pass (unshuffled: no epoch), and a foreign exception with its class: " + e.getMessage());
                assertTrue(e.getCause() instanceof IllegalStateException && "synthetic failure".equals(e.getCause().getMessage()),
                        "original exception kept as cause (workers=" + workers + ")");
            }
            assertTrue(liveLoaderThreads("faulty").isEmpty());
        }
    }

    @Test
    void aFailureInAShuffledEpochNamesTheEpochFromOne() {
        Synthetic ds = new Synthetic("faulty", 100, 57, 0);
        try (DataLoader dl = new DataLoader(ds, null, 10, true, false, 1, 1, 3)) {
            Iterator<Batch> it = dl.epoch(2);
            RuntimeException e = assertThrows(RuntimeException.class, () -> { while (it.hasNext()) it.next().release(); });
            assertTrue(e.getMessage().matches(".*sample 57 failed \\(batch \\d+ of 10 in epoch 3\\).*"), e.getMessage());
        }
    }

    @Test
    void closeWithEpochHalfConsumedLeavesNoLoaderThreads() {
        // Slow reads and more workers than buffers: when close() runs, workers are both mid-read and parked
        // waiting for a free slot.
        Synthetic ds = new Synthetic("halfway", 400, -1, 1);
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            DataLoader dl = new DataLoader(ds, null, 8, true, false, 5, 4, 2);
            Iterator<Batch> it = dl.epoch(0);
            for (int i = 0; i < 3; i++) it.next().release();
            Batch held = it.next(); // abandoned without release, as after an exception in a training step
            assertFalse(liveLoaderThreads("halfway").isEmpty(), "workers should be running mid-epoch");
            dl.close();
            assertEquals(List.of(), liveLoaderThreads("halfway"), "close() must stop and join every loader thread");
            held.release(); // a stale release after close is harmless
            assertThrows(IllegalStateException.class, it::hasNext, "an epoch cut short by close() must not look finished");
            assertThrows(IllegalStateException.class, () -> dl.epoch(1));
            dl.close(); // idempotent
        });
        assertTrue(ds.reads.get() < 400, "the epoch was abandoned, not loaded to the end: " + ds.reads.get() + " reads");
    }

    @Test
    void newEpochCancelsTheOldOneCleanly() {
        Synthetic ds = new Synthetic("restart", 300, -1, 1);
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            try (DataLoader dl = new DataLoader(ds, null, 10, true, false, 9, 3, 3)) {
                Iterator<Batch> old = dl.epoch(0);
                Batch stale = old.next();
                int[] fresh = consume(dl, 1, null); // starts epoch 1 while epoch 0 is in flight
                assertEquals(300, Arrays.stream(fresh).distinct().count());
                assertThrows(IllegalStateException.class, old::next);
                stale.release(); // must not disturb anything
                for (Thread t : liveLoaderThreads("restart"))
                    assertFalse(t.getName().contains("-e0-"), "epoch 0 worker still alive: " + t.getName());
            }
            assertEquals(List.of(), liveLoaderThreads("restart"));
        });
    }

    @Test
    void holdingEveryBufferAndAskingForMoreIsAnErrorNotADeadlock() {
        Synthetic ds = new Synthetic("greedy", 40);
        // (workers, prefetch) giving a ring of `prefetch` buffers: prefetch >= workers + 2
        for (int[] wp : new int[][] {{0, 2}, {1, 3}}) {
            int ring = wp[1];
            assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                try (DataLoader dl = new DataLoader(ds, null, 4, false, false, 1, wp[0], wp[1])) {
                    Iterator<Batch> it = dl.epoch(0);
                    List<Batch> held = new ArrayList<>();
                    for (int b = 0; b < ring; b++) held.add(it.next());
                    IllegalStateException e = assertThrows(IllegalStateException.class, it::next);
                    assertTrue(e.getMessage().contains("release()"), e.getMessage());
                    Batch b0 = held.getFirst();
                    b0.release();
                    b0.release(); // double release is a no-op
                    Batch next = it.next();
                    assertEquals(ring, next.index());
                    assertEquals(4 * ring, (int) next.x[0]);
                    assertSame(b0.x, next.x, "batch " + ring + " reuses batch 0's buffer (ring of " + ring + ")");
                    for (Batch b : held.subList(1, ring)) b.release();
                    next.release();
                }
            });
        }
    }

    @Test
    void everyWorkerHasABatchToFill() {
        // Reads block until 6 are in progress at once: only a ring with a buffer per worker (and two for the
        // consumer) lets 6 workers load together; a ring of the 4 asked for would hold them to 4 and time out.
        int workers = 6;
        java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(workers);
        Synthetic ds = new Synthetic("wide", 60) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                if (index < workers) {
                    try {
                        together.await(20, java.util.concurrent.TimeUnit.SECONDS);
                    } catch (Exception e) {
                        throw new IllegalStateException("the first " + workers + " batches were not loaded at the same time", e);
                    }
                }
                return super.read(index, dst, dstOffset);
            }
        };
        try (DataLoader dl = new DataLoader(ds, null, 1, false, false, 1, workers, 4)) {
            Iterator<Batch> it = dl.epoch(0);
            for (int b = 0; b < 60; b++) {
                Batch batch = it.next();
                assertEquals(b, (int) batch.x[0]);
                batch.release();
            }
        }
    }

    /**
     * A read that hangs and ignores interrupts (a hung network file system): a wait longer than noticeSlowWaits' limit
     * is told once, naming the sample in its read; stopWaiting() ends the consumer's wait for that batch with
     * WaitStopped, naming it too, while batches already loaded are still handed out; and close() returns after
     * CLOSE_WAIT_MILLIS, leaving the stuck thread behind, instead of waiting for it for ever.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60) // a mutation that waits for ever fails here
    void aStopEndsTheWaitForAReadThatHangsAndCloseLeavesItBehind() throws Exception {
        java.util.concurrent.CountDownLatch inRead = new java.util.concurrent.CountDownLatch(1), fsBack = new java.util.concurrent.CountDownLatch(1);
        Synthetic ds = new Synthetic("hangs", 12) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                if (index == 7) {
                    inRead.countDown();
                    boolean back = false;
                    while (!back) { // deaf to interrupts, as a read in the kernel is
                        try { back = fsBack.await(1, java.util.concurrent.TimeUnit.DAYS); } catch (InterruptedException ignored) { }
                    }
                }
                return super.read(index, dst, dstOffset);
            }
            @Override public String describe(int index) { return "sample " + index + " (/nfs/" + index + ".png)"; }
        };
        try {
            DataLoader dl = new DataLoader(ds, null, 2, false, false, 1, 1, 4);
            List<String> notices = new java.util.concurrent.CopyOnWriteArrayList<>();
            dl.noticeSlowWaits(java.time.Duration.ofMillis(400), notices::add);
            Iterator<Batch> it = dl.epoch(0);
            assertTrue(inRead.await(20, java.util.concurrent.TimeUnit.SECONDS), "batch 4's read never began");
            Thread stopper = new Thread(() -> {
                try { Thread.sleep(1500); } catch (InterruptedException e) { return; }
                dl.stopWaiting();
            });
            stopper.start();
            for (int k = 0; k < 3; k++) it.next().release(); // loaded before the hang: still delivered
            DataLoader.WaitStopped e = assertThrows(DataLoader.WaitStopped.class, it::next); // waits until the stop
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("stopped waiting for batch 4 of 6 of hangs: still being read:"
                    + " sample 7 \\(/nfs/7.png\\) for (\\d+\\.\\d) s").matcher(e.getMessage());
            assertTrue(m.matches(), e.getMessage());
            assertTrue(Double.parseDouble(m.group(1)) >= 1.4, "in its read since before the stop's 1.5 s: " + e.getMessage());
            assertEquals(1, notices.size(), "told once: " + notices);
            assertTrue(notices.get(0).matches("waiting 0 s for batch 4 of 6 of hangs: still being read: sample 7 \\(/nfs/7.png\\) for 0\\.\\d s"),
                    notices.get(0));
            assertThrows(DataLoader.WaitStopped.class, it::next, "a later wait ends too");
            stopper.join();
            long t0 = System.nanoTime();
            dl.close();
            double closeSeconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(closeSeconds >= DataLoader.CLOSE_WAIT_MILLIS / 1e3 * 0.99 && closeSeconds < DataLoader.CLOSE_WAIT_MILLIS / 1e3 + 5,
                    "close() waited " + closeSeconds + " s");
            assertEquals(1, liveLoaderThreads("hangs").size(), "the stuck worker is left behind");
        } finally {
            fsBack.countDown(); // the file system answers: the worker finds its epoch cancelled and exits
        }
        for (Thread t : liveLoaderThreads("hangs")) t.join(10_000);
        assertTrue(liveLoaderThreads("hangs").isEmpty());
    }

    /**
     * close() interrupts every worker before it waits for any: a worker stuck in a read deaf to interrupts (worker 0
     * here) must not keep another, in a read that an interrupt ends, from being stopped and joined within the wait.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void closeStopsTheOtherWorkersBesideOneStuckInARead() throws Exception {
        java.util.concurrent.CountDownLatch bothInRead = new java.util.concurrent.CountDownLatch(2), fsBack = new java.util.concurrent.CountDownLatch(1);
        Synthetic ds = new Synthetic("stuck-and-not", 8) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                bothInRead.countDown();
                if (Thread.currentThread().getName().endsWith("-w0")) { // deaf to interrupts, as a read in the kernel is
                    boolean back = false;
                    while (!back) {
                        try { back = fsBack.await(1, java.util.concurrent.TimeUnit.DAYS); } catch (InterruptedException ignored) { }
                    }
                } else {
                    try { Thread.sleep(86_400_000L); } catch (InterruptedException e) { throw new IllegalStateException("interrupted read", e); }
                }
                return super.read(index, dst, dstOffset);
            }
        };
        try {
            DataLoader dl = new DataLoader(ds, null, 1, false, false, 1, 2, 4);
            dl.epoch(0);
            assertTrue(bothInRead.await(20, java.util.concurrent.TimeUnit.SECONDS), "both workers should be in a read");
            dl.close();
            List<Thread> live = liveLoaderThreads("stuck-and-not");
            assertEquals(1, live.size(), "only the stuck worker is left: " + live);
            assertTrue(live.getFirst().getName().endsWith("-w0"), live.toString());
        } finally {
            fsBack.countDown();
        }
        for (Thread t : liveLoaderThreads("stuck-and-not")) t.join(10_000);
    }

    /**
     * The loader's messages about a sample named it "sample 6" where the dataset says more (Dataset.describe: an image
     * folder names the file), as the slow-read notices already did: a failed read, a label out of range and a read that
     * left its sample unwritten now name it as the dataset describes it.
     */
    @Test
    void aSamplesFailuresNameItAsTheDatasetDescribesIt() {
        Dataset files = new Synthetic("files", 12) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                if (index == 5) throw new IllegalStateException("truncated");
                int label = super.read(index, dst, dstOffset);
                if (index == 6) return 99;
                if (index == 9) dst[dstOffset + NUMEL - 1] = Float.intBitsToFloat(0x7fc0_d17e); // left as the loader marked it
                return label;
            }
            @Override public String describe(int index) { return "sample " + index + " (/data/" + index + ".csv)"; }
        };
        String[] expected = {"files: reading sample 5 (/data/5.csv) failed (batch 2 of 3): java.lang.IllegalStateException: truncated",
                "files: sample 6 (/data/6.csv) has label 99, outside [0, 10) (batch 2 of 3)",
                "files: sample 9 (/data/9.csv) left element 2 of its 3 features unwritten (batch 3 of 3): Dataset.read must write"};
        int[][] orders = {null, {0, 1, 2, 3, 4, 6, 7, 8, 10, 11}, {0, 1, 2, 3, 4, 7, 8, 10, 9}}; // each reaches one of them
        for (int k = 0; k < 3; k++) {
            try (DataLoader dl = new DataLoader(files, orders[k], 4, false, false, 1, 0, 2)) {
                Iterator<Batch> it = dl.epoch(0);
                DataLoadException e = assertThrows(DataLoadException.class, () -> { while (it.hasNext()) it.next().release(); });
                assertTrue(e.getMessage().startsWith(expected[k]), e.getMessage());
            }
        }
    }

    /**
     * A dataset that writes more floats per sample than its sampleShape() says is stopped by the end of the batch buffer:
     * the message was a bare "ArrayIndexOutOfBoundsException: Index 12 out of bounds for length 12"; it now says that
     * read writes too much for the sample shape.
     */
    @Test
    void aReadThatWritesPastItsSampleIsSaid() {
        Dataset wide = new Synthetic("wide", 8) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                for (int j = 0; j <= NUMEL; j++) dst[dstOffset + j] = j;   // one float more than the sample shape holds
                return 0;
            }
        };
        try (DataLoader dl = new DataLoader(wide, null, 4, false, false, 1, 0, 2)) {
            Iterator<Batch> it = dl.epoch(0);
            DataLoadException e = assertThrows(DataLoadException.class, () -> { while (it.hasNext()) it.next().release(); });
            // the first sample's overrun is seen at once, in the next sample's place (whose read would have hidden it)
            assertEquals("wide: sample 0 wrote past its 3 features (batch 1 of 2): Dataset.read must write sampleShape().numel() = 3"
                    + " floats from dstOffset, no more (sample shape [1, 1, 3]); the extra values went past its place in"
                    + " the batch buffer", e.getMessage());
        }
        // Only the last sample of a full batch overruns: the batch buffer ends there, so the write itself fails.
        Dataset lastWide = new Synthetic("lastwide", 8) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                for (int j = 0; j < NUMEL + (index == 3 ? 1 : 0); j++) dst[dstOffset + j] = j;
                return 0;
            }
        };
        try (DataLoader dl = new DataLoader(lastWide, null, 4, false, false, 1, 0, 2)) {
            Iterator<Batch> it = dl.epoch(0);
            DataLoadException e = assertThrows(DataLoadException.class, () -> { while (it.hasNext()) it.next().release(); });
            assertTrue(e.getMessage().startsWith("lastwide: reading sample 3 failed (batch 1 of 2): java.lang.ArrayIndexOutOfBoundsException")
                    && e.getMessage().endsWith("; Dataset.read must write sampleShape().numel() = 3 floats from dstOffset, no more"
                    + " (sample shape [1, 1, 3]): does the dataset write more than its sampleShape()?"), e.getMessage());
        }
    }

    /**
     * A read that writes one float too many into a sample with a sample after it in the batch buffer was silently
     * overwritten by the next sample's read (the dataset's layout disagrees with its sampleShape, and nothing said so); in a
     * short last batch the extra float went to unused room. Both are now refused, naming the sample.
     */
    @Test
    void aReadThatWritesIntoTheNextSamplesPlaceIsSaid() {
        for (int bad : new int[] {1, 5}) {   // 1: inside a full batch; 5: the last sample of the short batch [4, 5]
            Dataset ds = new Synthetic("spill", 6) {
                @Override public int read(int index, float[] dst, int dstOffset) {
                    for (int j = 0; j < NUMEL + (index == bad ? 1 : 0); j++) dst[dstOffset + j] = index + j;
                    return 0;
                }
            };
            try (DataLoader dl = new DataLoader(ds, null, 4, false, false, 1, 0, 2)) {
                Iterator<Batch> it = dl.epoch(0);
                DataLoadException e = assertThrows(DataLoadException.class, () -> { while (it.hasNext()) it.next().release(); });
                assertEquals("spill: sample " + bad + " wrote past its 3 features (batch " + (bad < 4 ? 1 : 2) + " of 2): Dataset.read"
                        + " must write sampleShape().numel() = 3 floats from dstOffset, no more (sample shape [1, 1, 3]); the extra values"
                        + " went past its place in the batch buffer", e.getMessage());
            }
        }
    }

    /**
     * Dataset.describe is the dataset's own code and may fail: the loader's failure messages fall back to "sample N"
     * then, and so must the stop's WaitStopped, which names the samples still being read. A describe that threw there
     * replaced the WaitStopped (what a fit's stop catches to write its checkpoint) with describe's exception.
     */
    @Test
    @org.junit.jupiter.api.Timeout(60)
    void aStopNamesASampleInItsReadWhereDescribeFails() throws Exception {
        java.util.concurrent.CountDownLatch inRead = new java.util.concurrent.CountDownLatch(1), back = new java.util.concurrent.CountDownLatch(1);
        Synthetic ds = new Synthetic("slow", 12) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                if (index == 7) {
                    inRead.countDown();
                    boolean done = false;
                    while (!done) {
                        try { done = back.await(1, java.util.concurrent.TimeUnit.DAYS); } catch (InterruptedException ignored) { }
                    }
                }
                return super.read(index, dst, dstOffset);
            }
            @Override public String describe(int index) { throw new IndexOutOfBoundsException("no file for sample " + index); }
        };
        try (DataLoader dl = new DataLoader(ds, null, 2, false, false, 1, 1, 4)) {
            Iterator<Batch> it = dl.epoch(0);
            assertTrue(inRead.await(20, java.util.concurrent.TimeUnit.SECONDS), "batch 4's read never began");
            for (int k = 0; k < 3; k++) it.next().release();
            dl.stopWaiting();
            DataLoader.WaitStopped e = assertThrows(DataLoader.WaitStopped.class, it::next);
            assertTrue(e.getMessage().matches("stopped waiting for batch 4 of 6 of slow: still being read: sample 7 for \\d+\\.\\d s"), e.getMessage());
            back.countDown(); // the read returns: close need not wait for it
        } finally {
            back.countDown();
        }
    }

    /**
     * A read that writes fewer floats than the sample shape holds (a custom dataset decoding an image of another size than
     * it declares, a row with a missing column) left the rest of the sample's place in the reused batch buffer holding
     * another sample's values, and training went on with them without a word. The loader now names the sample.
     */
    @Test
    void aReadThatLeavesPartOfItsSampleUnwrittenIsReported() {
        Dataset shortRow = new Synthetic("shortrow", 12) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                if (index != 7) return super.read(index, dst, dstOffset);
                dst[dstOffset] = 7;
                dst[dstOffset + 1] = 7.25f; // the third feature is left out
                return 7;
            }
        };
        for (int workers : new int[] {0, 2}) {
            try (DataLoader dl = new DataLoader(shortRow, null, 4, false, false, 1, workers, 2)) {
                Iterator<Batch> it = dl.epoch(0);
                it.next().release(); // samples 0-3
                DataLoadException e = assertThrows(DataLoadException.class, it::next, "workers " + workers);
                assertEquals("shortrow: sample 7 left element 2 of its 3 features unwritten (batch 2 of 3): Dataset.read must write"
                        + " sampleShape().numel() = 3 floats for sample shape [1, 1, 3], as the place it is given in the batch buffer"
                        + " still holds another sample's values", e.getMessage());
            }
        }
        // a dataset whose own features include NaN is not mistaken for one that wrote too little
        Dataset nan = new Synthetic("nanfeature", 8) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                int label = super.read(index, dst, dstOffset);
                dst[dstOffset + NUMEL - 1] = Float.NaN;
                return label;
            }
        };
        try (DataLoader dl = new DataLoader(nan, null, 4, false, false, 1, 1, 2)) {
            Iterator<Batch> it = dl.epoch(0);
            while (it.hasNext()) {
                Batch b = it.next();
                assertTrue(Float.isNaN(b.x[NUMEL - 1]));
                b.release();
            }
        }
    }

    @Test
    void labelOutsideClassRangeIsReported() {
        Dataset bad = new Synthetic("badlabel", 20) {
            @Override public int read(int index, float[] dst, int dstOffset) {
                super.read(index, dst, dstOffset);
                return index == 13 ? 10 : 0;
            }
        };
        try (DataLoader dl = new DataLoader(bad, null, 5, false, false, 1, 2, 2)) {
            Iterator<Batch> it = dl.epoch(0);
            it.next().release();
            it.next().release();
            RuntimeException e = assertThrows(RuntimeException.class, it::next);
            assertTrue(e.getMessage().contains("sample 13") && e.getMessage().contains("label 10"), e.getMessage());
        }
    }

    @Test
    void splitIsDisjointCompleteSortedAndSeeded() {
        int n = 1000;
        int[][] s = DataLoader.split(n, 0.2, 11);
        int[] train = s[0], val = s[1];
        assertEquals(800, train.length);
        assertEquals(200, val.length);
        boolean[] seen = new boolean[n];
        for (int[] part : s) {
            for (int i = 0; i < part.length; i++) {
                assertFalse(seen[part[i]], "index " + part[i] + " appears twice");
                seen[part[i]] = true;
                if (i > 0) assertTrue(part[i - 1] < part[i], "parts are sorted");
            }
        }
        for (int i = 0; i < n; i++) assertTrue(seen[i], "index " + i + " missing");
        assertArrayEquals(val, DataLoader.split(n, 0.2, 11)[1], "same seed, same split");
        assertFalse(Arrays.equals(val, DataLoader.split(n, 0.2, 12)[1]), "different seed, different split");
        // A shuffled split, not a prefix/suffix of 0..n-1.
        assertTrue(val[val.length - 1] - val[0] > 200);

        assertEquals(0, DataLoader.split(n, 0.0, 1)[1].length);
        assertArrayEquals(range(n), DataLoader.split(n, 0.0, 1)[0]);
        assertEquals(0, DataLoader.split(0, 0.5, 1)[0].length);
        assertEquals(3, DataLoader.split(10, 0.29, 1)[1].length, "rounds n * valFraction (2.9 -> 3)");
        // neither part is empty when there are two samples: a fraction > 0 holds out at least one, and leaves one
        assertEquals(1, DataLoader.split(4, 0.1, 1)[1].length, "0.4 rounds to 0, but a fraction > 0 holds out one");
        assertEquals(3, DataLoader.split(4, 0.1, 1)[0].length);
        assertEquals(1, DataLoader.split(10, 0.96, 1)[0].length, "9.6 rounds to 10, but one sample stays for training");
        assertEquals(0, DataLoader.split(1, 0.5, 1)[1].length, "one sample: it trains");
        assertThrows(IllegalArgumentException.class, () -> DataLoader.split(10, 1.0, 1));
        assertThrows(IllegalArgumentException.class, () -> DataLoader.split(10, -0.1, 1));
        assertThrows(IllegalArgumentException.class, () -> DataLoader.split(10, Double.NaN, 1));
    }
}
