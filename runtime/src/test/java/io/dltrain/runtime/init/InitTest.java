package io.dltrain.runtime.init;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Initialisers on large tensors (2^18 values) against torch.nn.init's formulas: sample mean and standard deviation
 * against the distribution's, and hard bounds. Statistical tolerances are 5 standard errors (sigma / sqrt(n) for the
 * mean, about sigma / sqrt(2n) for a normal's standard deviation, sigma * sqrt(0.8 / n) / 2 for a uniform's), so a
 * correct initialiser fails with probability ~1e-6 for any seed; the seeds are fixed anyway.
 */
class InitTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    static final int N = 1 << 18;

    record Stats(double mean, double std, double min, double max, int n) {}

    static Stats stats(Tensor t) {
        float[] v = t.toFloatArray();
        double sum = 0, min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (float x : v) { sum += x; min = Math.min(min, x); max = Math.max(max, x); }
        double mean = sum / v.length, ss = 0;
        for (float x : v) ss += (x - mean) * (x - mean);
        return new Stats(mean, Math.sqrt(ss / (v.length - 1)), min, max, v.length);
    }

    /** Uniform(-bound, bound) (shifted by centre): bounds hold, extremes come near them, mean and std match. */
    static void checkUniform(String what, Stats s, double lo, double hi) {
        double sigma = (hi - lo) / Math.sqrt(12);
        assertTrue(s.min >= lo && s.max <= hi, what + ": values [" + s.min + ", " + s.max + "] outside [" + lo + ", " + hi + "]");
        // With 2^18 draws the extremes lie within (hi - lo) * 1e-4 of the bounds except with probability ~e^-26.
        assertEquals(lo, s.min, (hi - lo) * 1e-4, what + ": minimum");
        assertEquals(hi, s.max, (hi - lo) * 1e-4, what + ": maximum");
        assertEquals((lo + hi) / 2, s.mean, 5 * sigma / Math.sqrt(s.n), what + ": mean");
        // Var of the sample variance of a uniform is (4/5) sigma^4 / n, so SE(std) = sigma * sqrt(0.8 / n) / 2.
        assertEquals(sigma, s.std, 5 * sigma * Math.sqrt(0.8 / s.n) / 2, what + ": std");
    }

    static void checkNormal(String what, Stats s, double mean, double std) {
        assertEquals(mean, s.mean, 5 * std / Math.sqrt(s.n), what + ": mean");
        assertEquals(std, s.std, 5 * std / Math.sqrt(2.0 * s.n), what + ": std");
    }

    @Test void uniform() {
        try (Tensor t = be.empty(Shape.of(512, 512))) {
            Init.uniform(t, -0.5, 1.5, new SplittableRandom(1));
            checkUniform("uniform(-0.5, 1.5)", stats(t), -0.5, 1.5);
        }
    }

    @Test void normal() {
        try (Tensor t = be.empty(Shape.of(N))) {
            Init.normal(t, 0.3, 2.0, new SplittableRandom(2));
            checkNormal("normal(0.3, 2)", stats(t), 0.3, 2.0);
        }
    }

    @Test void constant() {
        try (Tensor t = be.empty(Shape.of(7))) {
            Init.constant(t, 0.25f);
            assertArrayEquals(new float[] {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f}, t.toFloatArray());
        }
    }

    // ------------------------------------------------------------------ truncated normal

    /** erf by its Maclaurin series (converges fast for |x| <= 3 in double). */
    static double erf(double x) {
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++) {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    static double phi(double x) { return Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI); }

    static double cdf(double x) { return 0.5 * (1 + erf(x / Math.sqrt(2))); }

    /** Mean and std of N(mu, sigma) truncated to [a, b] (the textbook formulas). */
    static double[] truncatedMoments(double mu, double sigma, double a, double b) {
        double al = (a - mu) / sigma, be = (b - mu) / sigma, z = cdf(be) - cdf(al);
        double d = (phi(al) - phi(be)) / z;
        double var = sigma * sigma * (1 + (al * phi(al) - be * phi(be)) / z - d * d);
        return new double[] {mu + sigma * d, Math.sqrt(var)};
    }

    @Test void erfHelperIsRight() {
        // Known values: P(|Z| < 2) = 0.9544997361036416, erf(1) = 0.8427007929497149
        assertEquals(0.9544997361036416, cdf(2) - cdf(-2), 1e-14);
        assertEquals(0.8427007929497149, erf(1), 1e-14);
    }

    @Test void truncatedNormalSymmetric() {
        // PyTorch's default trunc_normal_: mean 0, std 1, [-2, 2]
        try (Tensor t = be.empty(Shape.of(N))) {
            Init.truncatedNormal(t, 0, 1, -2, 2, new SplittableRandom(3));
            Stats s = stats(t);
            assertTrue(s.min >= -2 && s.max <= 2, "values [" + s.min + ", " + s.max + "] outside [-2, 2]");
            double[] m = truncatedMoments(0, 1, -2, 2);
            checkNormal("truncated normal [-2, 2]", s, m[0], m[1]);
        }
    }

    @Test void truncatedNormalAsymmetric() {
        try (Tensor t = be.empty(Shape.of(N))) {
            double mu = 0.5, sigma = 0.2, a = 0.3, b = 1.0;   // bounds in absolute units, as trunc_normal_
            Init.truncatedNormal(t, mu, sigma, a, b, new SplittableRandom(4));
            Stats s = stats(t);
            assertTrue(s.min >= a && s.max <= b, "values [" + s.min + ", " + s.max + "] outside [" + a + ", " + b + "]");
            double[] m = truncatedMoments(mu, sigma, a, b);
            assertTrue(m[0] > mu, "the formula's mean moves towards the wider side");
            checkNormal("truncated normal N(0.5, 0.2) on [0.3, 1]", s, m[0], m[1]);
        }
    }

    // ------------------------------------------------------------------ fans, gains, Xavier, Kaiming

    /** A conv weight [K, C, R, S] = [256, 64, 4, 4]: fan_in = C R S = 1024, fan_out = K R S = 4096. */
    static Tensor convWeight() { return be.empty(Shape.of(256, 64, 4, 4)); }

    @Test void fansAndGains() {
        try (Tensor w = convWeight(); Tensor lin = be.empty(Shape.of(10, 3)); Tensor vec = be.empty(Shape.of(5))) {
            assertEquals(1024, Init.fanIn(w));
            assertEquals(4096, Init.fanOut(w));
            assertEquals(3, Init.fanIn(lin));
            assertEquals(10, Init.fanOut(lin));
            assertThrows(IllegalArgumentException.class, () -> Init.fanIn(vec), "a rank-1 tensor has no fans");
        }
        assertEquals(1.0, Init.gain("linear", 0));
        assertEquals(1.0, Init.gain("sigmoid", 0));
        assertEquals(5.0 / 3, Init.gain("tanh", 0));
        assertEquals(Math.sqrt(2), Init.gain("relu", 0));
        assertEquals(Math.sqrt(2 / (1 + 0.01 * 0.01)), Init.gain("leaky_relu", 0.01), 1e-15);
        assertEquals(0.75, Init.gain("selu", 0));
        assertThrows(IllegalArgumentException.class, () -> Init.gain("swish", 0));
    }

    @Test void xavierUniform() {
        try (Tensor w = convWeight()) {
            double gain = 5.0 / 3, bound = gain * Math.sqrt(6.0 / (1024 + 4096));
            Init.xavierUniform(w, gain, new SplittableRandom(5));
            checkUniform("xavier_uniform", stats(w), -bound, bound);
        }
    }

    @Test void xavierNormal() {
        try (Tensor w = convWeight()) {
            Init.xavierNormal(w, 1.0, new SplittableRandom(6));
            checkNormal("xavier_normal", stats(w), 0, Math.sqrt(2.0 / (1024 + 4096)));
        }
    }

    @Test void kaimingUniformFanInAndFanOut() {
        try (Tensor w = convWeight()) {
            Init.kaimingUniform(w, 0, Init.FanMode.FAN_IN, "relu", new SplittableRandom(7));
            double b = Math.sqrt(2) * Math.sqrt(3.0 / 1024);
            checkUniform("kaiming_uniform relu fan_in", stats(w), -b, b);
            Init.kaimingUniform(w, 0.2, Init.FanMode.FAN_OUT, "leaky_relu", new SplittableRandom(8));
            b = Math.sqrt(2 / (1 + 0.04)) * Math.sqrt(3.0 / 4096);
            checkUniform("kaiming_uniform leaky_relu(0.2) fan_out", stats(w), -b, b);
        }
    }

    @Test void kaimingNormalFanInAndFanOut() {
        try (Tensor w = convWeight()) {
            // torchvision ResNet: kaiming_normal_(mode="fan_out", nonlinearity="relu")
            Init.kaimingNormal(w, 0, Init.FanMode.FAN_OUT, "relu", new SplittableRandom(9));
            checkNormal("kaiming_normal relu fan_out", stats(w), 0, Math.sqrt(2) / Math.sqrt(4096));
            Init.kaimingNormal(w, 0, Init.FanMode.FAN_IN, "tanh", new SplittableRandom(10));
            checkNormal("kaiming_normal tanh fan_in", stats(w), 0, 5.0 / 3 / Math.sqrt(1024));
        }
    }

    /** nn.Linear's reset_parameters: weight kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(in)), bias U(+-1/sqrt(in)). */
    @Test void pytorchDefaultLinearInit() {
        int in = 400, out = 1000;
        try (Linear fc = new Linear(new Context(be, 11), in, out)) {
            double bound = 1 / Math.sqrt(in);
            checkUniform("Linear weight", stats(fc.weight()), -bound, bound);
            Stats b = stats(fc.bias());
            assertTrue(b.min >= -bound && b.max <= bound, "Linear bias [" + b.min + ", " + b.max + "] outside +-" + bound);
            // only 1000 bias values: 5 standard errors of the mean of U(+-bound)
            assertEquals(0, b.mean, 5 * bound / Math.sqrt(3) / Math.sqrt(out), "Linear bias mean");
            assertTrue(b.max > 0.9 * bound && b.min < -0.9 * bound, "Linear bias spans its bound (each side fails with probability 0.95^1000 ~ 5e-23)");
        }
        // The same bound through kaimingUniform's formula: gain(leaky_relu, sqrt 5) * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
        assertEquals(1 / Math.sqrt(400), Init.gain("leaky_relu", Math.sqrt(5)) * Math.sqrt(3.0 / 400), 1e-15);
    }

    @Test void sameSeedSameValues() {
        try (Tensor a = be.empty(Shape.of(10, 10)); Tensor b = be.empty(Shape.of(10, 10))) {
            Init.kaimingNormal(a, 0, Init.FanMode.FAN_IN, "relu", new SplittableRandom(42));
            Init.kaimingNormal(b, 0, Init.FanMode.FAN_IN, "relu", new SplittableRandom(42));
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
        }
    }
}
