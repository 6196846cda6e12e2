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
}
