package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.n;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU activations, forward and backward, with the formulas of PyTorch's modules of the same name:
 * <ul>
 *   <li>ReLU {@code max(x, 0)} (NaN propagates, as torch.relu); gradient {@code x <= 0 ? 0 : dy} like
 *       threshold_backward (so a NaN x passes dy, whatever its sign bit).</li>
 *   <li>LeakyReLU {@code x > 0 ? x : slope*x}; gradient {@code x > 0 ? dy : slope*dy} like leaky_relu_backward
 *       (a NaN x scales dy by slope).</li>
 *   <li>ELU {@code x > 0 ? x : alpha*expm1(x)}; gradient {@code alpha*exp(x)} for x <= 0, dy otherwise (NaN
 *       included), like elu_backward.</li>
 *   <li>Sigmoid, Tanh; gradients from the output, as PyTorch: {@code y(1-y)}, {@code 1-y^2}.</li>
 *   <li>Softplus(beta) {@code log1p(exp(beta x))/beta}, and {@code x} itself where {@code beta*x > 20} (PyTorch's
 *       threshold); gradient {@code sigmoid(beta x)} (which rounds to exactly 1 in float beyond the threshold,
 *       where PyTorch passes dy through).</li>
 *   <li>GELU, the exact form {@code x * Phi(x) = x/2 * erfc(-x/sqrt 2)} (approximate='none'); gradient
 *       {@code Phi(x) + x * phi(x)}.</li>
 * </ul>
 * Every kind gets its own plain loop (the switch is outside the loop), split over {@link Parallel} in contiguous
 * chunks. Speed: a data-dependent branch on the sign of x mispredicts half the time on real activations (about
 * 10 ns an element), so the piecewise kinds are written without one: min/max arithmetic, which the JIT vectorises,
 * or a select through the float's bits. Transcendentals are evaluated in double with Math.exp / Math.log (JIT
 * intrinsics) rather than the much slower Math.expm1 / log1p / tanh, with short series where those would lose
 * relative accuracy; every result is within about an ulp of the correctly rounded float.
 */
final class CpuActivation {
    private CpuActivation() {}

    /** Elements per parallel chunk: activations cost a few ns each, so smaller chunks than pure copies pay off. */
    private static final int GRAIN = 1 << 14;

    /** PyTorch's Softplus threshold: beyond beta*x > 20 the function is x to float precision. */
    static final double SOFTPLUS_THRESHOLD = 20.0;

    private static final double SQRT1_2 = 0.70710678118654752440;
    /** 1/sqrt(2 pi), the standard normal density at 0. */
    private static final double INV_SQRT_2PI = 0.39894228040143267794;

    static void forward(CpuBackend be, Activation act, Tensor x, Tensor y) {
        Checks.activation("activation " + act.kind(), Device.CPU, act, x, y);
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y);
        float alpha = act.alpha();
        Parallel.Range body = switch (act.kind()) {
            // Offsets 0 (the usual case): plain indices let C2 vectorise even when it cannot prove X != Y (JDK 25
            // does not vectorise two arrays accessed at different runtime offsets).
            case RELU -> xo == 0 && yo == 0
                    ? (s, e) -> { for (int i = s; i < e; i++) Y[i] = Math.max(X[i], 0f); }
                    : (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] = Math.max(X[xo + i], 0f); };
            // max(x, 0) + slope * min(x, 0) is exactly x (x > 0) or slope * x (x <= 0), and vectorises.
            case LEAKY_RELU -> (s, e) -> {
                for (int i = s; i < e; i++) { float v = X[xo + i]; Y[yo + i] = Math.max(v, 0f) + alpha * Math.min(v, 0f); }
            };
            // For x > 0, expm1(min(x, 0)) = 0 and the sum is x; for x <= 0 it is alpha * expm1(x).
            case ELU -> (s, e) -> {
                for (int i = s; i < e; i++) {
                    float v = X[xo + i];
                    Y[yo + i] = Math.max(v, 0f) + (float) (alpha * expm1NonPositive(Math.min(v, 0f)));
                }
            };
            case SIGMOID -> (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] = (float) sigmoid(X[xo + i]); };
            case TANH -> (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] = (float) tanh(X[xo + i]); };
            case SOFTPLUS -> {
                double beta = alpha;   // checked: Checks.activation
                yield (s, e) -> {
                    for (int i = s; i < e; i++) {
                        double bx = beta * X[xo + i];
                        Y[yo + i] = bx > SOFTPLUS_THRESHOLD ? X[xo + i] : (float) (softplus(bx) / beta);
                    }
                };
            }
            case GELU -> (s, e) -> {
                for (int i = s; i < e; i++) { double v = X[xo + i]; Y[yo + i] = (float) (0.5 * v * erfc(-v * SQRT1_2)); }
            };
        };
        be.par.forRange(n(y), GRAIN, body);
    }

    static void backward(CpuBackend be, Activation act, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        String op = "activation backward " + act.kind();
        Checks.activation(op, Device.CPU, act, x, y, dy, dx);
        float[] X = f(x), Y = f(y), D = f(dy), G = f(dx);
        int xo = off(x), yo = off(y), dyo = off(dy), dxo = off(dx);
        float alpha = act.alpha();
        Parallel.Range body = switch (act.kind()) {
            case RELU -> xo == 0 && dyo == 0 && dxo == 0
                    ? (s, e) -> { for (int i = s; i < e; i++) G[i] = Float.intBitsToFloat(Float.floatToRawIntBits(D[i]) & notNonPositiveMask(X[i])); }
                    : (s, e) -> { for (int i = s; i < e; i++) G[dxo + i] = Float.intBitsToFloat(Float.floatToRawIntBits(D[dyo + i]) & notNonPositiveMask(X[xo + i])); };
            case LEAKY_RELU -> (s, e) -> {
                for (int i = s; i < e; i++) { float g = D[dyo + i]; G[dxo + i] = select(positiveMask(X[xo + i]) & ~nanMask(X[xo + i]), g, g * alpha); }
            };
            case ELU -> (s, e) -> {
                for (int i = s; i < e; i++) {
                    float v = X[xo + i], g = D[dyo + i];
                    G[dxo + i] = select(notNonPositiveMask(v), g, (float) (g * (alpha * Math.exp(Math.min(v, 0f)))));
                }
            };
            case SIGMOID -> (s, e) -> {
                for (int i = s; i < e; i++) { float v = Y[yo + i]; G[dxo + i] = D[dyo + i] * (v * (1f - v)); }
            };
            case TANH -> (s, e) -> {
                for (int i = s; i < e; i++) { float v = Y[yo + i]; G[dxo + i] = D[dyo + i] * (1f - v * v); }
            };
            case SOFTPLUS -> {
                double beta = alpha;   // checked: Checks.activation
                // PyTorch: beta x > 20 ? dy : dy * z / (z + 1), z = exp(beta x). z / (z + 1) = sigmoid(beta x), and past
                // the threshold sigmoid is within 2.1e-9 of 1, so dy * sigmoid rounds to dy itself: no branch needed.
                yield (s, e) -> { for (int i = s; i < e; i++) G[dxo + i] = (float) (D[dyo + i] * sigmoid(beta * X[xo + i])); };
            }
            case GELU -> (s, e) -> {
                for (int i = s; i < e; i++) {
                    double v = X[xo + i];
                    double a = Math.abs(v) * SQRT1_2;
                    double pdfScaled = Math.exp(-a * a); // exp(-x^2/2)
                    double cdf; // Phi(x) = erfc(-x/sqrt 2)/2, sharing the exponential with the density
                    if (a < 1.0) cdf = 0.5 + 0.5 * Math.copySign(a * erfSmall(a * a), v);
                    else {
                        double tail = 0.5 * pdfScaled * erfcx(a); // Phi(-|x|)
                        cdf = v >= 0 ? 1.0 - tail : tail;
                    }
                    G[dxo + i] = (float) (D[dyo + i] * (cdf + v * INV_SQRT_2PI * pdfScaled));
                }
            };
        };
        be.par.forRange(n(dx), GRAIN, body);
    }

    // ------------------------------------------------------------------ branch-free helpers

    /**
     * All ones when x's bits, read as an int, are > 0, else 0: positive floats have positive int bits; 0, -0
     * (Integer.MIN_VALUE) and negatives do not. (~b & -b) has its sign bit set exactly when b > 0. A NaN counts by its
     * sign bit, so callers that follow PyTorch for NaN combine this with {@link #nanMask}.
     */
    static int positiveMask(float x) {
        int b = Float.floatToRawIntBits(x);
        return (~b & -b) >> 31;
    }

    /**
     * All ones when x is NaN (any sign, any payload: |bits| above infinity's), else 0. The sign bit of a NaN carries
     * no meaning (x86 arithmetic makes NaN with it set, e.g. inf - inf), so masks must not read it as a sign.
     */
    static int nanMask(float x) {
        return (0x7f800000 - (Float.floatToRawIntBits(x) & 0x7fffffff)) >> 31;
    }

    /**
     * All ones unless x <= 0, i.e. when x > 0 or x is NaN: the pass-through branch of PyTorch's threshold_backward
     * (ReLU) and elu_backward, which test {@code x <= 0}.
     */
    static int notNonPositiveMask(float x) { return positiveMask(x) | nanMask(x); }

    /** mask == -1 ? a : b, for a mask that is all ones or all zeros. */
    static float select(int mask, float a, float b) {
        return Float.intBitsToFloat((Float.floatToRawIntBits(a) & mask) | (Float.floatToRawIntBits(b) & ~mask));
    }

    /** The logistic function. In double, 1/(1 + exp(-x)) neither overflows nor loses the tiny values of x << 0. */
    static double sigmoid(double v) { return 1.0 / (1.0 + Math.exp(-v)); }

    /**
     * exp(m) - 1 for m <= 0 with full relative accuracy: a 3-term series where the subtraction would cancel
     * (|m| < 1e-5: truncation error m^4/24, relative < 1e-16), otherwise exp(m) - 1 (relative error < 1.2e-11).
     */
    static double expm1NonPositive(double m) {
        if (m > -1e-5) return m * (1 + m * (0.5 + m * (1.0 / 6)));
        return Math.exp(m) - 1;
    }

    /**
     * log(1 + z) for z in [0, 1]: a series below 1e-4 (truncation z^4/4, relative < 2.5e-13), else log(1 + z),
     * where rounding 1 + z costs at most 1.2e-12 relative.
     */
    static double log1pUnit(double z) {
        if (z < 1e-4) return z * (1 - z * (0.5 - z * (1.0 / 3)));
        return Math.log(1 + z);
    }

    /** log(1 + exp(v)) for any v, stably: max(v, 0) + log1p(exp(-|v|)). */
    static double softplus(double v) { return Math.max(v, 0) + log1pUnit(Math.exp(-Math.abs(v))); }

    /**
     * tanh via one exponential: (1 - e) / (1 + e) with e = exp(-2|x|) (relative error < 6e-13 for |x| >= 1e-4),
     * and the series x - x^3/3 + 2x^5/15 below that (truncation relative < 1e-24).
     */
    static double tanh(double v) {
        double a = Math.abs(v);
        if (a < 1e-4) { double a2 = a * a; return v * (1 - a2 * (1.0 / 3 - a2 * (2.0 / 15))); }
        double e = Math.exp(-2 * a);
        return Math.copySign((1 - e) / (1 + e), v);
    }

    // ------------------------------------------------------------------ erf / erfc
    //
    // Java has no erf. These are piecewise polynomial fits (Chebyshev least squares, weighted for relative error,
    // fitted against 40-digit mpmath values and converted to monomials), evaluated in double:
    //   |x| < 1        erf(x)  = x * P(x^2)                  (degree 9 in x^2)
    //   1 <= a < 2.5   erfc(a) = exp(-a^2) * M(a - 1.75)       (degree 15)
    //   a >= 2.5       erfc(a) = exp(-a^2) / a * T(1/a^2)      (degree 13; T(0) = 1/sqrt(pi), the asymptotic limit)
    // Measured on a dense grid over [-26, 26]: |erf error| < 2e-14, relative erfc error < 3e-13, i.e. close to
    // double precision, so the float results are correctly rounded almost always and GELU's tail keeps full
    // relative accuracy. (Abramowitz-Stegun 7.1.26, by contrast, is only good to 1.5e-7.)

    private static final double[] P = {
            1.1283791670954906, -0.376126389027711, 0.11283791657564424, -0.026866168950127122, 0.005223966678281434,
            -0.0008547918882528534, 0.00012046009713352386, -1.4792548590591931e-05, 1.529315868381593e-06,
            -1.0439803826256992e-07};
    private static final double[] M = {
            0.28497223473743494, -0.13097634551449253, 0.05576363008738547, -0.02225999524105061,
            0.008404319195947006, -0.003020974656615775, 0.0010392046869440606, -0.00034353332470371653,
            0.00010950412559596844, -3.375537466182663e-05, 1.0091124011396347e-05, -2.9283156465561506e-06,
            8.178106527095193e-07, -2.2630848144569213e-07, 7.125051316638227e-08, -1.8177467056971672e-08};
    private static final double[] T = {
            0.5641895835476698, -0.28209479155264877, 0.4231420935006294, -1.0578394953456343, 3.701057686621312,
            -16.58215048824651, 88.72761382310367, -519.5318857022281, 2975.876438357603, -14869.077054008063,
            58513.83801110893, -164062.0392007282, 286105.3508251832, -230925.20755785872};

    private static double horner(double[] c, double x) {
        double r = c[c.length - 1];
        for (int k = c.length - 2; k >= 0; k--) r = r * x + c[k];
        return r;
    }

    /** erf(a)/a as a function of z = a^2, for a^2 < 1. */
    private static double erfSmall(double z) { return horner(P, z); }

    /** The scaled complementary error function exp(a^2) erfc(a), for a >= 1. */
    private static double erfcx(double a) {
        if (a < 2.5) return horner(M, a - 1.75);
        return horner(T, 1.0 / (a * a)) / a;
    }

    /** The error function, absolute error below 2e-14. */
    static double erf(double x) {
        double a = Math.abs(x);
        if (a < 1.0) return x * erfSmall(a * a);
        double r = 1.0 - Math.exp(-a * a) * erfcx(a); // NaN falls through here and stays NaN
        return Math.copySign(r, x);
    }

    /** The complementary error function 1 - erf(x), relative error below 3e-13 (no cancellation in the tail). */
    static double erfc(double x) {
        double a = Math.abs(x);
        if (a < 1.0) return 1.0 - x * erfSmall(a * a);
        double t = Math.exp(-a * a) * erfcx(a);
        return x >= 0 ? t : 2.0 - t;
    }
}
