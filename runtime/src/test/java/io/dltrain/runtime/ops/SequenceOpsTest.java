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
