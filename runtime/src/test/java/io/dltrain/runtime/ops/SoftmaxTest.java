package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.LogSoftmax;
import io.dltrain.runtime.nn.Softmax;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Softmax and log-softmax over the last dimension against double references, hard logits, and finite differences. */
class SoftmaxTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** Reference: softmax or log-softmax of each row of length L, in double with the max subtracted. */
    static double[] reference(float[] x, int L, boolean log) {
        double[] out = new double[x.length];
        for (int r = 0; r < x.length / L; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < L; j++) max = Math.max(max, x[r * L + j]);
            double sum = 0;
            for (int j = 0; j < L; j++) sum += Math.exp(x[r * L + j] - max);
            for (int j = 0; j < L; j++) {
                double z = x[r * L + j] - max;
                out[r * L + j] = log ? z - Math.log(sum) : Math.exp(z) / sum;
            }
        }
        return out;
    }

    /** One float rounding of the double result with margin; log-softmax values up to ~160 in magnitude. */
    static final double ATOL = 1e-7, RTOL = 1e-6;

    void checkForward(float[] x, int... dims) {
        int L = dims[dims.length - 1];
        try (Scope s = Scope.open()) {
            Tensor t = be.fromHost(x, Shape.of(dims));
            Check.close("softmax " + Shape.of(dims), reference(x, L, false), Activations.softmax(t).toFloatArray(), ATOL, RTOL);
            Check.close("logSoftmax " + Shape.of(dims), reference(x, L, true), Activations.logSoftmax(t).toFloatArray(), ATOL, RTOL);
        }
    }

    @Test
    void forwardMatchesReference() {
        SplittableRandom rng = new SplittableRandom(1);
        checkForward(Check.uniform(rng, 21, -3, 3), 3, 7);
        checkForward(Check.uniform(rng, 30, -5, 5), 2, 3, 5);
        checkForward(Check.uniform(rng, 5, -5, 5), 5);
        // 64 rows of 1000 classes: the rows are split over threads.
        checkForward(Check.uniform(rng, 64_000, -10, 10), 64, 1000);
    }

    @Test
    void largeLogitsStayFinite() {
        // Logits of +-80: nothing overflows because the row max is subtracted first. In the third row the
        // log-probabilities of 80 and 79.5 are about -0.97 and -1.47; computing x - (max + log sum) in float would
        // round them to float's resolution at 81 (7.6e-6), which RTOL 1e-6 catches.
        float[] x = {80, -80, 79, 0,
                     -80, -80, -80, -80,
                     80, 80, -80, 79.5f,
                     80, 70, 60, -80};
        checkForward(x, 4, 4);
        try (Scope s = Scope.open()) {
            float[] lp = Activations.logSoftmax(be.fromHost(new float[] {80, -80}, Shape.of(1, 2))).toFloatArray();
            // log(1 + e^-160) ~ 1e-70 underflows to -0 in float; the other is exactly -160.
            Check.close("logSoftmax [80, -80]", new double[] {-Math.exp(-160), -160}, lp, 0, 1e-7);
        }
    }

    /**
     * Infinite logits as PyTorch: a row holding +inf is NaN throughout (x - max is inf - inf), forward and backward;
     * a -inf logit gets probability 0 (log-probability -inf) and no gradient. Reference, torch 2.13 float32:
     * x = torch.tensor([[inf, 1.], [inf, inf], [-inf, 1.]], requires_grad=True), y = F.softmax(x, -1) (or
     * F.log_softmax), (y * torch.tensor([0.3, -0.7])).sum().backward(): softmax y = [[nan, nan], [nan, nan], [0, 1]],
     * x.grad = [[nan, nan], [nan, nan], [0, 0]]; log_softmax y = [[nan, nan], [nan, nan], [-inf, 0]],
     * x.grad = [[nan, nan], [nan, nan], [0.3, -0.3]].
     */
    @Test
    void infiniteLogitsGiveWhatPyTorchGives() {
        float inf = Float.POSITIVE_INFINITY, nan = Float.NaN;
        float[] x = {inf, 1f, inf, inf, -inf, 1f};
        float[][] want = {{nan, nan, nan, nan, 0f, 1f}, {nan, nan, nan, nan, -inf, 0f}};
        float[][] wantGrad = {{nan, nan, nan, nan, 0f, 0f}, {nan, nan, nan, nan, 0.3f, -0.3f}};
        for (int log = 0; log < 2; log++) {
            try (Scope s = Scope.open()) {
                Tensor t = be.fromHost(x, Shape.of(3, 2)), y = be.empty(Shape.of(3, 2)), dx = be.empty(Shape.of(3, 2));
                be.softmaxForward(t, y, log == 1);
                String what = log == 1 ? "logSoftmax" : "softmax";
                assertArrayEquals(want[log], y.toFloatArray(), what);
                be.softmaxBackward(y, be.fromHost(new float[] {0.3f, -0.7f, 0.3f, -0.7f, 0.3f, -0.7f}, Shape.of(3, 2)), dx, log == 1);
                assertArrayEquals(wantGrad[log], dx.toFloatArray(), what + " backward");
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(2);
        try (Tensor x = Check.param(be, rng, -2, 2, 3, 5); Tensor x3 = Check.param(be, rng, -2, 2, 2, 2, 4)) {
            Check.gradients("softmax", in -> Activations.softmax(in.get(0)), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("logSoftmax", in -> Activations.logSoftmax(in.get(0)), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("softmax rank 3", in -> Activations.softmax(in.get(0)), List.of(x3), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("logSoftmax rank 3", in -> Activations.logSoftmax(in.get(0)), List.of(x3), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void backwardMatchesJacobianProduct() {
        // dx_i = sum_j dy_j d y_j / d x_i with the analytic Jacobians, on 200-class rows (beyond a finite-difference check's size).
        SplittableRandom rng = new SplittableRandom(3);
        int rows = 6, L = 200;
        float[] x = Check.uniform(rng, rows * L, -8, 8), dy = Check.uniform(rng, rows * L, -1, 1);
        for (boolean log : new boolean[] {false, true}) {
            double[] p = reference(x, L, false);
            double[] want = new double[x.length];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < L; i++) {
                    double acc = 0;
                    for (int j = 0; j < L; j++) {
                        double pi = p[r * L + i], pj = p[r * L + j];
                        // softmax: dy_j/dx_i = p_j (delta_ij - p_i); log-softmax: delta_ij - p_i
                        double jac = log ? (i == j ? 1 : 0) - pi : pj * ((i == j ? 1 : 0) - pi);
                        acc += dy[r * L + j] * jac;
                    }
                    want[r * L + i] = acc;
                }
            }
            try (Scope s = Scope.open()) {
                Tensor xt = be.fromHost(x, Shape.of(rows, L)), y = be.empty(xt.shape()), dx = be.empty(xt.shape());
                be.softmaxForward(xt, y, log);
                be.softmaxBackward(y, be.fromHost(dy, xt.shape()), dx, log);
                Check.close((log ? "logSoftmax" : "softmax") + " backward", want, dx.toFloatArray(), 1e-6, 1e-5);
            }
        }
    }

    @Test
    void layersAndThreadCountsAgree() {
        float[] x = Check.uniform(new SplittableRandom(4), 40 * 300, -6, 6);
        try (CpuBackend one = new CpuBackend(1); Scope s = Scope.open()) {
            // Rows are independent, so one thread and two give bit-identical results.
            float[] a = Activations.softmax(one.fromHost(x, Shape.of(40, 300))).toFloatArray();
            float[] b = new Softmax().forward(be.fromHost(x, Shape.of(40, 300))).toFloatArray();
            assertArrayEquals(a, b);
            float[] c = Activations.logSoftmax(one.fromHost(x, Shape.of(40, 300))).toFloatArray();
            float[] d = new LogSoftmax().forward(be.fromHost(x, Shape.of(40, 300))).toFloatArray();
            assertArrayEquals(c, d);
        }
    }
}
