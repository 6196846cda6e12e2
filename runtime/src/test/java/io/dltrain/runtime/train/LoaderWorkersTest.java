package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.data.DataLoadException;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Data of one's own through the Trainer with several loader threads: the same losses and weights, bit for bit, as with
 * one or none (the batches are the same whatever thread reads them, and arrive in order); and a JVM that fits many times,
 * some of them ending on a sample that cannot be read, keeps no thread of them.
 */
class LoaderWorkersTest {
    static final TrainConfig CONFIG = new TrainConfig(2, 16, 0.05, "sgd", 0.9, 0, "cosine", 0f, 0f, 7, 0, 0, 0.0, 1);

    /** Every step's loss (read back each step) and the first layer's weights after two epochs with {@code workers} threads. */
    static List<Object> fit(Dataset ds, int workers) {
        List<Long> losses = new ArrayList<>();
        try (CpuBackend be = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(ds, null, 16, true, false, 7, workers, 2)) {
            // the loss of each step, through a loss that records it: the listener is told it only now and then
            new Trainer(be, CONFIG).fit(model, new CrossEntropyLoss(0f) {
                @Override public io.dltrain.runtime.tensor.Tensor compute(io.dltrain.runtime.tensor.Tensor out, io.dltrain.runtime.tensor.Tensor y) {
                    io.dltrain.runtime.tensor.Tensor l = super.compute(out, y);
                    losses.add(Double.doubleToRawLongBits(l.item()));
                    return l;
                }
            }, opt, LrSchedules.parse("cosine"), train, null, TrainListener.NONE);
            return List.of(losses, model.parameters().getFirst().toFloatArray());
        }
    }

    @Test
    void workersGiveTheSameLossesBitForBit() {
        Dataset ds = TrainerTest.blobs(200, 1); // 13 steps an epoch, the last of 8
        List<Object> one = fit(ds, 1);
        assertEquals(26, ((List<?>) one.get(0)).size());
        for (int workers : new int[] {0, 3}) {
            List<Object> other = fit(ds, workers);
            assertEquals(one.get(0), other.get(0), workers + " workers: every step's loss");
            assertArrayEquals((float[]) one.get(1), (float[]) other.get(1), workers + " workers: the weights");
        }
    }

    static Set<Thread> live() {
        Set<Thread> s = new HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) if (t.isAlive()) s.add(t);
        return s;
    }

    @Test
    void manyFitsInOneJvmLeaveNoThreads() {
        Dataset ok = TrainerTest.blobs(96, 1);
        Dataset bad = TrainerResumeTest.beforeRead(ok, "bad", i -> { if (i == 50) throw new IllegalStateException("corrupt"); });
        fit(ok, 2); // what a first fit starts once (the JIT's, the JVM's) is not counted
        Set<Thread> before = live();
        for (int i = 0; i < 10; i++) {
            try (CpuBackend be = new CpuBackend(2); Module m = new Sequential(new Linear(new Context(be, 1), 8, 3));
                 Learner l = new Learner(m).epochs(1).batchSize(16)) {
                l.fit(ok);
                l.evaluate(ok);
                DataLoadException e = assertThrows(DataLoadException.class, () -> l.fit(bad));
                assertTrue(e.getMessage().startsWith("bad: reading sample 50 failed"), e.getMessage());
            }
            fit(ok, 3);
        }
        Set<Thread> after = live();
        after.removeAll(before);
        List<String> names = after.stream().map(Thread::getName).filter(n -> n.startsWith("dl-train")).toList();
        assertEquals(List.of(), names, "threads left by 10 rounds of fits");
    }

    /**
     * However a fit ends, it leaves no thread of its own once its loader and backend are closed: trained to the end,
     * stopped by requestStop, by an interrupt of the fitting thread, by a sample that cannot be read, by a listener that
     * throws, and by a loss that throws mid-step; each with 2 loader workers, a backend of 2 threads and a checkpoint
     * policy (the stops save).
     */
    @Test
    void everyWayAFitEndsLeavesNoThreads(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
        Dataset ok = TrainerTest.blobs(96, 1); // 6 steps an epoch
        Dataset bad = TrainerResumeTest.beforeRead(ok, "unreadable", i -> { if (i == 50) throw new IllegalStateException("corrupt"); });
        fit(ok, 2); // what a first fit starts once (the JIT's, the JVM's) is not counted
        Set<Thread> before = live();
        record Ending(String name, Dataset ds, java.util.function.BiFunction<Trainer, Integer, RuntimeException> atStep2, Class<?> thrown) {}
        List<Ending> endings = List.of(
                new Ending("normal", ok, (t, step) -> null, null),
                new Ending("requestStop", ok, (t, step) -> { t.requestStop(); return null; }, null),
                new Ending("interrupt", ok, (t, step) -> { Thread.currentThread().interrupt(); return null; }, null),
                new Ending("unreadable sample", bad, (t, step) -> null, DataLoadException.class),
                new Ending("listener throws", ok, (t, step) -> new IllegalStateException("listener broke"), ListenerFailedException.class),
                new Ending("loss throws", ok, null, IllegalArgumentException.class));
        for (Ending e : endings) {
            java.nio.file.Path ck = tmp.resolve(e.name().replace(' ', '-'));
            Throwable failed = null;
            Trainer.Result r = null;
            try (CpuBackend be = new CpuBackend(2);
                 Module model = new Sequential(new Linear(new Context(be, 3), 8, 3));
                 Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
                 DataLoader train = new DataLoader(e.ds(), null, 16, true, false, 7, 2, 2)) {
                Trainer trainer = new Trainer(be, CONFIG).checkpoints(new CheckpointPolicy(ck, 1, 0, 2, "linear", e.ds().name(), java.util.Map.of()));
                TrainListener listener = new TrainListener() {
                    @Override public void step(int epoch, int step, int steps, double loss, double ips) {
                        RuntimeException x = epoch == 1 && step == 2 && e.atStep2() != null ? e.atStep2().apply(trainer, step) : null;
                        if (x != null) throw x;
                    }
                };
                int[] steps = {0};
                CrossEntropyLoss loss = new CrossEntropyLoss(0f) {
                    @Override public io.dltrain.runtime.tensor.Tensor compute(io.dltrain.runtime.tensor.Tensor out, io.dltrain.runtime.tensor.Tensor y) {
                        if (e.atStep2() == null && ++steps[0] == 3) throw new IllegalArgumentException("loss broke");
                        return super.compute(out, y);
                    }
                };
                r = trainer.fit(model, loss, opt, LrSchedules.parse("constant"), train, null, listener);
            } catch (RuntimeException x) {
                failed = x;
            } finally {
                Thread.interrupted(); // the interrupt ending keeps the status: cleared for the next fit
            }
            if (e.thrown() == null) {
                assertEquals(null, failed, e.name());
                assertEquals(!e.name().equals("normal"), r.interrupted(), e.name());
            } else {
                assertTrue(e.thrown().isInstance(failed), e.name() + ": " + failed);
            }
            Set<Thread> after = live();
            after.removeAll(before);
            List<String> names = after.stream().map(Thread::getName).filter(n -> n.startsWith("dl-train")).toList();
            assertEquals(List.of(), names, "threads left by a fit that ended: " + e.name());
        }
    }
}
