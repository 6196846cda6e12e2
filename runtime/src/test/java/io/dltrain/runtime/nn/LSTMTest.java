package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LSTM: parameter names, shapes and init range as PyTorch's nn.LSTM; forward against a direct double-precision
 * loop over the LSTM equations; backpropagation through time against finite differences.
 */
class LSTMTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    @Test
    void parametersAreNamedAndShapedAsPyTorch() {
        int f = 5, h = 7;
        try (LSTM lstm = Scope.outside(() -> new LSTM(new Context(be, 1), f, h, 2))) {
            Map<String, Tensor> p = lstm.namedParameters();
            assertEquals(List.of("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                    "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"), List.copyOf(p.keySet()));
            assertEquals(Shape.of(4 * h, f), p.get("weight_ih_l0").shape());
            assertEquals(Shape.of(4 * h, h), p.get("weight_hh_l0").shape());
            assertEquals(Shape.of(4 * h, h), p.get("weight_ih_l1").shape());
            assertEquals(Shape.of(4 * h), p.get("bias_hh_l1").shape());
            // PyTorch's formula: per layer 4H(F_k + H) + 8H
            assertEquals(4L * h * (f + h) + 8L * h + 4L * h * (h + h) + 8L * h, lstm.parameterCount());
            double bound = 1 / Math.sqrt(h);
            for (var e : p.entrySet()) {
                float[] v = e.getValue().toFloatArray();
                double max = 0;
                for (float x : v) { assertTrue(Math.abs(x) <= bound, e.getKey() + " value " + x + " outside +-" + bound); max = Math.max(max, Math.abs(x)); }
                assertTrue(max > 0.5 * bound, e.getKey() + ": values should spread over the range, max |w| " + max);
            }
        }
    }

    @Test
    void forwardMatchesReferenceLoop() {
        int n = 3, steps = 5, f = 4, h = 6, layers = 2;
        try (LSTM lstm = Scope.outside(() -> new LSTM(new Context(be, 7), f, h, layers)); Scope s = Scope.open()) {
            float[] x = Check.uniform(new SplittableRandom(8), n * steps * f, -1, 1);
            Tensor y = lstm.forward(be.fromHost(x, Shape.of(n, steps, f)));
            assertEquals(Shape.of(n, steps, h), y.shape());
            Check.close("lstm output", reference(lstm, x, n, steps, f), y.toFloatArray(), 1e-5, 1e-4);
        }
    }

    /** The LSTM equations as written in PyTorch's documentation, in double precision, batch by batch. */
    static double[] reference(LSTM lstm, float[] x, int n, int steps, int f) {
        Map<String, Tensor> p = lstm.namedParameters();
        int h = lstm.hiddenSize();
        double[] in = new double[x.length];
        for (int i = 0; i < x.length; i++) in[i] = x[i];
        int inSize = f;
        for (int k = 0; k < lstm.numLayers(); k++) {
            float[] wih = p.get("weight_ih_l" + k).toFloatArray(), whh = p.get("weight_hh_l" + k).toFloatArray();
            float[] bih = p.get("bias_ih_l" + k).toFloatArray(), bhh = p.get("bias_hh_l" + k).toFloatArray();
            double[] out = new double[n * steps * h];
            for (int b = 0; b < n; b++) {
                double[] hs = new double[h], cs = new double[h];
                for (int t = 0; t < steps; t++) {
                    double[] gate = new double[4 * h];
                    for (int r = 0; r < 4 * h; r++) {
                        double acc = bih[r] + bhh[r];
                        for (int j = 0; j < inSize; j++) acc += wih[r * inSize + j] * in[(b * steps + t) * inSize + j];
                        for (int j = 0; j < h; j++) acc += whh[r * h + j] * hs[j];
                        gate[r] = acc;
                    }
                    for (int j = 0; j < h; j++) {
                        double ig = sigmoid(gate[j]), fg = sigmoid(gate[h + j]), gg = Math.tanh(gate[2 * h + j]), og = sigmoid(gate[3 * h + j]);
                        cs[j] = fg * cs[j] + ig * gg;
                        hs[j] = og * Math.tanh(cs[j]);
                        out[(b * steps + t) * h + j] = hs[j];
                    }
                }
            }
            in = out;
            inSize = h;
        }
        return in;
    }

    static double sigmoid(double v) { return 1 / (1 + Math.exp(-v)); }

    @Test
    void gradientsThroughTime() {
        int n = 2, steps = 3, f = 2, h = 3;
        SplittableRandom rng = new SplittableRandom(9);
        try (LSTM lstm = Scope.outside(() -> new LSTM(new Context(be, 10), f, h, 2)); Tensor x = Check.param(be, rng, -1, 1, n, steps, f)) {
            // Larger weights than the default init so the gates leave the linear region of sigmoid/tanh.
            for (Tensor t : lstm.parameters()) be.copyFromHost(Check.uniform(rng, (int) t.numel(), -1, 1), 0, t);
            List<Tensor> inputs = new java.util.ArrayList<>();
            inputs.add(x);
            inputs.addAll(lstm.parameters());
            Check.gradients("lstm", in -> lstm.forward(in.get(0)), inputs, Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void trainingMemoryGrowsLinearlyWithTheSequenceLength() {
        // a forward and backward over 8 and over 32 steps (input data, as in a model: no gradient for x): the peak
        // memory grows about 4x; per-step slices of one [N, T, 4H] projection made it grow 16x (T^2: a zero-filled
        // [N, T, 4H] gradient per step)
        long[] peak = new long[2];
        int[] steps = {8, 32};
        for (int i = 0; i < 2; i++) {
            int t = steps[i];
            try (CpuBackend b = new CpuBackend(1);
                 LSTM lstm = Scope.outside(() -> new LSTM(new Context(b, 3), 16, 32, 2)); Scope s = Scope.open()) {
                Tensor x = b.fromHost(Check.uniform(new SplittableRandom(5), 4 * t * 16, -1, 1), Shape.of(4, t, 16));
                Tensor y = lstm.forward(x);
                io.dltrain.runtime.autograd.Autograd.backward(y, b.fromHost(Check.uniform(new SplittableRandom(6), (int) y.numel(), -1, 1), y.shape()));
                assertTrue(lstm.parameters().getFirst().grad() != null);
                peak[i] = ((Number) b.describe().get("memory_peak_bytes")).longValue();
            }
        }
        double ratio = (double) peak[1] / peak[0];
        assertTrue(ratio < 6, "4x the steps took " + ratio + "x the peak memory (" + peak[0] + " -> " + peak[1] + " bytes)");
    }

    /**
     * Backpropagation through 5,000 steps (a long sensor recording) on a thread with a 256 KiB stack, a quarter of the
     * JVM's default: the backward walks the graph without recursion, so its depth does not grow with T (a recursive
     * walk overflows far earlier: some 10 frames a step). The first step's weights still get a finite gradient.
     */
    @Test
    void aLongSequenceBackpropagatesWithoutDeepRecursion() throws Exception {
        int steps = 5000;
        Throwable[] failed = {null};
        float[][] grads = {null};
        Thread t = new Thread(null, () -> {
            try (CpuBackend b = new CpuBackend(1); LSTM lstm = Scope.outside(() -> new LSTM(new Context(b, 3), 1, 4, 1)); Scope s = Scope.open()) {
                Tensor x = b.fromHost(Check.uniform(new SplittableRandom(5), steps, -1, 1), Shape.of(1, steps, 1));
                List<Tensor> hs = lstm.forwardSteps(x);
                Tensor last = hs.getLast();
                io.dltrain.runtime.autograd.Autograd.backward(last, b.fromHost(new float[] {1, 1, 1, 1}, last.shape()));
                grads[0] = lstm.parameters().getFirst().grad().toFloatArray();
            } catch (Throwable e) {
                failed[0] = e;
            }
        }, "long-bptt", 256 * 1024);
        t.start();
        t.join();
        if (failed[0] != null) throw new AssertionError("backward over " + steps + " steps failed: " + failed[0], failed[0]);
        assertEquals(16, grads[0].length);
        for (float g : grads[0]) assertTrue(Float.isFinite(g), "weight_ih_l0's gradient " + java.util.Arrays.toString(grads[0]));
    }

    @Test
    void rejectsWrongInput() {
        try (LSTM lstm = Scope.outside(() -> new LSTM(new Context(be, 1), 4, 3, 1)); Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> lstm.forward(be.zeros(Shape.of(2, 5, 3))));
            assertTrue(e.getMessage().contains("[2, 5, 3]") && e.getMessage().contains("[N, T, 4]"), e.getMessage());
        }
    }
}
