package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.backend.DropoutRng;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.n;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU inverted dropout (PyTorch's {@code F.dropout(x, p, training=True)}): element i is dropped when
 * {@link DropoutRng#uniform}(seed, i) < p, so mask[i] is 0 or 1/(1-p) ({@link DropoutRng#keepScale}) and y = x * mask; the expected value of y is x.
 * The draw for element i depends only on (seed, i), so the mask is the same for any thread count and on any backend.
 * p == 0 keeps everything (mask 1); p == 1 drops everything (mask 0), as PyTorch does.
 */
final class CpuDropout {
    private CpuDropout() {}

    /** Elements per parallel chunk (a hash and a compare each). */
    private static final int GRAIN = 1 << 14;

    static void forward(CpuBackend be, Tensor x, Tensor y, Tensor mask, float p, long seed) {
        Checks.dropout(Device.CPU, x, y, mask, p);
        float[] X = f(x), Y = f(y), K = f(mask);
        int xo = off(x), yo = off(y), ko = off(mask), n = n(x);
        if (p == 0f) {
            java.util.Arrays.fill(K, ko, ko + n, 1f);
            System.arraycopy(X, xo, Y, yo, n);
            return;
        }
        float keep = DropoutRng.keepScale(p); // PyTorch's 1/(1-p), 0 for p = 1
        // Branch-free keep test (a branch on random data mispredicts ~p of the time): for non-negative floats the
        // int bit patterns order like the values, so uniform < p exactly when bits(uniform) - bits(p) < 0.
        int pBits = Float.floatToRawIntBits(p), keepBits = Float.floatToRawIntBits(keep);
        be.par.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                int dropped = (Float.floatToRawIntBits(DropoutRng.uniform(seed, i)) - pBits) >> 31; // -1 if dropped, else 0
                float m = Float.intBitsToFloat(keepBits & ~dropped);
                K[ko + i] = m;
                Y[yo + i] = X[xo + i] * m;
            }
        });
    }
}
