package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuActivation.sigmoid;
import static io.dltrain.runtime.backend.cpu.CpuActivation.tanh;
import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * The LSTM cell's element-wise step ({@code Backend.lstmCellForward / BackwardC / BackwardH}; CUDA twin
 * kernels/src/main/cuda/lstm.cu). Row r of gates [N, 4H] holds the pre-activations i, f, g, o at columns [0, H),
 * [H, 2H), [2H, 3H), [3H, 4H). Each element is computed in double from the float inputs and rounded once (sigmoid
 * and tanh are CpuActivation's); elements are independent, so the result does not depend on the thread count.
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
        be.par.forRange(nh[0] * hid, GRAIN, (s, e) -> {
            for (int k = s; k < e; k++) {
                int r = k / hid, j = k - r * hid, g0 = go + r * 4 * hid + j;
                double i = sigmoid(G[g0]), fg = sigmoid(G[g0 + hid]), g = tanh(G[g0 + 2 * hid]), o = sigmoid(G[g0 + 3 * hid]);
                float cv = (float) (fg * CP[cpo + k] + i * g);
                C[co + k] = cv;
                Hs[ho + k] = (float) (o * tanh(cv));
            }
        });
    }

    static void backwardC(CpuBackend be, Tensor gates, Tensor cPrev, Tensor dc, Tensor dgates, Tensor dcPrev) {
        int[] nh = Checks.lstmCell("lstmCellBackwardC", Device.CPU, gates, dgates, cPrev, dc, dcPrev);
        int hid = nh[1];
        float[] G = f(gates), CP = f(cPrev), DC = f(dc), DG = f(dgates), DCP = dcPrev == null ? null : f(dcPrev);
        int go = off(gates), cpo = off(cPrev), dco = off(dc), dgo = off(dgates), dcpo = dcPrev == null ? 0 : off(dcPrev);
        be.par.forRange(nh[0] * hid, GRAIN, (s, e) -> {
            for (int k = s; k < e; k++) {
                int r = k / hid, j = k - r * hid, g0 = go + r * 4 * hid + j, d0 = dgo + r * 4 * hid + j;
                double i = sigmoid(G[g0]), fg = sigmoid(G[g0 + hid]), g = tanh(G[g0 + 2 * hid]);
                double d = DC[dco + k];
                DG[d0] = (float) (d * g * i * (1 - i));
                DG[d0 + hid] = (float) (d * CP[cpo + k] * fg * (1 - fg));
                DG[d0 + 2 * hid] = (float) (d * i * (1 - g * g));
                DG[d0 + 3 * hid] = 0f;
                if (DCP != null) DCP[dcpo + k] = (float) (d * fg);
            }
        });
    }

    static void backwardH(CpuBackend be, Tensor gates, Tensor c, Tensor dh, Tensor dgates, Tensor dc) {
        int[] nh = Checks.lstmCell("lstmCellBackwardH", Device.CPU, gates, dgates, c, dh, dc);
        int hid = nh[1];
        float[] G = f(gates), C = f(c), DH = f(dh), DG = f(dgates), DC = f(dc);
        int go = off(gates), co = off(c), dho = off(dh), dgo = off(dgates), dco = off(dc);
        be.par.forRange(nh[0] * hid, GRAIN, (s, e) -> {
            for (int k = s; k < e; k++) {
                int r = k / hid, j = k - r * hid, g0 = go + r * 4 * hid + j, d0 = dgo + r * 4 * hid + j;
                double o = sigmoid(G[g0 + 3 * hid]), tc = tanh(C[co + k]), d = DH[dho + k];
                DG[d0] = 0f;
                DG[d0 + hid] = 0f;
                DG[d0 + 2 * hid] = 0f;
                DG[d0 + 3 * hid] = (float) (d * tc * o * (1 - o));
                DC[dco + k] = (float) (d * o * (1 - tc * tc));
            }
        });
    }
}
