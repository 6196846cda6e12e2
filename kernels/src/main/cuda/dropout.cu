/*
 * dropout.cu -- inverted dropout; CPU twin runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuDropout.java
 * (forward), random numbers from runtime/src/main/java/io/dltrain/runtime/backend/DropoutRng.java (uniform), both
 * evaluated by common.cuh in the same 64-bit arithmetic, so the mask is bit-identical to the CPU's.
 */
#include "common.cuh"

/**
 * CpuDropout.forward: mask[i] = 0 when uniform(seed, i) < p else keep (1 when p == 0); y = x * mask. keep = 1/(1-p) as
 * PyTorch rounds it, computed on the host (DropoutRng.keepScale: it needs p's decimal form).
 */
extern "C" __global__ void dropout_forward_f32(const float* x, float* y, float* mask, float p, float keep, unsigned long long seed,
                                               long long n) {
    DL_GRID_STRIDE(i, n) {
        float m = dl_dropout_mask(p, keep, seed, i);
        mask[i] = m;
        y[i] = p == 0.0f ? x[i] : x[i] * m; // p == 0: a copy, as the CPU's arraycopy
    }
}
