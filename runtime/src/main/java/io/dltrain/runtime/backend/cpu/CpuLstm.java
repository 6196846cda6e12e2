package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * The LSTM cell's element-wise step ({@code Backend.lstmCellForward / BackwardC / BackwardH}; CUDA twin
 * kernels/src/main/cuda/lstm.cu). Row r of gates [N, 4H] holds the pre-activations i, f, g, o at columns [0, H),
 * [H, 2H), [2H, 3H), [3H, 4H). Computed in float, as PyTorch's and the CUDA kernels' float cells, a row at a time:
 * each sigmoid and tanh takes one exponential ({@link Rows}), and every loop is a short one over a row's contiguous
 * columns that C2 can vectorise (the exponential is split in stages for that: a long loop body is not unrolled, and
 * Float.intBitsToFloat is not vectorised). sigmoid and tanh are within 2.5 ulps of the float64 values and saturate
 * without NaN (CpuLstmTest); elements are independent, so the result does not depend on the thread count (but for
 * the sign bit of a NaN, which the vector and scalar code of a loop may set differently).
 */
final class CpuLstm {
    private CpuLstm() {}

    /** Elements (of [N, H]) per parallel chunk: each costs several exponentials. */
    private static final int GRAIN = 1 << 12;

    static void forward(CpuBackend be, Tensor gates, Tensor cPrev, Tensor c, Tensor h) {
        int[] nh = Checks.lstmCell("lstmCellForward", Device.CPU, gates, null, cPrev, c, h);
        int hid = nh[1];
        float[] G = f(gates), CP = f(cPrev), C = f(c), Hs = f(h);
        int go = off(gates), cpo = off(cPrev), co = off(c), ho = off(h);
        be.par.forRange(nh[0], rowGrain(hid), (r0, r1) -> {
            Rows w = new Rows(4 * hid), wc = new Rows(hid);
            float[] a = w.y, tc = wc.y;
            for (int r = r0; r < r1; r++) {
                int cp = cpo + r * hid, cr = co + r * hid, hr = ho + r * hid;
                w.load(G, go + r * 4 * hid, 0, 4 * hid);
                w.activate(2 * hid, 3 * hid, 4 * hid);         // i, f sigmoid; g tanh; o sigmoid
                for (int j = 0; j < hid; j++) C[cr + j] = a[hid + j] * CP[cp + j] + a[j] * a[2 * hid + j];
                wc.load(C, cr, 0, hid);
                wc.activate(0, hid, hid);                      // tanh(c)
                for (int j = 0; j < hid; j++) Hs[hr + j] = a[3 * hid + j] * tc[j];
            }
        });
    }

    static void backwardC(CpuBackend be, Tensor gates, Tensor cPrev, Tensor dc, Tensor dgates, Tensor dcPrev) {
        int[] nh = Checks.lstmCell("lstmCellBackwardC", Device.CPU, gates, dgates, cPrev, dc, dcPrev);
        int hid = nh[1];
        float[] G = f(gates), CP = f(cPrev), DC = f(dc), DG = f(dgates), DCP = dcPrev == null ? null : f(dcPrev);
        int go = off(gates), cpo = off(cPrev), dco = off(dc), dgo = off(dgates), dcpo = dcPrev == null ? 0 : off(dcPrev);
        be.par.forRange(nh[0], rowGrain(hid), (r0, r1) -> {
            Rows w = new Rows(3 * hid);
            float[] a = w.y;
            for (int r = r0; r < r1; r++) {
                int d0 = dgo + r * 4 * hid, cp = cpo + r * hid, dr = dco + r * hid;
                w.load(G, go + r * 4 * hid, 0, 3 * hid);
                w.activate(2 * hid, 3 * hid, 3 * hid);         // i, f sigmoid; g tanh
                for (int j = 0; j < hid; j++) { float i = a[j]; DG[d0 + j] = DC[dr + j] * a[2 * hid + j] * (i * (1f - i)); }
                for (int j = 0; j < hid; j++) { float fg = a[hid + j]; DG[d0 + hid + j] = DC[dr + j] * CP[cp + j] * (fg * (1f - fg)); }
                for (int j = 0; j < hid; j++) { float g = a[2 * hid + j]; DG[d0 + 2 * hid + j] = DC[dr + j] * a[j] * (1f - g * g); }
                java.util.Arrays.fill(DG, d0 + 3 * hid, d0 + 4 * hid, 0f);
                if (DCP != null) {
                    int pr = dcpo + r * hid;
                    for (int j = 0; j < hid; j++) DCP[pr + j] = DC[dr + j] * a[hid + j];
                }
            }
        });
    }

    static void backwardH(CpuBackend be, Tensor gates, Tensor c, Tensor dh, Tensor dgates, Tensor dc) {
        int[] nh = Checks.lstmCell("lstmCellBackwardH", Device.CPU, gates, dgates, c, dh, dc);
        int hid = nh[1];
        float[] G = f(gates), C = f(c), DH = f(dh), DG = f(dgates), DC = f(dc);
        int go = off(gates), co = off(c), dho = off(dh), dgo = off(dgates), dco = off(dc);
        be.par.forRange(nh[0], rowGrain(hid), (r0, r1) -> {
            Rows w = new Rows(2 * hid);
            float[] a = w.y;
            for (int r = r0; r < r1; r++) {
                int d0 = dgo + r * 4 * hid, hr = dho + r * hid, dr = dco + r * hid;
                w.load(G, go + r * 4 * hid + 3 * hid, 0, hid);
                w.load(C, co + r * hid, hid, hid);
                w.activate(hid, 2 * hid, 2 * hid);             // o sigmoid; tanh(c)
                java.util.Arrays.fill(DG, d0, d0 + 3 * hid, 0f);
                for (int j = 0; j < hid; j++) { float o = a[j]; DG[d0 + 3 * hid + j] = DH[hr + j] * a[hid + j] * (o * (1f - o)); }
                for (int j = 0; j < hid; j++) { float t = a[hid + j]; DC[dr + j] = DH[hr + j] * a[j] * (1f - t * t); }
            }
        });
    }

    /** Rows per parallel chunk for rows of hid elements. */
    private static int rowGrain(int hid) { return Math.max(1, GRAIN / hid); }

    /**
     * Scratch of one chunk: sigmoid and tanh of up to len floats, one exponential each, in float, in stages that C2
     * vectorises: each loop short (a long body is not unrolled, so not vectorised) and every array of a loop indexed
     * alike (a float[] read at one offset and another written at a different one might be the same array, which
     * stops the vectorisation), hence the copy in (load) and the results in y. With u = |x| (sigmoid) or 2|x|
     * (tanh), t = max(-u, -104) = n ln2 + r (|r| <= ln2 / 2, Cody-Waite ln2), q = expm1(r) (Cephes' expf polynomial),
     * s = 2^n (a product of two normal powers, so exp(t) reaches the subnormals; the one loop not vectorised,
     * Float.intBitsToFloat), e = exp(t) = s + s q, expm1(t) = s q + (s - 1) (no cancellation: s = 1 where
     * |t| < ln2 / 2). Then sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, tanh(x) = sign(x)
     * |expm1(t) / (2 + expm1(t))|. Below -104 exp(t) is 0 in float; NaN stays NaN (max, the polynomial and signum
     * keep it), tanh keeps the sign of -0.
     */
    static final class Rows {
        private static final float LOG2E = 1.44269504f, LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
        final float[] x, q, s, y;
        final int[] n;

        Rows(int len) { x = new float[len]; q = new float[len]; s = new float[len]; y = new float[len]; n = new int[len]; }

        /** x[at, at + len) = src[off, off + len). */
        void load(float[] src, int off, int at, int len) { System.arraycopy(src, off, x, at, len); }

        /** y[0, len) = sigmoid of x[0, tanhFrom), tanh of x[tanhFrom, tanhTo), sigmoid of x[tanhTo, len). */
        void activate(int tanhFrom, int tanhTo, int len) {
            float[] x = this.x, q = this.q, s = this.s, y = this.y;
            int[] n = this.n;
            for (int j = tanhFrom; j < tanhTo; j++) x[j] *= 2f;                 // tanh(v) from exp(-2|v|)
            for (int j = 0; j < len; j++) n[j] = (int) (Math.max(-Math.abs(x[j]), -104f) * LOG2E - 0.5f);  // round(t / ln2), t <= 0
            for (int j = 0; j < len; j++) {
                float t = Math.max(-Math.abs(x[j]), -104f), fn = n[j];
                q[j] = (t - fn * LN2_HI) - fn * LN2_LO;
            }
            for (int j = 0; j < len; j++) {
                float r = q[j];
                q[j] = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r
                        + 1.6666665459e-1f) * r + 5.0000001201e-1f) * r * r + r;
            }
            for (int j = 0; j < len; j++) {                                     // n in [-150, 0]
                int h = n[j] >> 1;
                s[j] = Float.intBitsToFloat((h + 127) << 23) * Float.intBitsToFloat((n[j] - h + 127) << 23);
            }
            sigmoid(0, tanhFrom);
            for (int j = tanhFrom; j < tanhTo; j++) {
                float m = s[j] * q[j] + (s[j] - 1f);
                y[j] = Math.signum(x[j]) * Math.abs(m / (2f + m));
            }
            sigmoid(tanhTo, len);
        }

        private void sigmoid(int from, int to) {
            float[] x = this.x, q = this.q, s = this.s, y = this.y;
            for (int j = from; j < to; j++) {
                float e = s[j] + s[j] * q[j], neg = 0.5f - 0.5f * Math.signum(x[j]);   // 1 for x < 0, 0 for x > 0, 1/2 at 0 (e = 1)
                y[j] = (neg * e + (1f - neg)) / (1f + e);
            }
        }
    }
}
