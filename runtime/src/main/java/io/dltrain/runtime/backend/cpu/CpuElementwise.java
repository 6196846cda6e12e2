package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.n;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU element-wise ops and reductions. Loops are plain and contiguous so the JIT vectorises them; each has a
 * zero-offset variant with plain indices, because C2 (JDK 25) does not vectorise a loop over two arrays accessed at
 * different runtime offsets (it cannot rule out that they are one array).
 */
final class CpuElementwise {
    private CpuElementwise() {}

    /** Elements per parallel chunk below which splitting costs more than it saves. */
    static final int GRAIN = 1 << 15;

    /**
     * Values per float partial sum ({@link #sum8}: 16 adds per accumulator); the partials are combined in double.
     * Where every add rounds the same way (a constant dy), a float accumulator drifts by about its number of adds times
     * 2^-24 relative: blocks of 1024 (128 adds each) put 1e7 x 0.1f at 1000001.0 for 1000000.015, twice PyTorch's
     * float32 error there; blocks of 128 give 1.7e-7 at the same speed (double accumulators cost 1.8x).
     */
    static final int SUM_BLOCK = 128;

    static void add(CpuBackend be, Tensor a, Tensor b, Tensor y) {
        Checks.elementwise("add", Device.CPU, a, b, y);
        float[] A = f(a), B = f(b), Y = f(y);
        int ao = off(a), bo = off(b), yo = off(y);
        if ((ao | bo | yo) == 0) be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[i] = A[i] + B[i]; });
        else be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] = A[ao + i] + B[bo + i]; });
    }

    static void mul(CpuBackend be, Tensor a, Tensor b, Tensor y) {
        Checks.elementwise("mul", Device.CPU, a, b, y);
        float[] A = f(a), B = f(b), Y = f(y);
        int ao = off(a), bo = off(b), yo = off(y);
        if ((ao | bo | yo) == 0) be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[i] = A[i] * B[i]; });
        else be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] = A[ao + i] * B[bo + i]; });
    }

    static void scale(CpuBackend be, Tensor x, float alpha, Tensor y) {
        Checks.elementwise("scale", Device.CPU, x, y);
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y);
        if ((xo | yo) == 0) be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[i] = alpha * X[i]; });
        else be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] = alpha * X[xo + i]; });
    }

    static void axpy(CpuBackend be, float alpha, Tensor x, Tensor y) {
        Checks.elementwise("axpy", Device.CPU, x, y);
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y);
        if ((xo | yo) == 0) be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[i] += alpha * X[i]; });
        else be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] += alpha * X[xo + i]; });
    }

    static void pow(CpuBackend be, Tensor x, float p, Tensor y) {
        Checks.elementwise("pow", Device.CPU, x, y);
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y);
        be.par.forRange(n(y), GRAIN, (s, e) -> { for (int i = s; i < e; i++) Y[yo + i] = pow(X[xo + i], p); });
    }

    static void powBackward(CpuBackend be, Tensor x, float p, Tensor dy, Tensor dx) {
        Checks.elementwise("powBackward", Device.CPU, x, dy, dx);
        float[] X = f(x), D = f(dy), G = f(dx);
        int xo = off(x), dyo = off(dy), dxo = off(dx);
        float pm1 = (float) ((double) p - 1);
        be.par.forRange(n(dx), GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) G[dxo + i] = p == 0f ? 0f : D[dyo + i] * (p * pow(X[xo + i], pm1));
        });
    }

    /**
     * x^p as torch.pow(x, p) computes it in float: its exact forms for p in {0, 1, 2, 3, -2, 0.5, -0.5, -1} (so p = 2 is
     * x * x, and 0.5 of -0 is sqrt(-0) = -0), else C's powf, here Math.pow in double rounded to float, with C's answer
     * where Java's differs (1^p = 1 and (-1)^(+-inf) = 1 for any p, NaN included). Mirrored by common.cuh's dl_pow.
     */
    static float pow(float x, float p) {
        if (p == 0f) return 1f;
        if (p == 1f) return x;
        if (p == 2f) return x * x;
        if (p == 3f) return x * x * x;
        if (p == -2f) return 1f / (x * x);
        if (p == 0.5f) return (float) Math.sqrt(x);
        if (p == -0.5f) return 1f / (float) Math.sqrt(x);
        if (p == -1f) return 1f / x;
        if (x == 1f || (x == -1f && Float.isInfinite(p))) return 1f;
        return (float) Math.pow(x, p);
    }

    static void addBias(CpuBackend be, Tensor y, Tensor bias) {
        Checks.bias("addBias", Device.CPU, y, bias);
        int N = y.dim(0), C = y.dim(1), inner = y.shape().sizeFrom(2);
        float[] Y = f(y), B = f(bias);
        int yo = off(y), bo = off(bias);
        if (inner == 1) {   // a Linear's [N, C]: whole rows, not one modulo and a loop of one element per value
            be.par.forRange(N, Math.max(1, GRAIN / Math.max(1, C)), (s, e) -> {
                for (int r = s; r < e; r++) {
                    int base = yo + r * C;
                    for (int c = 0; c < C; c++) Y[base + c] += B[bo + c];
                }
            });
            return;
        }
        be.par.forRange(N * C, Math.max(1, GRAIN / Math.max(1, inner)), (s, e) -> {
            for (int nc = s; nc < e; nc++) {
                float v = B[bo + nc % C];
                int base = yo + nc * inner;
                for (int i = 0; i < inner; i++) Y[base + i] += v;
            }
        });
    }

    static void biasGrad(CpuBackend be, Tensor dy, Tensor dbias, boolean accumulate) {
        Checks.bias("biasGrad", Device.CPU, dy, dbias);
        int N = dy.dim(0), C = dy.dim(1), inner = dy.shape().sizeFrom(2);
        float[] D = f(dy), G = f(dbias);
        int dyo = off(dy), go = off(dbias);
        if (inner == 1) {
            // A Linear's [N, C]: the same sums (each column in double, rows in order, rounded once; a plane of one
            // element is that element), read row by row rather than one strided element per row and column.
            be.par.forRange(C, Math.max(1, GRAIN / Math.max(1, N)), (s, e) -> {
                double[] acc = new double[e - s];
                for (int nn = 0; nn < N; nn++) {
                    int base = dyo + nn * C;
                    for (int c = s; c < e; c++) acc[c - s] += D[base + c];
                }
                for (int c = s; c < e; c++) G[go + c] = (float) (accumulate ? G[go + c] + acc[c - s] : acc[c - s]);
            });
            return;
        }
        // Parallel over channels; each channel sums over n in a fixed order (deterministic). A plane is summed in
        // float blocks of SUM_BLOCK, combined in double, as reduce does: one sum8 over a whole large plane drifts
        // (dy = 0.1 over 1024 x 1024 came out 1e-3 low).
        be.par.forRange(C, Math.max(1, GRAIN / Math.max(1, N * inner)), (s, e) -> {
            for (int c = s; c < e; c++) {
                double acc = 0;
                for (int nn = 0; nn < N; nn++) {
                    int base = dyo + (nn * C + c) * inner;
                    for (int i = 0; i < inner; i += SUM_BLOCK) acc += sum8(D, base + i, Math.min(inner - i, SUM_BLOCK));
                }
                G[go + c] = (float) (accumulate ? G[go + c] + acc : acc);
            }
        });
    }

    /** Sum of x in double (float blocks of SUM_BLOCK), per chunk, partials combined in chunk order. */
    private static double reduce(CpuBackend be, Tensor x, boolean squares) {
        float[] X = f(x);
        int xo = off(x), n = n(x);
        int chunks = be.par.chunks(n, GRAIN);
        double[] partial = new double[chunks];
        be.par.forChunks(n, chunks, (c, s, e) -> {
            double acc = 0;
            for (int i = s; i < e; i += SUM_BLOCK) {
                int len = Math.min(e, i + SUM_BLOCK) - i;
                acc += squares ? sumSquares8(X, xo + i, len) : sum8(X, xo + i, len);
            }
            partial[c] = acc;
        });
        double total = 0;
        for (double p : partial) total += p;
        return total;
    }

    /**
     * Sum of a[from .. from+len) with eight independent float accumulators, combined in a fixed order. The JIT may
     * not reorder a single float accumulator (that would change the result), so one accumulator runs at one add per
     * cycle; eight run vectorised, and the fixed combination keeps results repeatable.
     */
    static float sum8(float[] a, int from, int len) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            int j = from + i;
            s0 += a[j]; s1 += a[j + 1]; s2 += a[j + 2]; s3 += a[j + 3];
            s4 += a[j + 4]; s5 += a[j + 5]; s6 += a[j + 6]; s7 += a[j + 7];
        }
        for (; i < len; i++) s0 += a[from + i];
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }

    /** Sum of squares, as {@link #sum8}. */
    static float sumSquares8(float[] a, int from, int len) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            int j = from + i;
            s0 += a[j] * a[j]; s1 += a[j + 1] * a[j + 1]; s2 += a[j + 2] * a[j + 2]; s3 += a[j + 3] * a[j + 3];
            s4 += a[j + 4] * a[j + 4]; s5 += a[j + 5] * a[j + 5]; s6 += a[j + 6] * a[j + 6]; s7 += a[j + 7] * a[j + 7];
        }
        for (; i < len; i++) s0 += a[from + i] * a[from + i];
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }

    static void sum(CpuBackend be, Tensor x, float alpha, Tensor out) {
        Checks.reduction("sum", Device.CPU, x, out);
        f(out)[off(out)] = (float) (alpha * reduce(be, x, false));
    }

    static void sumSquares(CpuBackend be, Tensor x, Tensor out, boolean accumulate) {
        Checks.reduction("sumSquares", Device.CPU, x, out);
        double s = reduce(be, x, true);
        float[] O = f(out);
        O[off(out)] = (float) (accumulate ? O[off(out)] + s : s);
    }

    static void clipByNorm(CpuBackend be, Tensor x, Tensor sumSq, float maxNorm) {
        Checks.reduction("clipByNorm", Device.CPU, x, sumSq);
        double norm = Math.sqrt(f(sumSq)[off(sumSq)]);
        double coef = maxNorm / (norm + 1e-6);
        // PyTorch clamps the coefficient to at most 1 and multiplies by it; a NaN norm (a NaN gradient anywhere) gives
        // a NaN coefficient, so every gradient becomes NaN, as there.
        if (!(coef >= 1.0)) scale(be, x, (float) coef, x);
    }

    static void checkFinite(CpuBackend be, Tensor x, Tensor flag) {
        Checks.reduction("checkFinite", Device.CPU, x, flag);
        float[] X = f(x);
        int xo = off(x), n = n(x);
        int chunks = be.par.chunks(n, GRAIN);
        boolean[] bad = new boolean[chunks];
        be.par.forChunks(n, chunks, (c, s, e) -> {
            for (int i = s; i < e; i++) if (!Float.isFinite(X[xo + i])) { bad[c] = true; return; }
        });
        for (boolean b : bad) if (b) { f(flag)[off(flag)] = 1f; return; }
    }
}
