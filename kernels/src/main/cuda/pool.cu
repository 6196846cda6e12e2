/*
 * pool.cu -- adaptive average pooling (PyTorch's adaptive_avg_pool2d window rule: output i of `out` spans
 * [floor(i*in/out), ceil((i+1)*in/out))), and the average pooling cuDNN cannot do: ceil_mode=True where ceil mode
 * adds a window, whose divisor PyTorch clips to the padded input (cuDNN has no ceil mode, and padding x explicitly
 * would change its divisor). CPU twin runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuPool.java
 * (adaptiveAvgForward / adaptiveAvgBackward, avgForward / avgBackward). Max and all other average pooling go
 * through cuDNN (CudnnOps). nc = N*C planes of h x w in, oh x ow out.
 */
#include "common.cuh"

/** CpuPool.adaptiveAvgForward: one thread per output element (element-wise over nc*oh*ow). */
extern "C" __global__ void adaptive_avg_pool_forward_f32(const float* x, float* y, int nc, int h, int w, int oh, int ow) {
    long long n = (long long) nc * oh * ow, pq = (long long) oh * ow;
    DL_GRID_STRIDE(i, n) {
        long long plane = i / pq;
        int r = (int) (i - plane * pq);
        y[i] = dl_adaptive_avg_out(x + plane * h * w, h, w, oh, ow, r / ow, r % ow);
    }
}

/**
 * CpuPool.adaptiveAvgBackward: one thread per INPUT element (element-wise over nc*h*w) gathers dy/size from the
 * windows that cover it, in the CPU's scatter order: every dx written once, no atomics, same floats as the CPU.
 */
extern "C" __global__ void adaptive_avg_pool_backward_f32(const float* dy, float* dx, int nc, int h, int w, int oh, int ow) {
    long long n = (long long) nc * h * w, hw = (long long) h * w;
    DL_GRID_STRIDE(i, n) {
        long long plane = i / hw;
        int r = (int) (i - plane * hw);
        dx[i] = dl_adaptive_avg_grad(dy + plane * oh * ow, h, w, oh, ow, r / w, r % w);
    }
}

/**
 * CpuPool.avgForward: one thread per output element (element-wise over nc*oh*ow); kh x kw windows, stride sh x sw,
 * padding ph x pw, include_pad = count_include_pad. oh and ow come from the caller (PoolParams, ceil mode included).
 */
extern "C" __global__ void avg_pool_forward_f32(const float* x, float* y, int nc, int h, int w, int oh, int ow,
                                                int kh, int kw, int sh, int sw, int ph, int pw, int include_pad) {
    long long n = (long long) nc * oh * ow, pq = (long long) oh * ow;
    DL_GRID_STRIDE(i, n) {
        long long plane = i / pq;
        int r = (int) (i - plane * pq);
        y[i] = dl_avg_pool_out(x + plane * h * w, h, w, kh, kw, sh, sw, ph, pw, include_pad, r / ow, r % ow);
    }
}

/** CpuPool.avgBackward: one thread per INPUT element gathers dy/divisor from the windows that cover it, in the CPU's order. */
extern "C" __global__ void avg_pool_backward_f32(const float* dy, float* dx, int nc, int h, int w, int oh, int ow,
                                                 int kh, int kw, int sh, int sw, int ph, int pw, int include_pad) {
    long long n = (long long) nc * h * w, hw = (long long) h * w;
    DL_GRID_STRIDE(i, n) {
        long long plane = i / hw;
        int r = (int) (i - plane * hw);
        dx[i] = dl_avg_pool_grad(dy + plane * oh * ow, h, w, oh, ow, kh, kw, sh, sw, ph, pw, include_pad, r / w, r % w);
    }
}
