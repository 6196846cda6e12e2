/*
 * lstm.cu -- the LSTM cell's element-wise step (nn.LSTM's gates and state update), forward and the two backward
 * halves; CPU twin runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuLstm.java (forward / backwardC /
 * backwardH). The GEMMs of a step are cuBLAS's (Basic.linear); these do everything else of it, so one step is a few
 * launches instead of a dozen slices, activations and products. n = N * H elements, hid = H; gates are [N, 4H] in
 * PyTorch's order i, f, g, o. Grid-stride loops; the per-element math is in common.cuh (dl_lstm_cell_*).
 */
#include "common.cuh"

/** CpuLstm.forward: c and h [N, H] from gates [N, 4H] and c_prev [N, H]. */
extern "C" __global__ void lstm_cell_forward_f32(const float* gates, const float* c_prev, float* c, float* h, long long n, int hid) {
    DL_GRID_STRIDE(k, n) dl_lstm_cell_forward(gates, c_prev, c, h, k, hid);
}

/** CpuLstm.backwardC: dgates (the o quarter zero) and, unless dc_prev is null, dc_prev from dc. */
extern "C" __global__ void lstm_cell_backward_c_f32(const float* gates, const float* c_prev, const float* dc, float* dgates,
                                                    float* dc_prev, long long n, int hid) {
    DL_GRID_STRIDE(k, n) dl_lstm_cell_backward_c(gates, c_prev, dc, dgates, dc_prev, k, hid);
}

/** CpuLstm.backwardH: dgates (only the o quarter non-zero) and dc from dh. */
extern "C" __global__ void lstm_cell_backward_h_f32(const float* gates, const float* c, const float* dh, float* dgates,
                                                    float* dc, long long n, int hid) {
    DL_GRID_STRIDE(k, n) dl_lstm_cell_backward_h(gates, c, dh, dgates, dc, k, hid);
}
