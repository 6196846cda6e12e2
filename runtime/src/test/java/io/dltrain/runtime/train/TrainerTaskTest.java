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
 * when asked), for regression the dataset's real-valued targets (checked against a least-squares fit computed here);
 * the loss is the metric and accuracy is NaN. The classification path is TrainerTest's.
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

    /** A regression dataset: features x (n x d, row-major) and one real target per sample. */
    static Dataset regression(int n, int d, float[] x, float[] y) {
        return new Dataset() {
            public String name() { return "regression-test"; }
            public int size() { return n; }
            public Shape sampleShape() { return Shape.of(d); }
            public int numClasses() { return 1; }
            public List<String> classNames() { return List.of("y"); }
            public int read(int i, float[] dst, int off) { System.arraycopy(x, i * d, dst, off, d); return 0; }
            @Override public Task task() { return Task.REGRESSION; }
            @Override public float target(int i) { return y[i]; }
        };
    }

    /**
     * The least-squares fit's mean squared residual over samples idx, min over (w, b) of mean (w.x + b - y)^2,
     * from the normal equations solved in double (Gaussian elimination with partial pivoting): the lowest MSE a
     * Linear(d, 1) can reach on them.
     */
    static double leastSquaresMse(int[] idx, int d, float[] x, float[] y) {
        int k = d + 1; // features and a constant 1 for the bias
        double[][] a = new double[k][k + 1];
        for (int i : idx) {
            double[] row = new double[k];
            for (int j = 0; j < d; j++) row[j] = x[i * d + j];
            row[d] = 1;
            for (int p = 0; p < k; p++) {
                for (int q = 0; q < k; q++) a[p][q] += row[p] * row[q];
                a[p][k] += row[p] * y[i];
            }
        }
        for (int c = 0; c < k; c++) {
            int piv = c;
            for (int r = c + 1; r < k; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
            double[] t = a[c]; a[c] = a[piv]; a[piv] = t;
            for (int r = 0; r < k; r++) {
                if (r == c) continue;
                double f = a[r][c] / a[c][c];
                for (int q = c; q <= k; q++) a[r][q] -= f * a[c][q];
            }
        }
        double se = 0;
        for (int i : idx) {
            double pred = a[d][k] / a[d][d];
            for (int j = 0; j < d; j++) pred += a[j][k] / a[j][j] * x[i * d + j];
            se += (pred - y[i]) * (pred - y[i]);
        }
        return se / idx.length;
    }

    @Test
    void linearModelLearnsALinearTargetToTheLeastSquaresMse() {
        // y = w.x + b + noise (std 0.1): the least-squares MSE is about the noise variance, 0.01
        int n = 500, d = 3;
        SplittableRandom r = new SplittableRandom(11);
        double[] w = {1.5, -2.0, 0.5};
        double b = 0.7;
        float[] x = new float[n * d], y = new float[n];
        for (int i = 0; i < n; i++) {
            double t = b + 0.1 * r.nextGaussian();
            for (int j = 0; j < d; j++) { x[i * d + j] = (float) r.nextGaussian(); t += w[j] * x[i * d + j]; }
            y[i] = (float) t;
        }
        Dataset ds = regression(n, d, x, y);
        int[][] split = DataLoader.split(n, 0.2, 7);
        double variance = 0, mean = 0;
        for (int i : split[1]) mean += y[i] / split[1].length;
        for (int i : split[1]) variance += (y[i] - mean) * (y[i] - mean) / split[1].length;
        double bestTrain = leastSquaresMse(split[0], d, x, y), bestVal = leastSquaresMse(split[1], d, x, y);
        assertTrue(bestTrain > 0.007 && bestTrain < 0.013, "least squares recovers the noise variance 0.01: " + bestTrain);
        try (CpuBackend be = new CpuBackend(2);
             Linear model = new Linear(new Context(be, 3), d, 1);
             Optimizer opt = Optimizers.create("adam", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 16, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 16, false, false, 7, 1, 4)) {
            TrainConfig cfg = new TrainConfig(30, 16, 0.05, "adam", 0.9, 0, "cosine", 0f, 0f, 7, 0.2, 0, 0.0, 1);
            Trainer t = new Trainer(be, cfg).task(Task.REGRESSION);
            double before = t.evaluate(model, val, new MSELoss()).loss();
            Trainer.Result res = t.fit(model, new MSELoss(), opt, LrSchedules.parse("cosine"), train, val, TrainListener.NONE);
            for (EpochMetrics m : res.epochs()) assertTrue(Double.isNaN(m.trainAcc()) && Double.isNaN(m.valAcc()), "no accuracy: " + m);
            assertTrue(before > 1.0, "the untrained model is far off: " + before);
            // the trained model's MSE over the training split, evaluated by the trainer, against the least-squares minimum
            try (DataLoader all = new DataLoader(ds, split[0], 64, false, false, 7, 1, 4)) {
                EvalResult e = t.evaluate(model, all, new MSELoss());
                assertTrue(Double.isNaN(e.top1()) && Double.isNaN(e.top5()), "no accuracy for regression");
                assertEquals(split[0].length, e.samples());
                assertTrue(e.loss() >= bestTrain * (1 - 1e-4), "no Linear model beats least squares: " + e.loss() + " < " + bestTrain);
                assertTrue(e.loss() <= bestTrain * 1.05, "training MSE " + e.loss() + " should reach the least-squares " + bestTrain);
                // and the trainer's MSE is the mean squared residual of the model's own weights, computed here in double
                float[] wt = model.weight().toFloatArray(), bias = model.namedParameters().get("bias").toFloatArray();
                double se = 0;
                for (int i : split[0]) {
                    double p = bias[0];
                    for (int j = 0; j < d; j++) p += (double) wt[j] * x[i * d + j];
                    se += (p - y[i]) * (p - y[i]);
                }
                assertEquals(se / split[0].length, e.loss(), 1e-4 * e.loss());
            }
            double valMse = res.epochs().getLast().valLoss();
            assertTrue(valMse < 1.2 * bestVal + 0.002 && valMse < 0.01 * variance,
                    "validation MSE " + valMse + " vs least squares " + bestVal + " and the target variance " + variance);
        }
    }

    @Test
    void learnerTrainsRegressionAndPredictsRawValues() {
        int n = 200;
        SplittableRandom r = new SplittableRandom(4);
        float[] x = new float[n * 2], y = new float[n];
        for (int i = 0; i < n; i++) {
            x[2 * i] = (float) r.nextGaussian();
            x[2 * i + 1] = (float) r.nextGaussian();
            y[i] = 3 * x[2 * i] - x[2 * i + 1] + 2;
        }
        Dataset ds = regression(n, 2, x, y);
        try (CpuBackend be = new CpuBackend(1);
             Linear model = new Linear(new Context(be, 5), 2, 1);
             Learner l = new Learner(model).task(Task.REGRESSION).optimizer("adam", 0.05).schedule("cosine").batchSize(16).epochs(30)) {
            l.fit(ds);
            assertTrue(l.evaluate(ds).loss() < 1e-3, "a noiseless linear target is fitted: " + l.evaluate(ds).loss());
            float[] p = l.predict(ds, 7);
            assertEquals(1, p.length);
            assertEquals(y[7], p[0], 0.1, "the prediction is the model's output, not a softmax");
        }
    }

    @Test
    void taskAndDatasetMustAgree() {
        try (CpuBackend be = new CpuBackend(1); Module id = new Identity();
             DataLoader labels = new DataLoader(data(4, Shape.of(2), new float[8]), null, 2, false, false, 1, 1, 4);
             DataLoader targets = new DataLoader(regression(4, 2, new float[8], new float[4]), null, 2, false, false, 1, 1, 4)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new Trainer(be, config(1, 0.01)).task(Task.REGRESSION).evaluate(id, labels, new MSELoss()));
            assertTrue(e.getMessage().contains("real-valued targets") && e.getMessage().contains("task-test"), e.getMessage());
            var c = assertThrows(IllegalArgumentException.class,
                    () -> new Trainer(be, config(1, 0.01)).evaluate(id, targets, new MSELoss()));
            assertTrue(c.getMessage().contains("regression dataset") && c.getMessage().contains("Task.REGRESSION"), c.getMessage());
            assertEquals(Task.CLASSIFICATION, new Trainer(be, config(1, 0.01)).task());
        }
        assertEquals("mse", Task.RECONSTRUCTION.metric());
        assertEquals("mse", Task.REGRESSION.metric());
        assertEquals("accuracy", Task.CLASSIFICATION.metric());
        assertThrows(IllegalArgumentException.class, () -> new Trainer(null, config(1, 0.01)).reconstructionScale(new float[] {1}, new float[] {1, 2}));
    }

    @Test
    void aNonFiniteTargetNamesTheSample() {
        float[] y = {1f, 2f, Float.NaN, 4f};
        try (DataLoader l = new DataLoader(regression(4, 1, new float[4], y), null, 2, false, false, 1, 0, 2)) {
            var it = l.epoch(0);
            var b = it.next();
            assertEquals(1f, b.t[0]);
            assertEquals(2f, b.t[1]);
            b.release();
            var e = assertThrows(RuntimeException.class, it::next);
            assertTrue(e.getMessage().contains("sample 2") && e.getMessage().contains("NaN"), e.getMessage());
        }
    }
}
