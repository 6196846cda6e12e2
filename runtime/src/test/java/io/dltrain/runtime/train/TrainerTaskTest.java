package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.Tanh;
import io.dltrain.runtime.nn.loss.MSELoss;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer's tasks other than classification: for reconstruction the target is the input (rescaled per channel
 * when asked), the loss is the metric and accuracy is NaN; the regression task is refused with a clear message until
 * datasets supply real-valued targets. The classification path is TrainerTest's.
 */
class TrainerTaskTest {

    /** n samples of shape dims with values from f(sample, element); label = sample % 2. */
    static Dataset data(int n, Shape shape, float[] values) {
        int per = shape.size();
        return new Dataset() {
            public String name() { return "task-test"; }
            public int size() { return n; }
            public Shape sampleShape() { return shape; }
            public int numClasses() { return 2; }
            public List<String> classNames() { return List.of("a", "b"); }
            public int read(int i, float[] dst, int off) { System.arraycopy(values, i * per, dst, off, per); return i % 2; }
        };
    }

    /** The model that returns its input: its reconstruction error is exactly the target's distance from the input. */
    static final class Identity extends Module {
        @Override public Tensor forward(Tensor x) { return x; }
    }

    static TrainConfig config(int epochs, double lr) {
        return new TrainConfig(epochs, 16, lr, "adam", 0.9, 0, "constant", 0f, 0f, 7, 0.2, 0, 0.0, 1);
    }

    @Test
    void reconstructionTargetIsTheInputRescaledPerChannel() {
        Shape shape = Shape.of(2, 3, 3);
        int n = 37; // three batches of 16, the last partial
        float[] v = new float[n * shape.size()];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        float[] mean = {0.5f, -1f}, std = {2f, 0.25f};
        // independent reference: mean over every element of (x - (x * std[c] + mean[c]))^2, in double
        double want = 0;
        for (int i = 0; i < v.length; i++) {
            int c = (i / 9) % 2;
            double d = v[i] - ((double) v[i] * std[c] + mean[c]);
            want += d * d;
        }
        want /= v.length;
        try (CpuBackend be = new CpuBackend(2); Module id = new Identity();
             DataLoader loader = new DataLoader(data(n, shape, v), null, 16, false, false, 1, 1, 4)) {
            EvalResult plain = new Trainer(be, config(1, 0.01)).task(Task.RECONSTRUCTION).evaluate(id, loader, new MSELoss());
            assertEquals(0.0, plain.loss(), 0.0, "without a scale the target is the input itself");
            assertTrue(Double.isNaN(plain.top1()) && Double.isNaN(plain.top5()), "no accuracy for reconstruction");
            assertEquals(n, plain.samples());
            EvalResult scaled = new Trainer(be, config(1, 0.01)).task(Task.RECONSTRUCTION).reconstructionScale(mean, std)
                    .evaluate(id, loader, new MSELoss());
            assertEquals(want, scaled.loss(), 1e-5 * want);
            // one (mean, std) for every channel
            EvalResult one = new Trainer(be, config(1, 0.01)).task(Task.RECONSTRUCTION).reconstructionScale(new float[] {0f}, new float[] {3f})
                    .evaluate(id, loader, new MSELoss());
            double wantOne = 0;
            for (float x : v) wantOne += 4.0 * x * x;
            assertEquals(wantOne / v.length, one.loss(), 1e-5 * wantOne / v.length);
        }
    }

    @Test
    void autoencoderLearnsLowRankDataAndReportsNoAccuracy() {
        // 8-dimensional samples on a 2-dimensional subspace: a 8-4-8 autoencoder can reconstruct them
        int n = 400;
        SplittableRandom r = new SplittableRandom(5);
        float[][] basis = new float[2][8];
        for (float[] b : basis) for (int i = 0; i < 8; i++) b[i] = (float) r.nextGaussian() * 0.5f;
        float[] v = new float[n * 8];
        for (int s = 0; s < n; s++) {
            double a = r.nextGaussian(), b = r.nextGaussian();
            for (int i = 0; i < 8; i++) v[s * 8 + i] = (float) (a * basis[0][i] + b * basis[1][i]);
        }
        Dataset ds = data(n, Shape.of(8), v);
        int[][] split = DataLoader.split(n, 0.2, 7);
        try (CpuBackend be = new CpuBackend(2);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 4), new Tanh(), new Linear(new Context(be, 4), 4, 8));
             Optimizer opt = Optimizers.create("adam", model.namedParameters(), 0.01, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 16, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 16, false, false, 7, 1, 4)) {
            Trainer t = new Trainer(be, config(8, 0.01)).task(Task.RECONSTRUCTION);
            // the untrained model's error on the validation split, for comparison
            double before = t.evaluate(model, val, new MSELoss()).loss();
            Trainer.Result res = t.fit(model, new MSELoss(), opt, LrSchedules.parse("constant"), train, val, TrainListener.NONE);
            EpochMetrics last = res.epochs().getLast();
            assertEquals(8, res.epochs().size());
            for (EpochMetrics m : res.epochs()) assertTrue(Double.isNaN(m.trainAcc()) && Double.isNaN(m.valAcc()), "accuracy is NaN: " + m);
            assertTrue(last.valLoss() < 0.1 * before, "validation MSE " + last.valLoss() + " should fall far below the untrained " + before);
            assertEquals(last.valLoss(), t.evaluate(model, val, new MSELoss()).loss(), 1e-6, "evaluate agrees with the epoch's validation loss");
        }
    }

    @Test
    void learnerTrainsAReconstructionTaskWithMseByDefault() {
        int n = 200;
        SplittableRandom r = new SplittableRandom(9);
        float[] basis = new float[6];
        for (int i = 0; i < 6; i++) basis[i] = (float) r.nextGaussian();
        float[] v = new float[n * 6];
        for (int s = 0; s < n; s++) { double a = r.nextGaussian(); for (int i = 0; i < 6; i++) v[s * 6 + i] = (float) (a * basis[i]); }
        Dataset ds = data(n, Shape.of(6), v);
        try (CpuBackend be = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(be, 3), 6, 2), new Tanh(), new Linear(new Context(be, 4), 2, 6));
             Learner l = new Learner(model).task(Task.RECONSTRUCTION).optimizer("adam", 0.01).schedule("constant").batchSize(16).epochs(10)) {
            double before = l.evaluate(ds).loss();
            l.fit(ds);
            EvalResult after = l.evaluate(ds);
            assertTrue(Double.isNaN(after.top1()), "no accuracy for reconstruction");
            assertTrue(after.loss() < 0.1 * before, "MSE " + after.loss() + " should fall far below the untrained " + before);
        }
    }

    @Test
    void regressionIsRefusedUntilDatasetsHaveRealTargets() {
        try (CpuBackend be = new CpuBackend(1); Module id = new Identity();
             DataLoader loader = new DataLoader(data(4, Shape.of(2), new float[8]), null, 2, false, false, 1, 1, 4)) {
            var e = assertThrows(UnsupportedOperationException.class,
                    () -> new Trainer(be, config(1, 0.01)).task(Task.REGRESSION).evaluate(id, loader, new MSELoss()));
            assertTrue(e.getMessage().contains("real-valued targets"), e.getMessage());
            // and the classification default is unchanged: labels are the target, accuracy is counted
            assertEquals(Task.CLASSIFICATION, new Trainer(be, config(1, 0.01)).task());
        }
        assertEquals("mse", Task.RECONSTRUCTION.metric());
        assertEquals("accuracy", Task.CLASSIFICATION.metric());
        assertThrows(IllegalArgumentException.class, () -> new Trainer(null, config(1, 0.01)).reconstructionScale(new float[] {1}, new float[] {1, 2}));
    }
}
