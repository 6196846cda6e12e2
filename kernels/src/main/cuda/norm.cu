/*
 * norm.cu -- batch normalisation's training forward and backward, for the inputs CudaBackend does not give cuDNN
 * (PyTorch's rule: 2-D inputs [N, C], batches of more than 880,801 samples, tensors beyond 2^31-1 elements; see
 * CudaBackend.batchNormForwardTraining). CPU twin: runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuNorm.java
 * (forwardTraining / backward). x is [outer = N, channels = C, inner]. One block per channel (a smaller grid loops over
 * channels); each channel's sums run in double in a fixed shape (per-thread strided partials, then the block tree),
 * so results are the same on every run.
 */
#include "common.cuh"

/**
 * CpuNorm.forwardTraining: per channel, sums of x - shift and (x - shift)^2 (shift = the channel's first value), the
 * batch statistics (save_mean, save_invstd) and the running-statistics update (thread 0 writes them; every thread
 * computes the same values from the block sums), then y = (x - mean) * gamma * invstd + beta. M = outer * inner >= 2.
 */
extern "C" __global__ void batch_norm_training_f32(const float* x, float* y, const float* gamma, const float* beta,
                                                   float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                                                   int outer, int channels, long long inner, float momentum, float eps) {
    __shared__ double sh[DL_MAX_BLOCK];
    long long M = (long long) outer * inner;
    for (int c = blockIdx.x; c < channels; c += gridDim.x) {
        double shift = x[(long long) c * inner];
        double s1, s2;
        dl_bn_shifted_partial(x, outer, channels, inner, c, shift, threadIdx.x, blockDim.x, &s1, &s2);
        s1 = dl_block_sum_double(s1, sh);
        s2 = dl_block_sum_double(s2, sh);
        double mean, var, invstd;
        dl_bn_stats(s1, s2, shift, M, eps, &mean, &var, &invstd);
        if (threadIdx.x == 0) {
            save_mean[c] = (float) mean;
            save_invstd[c] = (float) invstd;
            dl_bn_update_running(&running_mean[c], &running_var[c], mean, var, M, momentum);
        }
        float m = (float) mean, lo = (float) (mean - (double) m), scale = (float) (gamma[c] * invstd), b = beta[c];
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            long long i = dl_bn_index(j, channels, inner, c);
            y[i] = dl_bn_normalise(x[i], m, lo, scale, b);
        }
    }
}

/**
 * CpuNorm.backward with the forward's saved statistics: per channel, sum dy, sum dy * (x - mean) and sum (x - mean) (whose
 * mean is what the batch mean adds to the float save_mean; x - mean is then (x - save_mean) - that); dgamma (+)=
 * sum dy * xhat and dbeta (+)= sum dy (thread 0), then dx = (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean)))
 * * gamma * invstd.
 */
extern "C" __global__ void batch_norm_backward_f32(const float* x, const float* dy, const float* gamma, const float* save_mean,
                                                   const float* save_invstd, float* dx, float* dgamma, float* dbeta,
                                                   int outer, int channels, long long inner, int accumulate) {
    __shared__ double sh[DL_MAX_BLOCK];
    long long M = (long long) outer * inner;
    double invM = 1.0 / (double) M;
    for (int c = blockIdx.x; c < channels; c += gridDim.x) {
        float mean = save_mean[c];
        double sdy, sdyxmu, sxmu;
        dl_bn_backward_partial(x, dy, outer, channels, inner, c, mean, threadIdx.x, blockDim.x, &sdy, &sdyxmu, &sxmu);
        sdy = dl_block_sum_double(sdy, sh);
        sdyxmu = dl_block_sum_double(sdyxmu, sh);
        sxmu = dl_block_sum_double(sxmu, sh);
        // The batch mean is mean + delta, delta = mean(x - mean) (save_mean holds only a float): centre on it.
        double delta = sxmu * invM;
        sdyxmu -= delta * sdy;
        float lo = (float) delta;
        double invstd = save_invstd[c];
        if (threadIdx.x == 0) {
            double dg = sdyxmu * invstd, db = sdy;
            dgamma[c] = (float) (accumulate ? dgamma[c] + dg : dg);
            dbeta[c] = (float) (accumulate ? dbeta[c] + db : db);
        }
        float mean_dy = (float) (sdy * invM), proj = (float) (sdyxmu * invM * invstd * invstd), scale = (float) (gamma[c] * invstd);
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            long long i = dl_bn_index(j, channels, inner, c);
            dx[i] = dl_bn_backward_dx(dy[i], x[i], mean, lo, mean_dy, proj, scale);
        }
    }
}
