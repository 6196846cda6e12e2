package io.dltrain.runtime.optim;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Caffe's closed-form check: each optimiser minimises the least-squares loss mean((A x - b)^2) (plus, for the
 * coupled-weight-decay runs, the L2 term it implies) through {@link Basic#linear} and autograd, and must end near the
 * analytic minimiser, solved here in double from the normal equations:
 * x* = (2/M A^T A + wd I)^-1 (2/M A^T b).
 */
class LeastSquaresTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    static final int M = 64, D = 6;
    /** How close the optimiser must get to x*, per element (x* is O(1); float noise is ~1e-6). */
    static final double TOL = 1e-3;

    static final float[] A, B;

    static {
        SplittableRandom rng = new SplittableRandom(7);
        A = Check.uniform(rng, M * D, -1, 1);
        float[] xTrue = Check.uniform(rng, D, -2, 2), noise = Check.uniform(rng, M, -0.3, 0.3);
        B = new float[M];
        for (int i = 0; i < M; i++) {
            double acc = noise[i];
            for (int j = 0; j < D; j++) acc += (double) A[i * D + j] * xTrue[j];
            B[i] = (float) acc;
        }
    }

    /** Minimiser of mean((A x - b)^2) + wd/2 |x|^2, i.e. the solution of (2/M A^T A + wd I) x = 2/M A^T b. */
    static double[] analytic(double wd) {
        double[][] h = new double[D][D + 1];
        for (int r = 0; r < D; r++) {
            for (int c = 0; c < D; c++) {
                double acc = 0;
                for (int i = 0; i < M; i++) acc += (double) A[i * D + r] * A[i * D + c];
                h[r][c] = 2.0 / M * acc + (r == c ? wd : 0);
            }
            double acc = 0;
            for (int i = 0; i < M; i++) acc += (double) A[i * D + r] * B[i];
            h[r][D] = 2.0 / M * acc;
        }
        // Gaussian elimination with partial pivoting
        for (int c = 0; c < D; c++) {
            int piv = c;
            for (int r = c + 1; r < D; r++) if (Math.abs(h[r][c]) > Math.abs(h[piv][c])) piv = r;
            double[] t = h[c]; h[c] = h[piv]; h[piv] = t;
            for (int r = 0; r < D; r++) {
                if (r == c) continue;
                double f = h[r][c] / h[c][c];
                for (int k = c; k <= D; k++) h[r][k] -= f * h[c][k];
            }
        }
        double[] x = new double[D];
        for (int r = 0; r < D; r++) x[r] = h[r][D] / h[r][r];
        return x;
    }

    /** Runs `steps` optimiser steps from x = 0 with the given schedule and checks the result against x*(wd). */
    static void converges(String what, Function<Map<String, Tensor>, Optimizer> make, double baseLr, LrSchedule schedule,
                          int steps, double wd) {
        try (Tensor x = be.zeros(Shape.of(1, D)).requiresGrad(true);
             Tensor a = be.fromHost(A, Shape.of(M, D)); Tensor b = be.fromHost(B, Shape.of(M, 1));
             Optimizer opt = make.apply(Map.of("x", x))) {
            for (int t = 0; t < steps; t++) {
                opt.setLr(schedule.lr(baseLr, t, steps, steps));
                opt.zeroGrad();
                try (Scope s = Scope.open()) {
                    Tensor pred = Basic.linear(a, x, null);             // [M, 1] = A x
                    // d mean((pred - b)^2) / d pred = 2 (pred - b) / M, computed with backend ops and fed to backward
                    Tensor seed = be.empty(pred.shape());
                    be.copy(pred, seed);
                    be.axpy(-1f, b, seed);
                    be.scale(seed, 2f / M, seed);
                    Autograd.backward(pred, seed);
                }
                opt.step();
            }
            Check.close(what + " after " + steps + " steps vs the least-squares solution", analytic(wd), x.toFloatArray(), TOL, 0);
        }
    }

    static final LrSchedule CONSTANT = new LrSchedule.Constant(), COSINE = new LrSchedule.Cosine(0);

    @Test void sgd() { converges("SGD", ps -> new SGD(ps), 0.3, CONSTANT, 300, 0); }

    @Test void sgdNesterov() { converges("SGD nesterov", ps -> new SGD(ps).momentum(0.9).nesterov(true), 0.05, CONSTANT, 300, 0); }

    @Test void sgdMomentumDampening() { converges("SGD momentum", ps -> new SGD(ps).momentum(0.5).dampening(0.5), 0.3, CONSTANT, 300, 0); }

    @Test void sgdWeightDecayFindsRidgeSolution() { converges("SGD weight decay", ps -> new SGD(ps).weightDecay(0.2), 0.3, CONSTANT, 300, 0.2); }

    @Test void adagrad() { converges("Adagrad", Adagrad::new, 0.5, CONSTANT, 500, 0); }

    @Test void adadelta() { converges("Adadelta", ps -> new Adadelta(ps).eps(1e-4), 1.0, CONSTANT, 1500, 0); }

    @Test void rmsprop() { converges("RMSprop", RMSprop::new, 0.01, COSINE, 1000, 0); }

    @Test void rmspropCenteredMomentum() { converges("RMSprop centered", ps -> new RMSprop(ps).centered(true).momentum(0.5), 0.005, COSINE, 1000, 0); }

    @Test void adam() { converges("Adam", Adam::new, 0.05, COSINE, 1000, 0); }

    @Test void adamCoupledWeightDecayFindsRidgeSolution() { converges("Adam weight decay", ps -> new Adam(ps).weightDecay(0.2), 0.05, COSINE, 1000, 0.2); }

    /** AdamW's decoupled decay has no ridge fixed point under adaptive scaling, so it is checked without decay here (its decay is checked in OptimizerStepTest). */
    @Test void adamw() { converges("AdamW", ps -> new AdamW(ps).weightDecay(0), 0.05, new LrSchedule.Warmup(50, COSINE), 1000, 0); }
}
