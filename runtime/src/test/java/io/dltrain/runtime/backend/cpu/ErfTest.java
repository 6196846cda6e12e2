package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.ops.ReferenceMath;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The erf / erfc behind GELU against an independent double reference and published values. */
class ErfTest {

    @Test
    void knownValues() {
        // Published values to 16 significant digits; tolerance 1e-13.
        assertEquals(0.5204998778130465, CpuActivation.erf(0.5), 1e-13);
        assertEquals(0.8427007929497149, CpuActivation.erf(1.0), 1e-13);
        assertEquals(0.9953222650189527, CpuActivation.erf(2.0), 1e-13);
        assertEquals(0.9999779095030014, CpuActivation.erf(3.0), 1e-13);
        assertEquals(-0.8427007929497149, CpuActivation.erf(-1.0), 1e-13);
        assertEquals(0.0, CpuActivation.erf(0.0));
        assertEquals(1.0, CpuActivation.erf(Double.POSITIVE_INFINITY));
        assertEquals(2.0, CpuActivation.erfc(Double.NEGATIVE_INFINITY));
        assertTrue(Double.isNaN(CpuActivation.erf(Double.NaN)) && Double.isNaN(CpuActivation.erfc(Double.NaN)));
    }

    @Test
    void erfAbsoluteErrorBelow1e12() {
        // Dense grid over [-7, 7] crossing the piece boundaries at |x| = 1 and 2.5. Float GELU needs < 1e-7; the fit
        // is designed to 2e-14, checked here at 1e-12 (the reference itself is good to ~6e-14).
        double worst = 0, at = 0;
        for (int i = -70000; i <= 70000; i++) {
            double x = i * 1e-4;
            double err = Math.abs(CpuActivation.erf(x) - ReferenceMath.erf(x));
            if (err > worst) { worst = err; at = x; }
        }
        assertTrue(worst < 1e-12, "max |erf error| " + worst + " at x = " + at);
    }

    @Test
    void erfcRelativeErrorBelow1e11() {
        // GELU(x) for x << 0 is x/2 * erfc(|x|/sqrt 2): the tail must be accurate relative to its own size.
        double worst = 0, at = 0;
        for (int i = 0; i <= 26000; i++) {
            double x = i * 1e-3;
            double want = ReferenceMath.erfc(x);
            double err = Math.abs(CpuActivation.erfc(x) - want) / want;
            if (err > worst) { worst = err; at = x; }
            double errNeg = Math.abs(CpuActivation.erfc(-x) - ReferenceMath.erfc(-x)) / ReferenceMath.erfc(-x);
            if (errNeg > worst) { worst = errNeg; at = -x; }
        }
        assertTrue(worst < 1e-11, "max relative erfc error " + worst + " at x = " + at);
    }
}
