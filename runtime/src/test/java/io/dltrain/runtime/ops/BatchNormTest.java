package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.BatchNorm1d;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batch normalisation against a double reference of PyTorch's definition (batch mean, biased variance for
 * normalising, unbiased variance for the running estimate), eval mode, finite-difference gradients in both modes,
 * and the BatchNorm1d / BatchNorm2d layers' state.
 */
class BatchNormTest {
    static final CpuBackend be = new CpuBackend(2);
    static final float EPS = 1e-5f;

    @AfterAll static void close() { be.close(); }

    /** Per-channel statistics of x viewed as [N, C, inner], in double: {mean, biased variance}. */
    /**
     * The textbook batch-norm backward in double, d/dx of the normalised output through the batch statistics st (from
     * {@link #stats}): {dx, dgamma, dbeta} for dy, without accumulation.
     */
    static double[][] backwardInDouble(float[] x, float[] dy, float[] gamma, double[][] st, int N, int C, int inner) {
        int M = N * inner;
        double[] dx = new double[x.length], dg = new double[C], db = new double[C];
        for (int c = 0; c < C; c++) {
            double inv = 1 / Math.sqrt(st[1][c] + EPS), sDy = 0, sDyXhat = 0;
            for (int n = 0; n < N; n++) for (int i = 0; i < inner; i++) {
                int k = (n * C + c) * inner + i;
                sDy += dy[k];
                sDyXhat += dy[k] * (x[k] - st[0][c]) * inv;
            }
            db[c] = sDy;
            dg[c] = sDyXhat;
            for (int n = 0; n < N; n++) for (int i = 0; i < inner; i++) {
                int k = (n * C + c) * inner + i;
                double xhat = (x[k] - st[0][c]) * inv;
                dx[k] = gamma[c] * inv * (dy[k] - sDy / M - xhat * sDyXhat / M);
            }
        }
        return new double[][] {dx, dg, db};
    }

    static double[][] stats(float[] x, int N, int C, int inner) {
        double[] mean = new double[C], var = new double[C];
        int M = N * inner;
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int n = 0; n < N; n++) for (int i = 0; i < inner; i++) s += x[(n * C + c) * inner + i];
            mean[c] = s / M;
            double q = 0;
            for (int n = 0; n < N; n++) for (int i = 0; i < inner; i++) { double d = x[(n * C + c) * inner + i] - mean[c]; q += d * d; }
            var[c] = q / M;
        }
        return new double[][] {mean, var};
    }

    /** y = (x - mean) / sqrt(var + eps) * gamma + beta per channel. */
    static double[] normalise(float[] x, int N, int C, int inner, double[] mean, double[] var, float[] gamma, float[] beta) {
        double[] y = new double[x.length];
        for (int n = 0; n < N; n++) for (int c = 0; c < C; c++) for (int i = 0; i < inner; i++) {
            int k = (n * C + c) * inner + i;
            y[k] = (x[k] - mean[c]) / Math.sqrt(var[c] + EPS) * gamma[c] + beta[c];
        }
        return y;
    }

    /** Input with per-channel offsets (up to +-4) and scales, so normalising has real work to do. */
    static float[] input(SplittableRandom rng, int N, int C, int inner) {
        float[] x = new float[N * C * inner];
        double[] off = new double[C], scale = new double[C];
        for (int c = 0; c < C; c++) { off[c] = rng.nextDouble(-4, 4); scale[c] = rng.nextDouble(0.5, 3); }
        for (int n = 0; n < N; n++) for (int c = 0; c < C; c++) for (int i = 0; i < inner; i++)
            x[(n * C + c) * inner + i] = (float) (off[c] + scale[c] * rng.nextDouble(-1, 1));
        return x;
    }

    /** Sizes big enough that the channels are split over both threads (2D, and [N, C] with inner = 1). */
    static final int[][] SHAPES = {{8, 16, 32, 32}, {256, 300}, {4, 3, 5}};

    @Test
    void trainingForwardNormalisesAndMatchesReference() {
        SplittableRandom rng = new SplittableRandom(1);
        for (int[] dims : SHAPES) {
            Shape shape = Shape.of(dims);
            int N = dims[0], C = dims[1], inner = shape.sizeFrom(2);
            float[] x = input(rng, N, C, inner);
            float[] gamma = Check.uniform(rng, C, 0.5, 2), beta = Check.uniform(rng, C, -1, 1);
            float[] ones = new float[C], zeros = new float[C];
            java.util.Arrays.fill(ones, 1f);
            try (Scope s = Scope.open()) {
                Tensor xt = be.fromHost(x, shape), rm = be.zeros(Shape.of(C)), rv = be.zeros(Shape.of(C));
                double[][] st = stats(x, N, C, inner);
                // With gamma = 1, beta = 0 each channel has mean 0 and variance var / (var + eps) ~ 1.
                float[] y = Norm.batchNorm(xt, be.fromHost(ones, Shape.of(C)), be.fromHost(zeros, Shape.of(C)), rm, rv, true, 0.1f, EPS).toFloatArray();
                double[][] yst = stats(y, N, C, inner);
                for (int c = 0; c < C; c++) {
                    assertEquals(0, yst[0][c], 1e-5, "channel " + c + " mean of the normalised output, shape " + shape);
                    assertEquals(st[1][c] / (st[1][c] + EPS), yst[1][c], 1e-5, "channel " + c + " variance of the normalised output, shape " + shape);
                }
                // Affine: against the double reference. Tolerance: x up to ~7 in float, the mean rounded to float
                // (7 * 6e-8) divided by std >= ~0.3, plus the rounding of y: 1e-5 absolute and relative.
                float[] ya = Norm.batchNorm(xt, be.fromHost(gamma, Shape.of(C)), be.fromHost(beta, Shape.of(C)), rm, rv, true, 0.1f, EPS).toFloatArray();
                Check.close("batchNorm training " + shape, normalise(x, N, C, inner, st[0], st[1], gamma, beta), ya, 1e-5, 1e-5);
            }
        }
    }

    @Test
    void runningStatsFollowPyTorchUpdate() {
        SplittableRandom rng = new SplittableRandom(2);
        for (int[] dims : SHAPES) {
            Shape shape = Shape.of(dims);
            int N = dims[0], C = dims[1], inner = shape.sizeFrom(2), M = N * inner;
            for (float momentum : new float[] {0.1f, 0.3f}) {
                float[] x = input(rng, N, C, inner);
                float[] rm0 = Check.uniform(rng, C, -1, 1), rv0 = Check.uniform(rng, C, 0.5, 2);
                try (Scope s = Scope.open()) {
                    Tensor rm = be.fromHost(rm0, Shape.of(C)), rv = be.fromHost(rv0, Shape.of(C));
                    Tensor g = be.fromHost(Check.uniform(rng, C, 0.5, 2), Shape.of(C)), b = be.zeros(Shape.of(C));
                    Norm.batchNorm(be.fromHost(x, shape), g, b, rm, rv, true, momentum, EPS);
                    double[][] st = stats(x, N, C, inner);
                    double[] wantMean = new double[C], wantVar = new double[C];
                    for (int c = 0; c < C; c++) {
                        // torch: running_mean = (1 - momentum) * running_mean + momentum * mean
                        //        running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
                        wantMean[c] = (1 - momentum) * rm0[c] + momentum * st[0][c];
                        wantVar[c] = (1 - momentum) * rv0[c] + momentum * st[1][c] * M / (M - 1);
                    }
                    Check.close("running_mean " + shape + " momentum " + momentum, wantMean, rm.toFloatArray(), 1e-6, 1e-6);
                    Check.close("running_var " + shape + " momentum " + momentum, wantVar, rv.toFloatArray(), 1e-6, 1e-6);
                }
            }
        }
    }

    @Test
    void savedStatisticsAreBatchMeanAndInverseStd() {
        SplittableRandom rng = new SplittableRandom(3);
        int N = 6, C = 4, inner = 9;
        float[] x = input(rng, N, C, inner);
        try (Scope s = Scope.open()) {
            Shape c = Shape.of(C);
            Tensor g = be.fromHost(Check.uniform(rng, C, 0.5, 2), c), b = be.zeros(c), rm = be.zeros(c), rv = be.zeros(c);
            Tensor y = be.empty(Shape.of(N, C, 3, 3)), sm = be.empty(c), si = be.empty(c);
            be.batchNormForwardTraining(be.fromHost(x, y.shape()), g, b, rm, rv, 0.1f, EPS, y, sm, si);
            double[][] st = stats(x, N, C, inner);
            double[] invStd = new double[C];
            for (int k = 0; k < C; k++) invStd[k] = 1 / Math.sqrt(st[1][k] + EPS);
            Check.close("saveMean", st[0], sm.toFloatArray(), 1e-6, 1e-6);
            Check.close("saveInvStd", invStd, si.toFloatArray(), 0, 1e-6);
        }
    }

    @Test
    void statisticsSurviveALargeMean() {
        // Channel means of 10000 and -300 with standard deviations of 0.01 and 1: E[x^2] - E[x]^2 cancels 12 digits
        // in channel 0, too many even for double sums of x and x^2; the kernel must still get the variance right.
        SplittableRandom rng = new SplittableRandom(9);
        int N = 64, C = 2, inner = 16;
        float[] x = new float[N * C * inner];
        for (int n = 0; n < N; n++) for (int i = 0; i < inner; i++) {
            x[(n * C) * inner + i] = (float) (10000 + 0.01 * rng.nextGaussian());
            x[(n * C + 1) * inner + i] = (float) (-300 + rng.nextGaussian());
        }
        try (Scope s = Scope.open()) {
            Shape c = Shape.of(C), shape = Shape.of(N, C, 4, 4);
            Tensor rm = be.zeros(c), rv = be.zeros(c), y = be.empty(shape), sm = be.empty(c), si = be.empty(c);
            Tensor g = be.empty(c);
            be.fill(g, 1f);
            be.batchNormForwardTraining(be.fromHost(x, shape), g, be.zeros(c), rm, rv, 1f, EPS, y, sm, si);
            double[][] st = stats(x, N, C, inner);
            int M = N * inner;
            Check.close("mean with a large offset", st[0], sm.toFloatArray(), 0, 1e-7);
            // momentum 1: running_var is the unbiased batch variance itself
            Check.close("unbiased variance with a large offset", new double[] {st[1][0] * M / (M - 1), st[1][1] * M / (M - 1)},
                    rv.toFloatArray(), 0, 1e-5);
        }
    }

    /**
     * y, dx and dgamma (not only the statistics) where |mean| >> std: channel means of 1e5 (std 0.1) and -300 (std 1).
     * The mean rounded to float is off by up to half an ulp of 1e5 (0.004, 0.04 std), and normalising or
     * differentiating with that float mean shifted every xhat by up to 0.04: y came out 0.02 off, dgamma 0.6 of 52
     * (PyTorch's float32 kernels err by as much; the float64 answer is the reference). Both code paths: [N, C, H, W]
     * and [N, C]. Tolerances are the ordinary ones of the other tests (float rounding of values up to ~40).
     */
    @Test
    void outputAndGradientsSurviveALargeMean() {
        for (int[] dims : new int[][] {{16, 2, 8, 8}, {512, 2}}) {
            SplittableRandom rng = new SplittableRandom(10);
            Shape shape = Shape.of(dims);
            int N = dims[0], C = dims[1], inner = shape.sizeFrom(2), M = N * inner;
            double[] mu = {1e5, -300}, sd = {0.1, 1};
            float[] x = new float[N * C * inner], dy = Check.uniform(rng, x.length, -1, 1);
            for (int n = 0; n < N; n++) for (int c = 0; c < C; c++) for (int i = 0; i < inner; i++)
                x[(n * C + c) * inner + i] = (float) (mu[c] + sd[c] * rng.nextGaussian());
            float[] gamma = {1.5f, 0.5f}, beta = {0.25f, -1f};
            double[][] st = stats(x, N, C, inner);
            double[][] want = backwardInDouble(x, dy, gamma, st, N, C, inner);
            double[] wantDx = want[0], wantDg = want[1];
            try (Scope s = Scope.open()) {
                Shape cs = Shape.of(C);
                Tensor xt = be.fromHost(x, shape), g = be.fromHost(gamma, cs), y = be.empty(shape), sm = be.empty(cs), si = be.empty(cs);
                be.batchNormForwardTraining(xt, g, be.fromHost(beta, cs), be.zeros(cs), be.zeros(cs), 0.1f, EPS, y, sm, si);
                Check.close("batchNorm y around 1e5 " + shape, normalise(x, N, C, inner, st[0], st[1], gamma, beta), y.toFloatArray(), 1e-5, 1e-5);
                Tensor dx = be.empty(shape), dg = be.zeros(cs), db = be.zeros(cs);
                be.batchNormBackward(xt, be.fromHost(dy, shape), g, sm, si, dx, dg, db, false);
                Check.close("batchNorm dx around 1e5 " + shape, wantDx, dx.toFloatArray(), 1e-5, 1e-5);
                Check.close("batchNorm dgamma around 1e5 " + shape, wantDg, dg.toFloatArray(), 1e-4, 1e-5);
            }
        }
    }

    @Test
    void backwardMatchesFormulaAndAccumulates() {
        SplittableRandom rng = new SplittableRandom(4);
        for (int[] dims : SHAPES) {
            Shape shape = Shape.of(dims);
            int N = dims[0], C = dims[1], inner = shape.sizeFrom(2), M = N * inner;
            float[] x = input(rng, N, C, inner), dy = Check.uniform(rng, x.length, -1, 1);
            float[] gamma = Check.uniform(rng, C, 0.5, 2), dg0 = Check.uniform(rng, C, -1, 1), db0 = Check.uniform(rng, C, -1, 1);
            double[][] st = stats(x, N, C, inner);
            double[][] want = backwardInDouble(x, dy, gamma, st, N, C, inner);
            double[] wantDx = want[0], wantDg = new double[C], wantDb = new double[C];
            for (int c = 0; c < C; c++) {
                wantDg[c] = dg0[c] + want[1][c];
                wantDb[c] = db0[c] + want[2][c];
            }
            try (Scope s = Scope.open()) {
                Shape cs = Shape.of(C);
                Tensor xt = be.fromHost(x, shape), g = be.fromHost(gamma, cs), y = be.empty(shape), sm = be.empty(cs), si = be.empty(cs);
                be.batchNormForwardTraining(xt, g, be.zeros(cs), be.zeros(cs), be.zeros(cs), 0.1f, EPS, y, sm, si);
                Tensor dx = be.empty(shape), dg = be.fromHost(dg0, cs), db = be.fromHost(db0, cs);
                be.batchNormBackward(xt, be.fromHost(dy, shape), g, sm, si, dx, dg, db, true);
                // dx: terms of size ~1 cancel to ~1e-2 per element; float inputs and saved stats: 1e-5 abs/rel.
                Check.close("batchNorm dx " + shape, wantDx, dx.toFloatArray(), 1e-5, 1e-5);
                // sums of up to 76800 terms of size ~1: 1e-4 absolute.
                Check.close("batchNorm dgamma (accumulated) " + shape, wantDg, dg.toFloatArray(), 1e-4, 1e-5);
                Check.close("batchNorm dbeta (accumulated) " + shape, wantDb, db.toFloatArray(), 1e-4, 1e-5);
            }
        }
    }

    @Test
    void trainingGradientsMatchFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(5);
        int[][] shapes = {{3, 2, 2, 2}, {5, 3}};
        for (int[] dims : shapes) {
            int C = dims[1];
            try (Tensor x = Check.param(be, rng, -1, 1, dims); Tensor g = Check.param(be, rng, 0.5, 1.5, C);
                 Tensor b = Check.param(be, rng, -1, 1, C); Tensor rm = be.zeros(Shape.of(C)).keep(); Tensor rv = be.zeros(Shape.of(C)).keep()) {
                Check.gradients("batchNorm training " + Shape.of(dims),
                        in -> Norm.batchNorm(in.get(0), in.get(1), in.get(2), rm, rv, true, 0.1f, EPS),
                        List.of(x, g, b), Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
    }

    @Test
    void evalGradientsMatchFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(6);
        try (Tensor x = Check.param(be, rng, -1, 1, 3, 2, 2, 2); Tensor g = Check.param(be, rng, 0.5, 1.5, 2);
             Tensor b = Check.param(be, rng, -1, 1, 2);
             Tensor rm = be.fromHost(new float[] {0.3f, -0.2f}, Shape.of(2)).keep(); Tensor rv = be.fromHost(new float[] {0.5f, 2f}, Shape.of(2)).keep()) {
            Check.gradients("batchNorm eval", in -> Norm.batchNorm(in.get(0), in.get(1), in.get(2), rm, rv, false, 0.1f, EPS),
                    List.of(x, g, b), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void evalModeUsesRunningStatsAndLeavesThemAlone() {
        SplittableRandom rng = new SplittableRandom(7);
        int N = 4, C = 3, inner = 6;
        try (BatchNorm2d bn = new BatchNorm2d(new Context(be, 1), C); Scope s = Scope.open()) {
            float[] rm = {0.5f, -1f, 2f}, rv = {0.25f, 4f, 1.5f}, gamma = {1.5f, 0.5f, -1f}, beta = {0.1f, 0.2f, -0.3f};
            be.copyFromHost(rm, 0, bn.runningMean());
            be.copyFromHost(rv, 0, bn.runningVar());
            be.copyFromHost(gamma, 0, bn.weight());
            be.copyFromHost(beta, 0, bn.bias());
            bn.eval();
            float[] x = input(rng, N, C, inner);
            float[] y = bn.forward(be.fromHost(x, Shape.of(N, C, 2, 3))).toFloatArray();
            double[] m = {rm[0], rm[1], rm[2]}, v = {rv[0], rv[1], rv[2]};
            Check.close("batchNorm eval", normalise(x, N, C, inner, m, v, gamma, beta), y, 1e-6, 1e-6);
            assertArrayEquals(rm, bn.runningMean().toFloatArray());
            assertArrayEquals(rv, bn.runningVar().toFloatArray());
            assertEquals(0, bn.numBatchesTracked().toIntArray()[0], "eval mode does not count batches");
            // Back in training mode the batch statistics are used and every forward counts.
            bn.train(true);
            float[] yt = bn.forward(be.fromHost(x, Shape.of(N, C, 2, 3))).toFloatArray();
            double[][] st = stats(x, N, C, inner);
            Check.close("batchNorm training after eval", normalise(x, N, C, inner, st[0], st[1], gamma, beta), yt, 1e-5, 1e-5);
            bn.forward(be.fromHost(x, Shape.of(N, C, 2, 3)));
            assertEquals(2, bn.numBatchesTracked().toIntArray()[0]);
        }
    }

    @Test
    void numBatchesTrackedContinuesFromALoadedValue() {
        try (BatchNorm1d bn = new BatchNorm1d(new Context(be, 1), 2); Scope s = Scope.open()) {
            be.copyFromHost(new int[] {41}, 0, bn.numBatchesTracked()); // as a checkpoint load would
            bn.forward(be.fromHost(new float[] {1, 2, 3, 5}, Shape.of(2, 2)));
            assertEquals(42, bn.numBatchesTracked().toIntArray()[0]);
        }
    }

    @Test
    void layerStateIsNamedAndInitialisedLikePyTorch() {
        try (BatchNorm2d bn = new BatchNorm2d(new Context(be, 1), 5)) {
            assertEquals(List.of("weight", "bias", "running_mean", "running_var", "num_batches_tracked"), List.copyOf(bn.stateDict().keySet()));
            assertEquals(List.of("weight", "bias"), List.copyOf(bn.namedParameters().keySet()));
            assertArrayEquals(new float[] {1, 1, 1, 1, 1}, bn.weight().toFloatArray());
            assertArrayEquals(new float[5], bn.bias().toFloatArray());
            assertArrayEquals(new float[5], bn.runningMean().toFloatArray());
            assertArrayEquals(new float[] {1, 1, 1, 1, 1}, bn.runningVar().toFloatArray());
            assertEquals(DType.INT32, bn.numBatchesTracked().dtype());
            assertEquals(0, bn.numBatchesTracked().rank());
            assertEquals(1e-5f, bn.eps());
            assertEquals(0.1f, bn.momentum());
            assertTrue(bn.weight().requiresGrad() && bn.bias().requiresGrad() && !bn.runningMean().requiresGrad());
            bn.zeroInitGamma();
            assertArrayEquals(new float[5], bn.weight().toFloatArray());
        }
    }

    @Test
    void clearErrors() {
        try (BatchNorm2d bn2 = new BatchNorm2d(new Context(be, 1), 3); BatchNorm1d bn1 = new BatchNorm1d(new Context(be, 1), 3);
             Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> bn2.forward(be.zeros(Shape.of(4, 3))));
            assertTrue(e.getMessage().contains("[4, 3]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> bn1.forward(be.zeros(Shape.of(2, 3, 4, 4))));
            e = assertThrows(IllegalArgumentException.class, () -> bn2.forward(be.zeros(Shape.of(2, 4, 2, 2))));
            assertTrue(e.getMessage().contains("4 channels") && e.getMessage().contains("expected 3"), e.getMessage());
            // One value per channel cannot be normalised in training mode (PyTorch raises the same).
            e = assertThrows(IllegalArgumentException.class, () -> bn1.forward(be.zeros(Shape.of(1, 3))));
            assertTrue(e.getMessage().contains("more than 1 value per channel"), e.getMessage());
        }
    }

    @Test
    void resultsDoNotDependOnThreadCount() {
        // Each channel's sums run in one fixed order whatever the split, so 1 and 2 threads agree bit for bit.
        SplittableRandom rng = new SplittableRandom(8);
        float[] x = input(rng, 8, 16, 1024), dy = Check.uniform(rng, x.length, -1, 1);
        float[][] r1 = run(new CpuBackend(1), x, dy), r2 = run(be, x, dy);
        for (int k = 0; k < r1.length; k++) assertArrayEquals(r1[k], r2[k], "output " + k);
    }

    private static float[][] run(Backend b, float[] x, float[] dy) {
        try (Scope s = Scope.open()) {
            Shape shape = Shape.of(8, 16, 32, 32), c = Shape.of(16);
            Tensor xt = b.fromHost(x, shape), g = b.zeros(c), rm = b.zeros(c), rv = b.zeros(c);
            b.fill(g, 1.5f);
            Tensor y = b.empty(shape), sm = b.empty(c), si = b.empty(c), dx = b.empty(shape), dg = b.empty(c), db = b.empty(c);
            b.batchNormForwardTraining(xt, g, b.zeros(c), rm, rv, 0.1f, EPS, y, sm, si);
            b.batchNormBackward(xt, b.fromHost(dy, shape), g, sm, si, dx, dg, db, false);
            return new float[][] {y.toFloatArray(), rm.toFloatArray(), rv.toFloatArray(), dx.toFloatArray(), dg.toFloatArray(), db.toFloatArray()};
        } finally {
            if (b != be) b.close();
        }
    }
}
