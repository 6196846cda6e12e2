package io.dltrain.runtime.testing;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Test helpers shared by every op test.
 * <ul>
 *   <li>{@link #close}: element-wise comparison at |got - want| <= atol + rtol * |want| (llm.c's rule), failing with
 *       the worst element, its index and both values.</li>
 *   <li>{@link #gradients}: the analytic gradients of an op (autograd, seeded with a random projection r of the
 *       output) against central finite differences of sum(r * f(x)) accumulated in double precision.</li>
 * </ul>
 */
public final class Check {
    private Check() {}

    /** Gradient-check defaults for FP32 ops with O(1) inputs: step 1e-2, tolerance 1e-2 absolute + 1e-2 relative. */
    public static final double EPS = 1e-2, ATOL = 1e-2, RTOL = 1e-2;

    public static void close(String what, float[] want, float[] got, double atol, double rtol) {
        if (want.length != got.length) fail(what + ": length " + got.length + ", expected " + want.length);
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs((double) got[i] - want[i]);
            double allowed = atol + rtol * Math.abs(want[i]);
            boolean bad = !(err <= allowed) || Float.isNaN(got[i]) != Float.isNaN(want[i]);
            if (bad && (worst < 0 || err - allowed > worstExcess || Double.isNaN(err))) { worst = i; worstExcess = err - allowed; }
        }
        if (worst >= 0) {
            fail(String.format("%s: element %d is %.7g, expected %.7g (|err| %.3g > atol %.1g + rtol %.1g * |expected|)",
                    what, worst, got[worst], want[worst], Math.abs(got[worst] - want[worst]), atol, rtol));
        }
    }

    public static void close(String what, double[] want, float[] got, double atol, double rtol) {
        float[] w = new float[want.length];
        for (int i = 0; i < w.length; i++) w[i] = (float) want[i];
        close(what, w, got, atol, rtol);
    }

    /** Uniform random values in [lo, hi). */
    public static float[] uniform(SplittableRandom rng, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        return v;
    }

    /** A new FP32 tensor of the given shape with uniform values in [lo, hi), requiring grad. */
    public static Tensor param(Backend be, SplittableRandom rng, double lo, double hi, int... dims) {
        Shape s = Shape.of(dims);
        return be.fromHost(uniform(rng, s.size(), lo, hi), s).requiresGrad(true);
    }

    /**
     * Checks d/d inputs of sum(r * fn(inputs)) from autograd against central differences, for every element of every
     * input that requires grad (inputs should be small). Runs inside its own scope.
     */
    public static void gradients(String op, Function<List<Tensor>, Tensor> fn, List<Tensor> inputs,
                                 double eps, double atol, double rtol) {
        try (Scope scope = Scope.open()) {
            Backend be = inputs.getFirst().backend();
            for (Tensor t : inputs) if (t.grad() != null) be.fill(t.grad(), 0f);
            Tensor out = fn.apply(inputs);
            float[] r = uniform(new SplittableRandom(99), out.shape().size(), -1, 1);
            Autograd.backward(out, be.fromHost(r, out.shape()));
            for (int k = 0; k < inputs.size(); k++) {
                Tensor x = inputs.get(k);
                if (!x.requiresGrad()) continue;
                if (x.grad() == null) fail(op + ": input " + k + " requires grad but received none");
                float[] analytic = x.grad().toFloatArray();
                float[] values = x.toFloatArray();
                double[] numeric = new double[values.length];
                for (int i = 0; i < values.length; i++) {
                    float orig = values[i];
                    values[i] = (float) (orig + eps);
                    be.copyFromHost(values, 0, x);
                    double plus = project(fn, inputs, r);
                    values[i] = (float) (orig - eps);
                    be.copyFromHost(values, 0, x);
                    double minus = project(fn, inputs, r);
                    values[i] = orig;
                    be.copyFromHost(values, 0, x);
                    numeric[i] = (plus - minus) / (2 * eps);
                }
                close(op + " d/d input " + k + " " + x.shape() + " (analytic vs finite differences)", numeric, analytic, atol, rtol);
            }
            for (Tensor t : inputs) if (t.grad() != null) { t.grad().close(); t.setGrad(null); }
        }
    }

    private static double project(Function<List<Tensor>, Tensor> fn, List<Tensor> inputs, float[] r) {
        try (Scope s = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
            float[] y = fn.apply(inputs).toFloatArray();
            double acc = 0;
            for (int i = 0; i < y.length; i++) acc += (double) r[i] * y[i];
            return acc;
        }
    }
}
