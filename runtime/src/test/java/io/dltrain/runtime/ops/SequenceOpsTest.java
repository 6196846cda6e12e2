package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** mul, sliceLast, selectStep, stackSteps: forward against index arithmetic, backward against finite differences. */
class SequenceOpsTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    @Test
    void mulForwardAndGradients() {
        SplittableRandom rng = new SplittableRandom(1);
        try (Tensor a = Check.param(be, rng, -1, 1, 3, 4); Tensor b = Check.param(be, rng, -1, 1, 3, 4)) {
            try (Scope s = Scope.open()) {
                float[] av = a.toFloatArray(), bv = b.toFloatArray(), y = Sequence.mul(a, b).toFloatArray();
                double[] want = new double[av.length];
                for (int i = 0; i < av.length; i++) want[i] = (double) av[i] * bv[i];
                Check.close("mul", want, y, 1e-7, 1e-6);
            }
            Check.gradients("mul", in -> Sequence.mul(in.get(0), in.get(1)), List.of(a, b), Check.EPS, Check.ATOL, Check.RTOL);
            // the same tensor on both sides: d(a*a)/da = 2a
            Check.gradients("mul square", in -> Sequence.mul(in.get(0), in.get(0)), List.of(a), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    /**
     * lstmCell: forward against the LSTM equations in double, one element at a time; gradients of c, of h, and of a
     * sum of both (so that h's dc and the caller's dc meet in c's backward, as in a sequence) against finite
     * differences, with respect to the gates and cPrev.
     */
    @Test
    void lstmCellForwardAndGradients() {
        SplittableRandom rng = new SplittableRandom(5);
        int n = 3, h = 4;
        try (Tensor gates = Check.param(be, rng, -2, 2, n, 4 * h); Tensor cPrev = Check.param(be, rng, -1.5, 1.5, n, h)) {
            try (Scope s = Scope.open()) {
                Sequence.LstmState st = Sequence.lstmCell(gates, cPrev);
                float[] g = gates.toFloatArray(), cp = cPrev.toFloatArray();
                double[] wantC = new double[n * h], wantH = new double[n * h];
                for (int r = 0; r < n; r++)
                    for (int j = 0; j < h; j++) {
                        int b = r * 4 * h + j;
                        double i = sig(g[b]), f = sig(g[b + h]), gg = Math.tanh(g[b + 2 * h]), o = sig(g[b + 3 * h]);
                        double c = f * cp[r * h + j] + i * gg;
                        wantC[r * h + j] = c;
                        wantH[r * h + j] = o * Math.tanh((float) c);
                    }
                Check.close("lstmCell c", wantC, st.c().toFloatArray(), 1e-6, 1e-6);
                Check.close("lstmCell h", wantH, st.h().toFloatArray(), 1e-6, 1e-6);
                assertEquals(Shape.of(n, h), st.h().shape());
            }
            List<Tensor> in = List.of(gates, cPrev);
            Check.gradients("lstmCell c", x -> Sequence.lstmCell(x.get(0), x.get(1)).c(), in, Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("lstmCell h", x -> Sequence.lstmCell(x.get(0), x.get(1)).h(), in, Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("lstmCell c + h", x -> {
                Sequence.LstmState st = Sequence.lstmCell(x.get(0), x.get(1));
                return Basic.add(st.c(), st.h());
            }, in, Check.EPS, Check.ATOL, Check.RTOL);
            // Two steps chained, the second reading the first's c: the sequence case.
            Check.gradients("lstmCell two steps", x -> Sequence.lstmCell(x.get(0), Sequence.lstmCell(x.get(0), x.get(1)).c()).h(),
                    in, Check.EPS, Check.ATOL, Check.RTOL);
        }
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> Sequence.lstmCell(be.zeros(Shape.of(2, 6)), be.zeros(Shape.of(2, 2))));
            assertTrue(e.getMessage().contains("[N, 4H]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Sequence.lstmCell(be.zeros(Shape.of(2, 8)), be.zeros(Shape.of(2, 3))));
            assertTrue(e.getMessage().contains("[2, 2]"), e.getMessage());
        }
    }

    static double sig(double v) { return 1 / (1 + Math.exp(-v)); }

    @Test
    void sliceLastPicksColumns() {
        try (Scope s = Scope.open()) {
            int rows = 3, d = 7, start = 2, len = 3;
            float[] x = new float[rows * d];
            for (int i = 0; i < x.length; i++) x[i] = i;
            Tensor y = Sequence.sliceLast(be.fromHost(x, Shape.of(rows, d)), start, len);
            assertEquals(Shape.of(rows, len), y.shape());
            float[] want = new float[rows * len];
            for (int r = 0; r < rows; r++) for (int j = 0; j < len; j++) want[r * len + j] = x[r * d + start + j];
            org.junit.jupiter.api.Assertions.assertArrayEquals(want, y.toFloatArray());
        }
    }

    @Test
    void sliceLastGradients() {
        SplittableRandom rng = new SplittableRandom(2);
        try (Tensor x = Check.param(be, rng, -1, 1, 2, 3, 8)) {
            Check.gradients("slice", in -> Sequence.sliceLast(in.get(0), 3, 4), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            // two overlapping slices of one tensor: gradients from both add up
            Check.gradients("slice twice", in -> Sequence.mul(Sequence.sliceLast(in.get(0), 0, 4), Sequence.sliceLast(in.get(0), 2, 4)),
                    List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void selectAndStackAreInverse() {
        try (Scope s = Scope.open()) {
            int n = 2, steps = 3, f = 4;
            float[] x = new float[n * steps * f];
            for (int i = 0; i < x.length; i++) x[i] = i;
            Tensor xt = be.fromHost(x, Shape.of(n, steps, f));
            Tensor step1 = Sequence.selectStep(xt, 1);
            assertEquals(Shape.of(n, f), step1.shape());
            float[] want = new float[n * f];
            for (int b = 0; b < n; b++) for (int j = 0; j < f; j++) want[b * f + j] = x[(b * steps + 1) * f + j];
            org.junit.jupiter.api.Assertions.assertArrayEquals(want, step1.toFloatArray());
            Tensor back = Sequence.stackSteps(List.of(Sequence.selectStep(xt, 0), step1, Sequence.selectStep(xt, 2)));
            assertEquals(xt.shape(), back.shape());
            org.junit.jupiter.api.Assertions.assertArrayEquals(x, back.toFloatArray());
        }
    }

    @Test
    void selectAndStackGradients() {
        SplittableRandom rng = new SplittableRandom(3);
        try (Tensor x = Check.param(be, rng, -1, 1, 2, 4, 3); Tensor a = Check.param(be, rng, -1, 1, 2, 3); Tensor b = Check.param(be, rng, -1, 1, 2, 3)) {
            Check.gradients("select", in -> Sequence.selectStep(in.get(0), 2), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("stack", in -> Sequence.stackSteps(List.of(in.get(0), in.get(1), in.get(0))), List.of(a, b), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void errorsNameShapes() {
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> Sequence.sliceLast(be.zeros(Shape.of(2, 5)), 3, 3));
            assertTrue(e.getMessage().contains("[2, 5]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Sequence.selectStep(be.zeros(Shape.of(2, 3, 4)), 3));
            assertTrue(e.getMessage().contains("[2, 3, 4]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Sequence.mul(be.zeros(Shape.of(2, 3)), be.zeros(Shape.of(3, 2))));
            assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[3, 2]"), e.getMessage());
        }
    }
}
