/*
 * optim.cu -- fused optimiser updates, one element per thread (grid-stride); CPU twin
 * runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuOptim.java (sgd, adagrad, adadelta, rmsprop, adam).
 * The host scalars are the same-named locals of CpuOptim, computed by the backend the same way (double math rounded
 * to float); the per-element updates are common.cuh's dl_sgd, dl_adagrad, ..., which give the CPU's floats bit for
 * bit (no FMA contraction, IEEE sqrt and division). grad is never written.
 *
 * Each update has two kernels: <opt>_step_f32 updates one tensor; <opt>_multi_f32 updates a group of tensors that
 * share every scalar (same hyper-parameters, learning rate and step count) in one launch, as torch.optim's foreach
 * path does. Its table is DL_MULTI_COLS long longs per tensor (dl_multi_entry); block b updates elements
 * [(b - first_block) * DL_MULTI_CHUNK, +DL_MULTI_CHUNK) of the tensor whose blocks hold b. The element update is
 * the same dl_* call with the same scalars, so a group gives the single launches' floats bit for bit.
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

/** Elements one block of a multi-tensor launch updates. */
#define DL_MULTI_CHUNK 4096
/** Columns of a multi-tensor table row: param, grad, state0, state1, state2 (device addresses, 0 if unused), n, first block. */
#define DL_MULTI_COLS 7

/**
 * The table row of the tensor that block `b` works on: rows are in order of first_block (column 6, from 0), so this
 * is the last row whose first_block <= b (binary search).
 */
__device__ __forceinline__ const long long* dl_multi_entry(const long long* table, int ntensors, long long b) {
    int lo = 0, hi = ntensors - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (table[(long long) mid * DL_MULTI_COLS + 6] <= b) lo = mid; else hi = mid - 1;
    }
    return table + (long long) lo * DL_MULTI_COLS;
}

/** This block's row e, its pointers p, g, s0, s1, s2 (float*), its element range [start, end), then a loop of i over it. */
#define DL_MULTI_FOR(i, table, ntensors) \
    const long long* e = dl_multi_entry(table, ntensors, (long long) blockIdx.x); \
    long long start = ((long long) blockIdx.x - e[6]) * DL_MULTI_CHUNK; \
    long long end = start + DL_MULTI_CHUNK < e[5] ? start + DL_MULTI_CHUNK : e[5]; \
    float* p = (float*) e[0]; \
    const float* g = (const float*) e[1]; \
    float* s0 = (float*) e[2]; \
    float* s1 = (float*) e[3]; \
    float* s2 = (float*) e[4]; \
    (void) s0; (void) s1; (void) s2; \
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x)

/** sgd_step_f32 over a table (state0: the momentum buffer, 0 when mom == 0). */
extern "C" __global__ void sgd_multi_f32(const long long* table, int ntensors, float nlr, float wd, float l1, float mom, float keep,
                                         int nesterov, int first) {
    DL_MULTI_FOR(i, table, ntensors) dl_sgd(&p[i], g[i], mom == 0.0f ? (float*) 0 : &s0[i], nlr, wd, l1, mom, keep, nesterov, first);
}

/** adagrad_step_f32 over a table (state0: sum). */
extern "C" __global__ void adagrad_multi_f32(const long long* table, int ntensors, float nclr, float wd, float l1, float eps, float init,
                                             int first) {
    DL_MULTI_FOR(i, table, ntensors) dl_adagrad(&p[i], g[i], &s0[i], nclr, wd, l1, eps, init, first);
}

/** adadelta_step_f32 over a table (state0: square_avg, state1: acc_delta). */
extern "C" __global__ void adadelta_multi_f32(const long long* table, int ntensors, float nlr, float wd, float l1, float rho, float omr,
                                              float eps) {
    DL_MULTI_FOR(i, table, ntensors) dl_adadelta(&p[i], g[i], &s0[i], &s1[i], nlr, wd, l1, rho, omr, eps);
}

/** rmsprop_step_f32 over a table (state0: square_avg, state1: momentum buffer or 0, state2: grad_avg or 0). */
extern "C" __global__ void rmsprop_multi_f32(const long long* table, int ntensors, float nlr, float wd, float l1, float alpha, float oma,
                                             float eps, float mom, int centered) {
    DL_MULTI_FOR(i, table, ntensors) dl_rmsprop(&p[i], g[i], &s0[i], mom > 0.0f ? &s1[i] : (float*) 0, centered ? &s2[i] : (float*) 0,
                                                nlr, wd, l1, alpha, oma, eps, mom, centered);
}

/** adam_step_f32 over a table (state0: exp_avg, state1: exp_avg_sq). */
extern "C" __global__ void adam_multi_f32(const long long* table, int ntensors, float n_step_size, float coupled_wd, float l1, float decay,
                                          float omb1, float beta2, float omb2, float bc2_sqrt, float eps) {
    DL_MULTI_FOR(i, table, ntensors) dl_adam(&p[i], g[i], &s0[i], &s1[i], n_step_size, coupled_wd, l1, decay, omb1, beta2, omb2, bc2_sqrt, eps);
}
