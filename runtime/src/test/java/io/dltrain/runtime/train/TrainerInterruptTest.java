package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A library user who runs a fit on a thread of their own and interrupts it (an executor's {@code Future.cancel(true)},
 * {@code shutdownNow}) gets what {@link Trainer#requestStop} gives, whatever the loader's timing: the fit stops at the
 * next step boundary, or in the wait for a batch, saves a checkpoint of the state before the untrained batch, returns a
 * Result marked interrupted, keeps the thread's interrupt status, and leaves no loader thread behind.
 */
class TrainerInterruptTest {
    static final TrainConfig CONFIG = new TrainConfig(3, 32, 0.05, "sgd", 0.9, 0, "constant", 0f, 0f, 7, 0, 0, 0.0, 1);

    /** A fit of a linear classifier on 320 blobs (10 steps an epoch) with checkpoints every epoch in ck. */
    static Trainer.Result fit(Dataset ds, int workers, Path ck, TrainListener listener) {
        try (CpuBackend be = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(ds, null, 32, true, false, 7, workers, 4)) {
            return new Trainer(be, CONFIG).checkpoints(new CheckpointPolicy(ck, 1, 0, 2, "linear", ds.name(), Map.of()))
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, listener);
        }
    }

    static List<Thread> loaderThreads(String ds) {
        List<Thread> live = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet())
            if (t.isAlive() && t.getName().startsWith("dl-train-loader-" + ds + "-")) live.add(t);
        return live;
    }

    /**
     * Interrupted during step 3 while the data is ready (in memory, or loaded in the fitting thread): the loader never
     * makes the thread wait, so nothing used to look at the interrupt, and the fit trained all three epochs.
     */
    @Test
    void anInterruptBetweenStepsStopsTheFitWithACheckpoint(@TempDir Path tmp) {
        for (int workers : new int[] {0, 2}) {
            Path ck = tmp.resolve("w" + workers);
            Dataset ds = TrainerResumeTest.beforeRead(TrainerTest.blobs(320, 1), "ready" + workers, i -> {});
            TrainListener interruptAtStep3 = new TrainListener() {
                @Override public void step(int epoch, int step, int steps, double loss, double ips) {
                    if (epoch == 1 && step == 3) Thread.currentThread().interrupt();
                }
            };
            Trainer.Result r;
            boolean stillInterrupted;
            try {
                r = fit(ds, workers, ck, interruptAtStep3);
            } finally {
                stillInterrupted = Thread.interrupted(); // clears it for the rest of the test
            }
            assertTrue(r.interrupted(), "workers " + workers + ": the fit reports the stop");
            assertEquals(List.of(), r.epochs(), "workers " + workers + ": no epoch finished");
            assertTrue(stillInterrupted, "workers " + workers + ": the caller's thread is still marked interrupted");
            assertEquals(r.checkpoint(), Checkpoint.latest(ck).orElseThrow(), "workers " + workers);
            assertEquals(3, Checkpoint.readState(r.checkpoint()).step(), "workers " + workers + ": the three steps trained are saved");
            assertEquals(List.of(), loaderThreads(ds.name()));
        }
    }

    /** Interrupted while it waits for batch 3, whose first sample's read is slow: it stops there, with the two steps saved. */
    @Test
    void anInterruptWhileWaitingForABatchStopsTheFitWithACheckpoint(@TempDir Path tmp) throws Exception {
        Dataset blobs = TrainerTest.blobs(320, 1);
        int slow;
        try (DataLoader order = new DataLoader(blobs, null, 32, true, false, 7, 0, 1)) {
            slow = order.sampleOrder(0)[2 * 32]; // first sample of batch 3
        }
        CountDownLatch reading = new CountDownLatch(1);
        IntConsumer hook = i -> {
            if (i != slow) return;
            reading.countDown();
            try {
                Thread.sleep(60_000); // a slow store; the loader's close interrupts it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("read of sample " + i + " interrupted");
            }
        };
        Dataset ds = TrainerResumeTest.beforeRead(blobs, "slowstore", hook);
        Trainer.Result[] result = {null};
        Throwable[] failed = {null};
        boolean[] stillInterrupted = {false};
        CountDownLatch trained2 = new CountDownLatch(1);
        TrainListener steps = new TrainListener() {
            @Override public void step(int epoch, int step, int steps, double loss, double ips) {
                if (step == 2) trained2.countDown();
            }
        };
        Thread fitting = new Thread(() -> {
            try {
                result[0] = fit(ds, 2, tmp, steps);
            } catch (Throwable t) {
                failed[0] = t;
            }
            stillInterrupted[0] = Thread.currentThread().isInterrupted();
        }, "fitting");
        fitting.start();
        assertTrue(reading.await(20, TimeUnit.SECONDS) && trained2.await(20, TimeUnit.SECONDS), "the slow read starts, two steps are done");
        Thread.sleep(50); // the fit waits for batch 3 (or is about to: then the step boundary sees the interrupt)
        fitting.interrupt();
        fitting.join(20_000);
        assertFalse(fitting.isAlive(), "the fit ends");
        assertEquals(null, failed[0], "the fit returns, as on requestStop");
        assertNotNull(result[0]);
        assertTrue(result[0].interrupted());
        assertTrue(stillInterrupted[0], "the thread is still marked interrupted");
        assertEquals(2, Checkpoint.readState(result[0].checkpoint()).step(), "the steps before the batch read are saved");
        assertEquals(List.of(), loaderThreads("slowstore"));
    }
    /**
     * An interrupt that lands while the stop's checkpoint is being written closed the file's channel
     * (ClosedByInterruptException), and the fit ended with a CheckpointException, its checkpoint lost. The one interrupt
     * that caused the stop does this on a loaded machine: Thread.interrupt() sets the status, the fit sees it, stops and
     * clears it to save, and only then does the interrupting thread, descheduled in between, close the channel the
     * fitting thread is blocked in (the waiting test above failed so, 5 runs in 120 under CPU and fsync load, each with one
     * interrupt() call). A second cancel(true), or shutdownNow after a cancel, does it too. Here the model's state dict,
     * read by the save, interrupts the thread the first time. The save is tried again.
     */
    @Test
    void anInterruptWhileTheCheckpointIsWrittenDoesNotLoseIt(@TempDir Path tmp) {
        boolean[] interruptedOnce = {false};
        Trainer.Result r;
        boolean stillInterrupted;
        try (CpuBackend be = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 3)) {
                 @Override public Map<String, io.dltrain.runtime.tensor.Tensor> stateDict() {
                     if (!interruptedOnce[0]) {
                         interruptedOnce[0] = true;
                         Thread.currentThread().interrupt();
                     }
                     return super.stateDict();
                 }
             };
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(TrainerTest.blobs(320, 1), null, 32, true, false, 7, 0, 4)) {
            TrainListener stopAtStep3 = new TrainListener() {
                @Override public void step(int epoch, int step, int steps, double loss, double ips) {
                    if (step == 3) Thread.currentThread().interrupt();
                }
            };
            try {
                r = new Trainer(be, CONFIG).checkpoints(new CheckpointPolicy(tmp, 1, 0, 2, "linear", "blobs", Map.of()))
                        .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, stopAtStep3);
            } finally {
                stillInterrupted = Thread.interrupted();
            }
        }
        assertTrue(interruptedOnce[0], "the save read the state dict");
        assertTrue(r.interrupted());
        assertTrue(stillInterrupted);
        assertEquals(3, Checkpoint.readState(r.checkpoint()).step());
        assertEquals(r.checkpoint(), Checkpoint.latest(tmp).orElseThrow());
    }

    /**
     * A listener that writes a file through a FileChannel (NIO: what Files.write and a log appender use) when the fit
     * is stopped by an interrupt at epoch 1's last step: epochEnded, checkpointWriting and checkpointWritten come on the
     * interrupted thread, where such a write closes its channel (ClosedByInterruptException), and the fit ended with a
     * ListenerFailedException instead of the interrupted Result a stop gives. The listener is called with the status
     * cleared (set again after): each write succeeds, the fit reports the interrupt, and the caller's thread keeps it.
     */
    @Test
    void aListenerWritingFilesOnAnInterruptedFitIsNotFailedByTheInterrupt(@TempDir Path tmp) throws Exception {
        List<String> wrote = new ArrayList<>();
        TrainListener writer = new TrainListener() {
            void write(String what) {
                try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(tmp.resolve("listener.log"),
                        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND)) {
                    ch.write(java.nio.ByteBuffer.wrap((what + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8)));
                    wrote.add(what);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            @Override public void step(int epoch, int step, int steps, double loss, double ips) {
                if (epoch == 1 && step == steps) Thread.currentThread().interrupt();
            }
            @Override public void epochEnded(EpochMetrics m) { write("epoch " + m.epoch()); }
            @Override public void checkpointWriting(Path dir, boolean best) { write("writing"); }
            @Override public void checkpointWritten(Path checkpoint) { write("written " + checkpoint.getFileName()); }
        };
        Path ck = tmp.resolve("ck");
        Trainer.Result r;
        boolean stillInterrupted;
        try {
            r = fit(TrainerTest.blobs(320, 1), 0, ck, writer);
        } finally {
            stillInterrupted = Thread.interrupted();
        }
        assertTrue(r.interrupted(), "the fit reports the stop");
        assertTrue(stillInterrupted, "the caller's thread is still marked interrupted");
        assertEquals(List.of("epoch 1", "writing", "written " + r.checkpoint().getFileName()), wrote);
        assertEquals(wrote.stream().map(w -> w + "\n").reduce("", String::concat), java.nio.file.Files.readString(tmp.resolve("listener.log")));
        assertEquals(10, Checkpoint.readState(r.checkpoint()).step());
    }
}
