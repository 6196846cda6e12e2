/*
 * activation.cu -- point-wise activations, forward and backward; CPU twin
 * runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuActivation.java (forward / backward).
 * kind = Activation.Kind.ordinal() (RELU 0, LEAKY_RELU 1, ELU 2, SIGMOID 3, TANH 4, SOFTPLUS 5, GELU 6); alpha is the
 * Activation's parameter (LeakyReLU slope, ELU alpha, Softplus beta). Grid-stride loops; the per-element math is in
 * common.cuh (dl_activation_forward / dl_activation_backward). kind is uniform over the grid, so the switch does
 * not diverge.
 */
#include "common.cuh"

/** CpuActivation.forward: y = act(x). */
extern "C" __global__ void activation_forward_f32(int kind, float alpha, const float* x, float* y, long long n) {
    DL_GRID_STRIDE(i, n) y[i] = dl_activation_forward(kind, alpha, x[i]);
}

/**
 * CpuActivation.backward: dx = dy * act'(x) (sigmoid and tanh from the output y, as PyTorch). Sigmoid and tanh read
 * only y, the others only x: the other input is never loaded (less traffic; it may even be a null pointer).
 */
extern "C" __global__ void activation_backward_f32(int kind, float alpha, const float* x, const float* y, const float* dy,
                                                   float* dx, long long n) {
    bool from_y = kind == DL_SIGMOID || kind == DL_TANH;
    DL_GRID_STRIDE(i, n) {
        float xi = from_y ? 0.0f : x[i], yi = from_y ? y[i] : 0.0f;
        dx[i] = dl_activation_backward(kind, alpha, xi, yi, dy[i]);
    }
}
