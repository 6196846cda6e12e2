/*
 * optim.cu -- fused optimiser updates, one element per thread (grid-stride); CPU twin
 * runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuOptim.java (sgd, adagrad, adadelta, rmsprop, adam).
 * The host scalars are the same-named locals of CpuOptim, computed by the backend the same way (double math rounded
 * to float); the per-element updates are common.cuh's dl_sgd, dl_adagrad, ..., which give the CPU's floats bit for
 * bit (no FMA contraction, IEEE sqrt and division). grad is never written.
 */
#include "common.cuh"

/** CpuOptim.sgd. buf is unused (may be 0) when mom == 0; first = (step == 1): the buffer starts as the gradient. */
extern "C" __global__ void sgd_step_f32(float* p, const float* g, float* buf, long long n, float nlr, float wd, float l1, float mom,
                                        float keep, int nesterov, int first) {
    DL_GRID_STRIDE(i, n) dl_sgd(&p[i], g[i], mom == 0.0f ? (float*) 0 : &buf[i], nlr, wd, l1, mom, keep, nesterov, first);
}

/** CpuOptim.adagrad. first = (step == 1): the sum starts at init (our buffers arrive zeroed). */
extern "C" __global__ void adagrad_step_f32(float* p, const float* g, float* sum, long long n, float nclr, float wd, float l1,
                                            float eps, float init, int first) {
    DL_GRID_STRIDE(i, n) dl_adagrad(&p[i], g[i], &sum[i], nclr, wd, l1, eps, init, first);
}

/** CpuOptim.adadelta. */
extern "C" __global__ void adadelta_step_f32(float* p, const float* g, float* sq, float* acc_delta, long long n, float nlr, float wd,
                                             float l1, float rho, float omr, float eps) {
    DL_GRID_STRIDE(i, n) dl_adadelta(&p[i], g[i], &sq[i], &acc_delta[i], nlr, wd, l1, rho, omr, eps);
}

/** CpuOptim.rmsprop. buf may be 0 when mom == 0, grad_avg may be 0 when !centered. */
extern "C" __global__ void rmsprop_step_f32(float* p, const float* g, float* sq, float* buf, float* grad_avg, long long n, float nlr,
                                            float wd, float l1, float alpha, float oma, float eps, float mom, int centered) {
    DL_GRID_STRIDE(i, n) dl_rmsprop(&p[i], g[i], &sq[i], mom > 0.0f ? &buf[i] : (float*) 0, centered ? &grad_avg[i] : (float*) 0,
                                    nlr, wd, l1, alpha, oma, eps, mom, centered);
}

/** CpuOptim.adam: Adam, or AdamW with decay = 1 - lr*wd and coupled_wd = 0. */
extern "C" __global__ void adam_step_f32(float* p, const float* g, float* m, float* v, long long n, float n_step_size, float coupled_wd,
                                         float l1, float decay, float omb1, float beta2, float omb2, float bc2_sqrt, float eps) {
    DL_GRID_STRIDE(i, n) dl_adam(&p[i], g[i], &m[i], &v[i], n_step_size, coupled_wd, l1, decay, omb1, beta2, omb2, bc2_sqrt, eps);
}
