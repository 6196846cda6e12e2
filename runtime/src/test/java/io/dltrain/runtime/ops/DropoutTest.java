package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.DropoutRng;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Dropout;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Inverted dropout: drop rate, scaling, reproducibility from the seed, the gradient, and the layer's modes. */
class DropoutTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    static final int N = 100_000;

    /** x = 1 + i mod 7 (never 0, so a zero in y means dropped). */
    static float[] ramp() {
        float[] x = new float[N];
        for (int i = 0; i < N; i++) x[i] = 1 + i % 7;
        return x;
    }

    @Test
    void dropFractionScaleAndMaskRule() {
        float p = 0.3f;
        try (Scope s = Scope.open()) {
            float[] x = ramp();
            Tensor xt = be.fromHost(x, Shape.of(N)), y = be.empty(xt.shape()), mask = be.empty(xt.shape());
            be.dropoutForward(xt, y, mask, p, 1234L);
            float[] yv = y.toFloatArray(), m = mask.toFloatArray();
            float keep = 1f / (1f - p);
            int dropped = 0;
            for (int i = 0; i < N; i++) {
                boolean drop = DropoutRng.uniform(1234L, i) < p; // the contract: dropped when uniform(seed, i) < p
                assertEquals(drop ? 0f : keep, m[i], "mask element " + i);
                assertEquals(x[i] * m[i], yv[i], "y = x * mask at " + i);
                if (yv[i] == 0f) dropped++;
            }
            // Binomial(N, p): sd = sqrt(p (1 - p) / N) = 0.00145; allow 5 sd.
            double frac = dropped / (double) N, bound = 5 * Math.sqrt(p * (1 - p) / N);
            assertTrue(Math.abs(frac - p) < bound, "dropped fraction " + frac + " not within " + bound + " of " + p);
            // Inverted dropout keeps the expectation: the mean of the mask is ~1 (sd of the mean ~0.0022; allow 5 sd).
            double meanMask = 0;
            for (float v : m) meanMask += v;
            meanMask /= N;
            assertEquals(1.0, meanMask, 5 * Math.sqrt(p / (1 - p) / N), "mean of the mask");
        }
    }

    @Test
    void sameSeedSameMaskOtherSeedOtherMask() {
        try (Scope s = Scope.open(); CpuBackend one = new CpuBackend(1)) {
            float[] x = ramp();
            float[] a = Dropouts.dropout(be.fromHost(x, Shape.of(N)), 0.3f, 77L).toFloatArray();
            float[] b = Dropouts.dropout(be.fromHost(x, Shape.of(N)), 0.3f, 77L).toFloatArray();
            float[] c = Dropouts.dropout(one.fromHost(x, Shape.of(N)), 0.3f, 77L).toFloatArray(); // any thread count
            float[] d = Dropouts.dropout(be.fromHost(x, Shape.of(N)), 0.3f, 78L).toFloatArray();
            assertArrayEquals(a, b);
            assertArrayEquals(a, c);
            assertFalse(Arrays.equals(a, d), "a different seed should give a different mask");
        }
    }

    @Test
    void edgeProbabilities() {
        try (Scope s = Scope.open()) {
            float[] x = Check.uniform(new SplittableRandom(1), 1000, -1, 1);
            assertArrayEquals(x, Dropouts.dropout(be.fromHost(x, Shape.of(1000)), 0f, 5L).toFloatArray(), "p = 0 keeps everything unscaled");
            for (float v : Dropouts.dropout(be.fromHost(x, Shape.of(1000)), 1f, 5L).toFloatArray())
                assertEquals(0f, Math.abs(v), "p = 1 drops everything (x * 0, so -0 for negative x as in PyTorch)");
            assertThrows(IllegalArgumentException.class, () -> Dropouts.dropout(be.fromHost(x, Shape.of(1000)), -0.1f, 5L));
        }
    }

    /**
     * The scale of a kept element is PyTorch's float 1/(1 - p), 1 - p taken in double from p as written: for p near 1
     * the float p's rounding used to carry into the scale (p = 0.999: 1000.0129, 1.3e-5 above torch's; 0.99:
     * 100.0001; 0.9: 9.999998). Reference, torch 2.13 float32: x = torch.ones(100000, requires_grad=True),
     * y = F.dropout(x, p), y.sum().backward(); y.max() and x.grad.max() are 999.999939 (p = 0.999), 100 (0.99),
     * 10 (0.9), 3.33333325 (0.7), 2 (0.5), 1.42857146 (0.3), 1.11111116 (0.1), 1.00000012 (1e-7).
     */
    @Test
    void keptElementsAreScaledAsPyTorchScalesThem() {
        float[] ps = {0.999f, 0.99f, 0.9f, 0.7f, 0.5f, 0.3f, 0.1f, 1e-7f};
        float[] torchScale = {999.999939f, 100f, 10f, 3.33333325f, 2f, 1.42857146f, 1.11111116f, 1.00000012f};
        float[] ones = new float[N];
        Arrays.fill(ones, 1f);
        for (int k = 0; k < ps.length; k++) {
            try (Scope s = Scope.open()) {
                Tensor x = be.fromHost(ones, Shape.of(N)).requiresGrad(true);
                Tensor y = Dropouts.dropout(x, ps[k], 5L);
                Autograd.backward(y, be.fromHost(ones, y.shape()));
                float yMax = 0f, gMax = 0f;
                for (float v : y.toFloatArray()) yMax = Math.max(yMax, v);
                for (float v : x.grad().toFloatArray()) gMax = Math.max(gMax, v);
                assertEquals(torchScale[k], yMax, "dropout p=" + ps[k] + ": kept elements' scale");
                assertEquals(torchScale[k], gMax, "dropout p=" + ps[k] + ": gradient scale");
                x.grad().close();
            }
        }
    }

    @Test
    void gradientIsDyTimesMask() {
        float p = 0.4f;
        try (Scope s = Scope.open()) {
            float[] xv = Check.uniform(new SplittableRandom(2), 5000, -1, 1), dyv = Check.uniform(new SplittableRandom(3), 5000, -1, 1);
            Tensor x = be.fromHost(xv, Shape.of(50, 100)).requiresGrad(true);
            Tensor y = Dropouts.dropout(x, p, 99L);
            Autograd.backward(y, be.fromHost(dyv, y.shape()));
            float[] g = x.grad().toFloatArray();
            for (int i = 0; i < xv.length; i++) {
                float mask = DropoutRng.uniform(99L, i) < p ? 0f : 1f / (1f - p);
                assertEquals(dyv[i] * mask, g[i], "dx at " + i);
            }
            x.grad().close();
        }
        // And by finite differences (the op is linear in x for a fixed seed).
        try (Tensor x = Check.param(be, new SplittableRandom(4), -1, 1, 4, 8)) {
            Check.gradients("dropout", in -> Dropouts.dropout(in.get(0), 0.5f, 3L), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
        }
    }

    @Test
    void layerModesAndSeeds() {
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(ramp(), Shape.of(100, 1000));
            Dropout d = new Dropout(new Context(be, 42), 0.3f);
            float[] first = d.forward(x).toFloatArray(), second = d.forward(x).toFloatArray();
            assertFalse(Arrays.equals(first, second), "each training forward draws a fresh mask");
            assertEquals(2, d.calls());
            // The same model seed reproduces the same sequence of masks.
            Dropout again = new Dropout(new Context(be, 42), 0.3f);
            assertArrayEquals(first, again.forward(x).toFloatArray());
            assertArrayEquals(second, again.forward(x).toFloatArray());
            d.eval();
            assertSame(x, d.forward(x), "eval mode is the identity");
            assertSame(x, new Dropout(new Context(be, 1), 0f).forward(x), "p = 0 is the identity");
            var e = assertThrows(IllegalArgumentException.class, () -> new Dropout(new Context(be, 1), 1f));
            assertTrue(e.getMessage().contains("[0, 1)") && e.getMessage().contains("1.0"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> new Dropout(new Context(be, 1), -0.5f));
            assertThrows(IllegalArgumentException.class, () -> new Dropout(new Context(be, 1), Float.NaN));
        }
    }
}
