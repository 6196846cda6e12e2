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

/** linear, add, reshape, concat: forward against direct loops, backward against finite differences. */
class BasicOpsTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** A tensor beyond one Java array is refused with its shape and what to do, before anything is allocated. */
    @Test
    void cpuTensorsBeyondOneJavaArrayAreRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> be.empty(Shape.of(2700, 64, 112, 112), io.dltrain.runtime.tensor.DType.FP32));
        assertEquals("tensor [2700, 64, 112, 112] has 2167603200 elements, more than the 2^31-9 a CPU tensor (one Java array) holds;"
                + " use a smaller batch", e.getMessage());
    }

    /**
     * An input linear cannot take gets advice for its own case: every refusal said "flatten image inputs first", also to
     * an input that was flattened already and only has another number of features (a Flatten + Linear(784, 10) fed
     * 3x32x32 images gets [N, 3072]), where flattening is not the answer.
     */
    @Test
    void linearSaysWhatToDoForTheInputItGot() {
        try (Scope s = Scope.open()) {
            Tensor w = be.zeros(Shape.of(10, 784));
            var e = assertThrows(IllegalArgumentException.class, () -> Basic.linear(be.zeros(Shape.of(2, 3072)), w, null));
            assertEquals("linear: input [2, 3072] does not fit weight [10, 784]: the layer takes 784 features per sample, the input has"
                    + " 3072; build the layer with 3072 inputs, or make the one before it give 784", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Basic.linear(be.zeros(Shape.of(2, 1, 28, 28)), w, null));
            assertEquals("linear: input [2, 1, 28, 28] does not fit weight [10, 784]: it takes [N, 784]; flatten the input to [N, 784]"
                    + " first (a Flatten layer before it)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Basic.linear(be.zeros(Shape.of(784)), w, null));
            assertEquals("linear: input [784] does not fit weight [10, 784]: it takes [N, 784]; give a single sample a batch dimension"
                    + " of 1 ([1, 784])", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Basic.linear(be.zeros(Shape.of(2, 3, 32, 32)), w, null));
            assertEquals("linear: input [2, 3, 32, 32] does not fit weight [10, 784]: it takes [N, 784], and the input holds 3072 values"
                    + " per sample; flatten it (a Flatten layer before it) and build the layer with 3072 inputs", e.getMessage());
        }
    }

    /**
     * An input without a batch dimension that is not one sample of the layer's size was told to take a batch dimension of
     * 1 all the same: [3072] for Linear(784 -> 10) got "give a single sample a batch dimension of 1 ([1, 3072])", which
     * only leads to the next refusal ("the layer takes 784 features per sample, the input has 3072").
     */
    @Test
    void linearOnAnInputWithoutABatchDimensionSaysWhatFits() {
        try (Scope s = Scope.open()) {
            Tensor w = be.zeros(Shape.of(10, 784));
            var e = assertThrows(IllegalArgumentException.class, () -> Basic.linear(be.zeros(Shape.of(3072)), w, null));
            assertEquals("linear: input [3072] does not fit weight [10, 784]: it takes [N, 784], and the input holds 3072 values, not a"
                    + " whole number of samples of 784; for one sample of 3072 values, build the layer with 3072 inputs and give it [1, 3072]",
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Basic.linear(be.zeros(Shape.of(1568)), w, null));
            assertEquals("linear: input [1568] does not fit weight [10, 784]: it takes [N, 784]; reshape the input to [2, 784], one"
                    + " sample per row", e.getMessage());
        }
    }

    @Test
    void linearForwardMatchesLoops() {
        try (Scope s = Scope.open()) {
            SplittableRandom rng = new SplittableRandom(1);
            int n = 5, in = 7, out = 3;
            float[] x = Check.uniform(rng, n * in, -1, 1), w = Check.uniform(rng, out * in, -1, 1), b = Check.uniform(rng, out, -1, 1);
            Tensor y = Basic.linear(be.fromHost(x, Shape.of(n, in)), be.fromHost(w, Shape.of(out, in)), be.fromHost(b, Shape.of(out)));
            double[] want = new double[n * out];
            for (int i = 0; i < n; i++) for (int o = 0; o < out; o++) {
                double acc = b[o];
                for (int k = 0; k < in; k++) acc += (double) x[i * in + k] * w[o * in + k];
                want[i * out + o] = acc;
            }
            Check.close("linear", want, y.toFloatArray(), 1e-5, 1e-5);
        }
    }

    @Test
    void linearGradients() {
        SplittableRandom rng = new SplittableRandom(2);
        try (Tensor x = Check.param(be, rng, -1, 1, 4, 6); Tensor w = Check.param(be, rng, -1, 1, 3, 6); Tensor b = Check.param(be, rng, -1, 1, 3)) {
            Check.gradients("linear", in -> Basic.linear(in.get(0), in.get(1), in.get(2)), List.of(x, w, b), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void linearReluGradients() {
        SplittableRandom rng = new SplittableRandom(5);
        // Pre-activations of magnitude well above eps (about 0.8 of |x W^T + b|'s mass): finite differences across the
        // ReLU's kink would be wrong, so the bias keeps outputs away from 0 in both directions.
        try (Tensor x = Check.param(be, rng, -1, 1, 4, 6); Tensor w = Check.param(be, rng, -1, 1, 3, 6);
             Tensor b = be.fromHost(new float[] {2.5f, -2.5f, 0.4f}, Shape.of(3)).requiresGrad(true)) {
            Check.gradients("linear_relu", in -> Basic.linearRelu(in.get(0), in.get(1), in.get(2)), List.of(x, w, b), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    /** relu(linear(x)) as one op gives, bit for bit, the two ops' output and gradients: NaN, -0 and ties included. */
    @Test
    void linearReluIsLinearThenReluBitForBit() {
        SplittableRandom rng = new SplittableRandom(6);
        int n = 7, in = 9, out = 5;
        float[] xv = Check.uniform(rng, n * in, -1, 1), wv = Check.uniform(rng, out * in, -1, 1), bv = Check.uniform(rng, out, -1, 1);
        xv[3 * in + 4] = Float.NaN;   // row 3 of the output is NaN
        for (int i = 0; i < in; i++) xv[5 * in + i] = 0f; // row 5 is the bias alone
        bv[2] = -0f;                  // ... so (5, 2) is -0 before the ReLU: exactly at the kink
        float[] r = Check.uniform(rng, n * out, -1, 1);
        for (boolean bias : new boolean[] {true, false}) {
            float[][] fused = run(xv, wv, bias ? bv : null, r, n, in, out, true), plain = run(xv, wv, bias ? bv : null, r, n, in, out, false);
            for (int k = 0; k < 4; k++) {
                if (!bias && k == 3) continue;
                for (int i = 0; i < plain[k].length; i++)
                    assertEquals(Float.floatToRawIntBits(plain[k][i]), Float.floatToRawIntBits(fused[k][i]),
                            "bias=" + bias + " " + new String[] {"y", "dx", "dw", "db"}[k] + "[" + i + "]: " + fused[k][i] + " vs " + plain[k][i]);
            }
        }
    }

    /** {y, dx, dw, db} of (fused ? linearRelu : relu(linear)) with upstream gradient r. */
    private static float[][] run(float[] xv, float[] wv, float[] bv, float[] r, int n, int in, int out, boolean fused) {
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(xv, Shape.of(n, in)).requiresGrad(true), w = be.fromHost(wv, Shape.of(out, in)).requiresGrad(true);
            Tensor b = bv == null ? null : be.fromHost(bv, Shape.of(out)).requiresGrad(true);
            Tensor y = fused ? Basic.linearRelu(x, w, b) : Activations.relu(Basic.linear(x, w, b));
            assertEquals(fused && b != null ? "linear_relu" : "relu", y.gradFn().op());
            io.dltrain.runtime.autograd.Autograd.backward(y, be.fromHost(r, y.shape()));
            return new float[][] {y.toFloatArray(), x.grad().toFloatArray(), w.grad().toFloatArray(), b == null ? null : b.grad().toFloatArray()};
        }
    }

    @Test
    void addUsedTwiceAccumulates() {
        SplittableRandom rng = new SplittableRandom(3);
        try (Tensor x = Check.param(be, rng, -1, 1, 2, 3)) {
            // y = (x + x) + x: x feeds three uses, so dy/dx = 3 r
            Check.gradients("add", in -> Basic.add(Basic.add(in.get(0), in.get(0)), in.get(0)), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    /**
     * pow(x, p) for a constant p: forward against Math.pow in a direct loop (p = 2 bit for bit x * x, as torch), gradients by
     * finite differences for several exponents and in a focal-loss term mean((1 - q)^gamma * log q).
     */
    @Test
    void powForwardAndGradients() {
        SplittableRandom rng = new SplittableRandom(12);
        try (Scope s = Scope.open()) {
            float[] v = Check.uniform(rng, 3 * 7, 0.1, 3);
            Tensor x = be.fromHost(v, Shape.of(3, 7));
            for (float p : new float[] {2.5f, -1.7f, 0.3f, 1.5f}) {
                float[] want = new float[v.length];
                for (int i = 0; i < v.length; i++) want[i] = (float) Math.pow(v[i], p);
                Tensor y = Basic.pow(x, p);
                assertEquals(x.shape(), y.shape());
                Check.close("pow(x, " + p + ")", want, y.toFloatArray(), 0, 2e-7);
            }
            float[] sq = Basic.pow(x, 2f).toFloatArray();
            for (int i = 0; i < v.length; i++)
                assertEquals(Float.floatToIntBits(v[i] * v[i]), Float.floatToIntBits(sq[i]), "pow(x, 2) is x * x at element " + i);
        }
        try (Tensor x = Check.param(be, rng, 0.5, 2, 3, 4); Tensor q = Check.param(be, rng, 0.2, 0.8, 2, 5)) {
            for (float p : new float[] {2f, 2.5f, -1.5f, 0.5f, 3f, 1f})
                Check.gradients("pow " + p, in -> Basic.pow(in.get(0), p), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("focal term", in -> {
                Tensor oneMinusQ = Basic.add(Basic.pow(in.get(0), 0f), Basic.scale(in.get(0), -1f));   // 1 - q: the 1 of p = 0, gradient 0
                return Basic.mean(Sequence.mul(Basic.pow(oneMinusQ, 1.5f), Activations.logSoftmax(in.get(0))));
            }, List.of(q), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    /**
     * pow against torch.pow itself: golden/pow.golden.safetensors (benchmarks/pytorch/export_pow_golden.py) holds x (zeros
     * of both signs, +-1, negative bases, tiny, huge, infinite and NaN values, then uniform ones), dy, and per exponent
     * torch's y and x's gradient. Bit for bit where torch's form for p is plain float arithmetic (0, 1, 2, 3, -2, -1: its
     * forward, and the backward's x^(p - 1) for p = 4), else within 2 ulps (4 for a gradient, whose two products round x^(p - 1)'s difference again): torch's float sqrt and rsqrt for 0.5 and -0.5
     * (and p = 1.5's backward) are vectorised approximations within about 1.5 ulps (ours is the IEEE square root), and
     * its powf is glibc's (ours Math.pow in double, rounded); NaN, infinities and the sign of zeros match exactly.
     */
    @Test
    void powMatchesTorchIncludingItsEdgeCases() throws Exception {
        var golden = io.dltrain.runtime.checkpoint.SafeTensors.read(
                java.nio.file.Path.of(BasicOpsTest.class.getResource("/golden/pow.golden.safetensors").toURI()));
        float[] xv = golden.tensors().get("x").floats(), dyv = golden.tensors().get("dy").floats();
        var exponents = new com.fasterxml.jackson.databind.ObjectMapper().readTree(golden.metadata().get("exponents"));
        List<Float> exact = List.of(0f, 1f, 2f, 3f, -2f, -1f);
        int checked = 0;
        try (Scope s = Scope.open()) {
            for (int k = 0; k < exponents.size(); k++) {
                float p = (float) exponents.get(k).asDouble();
                Tensor x = be.fromHost(xv, Shape.of(xv.length)).requiresGrad(true);
                Tensor y = Basic.pow(x, p);
                Basic.sum(Sequence.mul(y, be.fromHost(dyv, Shape.of(dyv.length)))).backward();
                int fwdUlps = exact.contains(p) ? 0 : 2, bwdUlps = exact.contains(p - 1) ? 0 : 4;   // 2 for x^(p - 1), 2 more for the products' roundings
                sameAsTorch("pow(x, " + p + ")", xv, golden.tensors().get("p" + k + ".y").floats(), y.toFloatArray(), fwdUlps);
                sameAsTorch("pow(x, " + p + ") backward", xv, golden.tensors().get("p" + k + ".dx").floats(), x.grad().toFloatArray(), bwdUlps);
                checked++;
            }
        }
        assertEquals(14, checked, "exponents");
    }

    /** NaN for NaN, infinities and zeros bit for bit (-0 is not +0), other values within maxUlps; the failure names x. */
    static void sameAsTorch(String what, float[] x, float[] want, float[] got, int maxUlps) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            float w = want[i], g = got[i];
            boolean ok = Float.isNaN(w) ? Float.isNaN(g)
                    : Float.isInfinite(w) || w == 0f ? Float.floatToIntBits(w) == Float.floatToIntBits(g)
                    : !Float.isNaN(g) && Math.abs((long) Float.floatToIntBits(w) - Float.floatToIntBits(g)) <= maxUlps;
            assertTrue(ok, what + " at x = " + x[i] + ": " + g + ", torch gives " + w + (maxUlps == 0 ? " (bit for bit)" : " (within " + maxUlps + " ulps)"));
        }
    }

    /**
     * scale, sum and mean, the pieces of a loss of one's own (a custom loss had no public way to scale by a constant or
     * reduce to one element): forward against loops, and gradients by finite differences, alone and composed into a
     * weighted MSE, mean(w * (p - t)^2) * 0.5, with p - t as add(p, scale(t, -1)).
     */
    @Test
    void scaleSumAndMeanForwardAndGradients() {
        SplittableRandom rng = new SplittableRandom(6);
        try (Scope s = Scope.open()) {
            float[] v = Check.uniform(rng, 2 * 3 * 5, -1, 1);
            Tensor x = be.fromHost(v, Shape.of(2, 3, 5));
            float[] want = new float[v.length];
            double total = 0;
            for (int i = 0; i < v.length; i++) { want[i] = -0.37f * v[i]; total += v[i]; }
            Check.close("scale", want, Basic.scale(x, -0.37f).toFloatArray(), 0, 0);
            Tensor sum = Basic.sum(x), mean = Basic.mean(x);
            assertEquals(Shape.SCALAR, sum.shape());
            assertEquals(Shape.SCALAR, mean.shape());
            assertEquals(total, sum.item(), 1e-5);
            assertEquals(total / v.length, mean.item(), 1e-6);
        }
        try (Tensor x = Check.param(be, rng, -1, 1, 3, 4); Tensor p = Check.param(be, rng, -1, 1, 2, 5);
             Tensor t = Check.param(be, rng, -1, 1, 2, 5); Tensor w = Check.param(be, rng, 0, 2, 2, 5)) {
            Check.gradients("scale", in -> Basic.scale(in.get(0), -2.5f), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("sum", in -> Basic.sum(in.get(0)), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("mean", in -> Basic.mean(in.get(0)), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            Check.gradients("weighted mse", in -> {
                Tensor d = Basic.add(in.get(0), Basic.scale(in.get(1), -1f));
                return Basic.scale(Basic.mean(Sequence.mul(in.get(2), Sequence.mul(d, d))), 0.5f);
            }, List.of(p, t, w), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void concatAndReshapeGradients() {
        SplittableRandom rng = new SplittableRandom(4);
        try (Tensor a = Check.param(be, rng, -1, 1, 2, 1, 2, 2); Tensor b = Check.param(be, rng, -1, 1, 2, 3, 2, 2)) {
            Check.gradients("concat", in -> Basic.flatten(Basic.concatChannels(List.of(in.get(0), in.get(1)))), List.of(a, b), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    /** A sample without its batch dimension is refused, as by PyTorch's flatten(x, 1), not taken for a batch of [N, 1]. */
    @Test
    void flattenRefusesAnInputWithoutABatchDimension() {
        try (Scope s = Scope.open()) {
            assertEquals(Shape.of(2, 12), Basic.flatten(be.zeros(Shape.of(2, 3, 4))).shape());
            assertEquals(Shape.of(2, 3), Basic.flatten(be.zeros(Shape.of(2, 3))).shape());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new io.dltrain.runtime.nn.Flatten().forward(be.zeros(Shape.of(4))));
            assertTrue(e.getMessage().contains("got [4]") && e.getMessage().contains("[1, ...]"), e.getMessage());
        }
    }

    @Test
    void concatPlacesChannels() {
        try (Scope s = Scope.open()) {
            Tensor a = be.fromHost(new float[] {1, 2, 3, 4}, Shape.of(2, 1, 2));
            Tensor b = be.fromHost(new float[] {5, 6, 7, 8}, Shape.of(2, 1, 2));
            float[] y = Basic.concatChannels(List.of(a, b)).toFloatArray();
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {1, 2, 5, 6, 3, 4, 7, 8}, y);
        }
    }

    /**
     * sum and sumSquares over 1e7 values of 0.1f, where every partial sum rounds the same way (the worst case for a
     * float accumulator). Float partial sums of 1024 values (128 adds per accumulator) drifted by 1e-6 relative:
     * sum 1000001.0 against 1000000.015, more than twice PyTorch's float32 error here (999999.5625, 4.4e-7). The want
     * is the double sum of the same floats (for sumSquares, of the squares rounded to float, as both compute them);
     * tolerance 2.5e-7 relative, about 4 float roundings of the result.
     */
    @Test
    void sumsOfTenMillionEqualValuesAreAccurate() {
        int n = 10_000_000;
        float[] v = new float[n];
        java.util.Arrays.fill(v, 0.1f);
        double want = 0, wantSq = 0;
        for (float f : v) { want += f; wantSq += f * f; }
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(v, Shape.of(n)), out = be.empty(Shape.of(1));
            be.sum(x, 1f, out);
            Check.close("sum of 1e7 x 0.1f", new double[] {want}, out.toFloatArray(), 0, 2.5e-7);
            be.sum(x, 1f / n, out);
            Check.close("mean of 1e7 x 0.1f", new double[] {want / n}, out.toFloatArray(), 0, 2.5e-7);
            be.sumSquares(x, out, false);
            Check.close("sum of squares of 1e7 x 0.1f", new double[] {wantSq}, out.toFloatArray(), 0, 2.5e-7);
        }
    }

    @Test
    void linearShapeErrorNamesShapes() {
        try (Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Basic.linear(be.zeros(Shape.of(2, 5)), be.zeros(Shape.of(3, 4)), null));
            assertEquals(true, e.getMessage().contains("[2, 5]") && e.getMessage().contains("[3, 4]"), e.getMessage());
        }
    }
}
