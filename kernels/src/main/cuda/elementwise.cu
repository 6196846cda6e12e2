/*
 * elementwise.cu -- element-wise ops and reductions of the CUDA backend; CPU twins in
 * runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuElementwise.java (and Backend.fill).
 * Element-wise kernels are grid-stride loops (any launch shape works). Reductions are deterministic: double
 * accumulators, a fixed strided split over the block's threads and a fixed tree (common.cuh), no float atomics.
 */
#include "common.cuh"

/** CpuBackend.fill (Arrays.fill): y[i] = v. */
extern "C" __global__ void fill_f32(float* y, float v, long long n) {
    DL_GRID_STRIDE(i, n) y[i] = v;
}

/** Backend.fill on an INT32 tensor: y[i] = v. */
extern "C" __global__ void fill_i32(int* y, int v, long long n) {
    DL_GRID_STRIDE(i, n) y[i] = v;
}

/** CpuElementwise.add: y = a + b. */
extern "C" __global__ void add_f32(const float* a, const float* b, float* y, long long n) {
    DL_GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

/** CpuElementwise.mul: y = a * b. */
extern "C" __global__ void mul_f32(const float* a, const float* b, float* y, long long n) {
    DL_GRID_STRIDE(i, n) y[i] = a[i] * b[i];
}

/** CpuElementwise.scale: y = alpha * x (x == y allowed). */
extern "C" __global__ void scale_f32(const float* x, float alpha, float* y, long long n) {
    DL_GRID_STRIDE(i, n) y[i] = alpha * x[i];
}

/** CpuElementwise.axpy: y += alpha * x. */
extern "C" __global__ void axpy_f32(float alpha, const float* x, float* y, long long n) {
    DL_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

/** CpuElementwise.pow: y = x^p for a constant p (x == y allowed); dl_pow gives torch.pow's exact forms. */
extern "C" __global__ void pow_f32(const float* x, float p, float* y, long long n) {
    DL_GRID_STRIDE(i, n) y[i] = dl_pow(x[i], p);
}

/** CpuElementwise.powBackward: dx = dy * (p * x^(p - 1)), 0 where p = 0. */
extern "C" __global__ void pow_backward_f32(const float* x, float p, const float* dy, float* dx, long long n) {
    float pm1 = (float) ((double) p - 1.0);
    DL_GRID_STRIDE(i, n) dx[i] = dl_pow_backward(x[i], p, pm1, dy[i]);
}

/** CpuElementwise.addBias: y[i] += bias[(i / inner) % channels] over y [N, C, inner...]. */
extern "C" __global__ void add_bias_f32(float* y, const float* bias, long long n, int channels, long long inner) {
    DL_GRID_STRIDE(i, n) y[i] += bias[(i / inner) % channels];
}

/**
 * CpuElementwise.biasGrad: dbias[c] (+)= sum over n and inner of dy[n, c, inner]. One block per channel
 * (grid = channels x 256 threads; a smaller grid loops over channels), summed in double in a fixed order.
 */
extern "C" __global__ void bias_grad_f32(const float* dy, float* dbias, int outer, int channels, long long inner, int accumulate) {
    __shared__ double sh[DL_MAX_BLOCK];
    for (int c = blockIdx.x; c < channels; c += gridDim.x) {
        double part = dl_bias_grad_partial(dy, outer, channels, inner, c, threadIdx.x, blockDim.x);
        double total = dl_block_sum_double(part, sh);
        if (threadIdx.x == 0) dbias[c] = (float) (accumulate ? dbias[c] + total : total);
    }
}

/** CpuElementwise.sum: out[0] = alpha * sum(x), in double. ONE block (launch(name, 1, 1024, 0, ...)). */
extern "C" __global__ void sum_f32(const float* x, long long n, float alpha, float* out) {
    __shared__ double sh[DL_MAX_BLOCK];
    if (blockIdx.x != 0) return;
    double total = dl_block_sum_double(dl_partial_sum(x, n, threadIdx.x, blockDim.x, false), sh);
    if (threadIdx.x == 0) out[0] = (float) (alpha * total);
}

/** CpuElementwise.sumSquares: out[0] = sum(x^2) (+ out[0] when accumulate), in double. ONE block. */
extern "C" __global__ void sum_squares_f32(const float* x, long long n, float* out, int accumulate) {
    __shared__ double sh[DL_MAX_BLOCK];
    if (blockIdx.x != 0) return;
    double total = dl_block_sum_double(dl_partial_sum(x, n, threadIdx.x, blockDim.x, true), sh);
    if (threadIdx.x == 0) out[0] = (float) (accumulate ? out[0] + total : total);
}

/**
 * CpuElementwise.clipByNorm: x *= coef unless coef = max_norm / (sqrt(sum_sq[0]) + 1e-6) >= 1 (a NaN coef, from a NaN
 * norm, makes x NaN as in PyTorch); sum_sq stays on the device.
 */
extern "C" __global__ void clip_by_norm_f32(float* x, long long n, const float* sum_sq, float max_norm) {
    double coef = dl_clip_coef(sum_sq[0], max_norm);
    if (coef >= 1.0) return;
    float s = (float) coef;
    DL_GRID_STRIDE(i, n) x[i] = s * x[i];
}

/** CpuElementwise.checkFinite: flag[0] = 1 when some x[i] is NaN or infinite (several threads may write 1: benign). */
extern "C" __global__ void check_finite_f32(const float* x, long long n, float* flag) {
    DL_GRID_STRIDE(i, n) if (!dl_isfinite(x[i])) flag[0] = 1.0f;
}
