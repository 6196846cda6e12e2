package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.ELU;
import io.dltrain.runtime.nn.GELU;
import io.dltrain.runtime.nn.LeakyReLU;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sigmoid;
import io.dltrain.runtime.nn.Softplus;
import io.dltrain.runtime.nn.Tanh;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Activations: forward and derivative against double formulas written here (PyTorch's definitions), on random
 * inputs plus hard ones (+-80, Softplus around its threshold, GELU's tails), and backward through autograd against
 * finite differences.
 */
class ActivationTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** Forward / derivative tolerance: one float rounding of a double result (relative 6e-8) with margin. */
    static final double ATOL = 1e-7, RTOL = 1e-6;

    /** Random values in [-6, 6) plus hard cases; 50k values so the parallel split is exercised. */
    static float[] inputs() {
        float[] r = Check.uniform(new SplittableRandom(11), 50_000, -6, 6);
        float[] hard = {0f, -0f, 1f, -1f, 80f, -80f, 30f, -30f, 15f, -15f, 9.99f, 10.01f,
                19.99f, 20f, 20.01f, -20f, 5e-38f, -5e-38f, 3f, -3f, 1e-30f, -1e-30f,
                // where the kernels switch formulas: erf pieces (|x|/sqrt 2 = 1, 2.5), the series of tanh (1e-4),
                // ELU's expm1 (1e-5), Softplus's log1p (|beta x| = ln 1e4 = 9.2103 for beta 1 and 2)
                0.70710678f, -0.70710678f, 1.4142135f, -1.4142135f, 1.4142137f, 3.5355339f, -3.5355339f, 3.535534f,
                1e-4f, -1e-4f, 0.99999e-4f, -0.99999e-4f, 1.00001e-4f, 1e-5f, -1e-5f, 0.99999e-5f, -0.99999e-5f, -1.00001e-5f,
                9.2103f, -9.2103f, 9.2104f, -9.2104f, 4.60515f, -4.60515f, 4.6052f, -4.6052f};
        System.arraycopy(hard, 0, r, 0, hard.length);
        return r;
    }

    record Case(Activation act, DoubleUnaryOperator f, DoubleUnaryOperator df) {}

    static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    static List<Case> cases() {
        double slope = 0.07, alpha = 1.3;
        return List.of(
                new Case(Activation.RELU, x -> Math.max(x, 0), x -> x > 0 ? 1 : 0),
                new Case(Activation.leakyRelu((float) slope), x -> x > 0 ? x : slope * x, x -> x > 0 ? 1 : slope),
                new Case(Activation.elu((float) alpha), x -> x > 0 ? x : alpha * (Math.exp(x) - 1), x -> x > 0 ? 1 : alpha * Math.exp(x)),
                new Case(Activation.SIGMOID, ActivationTest::sigmoid, x -> sigmoid(x) * (1 - sigmoid(x))),
                new Case(Activation.TANH, Math::tanh, x -> 1 - Math.tanh(x) * Math.tanh(x)),
                // PyTorch: beta*x > threshold (20) -> x, else log(1 + exp(beta x)) / beta.
                new Case(Activation.softplus(1f), x -> x > 20 ? x : Math.log(1 + Math.exp(x)), x -> x > 20 ? 1 : sigmoid(x)),
                new Case(Activation.softplus(2f), x -> 2 * x > 20 ? x : Math.log(1 + Math.exp(2 * x)) / 2, x -> 2 * x > 20 ? 1 : sigmoid(2 * x)),
                new Case(Activation.GELU, ReferenceMath::gelu, ReferenceMath::geluGrad));
    }

    @Test
    void forwardMatchesDoubleFormulas() {
        float[] x = inputs();
        for (Case c : cases()) {
            try (Scope s = Scope.open()) {
                Tensor y = Activations.apply(be.fromHost(x, Shape.of(x.length)), c.act());
                double[] want = new double[x.length];
                for (int i = 0; i < x.length; i++) want[i] = c.f().applyAsDouble(x[i]);
                Check.close(c.act() + " forward", want, y.toFloatArray(), ATOL, RTOL);
            }
        }
    }

    @Test
    void derivativeMatchesDoubleFormulas() {
        float[] x = inputs();
        float[] dy = Check.uniform(new SplittableRandom(12), x.length, -2, 2);
        for (Case c : cases()) {
            try (Scope s = Scope.open()) {
                Tensor xt = be.fromHost(x, Shape.of(x.length)), y = be.empty(xt.shape()), dx = be.empty(xt.shape());
                be.activationForward(c.act(), xt, y);
                be.activationBackward(c.act(), xt, y, be.fromHost(dy, xt.shape()), dx);
                double[] want = new double[x.length];
                for (int i = 0; i < x.length; i++) want[i] = dy[i] * c.df().applyAsDouble(x[i]);
                // Sigmoid and Tanh differentiate through their float output y (as PyTorch does): y(1-y) and 1-y^2
                // lose relative accuracy where y rounds near 1, so compare those absolutely at float's resolution.
                boolean viaOutput = c.act().kind() == Activation.Kind.SIGMOID || c.act().kind() == Activation.Kind.TANH;
                Check.close(c.act() + " derivative", want, dx.toFloatArray(), viaOutput ? 4e-7 : ATOL, RTOL);
            }
        }
    }

    @Test
    void softplusIsLinearBeyondThresholdAndExactJustBelow() {
        try (Scope s = Scope.open()) {
            float[] x = {19.5f, 19.999f, 20.001f, 25f, -25f, -80f};
            float[] y = Activations.apply(be.fromHost(x, Shape.of(x.length)), Activation.softplus(1f)).toFloatArray();
            assertTrue(y[2] == x[2] && y[3] == x[3], "beyond the threshold Softplus returns x itself");
            // Below it: log1p(exp(x)); at -80 this is exp(-80) ~ 1.8e-35, which a naive log(1 + exp(x)) would round to 0.
            Check.close("softplus tails", new double[] {Math.log1p(Math.exp(19.5)), Math.log1p(Math.exp(19.999f)), 20.001f, 25,
                    Math.log1p(Math.exp(-25)), Math.exp(-80)}, y, 0, 1e-6);
        }
    }

    /**
     * A NaN input takes PyTorch's gradient branch whatever its sign bit (x86 arithmetic makes NaN with the sign set:
     * inf - inf is 0xffc00000 in PyTorch and in Java): threshold_backward (ReLU) and elu_backward test x <= 0, false
     * for NaN, so dy passes; leaky_relu_backward tests x > 0, so dy is scaled by the slope. The sign-bit masks passed
     * dy for +NaN through LeakyReLU, and zeroed ReLU's (ELU's: made NaN) gradient for -NaN. Reference, torch 2.13
     * float32: x = the three NaNs below (by their bits), y = F.relu(x) / F.leaky_relu(x, 0.2) / F.elu(x, 1.3),
     * y.backward(torch.tensor([0.5, -2., 3.])) gives x.grad = [0.5, -2, 3] / [0.1, -0.4, 0.6] / [0.5, -2, 3].
     */
    @Test
    void nanInputsTakePyTorchsGradientBranchWhateverTheirSign() {
        float[] x = {Float.intBitsToFloat(0x7fc00000), Float.intBitsToFloat(0xffc00000), Float.intBitsToFloat(0x7fc00001)};
        float[] dy = {0.5f, -2f, 3f};
        Object[][] cases = {{Activation.RELU, new float[] {0.5f, -2f, 3f}},
                {Activation.leakyRelu(0.2f), new float[] {0.1f, -0.4f, 0.6f}},
                {Activation.elu(1.3f), new float[] {0.5f, -2f, 3f}}};
        for (Object[] c : cases) {
            Activation act = (Activation) c[0];
            try (Scope s = Scope.open()) {
                Tensor xt = be.fromHost(x, Shape.of(3)), y = be.empty(Shape.of(3)), dx = be.empty(Shape.of(3));
                be.activationForward(act, xt, y);
                for (float v : y.toFloatArray()) assertTrue(Float.isNaN(v), act + ": NaN propagates forward");
                be.activationBackward(act, xt, y, be.fromHost(dy, Shape.of(3)), dx);
                org.junit.jupiter.api.Assertions.assertArrayEquals((float[]) c[1], dx.toFloatArray(), act + " backward at NaN");
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        assertEquals(Activation.Kind.values().length, cases().stream().map(c -> c.act().kind()).distinct().count(),
                "every Activation.Kind needs a case in cases(): forward, backward and finite differences");
        // Inputs in +-[0.1, 2): away from the kinks of ReLU / LeakyReLU / ELU at 0 (finite-difference step 1e-2).
        float[] v = Check.uniform(new SplittableRandom(13), 24, 0.1, 2);
        SplittableRandom signs = new SplittableRandom(14);
        for (int i = 0; i < v.length; i++) if (signs.nextBoolean()) v[i] = -v[i];
        for (Case c : cases()) {
            try (Tensor x = be.fromHost(v, Shape.of(4, 6)).keep().requiresGrad(true)) {
                Check.gradients(c.act().toString(), in -> Activations.apply(in.get(0), c.act()), List.of(x), Check.EPS, Check.ATOL, Check.RTOL);
            }
        }
    }

    @Test
    void layersApplyTheirActivation() {
        float[] v = Check.uniform(new SplittableRandom(15), 30, -3, 3);
        Object[][] pairs = {
                {new ReLU(), Activation.RELU}, {new LeakyReLU(), Activation.leakyRelu(0.01f)}, {new ELU(), Activation.elu(1f)},
                {new Sigmoid(), Activation.SIGMOID}, {new Tanh(), Activation.TANH}, {new Softplus(), Activation.softplus(1f)},
                {new GELU(), Activation.GELU}, {new LeakyReLU(0.2f), Activation.leakyRelu(0.2f)}, {new Softplus(3f), Activation.softplus(3f)}};
        for (Object[] p : pairs) {
            try (Scope s = Scope.open(); Module m = (Module) p[0]) {
                Tensor x = be.fromHost(v, Shape.of(5, 6));
                float[] want = Activations.apply(x, (Activation) p[1]).toFloatArray();
                org.junit.jupiter.api.Assertions.assertArrayEquals(want, m.forward(x).toFloatArray(), m.toString());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new Softplus(0f));
    }
}
