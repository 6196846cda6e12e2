package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU batch normalisation (PyTorch's {@code F.batch_norm}) for x of shape [N, C] or [N, C, ...]: per channel c,
 * statistics over N and the trailing ("inner") dimensions, M = N * inner values each.
 * <ul>
 *   <li>Training: mean and biased variance of the batch normalise; saveMean / saveInvStd = 1/sqrt(var + eps)
 *       are kept for backward; running_mean / running_var move by {@code momentum} towards the batch mean and the
 *       <em>unbiased</em> variance var * M / (M - 1), exactly as PyTorch updates them.</li>
 *   <li>Inference: normalises with the running statistics.</li>
 *   <li>Backward (training statistics): dbeta = sum dy, dgamma = sum dy * xhat,
 *       dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)).</li>
 * </ul>
 * Work is split over channels; each channel's sums run in double in a fixed order, so results do not depend on
 * the thread count. The mean is used as two floats, m = (float) mean and lo = (float) (mean - m), and x - mean as
 * (x - m) - lo (x - m is exact when x is within a factor of 2 of m): with the float mean alone, a channel with
 * |mean| >> std (mean 1e5, std 0.1) shifted every xhat by up to half an ulp of the mean over std (0.04). The backward
 * gets the same lo from its first pass, as the mean of x - saveMean, since saveMean holds only m.
 * The training forward reads x twice (statistics from sums shifted by a sample value, then the output), the backward
 * twice (its sums, then dx). [N, C] inputs (inner = 1) walk rows of C with per-channel
 * accumulators so the loops stay contiguous.
 */
final class CpuNorm {
    private CpuNorm() {}

    /** Elements per parallel chunk. */
    private static final int GRAIN = 1 << 15;

    /** Shape of x as [N, C, inner]. */
    private record Dims(int N, int C, int inner) {
        long perChannel() { return (long) N * inner; }
    }

    /** x, checked by the caller ({@link Checks}), as [N, C, inner]. */
    private static Dims dims(Tensor x) { return new Dims(x.dim(0), x.dim(1), x.shape().sizeFrom(2)); }

    /** Channels per parallel chunk so a chunk holds about GRAIN elements. */
    private static int channelGrain(Dims d) { return (int) Math.max(1, GRAIN / Math.max(1, d.perChannel())); }

    static void forwardTraining(CpuBackend be, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        Checks.batchNormTraining(Device.CPU, x, gamma, beta, runningMean, runningVar, eps, y, saveMean, saveInvStd);
        Dims d = dims(x);
        long M = d.perChannel();
        final int N = d.N, C = d.C, inner = d.inner;
        float[] X = f(x), Y = f(y), Gm = f(gamma), Bt = f(beta), RM = f(runningMean), RV = f(runningVar),
                SM = f(saveMean), SI = f(saveInvStd);
        int xo = off(x), yo = off(y), go = off(gamma), bo = off(beta), rmo = off(runningMean), rvo = off(runningVar),
                smo = off(saveMean), sio = off(saveInvStd);
        double invM = 1.0 / M, unbias = (double) M / (M - 1);
        be.par.forRange(C, channelGrain(d), (cs, ce) -> {
            int K = ce - cs;
            // One pass over x: sums of d = x - shift and d^2, shift = the channel's first value. Shifting by a
            // sample keeps var = (S2 - S1^2 / M) / M free of the cancellation that plain sums of x and x^2 suffer
            // when |mean| >> std (in double the loss is ~1e-16 * (shift - mean)^2 / var).
            double[] shiftBy = new double[K], s1 = new double[K], s2 = new double[K];
            for (int k = 0; k < K; k++) shiftBy[k] = X[xo + (cs + k) * inner];
            if (inner == 1) {
                for (int n = 0; n < N; n++) {
                    int b = xo + n * C + cs;
                    for (int k = 0; k < K; k++) { double dev = X[b + k] - shiftBy[k]; s1[k] += dev; s2[k] += dev * dev; }
                }
            } else {
                double[] acc = new double[2];
                for (int k = 0; k < K; k++) {
                    acc[0] = 0; acc[1] = 0;
                    for (int n = 0; n < N; n++) shiftedSums(X, xo + (n * C + cs + k) * inner, inner, shiftBy[k], acc);
                    s1[k] = acc[0];
                    s2[k] = acc[1];
                }
            }
            double[] mean = new double[K], variance = new double[K];
            for (int k = 0; k < K; k++) {
                double meanDev = s1[k] * invM;
                mean[k] = shiftBy[k] + meanDev;
                variance[k] = Math.max(0.0, s2[k] * invM - meanDev * meanDev);
            }
            // Statistics, running-stat update (PyTorch: running = (1 - momentum) * running + momentum * batch).
            float[] m = new float[K], lo = new float[K], scale = new float[K], shift = new float[K];
            for (int k = 0; k < K; k++) {
                int c = cs + k;
                double var = variance[k];
                double invStd = 1.0 / Math.sqrt(var + eps);
                SM[smo + c] = (float) mean[k];
                SI[sio + c] = (float) invStd;
                RM[rmo + c] = (float) ((1.0 - momentum) * RM[rmo + c] + momentum * mean[k]);
                RV[rvo + c] = (float) ((1.0 - momentum) * RV[rvo + c] + momentum * var * unbias);
                m[k] = (float) mean[k];
                lo[k] = (float) (mean[k] - m[k]);
                scale[k] = (float) (Gm[go + c] * invStd);
                shift[k] = Bt[bo + c];
            }
            // Second pass: y = ((x - m) - lo) * (gamma * invstd) + beta.
            normalise(X, xo, Y, yo, N, C, inner, cs, ce, m, lo, scale, shift);
        });
    }

    static void forwardInference(CpuBackend be, Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                 float eps, Tensor y) {
        Checks.batchNormInference(Device.CPU, x, gamma, beta, runningMean, runningVar, eps, y);
        Dims d = dims(x);
        final int N = d.N, C = d.C, inner = d.inner;
        float[] Gm = f(gamma), Bt = f(beta), RM = f(runningMean), RV = f(runningVar);
        int go = off(gamma), bo = off(beta), rmo = off(runningMean), rvo = off(runningVar);
        float[] m = new float[C], scale = new float[C], shift = new float[C];
        for (int c = 0; c < C; c++) {
            m[c] = RM[rmo + c];
            scale[c] = (float) (Gm[go + c] / Math.sqrt((double) RV[rvo + c] + eps));
            shift[c] = Bt[bo + c];
        }
        float[] X = f(x), Y = f(y);
        int xo = off(x), yo = off(y);
        if (inner == 1) {
            // Rows of C: split over N.
            be.par.forRange(N, Math.max(1, GRAIN / Math.max(1, C)), (s, e) -> {
                for (int n = s; n < e; n++) {
                    int b = n * C;
                    for (int c = 0; c < C; c++) Y[yo + b + c] = (X[xo + b + c] - m[c]) * scale[c] + shift[c];
                }
            });
        } else {
            // Planes of inner elements: split over N * C.
            be.par.forRange(N * C, Math.max(1, GRAIN / inner), (s, e) -> {
                for (int nc = s; nc < e; nc++) {
                    int c = nc % C, b = nc * inner;
                    float mc = m[c], sc = scale[c], sh = shift[c];
                    for (int i = 0; i < inner; i++) Y[yo + b + i] = (X[xo + b + i] - mc) * sc + sh;
                }
            });
        }
    }

    static void backward(CpuBackend be, Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                         Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        Checks.batchNormBackward(Device.CPU, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
        Dims d = dims(x);
        final int N = d.N, C = d.C, inner = d.inner;
        float[] X = f(x), D = f(dy), DX = f(dx), Gm = f(gamma), SM = f(saveMean), SI = f(saveInvStd), DG = f(dgamma), DB = f(dbeta);
        int xo = off(x), dyo = off(dy), dxo = off(dx), go = off(gamma), smo = off(saveMean), sio = off(saveInvStd),
                dgo = off(dgamma), dbo = off(dbeta);
        double invM = 1.0 / d.perChannel();
        be.par.forRange(C, channelGrain(d), (cs, ce) -> {
            int K = ce - cs;
            float[] mean = new float[K];
            for (int k = 0; k < K; k++) mean[k] = SM[smo + cs + k];
            // Pass 1: sum dy, sum dy * (x - m) and sum (x - m), m the saved (float) mean.
            double[] sDy = new double[K], sDyXmu = new double[K], sXmu = new double[K];
            if (inner == 1) {
                for (int n = 0; n < N; n++) {
                    int b = n * C + cs;
                    for (int k = 0; k < K; k++) {
                        double g = D[dyo + b + k], xc = X[xo + b + k] - mean[k];
                        sDy[k] += g;
                        sDyXmu[k] += g * xc;
                        sXmu[k] += xc;
                    }
                }
            } else {
                double[] acc = new double[3];
                for (int k = 0; k < K; k++) {
                    acc[0] = 0; acc[1] = 0; acc[2] = 0;
                    for (int n = 0; n < N; n++) {
                        int b = (n * C + cs + k) * inner;
                        centredSums(D, dyo + b, X, xo + b, inner, mean[k], acc);
                    }
                    sDy[k] = acc[0];
                    sDyXmu[k] = acc[1];
                    sXmu[k] = acc[2];
                }
            }
            // The batch mean is m + lo with lo = mean(x - m); centre on it: sum dy (x - m - lo) = sDyXmu - lo * sDy.
            float[] lo = new float[K];
            for (int k = 0; k < K; k++) {
                double delta = sXmu[k] * invM;
                lo[k] = (float) delta;
                sDyXmu[k] -= delta * sDy[k];
            }
            // Parameter gradients; dx = (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean))) * gamma * invstd,
            // x - mean as (x - m) - lo.
            float[] meanDy = new float[K], proj = new float[K], scale = new float[K];
            for (int k = 0; k < K; k++) {
                int c = cs + k;
                double invStd = SI[sio + c];
                double dg = sDyXmu[k] * invStd, db = sDy[k];
                DG[dgo + c] = (float) (accumulate ? DG[dgo + c] + dg : dg);
                DB[dbo + c] = (float) (accumulate ? DB[dbo + c] + db : db);
                meanDy[k] = (float) (sDy[k] * invM);
                proj[k] = (float) (sDyXmu[k] * invM * invStd * invStd);
                scale[k] = (float) (Gm[go + c] * invStd);
            }
            // Pass 2: dx.
            if (inner == 1) {
                for (int n = 0; n < N; n++) {
                    int b = n * C + cs;
                    for (int k = 0; k < K; k++)
                        DX[dxo + b + k] = (D[dyo + b + k] - meanDy[k] - ((X[xo + b + k] - mean[k]) - lo[k]) * proj[k]) * scale[k];
                }
            } else {
                for (int k = 0; k < K; k++) {
                    float mk = mean[k], lk = lo[k], md = meanDy[k], pk = proj[k], sk = scale[k];
                    for (int n = 0; n < N; n++) {
                        int b = (n * C + cs + k) * inner;
                        for (int i = 0; i < inner; i++)
                            DX[dxo + b + i] = (D[dyo + b + i] - md - ((X[xo + b + i] - mk) - lk) * pk) * sk;
                    }
                }
            }
        });
    }

    /** y = ((x - m[c]) - lo[c]) * scale[c] + shift[c] for channels [cs, ce) (arrays indexed from cs). */
    private static void normalise(float[] X, int xo, float[] Y, int yo, int N, int C, int inner, int cs, int ce,
                                  float[] m, float[] lo, float[] scale, float[] shift) {
        int K = ce - cs;
        if (inner == 1) {
            for (int n = 0; n < N; n++) {
                int b = n * C + cs;
                for (int k = 0; k < K; k++) Y[yo + b + k] = ((X[xo + b + k] - m[k]) - lo[k]) * scale[k] + shift[k];
            }
        } else {
            for (int k = 0; k < K; k++) {
                float mk = m[k], lk = lo[k], sk = scale[k], hk = shift[k];
                for (int n = 0; n < N; n++) {
                    int b = (n * C + cs + k) * inner;
                    for (int i = 0; i < inner; i++) Y[yo + b + i] = ((X[xo + b + i] - mk) - lk) * sk + hk;
                }
            }
        }
    }

    // Sums in double with independent accumulators (two per sum): a fixed order (deterministic) that still keeps the
    // floating-point adder busy, since one dependent chain of double additions would run at a quarter speed.

    /** acc[0] += sum of (a[i] - shift), acc[1] += sum of (a[i] - shift)^2, over [from, from + len). */
    private static void shiftedSums(float[] a, int from, int len, double shift, double[] acc) {
        double s0 = 0, s1 = 0, q0 = 0, q1 = 0;
        int i = 0;
        for (; i + 2 <= len; i += 2) {
            double d0 = a[from + i] - shift, d1 = a[from + i + 1] - shift;
            s0 += d0; s1 += d1;
            q0 += d0 * d0; q1 += d1 * d1;
        }
        if (i < len) { double d = a[from + i] - shift; s0 += d; q0 += d * d; }
        acc[0] += s0 + s1;
        acc[1] += q0 + q1;
    }

    /** acc[0] += sum g[i], acc[1] += sum g[i] * (x[i] - mean), acc[2] += sum (x[i] - mean) (x - mean in float). */
    private static void centredSums(float[] g, int go, float[] x, int xo, int len, float mean, double[] acc) {
        double a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0;
        int i = 0;
        for (; i + 2 <= len; i += 2) {
            double g0 = g[go + i], g1 = g[go + i + 1];
            double d0 = x[xo + i] - mean, d1 = x[xo + i + 1] - mean;
            a0 += g0; a1 += g1;
            b0 += g0 * d0; b1 += g1 * d1;
            c0 += d0; c1 += d1;
        }
        if (i < len) { double g0 = g[go + i], d0 = x[xo + i] - mean; a0 += g0; b0 += g0 * d0; c0 += d0; }
        acc[0] += a0 + a1;
        acc[1] += b0 + b1;
        acc[2] += c0 + c1;
    }
}
