package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.data.DataLoadException;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.data.SampleStream;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Trainer#evaluate(Module, SampleStream, int, io.dltrain.runtime.nn.loss.Loss, Trainer.BatchProgress, Trainer.BatchOutputs)}:
 * the numbers of a DataLoader over the same samples, bit for bit, reading the stream a batch at a time as the pass goes
 * (never more than one batch ahead of the model), and a NaN feature named as the loader's pass names it.
 */
class StreamEvaluateTest {
    /** ds's samples in order, read as asked; {@code log} gets each read's size and the batches the model had seen then. */
    private static SampleStream stream(Dataset ds, List<int[]> log, int[] forwards) {
        return new SampleStream() {
            int next;

            @Override public String name() { return ds.name(); }
            @Override public Shape sampleShape() { return ds.sampleShape(); }
            @Override public int numClasses() { return ds.numClasses(); }
            @Override public List<String> classNames() { return ds.classNames(); }

            @Override
            public int read(int max, float[] x, int[] y, float[] t) {
                int n = Math.min(max, ds.size() - next), f = (int) ds.sampleShape().numel();
                for (int i = 0; i < n; i++) y[i] = ds.read(next + i, x, i * f);
                next += n;
                log.add(new int[] {n, forwards[0]});
                return n;
            }

            @Override public String describe(long index) { return "row " + index + " of the stream"; }
        };
    }

    @Test
    void aStreamGivesTheLoadersNumbersReadingABatchAtATime() {
        Dataset ds = TrainerTest.blobs(1000, 3);
        try (CpuBackend be = new CpuBackend(2);
             Module net = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             DataLoader all = new DataLoader(ds, null, 96, false, false, 0, 1, 4)) {
            int[] forwards = {0};
            Module model = new Module() { // counts the forwards, to see how far ahead the stream is read
                { addModule("net", net); }
                @Override public io.dltrain.runtime.tensor.Tensor forward(io.dltrain.runtime.tensor.Tensor x) {
                    forwards[0]++;
                    return net.forward(x);
                }
            };
            Trainer t = new Trainer(be, TrainerTest.config(1, 0.1, 0));
            List<int[]> progress = new ArrayList<>(), log = new ArrayList<>();
            long[] labelSum = {0};
            EvalResult loader = t.evaluate(net, all, new CrossEntropyLoss(0f));
            EvalResult streamed = t.evaluate(model, stream(ds, log, forwards), 96, new CrossEntropyLoss(0f),
                    (b, n) -> progress.add(new int[] {b, n}), (out, y, n) -> labelSum[0] += java.util.Arrays.stream(y.toIntArray()).sum());
            assertEquals(loader.samples(), streamed.samples());
            assertEquals(Double.doubleToRawLongBits(loader.loss()), Double.doubleToRawLongBits(streamed.loss()), "loss, bit for bit");
            assertEquals(loader.top1(), streamed.top1(), 0);
            assertEquals(333 + 2 * 333, labelSum[0], "every batch's targets given to the outputs callback");
            // 1000 = 10 x 96 + 40: 11 batches, then the read that finds the end
            assertEquals(12, log.size());
            for (int k = 0; k < 11; k++) {
                assertEquals(k < 10 ? 96 : 40, log.get(k)[0], "read " + k);
                assertEquals(k, log.get(k)[1], "batch " + k + " was read after the model had seen batch " + (k - 1) + " and not before");
            }
            assertEquals(11, progress.size());
            assertEquals(-1, progress.getLast()[1], "the number of batches is not known");
        }
    }

    @Test
    void aNonFiniteFeatureIsNamedAndAnEmptyStreamRefused() {
        Dataset ds = TrainerTest.blobs(300, 4);
        Dataset bad = new Dataset() {
            public String name() { return "blobs"; }
            public int size() { return ds.size(); }
            public Shape sampleShape() { return ds.sampleShape(); }
            public int numClasses() { return 3; }
            public List<String> classNames() { return ds.classNames(); }
            public int read(int i, float[] dst, int off) {
                int y = ds.read(i, dst, off);
                if (i == 150) dst[off + 5] = Float.NaN;
                return y;
            }
        };
        try (CpuBackend be = new CpuBackend(1); Module model = new Sequential(new Linear(new Context(be, 3), 8, 3))) {
            Trainer t = new Trainer(be, TrainerTest.config(1, 0.1, 0));
            DataLoadException e = assertThrows(DataLoadException.class,
                    () -> t.evaluate(model, stream(bad, new ArrayList<>(), new int[1]), 64, new CrossEntropyLoss(0f), null, null));
            assertTrue(e.getMessage().startsWith("cannot evaluate on blobs: row 150 of the stream has a non-finite feature (element 5 of 8 is NaN)"),
                    e.getMessage());
            Dataset none = new Dataset() {
                public String name() { return "none"; }
                public int size() { return 0; }
                public Shape sampleShape() { return ds.sampleShape(); }
                public int numClasses() { return 3; }
                public List<String> classNames() { return ds.classNames(); }
                public int read(int i, float[] dst, int off) { throw new AssertionError(); }
            };
            IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                    () -> t.evaluate(model, stream(none, new ArrayList<>(), new int[1]), 64, new CrossEntropyLoss(0f), null, null));
            assertTrue(empty.getMessage().contains("no samples"), empty.getMessage());
        }
    }
}
