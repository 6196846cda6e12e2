package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * addBias and biasGrad on a Linear's [N, C] (inner size 1) run row by row; before, they ran the [N, C, H, W] loop
 * with planes of one element (a modulo per value, one strided element per row and column: a quarter of the lstm's
 * training step). The row-wise path must give the numbers of the per-channel loop bit for bit: addBias the same float
 * sums, biasGrad each column summed in double over the rows in order (each one-element plane's float sum added),
 * rounded once, added to the old gradient in double when accumulating. Shapes from one row or column to several
 * parallel chunks on two threads; NaN, infinities, -0 and cancelling values among the inputs.
 */
class CpuBiasTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** The per-channel loop the [N, C] path replaced (CpuElementwise.biasGrad with inner = 1). */
    static float[] perChannelBiasGrad(float[] dy, int n, int c, float[] old, boolean accumulate) {
        float[] g = old.clone();
        for (int ch = 0; ch < c; ch++) {
            double acc = 0;
            for (int r = 0; r < n; r++) acc += CpuElementwise.sum8(dy, r * c + ch, 1);
            g[ch] = (float) (accumulate ? g[ch] + acc : acc);
        }
        return g;
    }

    static float[] values(SplittableRandom rng, int len) {
        float[] v = Check.uniform(rng, len, -2, 2);
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, -0f, 1e8f, 1f, -1e8f, 3e-39f, -0f};
        for (int i = 0; i < len; i++) if (rng.nextInt(97) == 0) v[i] = specials[rng.nextInt(specials.length)];
        if (len >= 3) { v[0] = 1e8f; v[len / 2] = 1f; v[len - 1] = -1e8f; }   // cancellation in float, not in double
        return v;
    }

    @Test
    void aLinearsBiasRunsRowByRowWithTheNumbersOfThePerChannelLoop() {
        SplittableRandom rng = new SplittableRandom(7);
        int[][] shapes = {{1, 1}, {1, 9}, {9, 1}, {3, 5}, {128, 512}, {128, 10}, {300, 700}, {1000, 3}};
        for (int[] s : shapes) for (boolean accumulate : new boolean[] {false, true}) {
            int n = s[0], c = s[1];
            String what = "[" + n + ", " + c + "] accumulate=" + accumulate;
            try (Scope sc = Scope.open()) {
                float[] y = values(rng, n * c), bias = values(rng, c), dy = values(rng, n * c), old = values(rng, c);
                float[] want = new float[n * c];
                for (int r = 0; r < n; r++) for (int ch = 0; ch < c; ch++) want[r * c + ch] = y[r * c + ch] + bias[ch];
                Tensor ty = be.fromHost(y, Shape.of(n, c));
                be.addBias(ty, be.fromHost(bias, Shape.of(c)));
                assertArrayEquals(want, ty.toFloatArray(), "addBias " + what);

                Tensor g = be.fromHost(old, Shape.of(c));
                be.biasGrad(be.fromHost(dy, Shape.of(n, c)), g, accumulate);
                assertArrayEquals(perChannelBiasGrad(dy, n, c, old, accumulate), g.toFloatArray(), "biasGrad " + what);
            }
        }
    }
}
