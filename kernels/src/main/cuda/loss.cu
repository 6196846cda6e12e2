/*
 * loss.cu -- losses, the top-k metric and one-hot labels; CPU twin runtime/src/main/java/io/dltrain/runtime/backend/cpu/CpuLoss.java.
 * Means are taken by the backend afterwards with sum_f32(elem or row_loss, n, 1/n, loss) (elementwise.cu), so
 * every reduction here is deterministic too. LossKind ordinal: MSE 0, L1 1, BCE_WITH_LOGITS 2.
 */
#include "common.cuh"

/**
 * CpuLoss.crossEntropyForward, per row: probs = softmax(logits row), row_loss[r] = the row's smoothed cross-entropy
 * (NaN for a label outside [0, c)). One row per block (grid = n x 256 threads; a smaller grid loops over rows);
 * max, sum exp and sum (x - max) are block reductions in a fixed order.
 */
extern "C" __global__ void cross_entropy_forward_f32(const float* logits, const int* labels, int n, int c, float smoothing,
                                                     float* probs, float* row_loss) {
    __shared__ double sh[DL_MAX_BLOCK];
    __shared__ float shf[DL_MAX_BLOCK];
    for (int r = blockIdx.x; r < n; r += gridDim.x) {
        const float* x = logits + (long long) r * c;
        float* pr = probs + (long long) r * c;
        float mx = dl_block_max(dl_row_partial_max(x, c, threadIdx.x, blockDim.x), shf);
        double shift;
        double se = dl_row_partial_exp(x, c, mx, pr, threadIdx.x, blockDim.x, &shift);
        double sum_exp = dl_block_sum_double(se, sh);
        double sum_shift = dl_block_sum_double(shift, sh);
        float inv = dl_ce_inv(sum_exp);
        // Each thread rescales the numerators it wrote itself (same strided indices), so no barrier is needed here.
        for (int j = threadIdx.x; j < c; j += blockDim.x) pr[j] *= inv;
        if (threadIdx.x == 0) row_loss[r] = dl_ce_row_loss(x, c, labels[r], mx, sum_exp, sum_shift, smoothing);
    }
}

/** CpuLoss.crossEntropyBackward: dlogits = (probs - target) * dloss[0] / n; element-wise over n*c. */
extern "C" __global__ void cross_entropy_backward_f32(const float* probs, const int* labels, int n, int c, float smoothing,
                                                      const float* dloss, float* dlogits) {
    float scale = (float) (dloss[0] / (double) n);
    long long total = (long long) n * c;
    DL_GRID_STRIDE(i, total) {
        long long r = i / c;
        int j = (int) (i - r * c);
        dlogits[i] = dl_ce_grad(probs[i], j, labels[r], c, smoothing, scale);
    }
}

/** CpuLoss.forward's per-element term: elem[i] = loss(pred[i], target[i]); the mean is sum_f32's. */
extern "C" __global__ void loss_forward_f32(int kind, const float* pred, const float* target, float* elem, long long n) {
    DL_GRID_STRIDE(i, n) elem[i] = dl_loss_elem(kind, pred[i], target[i]);
}

/** CpuLoss.backward: dpred = dloss[0] / n * d loss / d pred. */
extern "C" __global__ void loss_backward_f32(int kind, const float* pred, const float* target, const float* dloss, float* dpred,
                                             long long n) {
    double g = dloss[0] / (double) n;
    DL_GRID_STRIDE(i, n) dpred[i] = dl_loss_grad(kind, g, pred[i], target[i]);
}

/**
 * CpuLoss.countTopK: count[0] += rows whose label has fewer than k logits ranked before it (ties: lower index first). One thread per row
 * (element-wise over n); the hits are integers, and float atomicAdd of integers is exact below 2^24.
 */
extern "C" __global__ void count_topk_f32(const float* logits, const int* labels, int n, int c, int k, float* count) {
    DL_GRID_STRIDE(r, n) {
        if (dl_topk_hit(logits + r * c, c, labels[r], k)) atomicAdd(count, 1.0f);
    }
}

/** CpuLoss.oneHot: out[r, j] = 1 where j == labels[r], else 0 (a label outside [0, c): NaN across row r); element-wise over n*c. */
extern "C" __global__ void one_hot_f32(const int* labels, int n, int c, float* out) {
    long long total = (long long) n * c;
    DL_GRID_STRIDE(i, total) {
        long long r = i / c;
        out[i] = dl_one_hot((int) (i - r * c), labels[r], c);
    }
}
