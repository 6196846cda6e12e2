/*
 * host_math.cu -- the kernels' per-element math (kernels/src/main/cuda/common.cuh) compiled for the HOST, so
 * KernelMathTest (runtime module) can compare it with the Java CPU backend on a machine without a GPU:
 *   nvcc -x cu -shared -Xcompiler -fPIC -Xcompiler -ffp-contract=off -fmad=false -O2 -std=c++17 -I kernels/src/main/cuda \
 *        -o libhostmath.so host_math.cu
 * (cudart is linked statically, as nvcc does by default, for its fat-binary registration stubs; nothing here calls
 * CUDA, so the library loads and runs without a GPU or driver.)
 * Each host_<kernel> function is the kernel of the same name with its grid-stride loop replaced by a plain loop
 * and its block reductions replayed sequentially in the device's order (dl_tree_sum; nthreads = the block size the
 * backend launches with). Only the math is checked here: the CUDA library's transcendentals (expf, erfcf, ...),
 * launches, barriers and memory are not -- those need a GPU.
 */
#include "common.cuh"
#include <vector>

#define HOST extern "C" __attribute__((visibility("default")))

// ------------------------------------------------------------------ elementwise.cu

HOST void host_add_bias(float* y, const float* bias, long long n, int channels, long long inner) {
    for (long long i = 0; i < n; i++) y[i] += bias[(i / inner) % channels];
}

HOST void host_pow(const float* x, float p, float* y, long long n) {
    for (long long i = 0; i < n; i++) y[i] = dl_pow(x[i], p);
}

HOST void host_pow_backward(const float* x, float p, const float* dy, float* dx, long long n) {
    float pm1 = (float) ((double) p - 1.0);
    for (long long i = 0; i < n; i++) dx[i] = dl_pow_backward(x[i], p, pm1, dy[i]);
}

HOST void host_bias_grad(const float* dy, float* dbias, int outer, int channels, long long inner, int accumulate, unsigned nthreads) {
    std::vector<double> sh(nthreads);
    for (int c = 0; c < channels; c++) {
        for (unsigned t = 0; t < nthreads; t++) sh[t] = dl_bias_grad_partial(dy, outer, channels, inner, c, t, nthreads);
        double total = dl_tree_sum(sh.data(), nthreads);
        dbias[c] = (float) (accumulate ? dbias[c] + total : total);
    }
}

HOST void host_sum(const float* x, long long n, float alpha, float* out, unsigned nthreads) {
    std::vector<double> sh(nthreads);
    for (unsigned t = 0; t < nthreads; t++) sh[t] = dl_partial_sum(x, n, t, nthreads, false);
    out[0] = (float) (alpha * dl_tree_sum(sh.data(), nthreads));
}

HOST void host_sum_squares(const float* x, long long n, float* out, int accumulate, unsigned nthreads) {
    std::vector<double> sh(nthreads);
    for (unsigned t = 0; t < nthreads; t++) sh[t] = dl_partial_sum(x, n, t, nthreads, true);
    double total = dl_tree_sum(sh.data(), nthreads);
    out[0] = (float) (accumulate ? out[0] + total : total);
}

HOST void host_clip_by_norm(float* x, long long n, const float* sum_sq, float max_norm) {
    double coef = dl_clip_coef(sum_sq[0], max_norm);
    if (!(coef < 1.0)) return;
    float s = (float) coef;
    for (long long i = 0; i < n; i++) x[i] = s * x[i];
}

HOST void host_check_finite(const float* x, long long n, float* flag) {
    for (long long i = 0; i < n; i++) if (!dl_isfinite(x[i])) flag[0] = 1.0f;
}

// ------------------------------------------------------------------ activation.cu

HOST void host_activation_forward(int kind, float alpha, const float* x, float* y, long long n) {
    for (long long i = 0; i < n; i++) y[i] = dl_activation_forward(kind, alpha, x[i]);
}

HOST void host_activation_backward(int kind, float alpha, const float* x, const float* y, const float* dy, float* dx, long long n) {
    bool from_y = kind == DL_SIGMOID || kind == DL_TANH; // as the kernel: the unused input is never read
    for (long long i = 0; i < n; i++) {
        float xi = from_y ? 0.0f : x[i], yi = from_y ? y[i] : 0.0f;
        dx[i] = dl_activation_backward(kind, alpha, xi, yi, dy[i]);
    }
}

// ------------------------------------------------------------------ pool.cu

HOST void host_adaptive_avg_pool_forward(const float* x, float* y, int nc, int h, int w, int oh, int ow) {
    long long n = (long long) nc * oh * ow, pq = (long long) oh * ow;
    for (long long i = 0; i < n; i++) {
        long long plane = i / pq;
        int r = (int) (i - plane * pq);
        y[i] = dl_adaptive_avg_out(x + plane * h * w, h, w, oh, ow, r / ow, r % ow);
    }
}

HOST void host_adaptive_avg_pool_backward(const float* dy, float* dx, int nc, int h, int w, int oh, int ow) {
    long long n = (long long) nc * h * w, hw = (long long) h * w;
    for (long long i = 0; i < n; i++) {
        long long plane = i / hw;
        int r = (int) (i - plane * hw);
        dx[i] = dl_adaptive_avg_grad(dy + plane * oh * ow, h, w, oh, ow, r / w, r % w);
    }
}

HOST void host_avg_pool_forward(const float* x, float* y, int nc, int h, int w, int oh, int ow, int kh, int kw, int sh,
                                int sw, int ph, int pw, int include_pad) {
    long long n = (long long) nc * oh * ow, pq = (long long) oh * ow;
    for (long long i = 0; i < n; i++) {
        long long plane = i / pq;
        int r = (int) (i - plane * pq);
        y[i] = dl_avg_pool_out(x + plane * h * w, h, w, kh, kw, sh, sw, ph, pw, include_pad, r / ow, r % ow);
    }
}

HOST void host_avg_pool_backward(const float* dy, float* dx, int nc, int h, int w, int oh, int ow, int kh, int kw, int sh,
                                 int sw, int ph, int pw, int include_pad) {
    long long n = (long long) nc * h * w, hw = (long long) h * w;
    for (long long i = 0; i < n; i++) {
        long long plane = i / hw;
        int r = (int) (i - plane * hw);
        dx[i] = dl_avg_pool_grad(dy + plane * oh * ow, h, w, oh, ow, kh, kw, sh, sw, ph, pw, include_pad, r / w, r % w);
    }
}

// ------------------------------------------------------------------ lstm.cu

HOST void host_lstm_cell_forward(const float* gates, const float* c_prev, float* c, float* h, long long n, int hid) {
    for (long long k = 0; k < n; k++) dl_lstm_cell_forward(gates, c_prev, c, h, k, hid);
}

HOST void host_lstm_cell_backward_c(const float* gates, const float* c_prev, const float* dc, float* dgates, float* dc_prev,
                                    long long n, int hid) {
    for (long long k = 0; k < n; k++) dl_lstm_cell_backward_c(gates, c_prev, dc, dgates, dc_prev, k, hid);
}

HOST void host_lstm_cell_backward_h(const float* gates, const float* c, const float* dh, float* dgates, float* dc,
                                    long long n, int hid) {
    for (long long k = 0; k < n; k++) dl_lstm_cell_backward_h(gates, c, dh, dgates, dc, k, hid);
}

// ------------------------------------------------------------------ norm.cu

HOST void host_batch_norm_training(const float* x, float* y, const float* gamma, const float* beta, float* running_mean,
                                   float* running_var, float* save_mean, float* save_invstd, int outer, int channels,
                                   long long inner, float momentum, float eps, unsigned nthreads) {
    std::vector<double> a(nthreads), b(nthreads);
    long long M = (long long) outer * inner;
    for (int c = 0; c < channels; c++) {
        double shift = x[(long long) c * inner];
        for (unsigned t = 0; t < nthreads; t++) dl_bn_shifted_partial(x, outer, channels, inner, c, shift, t, nthreads, &a[t], &b[t]);
        double s1 = dl_tree_sum(a.data(), nthreads), s2 = dl_tree_sum(b.data(), nthreads);
        double mean, var, invstd;
        dl_bn_stats(s1, s2, shift, M, eps, &mean, &var, &invstd);
        save_mean[c] = (float) mean;
        save_invstd[c] = (float) invstd;
        dl_bn_update_running(&running_mean[c], &running_var[c], mean, var, M, momentum);
        float m = (float) mean, lo = (float) (mean - (double) m), scale = (float) (gamma[c] * invstd), sh = beta[c];
        for (long long j = 0; j < M; j++) {
            long long i = dl_bn_index(j, channels, inner, c);
            y[i] = dl_bn_normalise(x[i], m, lo, scale, sh);
        }
    }
}

HOST void host_batch_norm_backward(const float* x, const float* dy, const float* gamma, const float* save_mean, const float* save_invstd,
                                   float* dx, float* dgamma, float* dbeta, int outer, int channels, long long inner, int accumulate,
                                   unsigned nthreads) {
    std::vector<double> a(nthreads), b(nthreads), d(nthreads);
    long long M = (long long) outer * inner;
    double invM = 1.0 / (double) M;
    for (int c = 0; c < channels; c++) {
        float mean = save_mean[c];
        for (unsigned t = 0; t < nthreads; t++) dl_bn_backward_partial(x, dy, outer, channels, inner, c, mean, t, nthreads, &a[t], &b[t], &d[t]);
        double sdy = dl_tree_sum(a.data(), nthreads), sdyxmu = dl_tree_sum(b.data(), nthreads), sxmu = dl_tree_sum(d.data(), nthreads);
        double delta = sxmu * invM;
        sdyxmu -= delta * sdy;
        float lo = (float) delta;
        double invstd = save_invstd[c];
        double dg = sdyxmu * invstd, db = sdy;
        dgamma[c] = (float) (accumulate ? dgamma[c] + dg : dg);
        dbeta[c] = (float) (accumulate ? dbeta[c] + db : db);
        float mean_dy = (float) (sdy * invM), proj = (float) (sdyxmu * invM * invstd * invstd), scale = (float) (gamma[c] * invstd);
        for (long long j = 0; j < M; j++) {
            long long i = dl_bn_index(j, channels, inner, c);
            dx[i] = dl_bn_backward_dx(dy[i], x[i], mean, lo, mean_dy, proj, scale);
        }
    }
}

// ------------------------------------------------------------------ loss.cu

HOST void host_cross_entropy_forward(const float* logits, const int* labels, int n, int c, float smoothing, float* probs,
                                     float* row_loss, unsigned nthreads) {
    std::vector<double> se(nthreads), sx(nthreads);
    for (int r = 0; r < n; r++) {
        const float* x = logits + (long long) r * c;
        float* pr = probs + (long long) r * c;
        float mx = -INFINITY;
        for (unsigned t = 0; t < nthreads; t++) mx = dl_jmax(mx, dl_row_partial_max(x, c, t, nthreads));
        for (unsigned t = 0; t < nthreads; t++) se[t] = dl_row_partial_exp(x, c, mx, pr, t, nthreads, &sx[t]);
        double sum_exp = dl_tree_sum(se.data(), nthreads), sum_shift = dl_tree_sum(sx.data(), nthreads);
        float inv = dl_ce_inv(sum_exp);
        for (int j = 0; j < c; j++) pr[j] *= inv;
        row_loss[r] = dl_ce_row_loss(x, c, labels[r], mx, sum_exp, sum_shift, smoothing);
    }
}

HOST void host_cross_entropy_backward(const float* probs, const int* labels, int n, int c, float smoothing, const float* dloss,
                                      float* dlogits) {
    float scale = (float) (dloss[0] / (double) n);
    long long total = (long long) n * c;
    for (long long i = 0; i < total; i++) {
        long long r = i / c;
        int j = (int) (i - r * c);
        dlogits[i] = dl_ce_grad(probs[i], j, labels[r], c, smoothing, scale);
    }
}

HOST void host_loss_forward(int kind, const float* pred, const float* target, float* elem, long long n) {
    for (long long i = 0; i < n; i++) elem[i] = dl_loss_elem(kind, pred[i], target[i]);
}

HOST void host_loss_backward(int kind, const float* pred, const float* target, const float* dloss, float* dpred, long long n) {
    double g = dloss[0] / (double) n;
    for (long long i = 0; i < n; i++) dpred[i] = dl_loss_grad(kind, g, pred[i], target[i]);
}

HOST void host_count_topk(const float* logits, const int* labels, int n, int c, int k, float* count) {
    for (long long r = 0; r < n; r++) if (dl_topk_hit(logits + r * c, c, labels[r], k)) count[0] += 1.0f;
}

HOST void host_one_hot(const int* labels, int n, int c, float* out) {
    for (long long i = 0; i < (long long) n * c; i++) out[i] = dl_one_hot((int) (i % c), labels[i / c], c);
}

// ------------------------------------------------------------------ dropout.cu

HOST float host_dropout_uniform(unsigned long long seed, long long i) { return dl_dropout_uniform(seed, i); }

HOST void host_dropout_forward(const float* x, float* y, float* mask, float p, float keep, unsigned long long seed, long long n) {
    for (long long i = 0; i < n; i++) {
        float m = dl_dropout_mask(p, keep, seed, i);
        mask[i] = m;
        y[i] = p == 0.0f ? x[i] : x[i] * m;
    }
}

// ------------------------------------------------------------------ optim.cu

HOST void host_sgd_step(float* p, const float* g, float* buf, long long n, float nlr, float wd, float l1, float mom, float keep,
                        int nesterov, int first) {
    for (long long i = 0; i < n; i++) dl_sgd(&p[i], g[i], mom == 0.0f ? (float*) 0 : &buf[i], nlr, wd, l1, mom, keep, nesterov, first);
}

HOST void host_adagrad_step(float* p, const float* g, float* sum, long long n, float nclr, float wd, float l1, float eps, float init,
                            int first) {
    for (long long i = 0; i < n; i++) dl_adagrad(&p[i], g[i], &sum[i], nclr, wd, l1, eps, init, first);
}

HOST void host_adadelta_step(float* p, const float* g, float* sq, float* acc_delta, long long n, float nlr, float wd, float l1,
                             float rho, float omr, float eps) {
    for (long long i = 0; i < n; i++) dl_adadelta(&p[i], g[i], &sq[i], &acc_delta[i], nlr, wd, l1, rho, omr, eps);
}

HOST void host_rmsprop_step(float* p, const float* g, float* sq, float* buf, float* grad_avg, long long n, float nlr, float wd,
                            float l1, float alpha, float oma, float eps, float mom, int centered) {
    for (long long i = 0; i < n; i++)
        dl_rmsprop(&p[i], g[i], &sq[i], mom > 0.0f ? &buf[i] : (float*) 0, centered ? &grad_avg[i] : (float*) 0,
                   nlr, wd, l1, alpha, oma, eps, mom, centered);
}

HOST void host_adam_step(float* p, const float* g, float* m, float* v, long long n, float n_step_size, float coupled_wd, float l1,
                         float decay, float omb1, float beta2, float omb2, float bc2_sqrt, float eps) {
    for (long long i = 0; i < n; i++) dl_adam(&p[i], g[i], &m[i], &v[i], n_step_size, coupled_wd, l1, decay, omb1, beta2, omb2, bc2_sqrt, eps);
}
