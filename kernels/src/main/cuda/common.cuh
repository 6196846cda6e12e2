/*
 * common.cuh -- the per-element math of every dl-train kernel, as __host__ __device__ inline functions.
 *
 * The .cu files are thin grid-stride loops and block reductions around these functions, and
 * kernels/src/test/cuda/host_math.cu compiles the SAME functions for the host, so KernelMathTest (runtime module)
 * can hold them to the Java CPU backend (runtime/src/main/java/io/dltrain/runtime/backend/cpu) without a GPU.
 * Each function names the CPU code it mirrors. Rules that keep the two close:
 *  - nvcc runs with -fmad=false (build-ptx.sh): no a*b+c contraction, so every float expression rounds step by step
 *    like Java's float arithmetic; expressions keep Java's evaluation order (a + b * c / d is a + ((b * c) / d)).
 *  - sqrtf and '/' are IEEE (nvcc's default -prec-sqrt/-prec-div), and (float)Math.sqrt(float) in Java is the
 *    correctly rounded float square root too, so the optimiser updates are bit-for-bit the CPU's.
 *  - Transcendentals (expf, expm1f, log1pf, tanhf, erfcf) are the single-precision library functions (the CPU
 *    evaluates them in double and rounds): results agree to a few ulp, not bit for bit.
 *  - Reductions accumulate in double, like the CPU, in a fixed shape (per-thread strided partials, then a
 *    power-of-two tree over the block), so they are deterministic run to run. The host wrappers replay the same
 *    shape, so the host test checks the device's summation order too.
 *  - Java's Math.max/min/signum semantics (NaN propagates, -0 < +0) are written out where the CPU uses them.
 */
#pragma once

#include <math.h>
#include <string.h>
#include <stdint.h>

#define DL_HD __host__ __device__ __forceinline__

// ------------------------------------------------------------------ bits and Java semantics

DL_HD uint32_t dl_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
DL_HD float dl_from_bits(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/** A quiet NaN, for inputs a kernel cannot reject (unknown kind, label out of range): loud rather than silent. */
#define DL_NAN dl_from_bits(0x7fc00000u)

/** Java Math.max(v, 0f): NaN stays NaN, max(-0, +0) = +0. */
DL_HD float dl_max0(float v) { return (v > 0.0f || v != v) ? v : 0.0f; }
/** Java Math.min(v, 0f): NaN stays NaN, min(-0, +0) = -0. */
DL_HD float dl_min0(float v) { return (v <= 0.0f || v != v) ? v : 0.0f; }
/** Java Math.max(a, b) for floats: NaN if either is NaN, +0 over -0. */
DL_HD float dl_jmax(float a, float b) {
    if (a != a) return a;
    if (b != b) return b;
    if (a == 0.0f && b == 0.0f) return (dl_bits(a) & 0x80000000u) ? b : a;
    return a >= b ? a : b;
}
/** Java Math.signum(float): -1, +1, or the argument itself for +-0 and NaN. */
DL_HD float dl_signum(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v); }
/** Java Float.isFinite. */
DL_HD bool dl_isfinite(float v) { return (dl_bits(v) & 0x7f800000u) != 0x7f800000u; }

/**
 * CpuActivation.positiveMask: all ones when the float's bits, read as a signed int, are > 0 (so +NaN counts as
 * positive and -0 does not), else 0. Written with unsigned arithmetic to avoid signed overflow at INT_MIN.
 */
DL_HD uint32_t dl_positive_mask(float x) {
    uint32_t b = dl_bits(x);
    return 0u - ((~b & (0u - b)) >> 31);
}
/** CpuActivation.nanMask: all ones when x is NaN, whatever its sign bit and payload, else 0. */
DL_HD uint32_t dl_nan_mask(float x) {
    return 0u - (uint32_t) ((dl_bits(x) & 0x7fffffffu) > 0x7f800000u);
}
/** CpuActivation.notNonPositiveMask: all ones unless x <= 0 (x > 0 or NaN; PyTorch's ReLU and ELU backward). */
DL_HD uint32_t dl_not_non_positive_mask(float x) { return dl_positive_mask(x) | dl_nan_mask(x); }
/** CpuActivation.select: mask all ones ? a : b, through the bits. */
DL_HD float dl_select(uint32_t mask, float a, float b) {
    return dl_from_bits((dl_bits(a) & mask) | (dl_bits(b) & ~mask));
}

// ------------------------------------------------------------------ activations (CpuActivation)

// Activation.Kind ordinals.
#define DL_RELU 0
#define DL_LEAKY_RELU 1
#define DL_ELU 2
#define DL_SIGMOID 3
#define DL_TANH 4
#define DL_SOFTPLUS 5
#define DL_GELU 6

/**
 * CpuElementwise.pow: x^p as torch.pow(x, p) computes it in float, with its exact forms for p in {0, 1, 2, 3, -2, 0.5,
 * -0.5, -1} (p = 2 is x * x; 0.5 of -0 is sqrtf(-0) = -0), else powf (C's 1^p = 1, which the CPU writes out).
 */
DL_HD float dl_pow(float x, float p) {
    if (p == 0.0f) return 1.0f;
    if (p == 1.0f) return x;
    if (p == 2.0f) return x * x;
    if (p == 3.0f) return x * x * x;
    if (p == -2.0f) return 1.0f / (x * x);
    if (p == 0.5f) return sqrtf(x);
    if (p == -0.5f) return 1.0f / sqrtf(x);
    if (p == -1.0f) return 1.0f / x;
    return powf(x, p);
}

/** CpuElementwise.powBackward: dy * (p * x^(p - 1)), 0 where p = 0 (torch's pow_backward); pm1 = (float) (p - 1.0). */
DL_HD float dl_pow_backward(float x, float p, float pm1, float dy) {
    return p == 0.0f ? 0.0f : dy * (p * dl_pow(x, pm1));
}

/** PyTorch's Softplus threshold (CpuActivation.SOFTPLUS_THRESHOLD). */
#define DL_SOFTPLUS_THRESHOLD 20.0f
#define DL_SQRT1_2 0.70710678118654752440f
#define DL_INV_SQRT_2PI 0.39894228040143267794f

/** The logistic function without overflow: for x < 0 as e/(1+e), e = exp(x), so tiny values keep their precision. */
DL_HD float dl_sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/** log(1 + exp(v)) = max(v, 0) + log1p(exp(-|v|)) (CpuActivation.softplus). */
DL_HD float dl_softplus(float v) { return dl_max0(v) + log1pf(expf(-fabsf(v))); }

/** CpuActivation.forward, one element. alpha: LeakyReLU slope, ELU alpha, Softplus beta (> 0, checked by the host). */
DL_HD float dl_activation_forward(int kind, float alpha, float x) {
    switch (kind) {
        case DL_RELU: return dl_max0(x);
        case DL_LEAKY_RELU: return dl_max0(x) + alpha * dl_min0(x);
        case DL_ELU: return dl_max0(x) + alpha * expm1f(dl_min0(x));
        case DL_SIGMOID: return dl_sigmoid(x);
        case DL_TANH: return tanhf(x);
        case DL_SOFTPLUS: {
            float bx = alpha * x;
            return bx > DL_SOFTPLUS_THRESHOLD ? x : dl_softplus(bx) / alpha;
        }
        case DL_GELU: return 0.5f * x * erfcf(-x * DL_SQRT1_2);
        default: return DL_NAN;
    }
}

/** CpuActivation.backward, one element: x the input, y the forward output, dy the incoming gradient. */
DL_HD float dl_activation_backward(int kind, float alpha, float x, float y, float dy) {
    switch (kind) {
        // PyTorch's branches: ReLU and ELU pass dy unless x <= 0, LeakyReLU only when x > 0 (a NaN x, of either sign,
        // passes dy through ReLU and ELU and is scaled by the slope in LeakyReLU; see CpuActivation).
        case DL_RELU: return dl_from_bits(dl_bits(dy) & dl_not_non_positive_mask(x));
        case DL_LEAKY_RELU: return dl_select(dl_positive_mask(x) & ~dl_nan_mask(x), dy, dy * alpha);
        case DL_ELU: return dl_select(dl_not_non_positive_mask(x), dy, dy * (alpha * expf(dl_min0(x))));
        case DL_SIGMOID: return dy * (y * (1.0f - y));
        case DL_TANH: return dy * (1.0f - y * y);
        // Past the threshold sigmoid(beta x) rounds to 1, so dy passes through as in PyTorch (see CpuActivation).
        case DL_SOFTPLUS: return dy * dl_sigmoid(alpha * x);
        case DL_GELU: {
            float cdf = 0.5f * erfcf(-x * DL_SQRT1_2);            // Phi(x)
            float pdf = DL_INV_SQRT_2PI * expf(-0.5f * x * x);     // phi(x)
            return dy * (cdf + x * pdf);
        }
        default: return DL_NAN;
    }
}

// ------------------------------------------------------------------ element-wise losses (CpuLoss)

// LossKind ordinals.
#define DL_MSE 0
#define DL_L1 1
#define DL_BCE_WITH_LOGITS 2

/** CpuLoss.forward's per-element term (the CPU sums it in double; the kernel stores it as float, then sums in double). */
DL_HD float dl_loss_elem(int kind, float x, float t) {
    switch (kind) {
        case DL_MSE: { double d = (double) x - t; return (float) (d * d); }
        case DL_L1: return (float) fabs((double) x - t);
        case DL_BCE_WITH_LOGITS: {
            // PyTorch's (1 - t) x - log_sigmoid(x) (CpuLoss: its results at infinite x too); the log1p(exp(-|x|))
            // part in float, the cancelling sum in double.
            float tail = log1pf(expf(-fabsf(x)));
            return (float) ((1.0 - (double) t) * x - (double) dl_min0(x) + (double) tail);
        }
        default: return DL_NAN;
    }
}

/** CpuLoss.backward, one element; g = dloss[0] / n in double, as the CPU computes it. */
DL_HD float dl_loss_grad(int kind, double g, float x, float t) {
    switch (kind) {
        case DL_MSE: { float s2 = (float) (2 * g); return s2 * (x - t); }
        // torch.sign (0 at 0 and at NaN), as CpuLoss.
        case DL_L1: { float s1 = (float) g, d = x - t; return s1 * ((d > 0.0f ? 1.0f : 0.0f) - (d < 0.0f ? 1.0f : 0.0f)); }
        case DL_BCE_WITH_LOGITS: return (float) (g * ((double) dl_sigmoid(x) - t));
        default: return DL_NAN;
    }
}

// ------------------------------------------------------------------ reductions: fixed shape, double accumulators

/**
 * One step of the block tree: a[tid] += a[tid + s] for tid < s while tid + s < nthreads. Steps run for
 * s = pow2ceil(nthreads)/2, /4, ..., 1; any block size works and the order is fixed.
 */
DL_HD unsigned dl_tree_start(unsigned nthreads) {
    unsigned s = 1;
    while (s < nthreads) s <<= 1;
    return s >> 1;
}

/** Thread tid's strided partial sum of x[0..n) (or of squares), in double: elements tid, tid + nthreads, ... */
DL_HD double dl_partial_sum(const float* x, long long n, unsigned tid, unsigned nthreads, bool squares) {
    double acc = 0;
    for (long long i = tid; i < n; i += nthreads) {
        float v = x[i];
        acc += squares ? (double) v * v : (double) v;
    }
    return acc;
}

/** bias_grad's partial for channel c: elements (nn*C + c)*inner + k over j = nn*inner + k, strided by thread. */
DL_HD double dl_bias_grad_partial(const float* dy, int outer, int channels, long long inner, int c, unsigned tid, unsigned nthreads) {
    double acc = 0;
    long long total = (long long) outer * inner;
    for (long long j = tid; j < total; j += nthreads) {
        long long nn = j / inner, k = j - nn * inner;
        acc += dy[(nn * channels + c) * inner + k];
    }
    return acc;
}

/** CpuElementwise.clipByNorm's coefficient max_norm / (||x|| + 1e-6), in double; the host applies it only when < 1. */
DL_HD double dl_clip_coef(float sum_sq, float max_norm) {
    return (double) max_norm / (sqrt((double) sum_sq) + 1e-6);
}

// ------------------------------------------------------------------ cross-entropy (CpuLoss.crossEntropyForward/Backward)

/** Thread tid's strided max of a row (Java Math.max semantics: NaN wins). Start value -inf. */
DL_HD float dl_row_partial_max(const float* x, int c, unsigned tid, unsigned nthreads) {
    float m = -INFINITY;
    for (int j = tid; j < c; j += nthreads) m = dl_jmax(m, x[j]);
    return m;
}

/**
 * Thread tid's strided part of a row's softmax numerators: writes probs[j] = exp(x[j] - max) (normalised later)
 * and returns sum exp in double; *sum_shift gets sum (x[j] - max) in double (the label-smoothing term).
 * In double like the CPU: x - max rounded to float would cost up to |x - max| * 2^-24 relative in exp (about 10 ulp
 * at a logit gap of 20), and a row needs only C exponentials, a small cost next to the layer that made the logits.
 */
DL_HD double dl_row_partial_exp(const float* x, int c, float max, float* probs, unsigned tid, unsigned nthreads, double* sum_shift) {
    double se = 0, sx = 0;
    for (int j = tid; j < c; j += nthreads) {
        double v = x[j];
        double ez = exp(v - max);
        probs[j] = (float) ez;
        se += ez;
        sx += v - max;
    }
    *sum_shift = sx;
    return se;
}

/**
 * A row's loss from its reductions: lse = log sum exp(x - max); (1 - eps) * (lse - (x[label] - max))
 * + (eps / C) * (C lse - sum (x - max)). A label outside [0, C) gives NaN (the CPU throws before any work; a device
 * kernel cannot, so the loss turns NaN and the trainer's non-finite check stops the run).
 */
DL_HD float dl_ce_row_loss(const float* x, int c, int label, float max, double sum_exp, double sum_shift, float smoothing) {
    if (label < 0 || label >= c) return DL_NAN;
    double on_hot = 1.0 - smoothing, spread = (double) smoothing / c;
    double lse = log(sum_exp);
    double nll = lse - ((double) x[label] - max);
    // Only with smoothing: a -inf logit makes this term inf, and 0 * inf would turn an unsmoothed row's finite loss NaN.
    double smooth = spread == 0 ? 0 : c * lse - sum_shift;
    return (float) (on_hot * nll + spread * smooth);
}

/** The factor that normalises the row's numerators, rounded to float as the CPU does. */
DL_HD float dl_ce_inv(double sum_exp) { return (float) (1.0 / sum_exp); }

/**
 * CpuLoss.crossEntropyBackward, one element (row r's column j): (p - eps/C - [j == label](1 - eps)) * scale,
 * scale = (float)(dloss / N) in double.
 */
DL_HD float dl_ce_grad(float p, int j, int label, int c, float smoothing, float scale) {
    float spread = smoothing / (float) c, on_hot = 1.0f - smoothing;
    return j == label ? (p - spread - on_hot) * scale : (p - spread) * scale;
}

/**
 * CpuLoss.countTopK for one row: 1 when fewer than k logits rank before the label's (larger ones, NaNs, and equal
 * ones at a lower index: ties go to the first index, as torch.argmax), else 0.
 */
DL_HD int dl_topk_hit(const float* x, int c, int label, int k) {
    if (label < 0 || label >= c) return 0;
    float target = x[label];
    if (target != target) return 0;
    int larger = 0;
    for (int j = 0; j < c; j++) if (x[j] > target || x[j] != x[j] || (x[j] == target && j < label)) larger++;
    return larger < k ? 1 : 0;
}

/**
 * CpuLoss.oneHot, one element (row r's column j): 1 where j is the row's label, else 0. A label outside [0, C) makes
 * every column of its row NaN (the CPU throws before any work; a device kernel cannot, so a loss built on the
 * one-hot rows is NaN and the trainer's non-finite check stops the run).
 */
DL_HD float dl_one_hot(int j, int label, int c) {
    if (label < 0 || label >= c) return DL_NAN;
    return j == label ? 1.0f : 0.0f;
}

// ------------------------------------------------------------------ adaptive average pooling (CpuPool)

/** PyTorch's adaptive window [floor(i*in/out), ceil((i+1)*in/out)) (CpuPool.start / end). */
DL_HD int dl_pool_start(int i, int in, int out) { return (int) ((long long) i * in / out); }
DL_HD int dl_pool_end(int i, int in, int out) { return (int) (((long long) (i + 1) * in + out - 1) / out); }

/**
 * CpuPool.adaptiveAvgForward for output (pp, q) of one plane: double sum in row-major order / window size, rounded
 * once (a window can be the whole plane, where a float sum drifts).
 */
DL_HD float dl_adaptive_avg_out(const float* plane, int h, int w, int oh, int ow, int pp, int q) {
    int hs = dl_pool_start(pp, h, oh), he = dl_pool_end(pp, h, oh);
    int ws = dl_pool_start(q, w, ow), we = dl_pool_end(q, w, ow);
    double sum = 0.0;
    for (int a = hs; a < he; a++)
        for (int b = ws; b < we; b++) sum += plane[a * w + b];
    return (float) (sum / (double) ((he - hs) * (we - ws)));
}

/**
 * CpuPool.adaptiveAvgBackward gathered for input (a, b) of one plane: the CPU scatters dy/size into dx window by
 * window in (pp, q) order starting from 0, so adding the same terms in the same order gives the same float.
 */
DL_HD float dl_adaptive_avg_grad(const float* dyplane, int h, int w, int oh, int ow, int a, int b) {
    int plo = (int) ((long long) a * oh / h), phi = (int) (((long long) (a + 1) * oh + h - 1) / h) - 1;
    int qlo = (int) ((long long) b * ow / w), qhi = (int) (((long long) (b + 1) * ow + w - 1) / w) - 1;
    if (plo < 0) plo = 0;
    if (phi > oh - 1) phi = oh - 1;
    if (qlo < 0) qlo = 0;
    if (qhi > ow - 1) qhi = ow - 1;
    float acc = 0.0f;
    for (int pp = plo; pp <= phi; pp++) {
        int hs = dl_pool_start(pp, h, oh), he = dl_pool_end(pp, h, oh);
        if (a < hs || a >= he) continue;
        for (int q = qlo; q <= qhi; q++) {
            int ws = dl_pool_start(q, w, ow), we = dl_pool_end(q, w, ow);
            if (b < ws || b >= we) continue;
            acc += dyplane[pp * ow + q] / (float) ((he - hs) * (we - ws));
        }
    }
    return acc;
}

// ------------------------------------------------------------------ average pooling (CpuPool.avgForward / avgBackward)
// Window (pp, q) of one plane starts at row h0 = pp * sh - ph and column w0 = q * sw - pw (before clipping).

/**
 * CpuPool.divisor, PyTorch's avg_pool2d divisor: the window clipped to the padded input [-ph, h + ph) when padding
 * counts (include_pad != 0), else to the input itself; 0 for a window that holds no input element.
 */
DL_HD int dl_avg_pool_divisor(int h0, int w0, int h, int w, int kh, int kw, int ph, int pw, int include_pad) {
    int he = h0 + kh < h + ph ? h0 + kh : h + ph, we = w0 + kw < w + pw ? w0 + kw : w + pw;
    int padded = (he - h0) * (we - w0);
    int hs = h0 > 0 ? h0 : 0, ws = w0 > 0 ? w0 : 0;
    if (he > h) he = h;
    if (we > w) we = w;
    if (hs >= he || ws >= we) return 0;
    return include_pad ? padded : (he - hs) * (we - ws);
}

/** CpuPool.avgForward for output (pp, q) of one plane: float sum in row-major order / divisor (0 for an empty window). */
DL_HD float dl_avg_pool_out(const float* plane, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw,
                            int include_pad, int pp, int q) {
    int h0 = pp * sh - ph, w0 = q * sw - pw;
    int hs = h0 > 0 ? h0 : 0, he = h0 + kh < h ? h0 + kh : h, ws = w0 > 0 ? w0 : 0, we = w0 + kw < w ? w0 + kw : w;
    int div = dl_avg_pool_divisor(h0, w0, h, w, kh, kw, ph, pw, include_pad);
    float sum = 0.0f;
    for (int a = hs; a < he; a++)
        for (int b = ws; b < we; b++) sum += plane[a * w + b];
    return div == 0 ? 0.0f : sum / (float) div;
}

/**
 * CpuPool.avgBackward gathered for input (a, b) of one plane: the CPU scatters dy/divisor into dx window by window in
 * (pp, q) order starting from 0, so adding the same terms in the same order gives the same float. The windows that
 * cover row a are those with pp * sh - ph <= a < pp * sh - ph + kh.
 */
DL_HD float dl_avg_pool_grad(const float* dyplane, int h, int w, int oh, int ow, int kh, int kw, int sh, int sw,
                             int ph, int pw, int include_pad, int a, int b) {
    int plo = a + ph - kh + 1, qlo = b + pw - kw + 1;      /* first window whose end passes a (b), before rounding up */
    plo = plo > 0 ? (plo + sh - 1) / sh : 0;
    qlo = qlo > 0 ? (qlo + sw - 1) / sw : 0;
    int phi = (a + ph) / sh, qhi = (b + pw) / sw;           /* last window that starts at or before a (b) */
    if (phi > oh - 1) phi = oh - 1;
    if (qhi > ow - 1) qhi = ow - 1;
    float acc = 0.0f;
    for (int pp = plo; pp <= phi; pp++) {
        int h0 = pp * sh - ph;
        for (int q = qlo; q <= qhi; q++) {
            int w0 = q * sw - pw;
            int div = dl_avg_pool_divisor(h0, w0, h, w, kh, kw, ph, pw, include_pad);
            if (div != 0) acc += dyplane[pp * ow + q] / (float) div;
        }
    }
    return acc;
}

// ------------------------------------------------------------------ LSTM cell (CpuLstm)
// Element k = r * hid + j of [N, H]; row r of gates [N, 4H] holds the pre-activations i, f, g, o at columns j,
// hid + j, 2 hid + j, 3 hid + j. The CPU computes each element in double and rounds once; these compute in float
// (dl_sigmoid, tanhf), so the two agree to 1e-6 absolute for terms of order 1, not bit for bit: where a gate
// saturates, s (1 - s) keeps little relative precision in float (as in PyTorch's float kernels; KernelMathTest).

/** CpuLstm.forward: c = s(f) cPrev + s(i) tanh(g), h = s(o) tanh(c). */
DL_HD void dl_lstm_cell_forward(const float* gates, const float* c_prev, float* c, float* h, long long k, int hid) {
    long long r = k / hid;
    const float* g0 = gates + r * 4 * hid + (k - r * hid);
    float i = dl_sigmoid(g0[0]), f = dl_sigmoid(g0[hid]), g = tanhf(g0[2 * hid]), o = dl_sigmoid(g0[3 * hid]);
    float cv = f * c_prev[k] + i * g;
    c[k] = cv;
    h[k] = o * tanhf(cv);
}

/** CpuLstm.backwardC: dgates = [dc tanh(g) s'(i), dc cPrev s'(f), dc s(i) tanh'(g), 0], dcPrev = dc s(f) (if not null). */
DL_HD void dl_lstm_cell_backward_c(const float* gates, const float* c_prev, const float* dc, float* dgates, float* dc_prev,
                                   long long k, int hid) {
    long long r = k / hid, off = r * 4 * hid + (k - r * hid);
    const float* g0 = gates + off;
    float* d0 = dgates + off;
    float i = dl_sigmoid(g0[0]), f = dl_sigmoid(g0[hid]), g = tanhf(g0[2 * hid]), d = dc[k];
    d0[0] = d * g * (i * (1.0f - i));
    d0[hid] = d * c_prev[k] * (f * (1.0f - f));
    d0[2 * hid] = d * i * (1.0f - g * g);
    d0[3 * hid] = 0.0f;
    if (dc_prev) dc_prev[k] = d * f;
}

/** CpuLstm.backwardH: dgates = [0, 0, 0, dh tanh(c) s'(o)], dc = dh s(o) tanh'(c). */
DL_HD void dl_lstm_cell_backward_h(const float* gates, const float* c, const float* dh, float* dgates, float* dc,
                                   long long k, int hid) {
    long long r = k / hid, off = r * 4 * hid + (k - r * hid);
    float* d0 = dgates + off;
    float o = dl_sigmoid(gates[off + 3 * hid]), tc = tanhf(c[k]), d = dh[k];
    d0[0] = 0.0f;
    d0[hid] = 0.0f;
    d0[2 * hid] = 0.0f;
    d0[3 * hid] = d * tc * (o * (1.0f - o));
    dc[k] = d * o * (1.0f - tc * tc);
}

// ------------------------------------------------------------------ batch norm (CpuNorm), training and backward
// x is [outer = N, channels = C, inner]: channel c's j-th value (j = n * inner + k) is at (n * C + c) * inner + k.

DL_HD long long dl_bn_index(long long j, int channels, long long inner, int c) {
    long long n = j / inner, k = j - n * inner;
    return (n * channels + c) * inner + k;
}

/** CpuNorm.forwardTraining's sums for channel c, strided by thread: s1 = sum (x - shift), s2 = sum (x - shift)^2, in double. */
DL_HD void dl_bn_shifted_partial(const float* x, int outer, int channels, long long inner, int c, double shift,
                                 unsigned tid, unsigned nthreads, double* s1, double* s2) {
    double a = 0, b = 0;
    long long total = (long long) outer * inner;
    for (long long j = tid; j < total; j += nthreads) {
        double d = x[dl_bn_index(j, channels, inner, c)] - shift;
        a += d;
        b += d * d;
    }
    *s1 = a;
    *s2 = b;
}

/**
 * CpuNorm.forwardTraining's statistics of one channel from its sums over M values shifted by `shift`: the mean, the
 * biased variance (Math.max(0.0, v): NaN stays NaN) and 1 / sqrt(var + eps), in double.
 */
DL_HD void dl_bn_stats(double s1, double s2, double shift, long long M, float eps, double* mean, double* var, double* invstd) {
    double invM = 1.0 / (double) M;
    double mean_dev = s1 * invM;
    double v = s2 * invM - mean_dev * mean_dev;
    *mean = shift + mean_dev;
    *var = (v != v || v > 0.0) ? v : 0.0;
    *invstd = 1.0 / sqrt(*var + (double) eps);
}

/** CpuNorm's running-statistics update: running = (1 - momentum) running + momentum batch (variance unbiased: M / (M - 1)). */
DL_HD void dl_bn_update_running(float* running_mean, float* running_var, double mean, double var, long long M, float momentum) {
    double unbias = (double) M / (double) (M - 1);
    *running_mean = (float) ((1.0 - (double) momentum) * (double) *running_mean + (double) momentum * mean);
    *running_var = (float) ((1.0 - (double) momentum) * (double) *running_var + (double) momentum * var * unbias);
}

/**
 * CpuNorm.normalise: y = ((x - m) - lo) * scale + shift in float, m = (float) mean, lo = (float) (mean - m) (x - mean
 * as two float steps, so a channel with |mean| >> std keeps its xhat), scale = (float) (gamma * invstd).
 */
DL_HD float dl_bn_normalise(float x, float m, float lo, float scale, float shift) { return ((x - m) - lo) * scale + shift; }

/**
 * CpuNorm.backward's sums for channel c, strided by thread: sdy = sum dy, sdyxmu = sum dy * (x - mean), sxmu = sum (x - mean)
 * (x - mean in float, mean the saved float mean).
 */
DL_HD void dl_bn_backward_partial(const float* x, const float* dy, int outer, int channels, long long inner, int c, float mean,
                                  unsigned tid, unsigned nthreads, double* sdy, double* sdyxmu, double* sxmu) {
    double a = 0, b = 0, d = 0;
    long long total = (long long) outer * inner;
    for (long long j = tid; j < total; j += nthreads) {
        long long i = dl_bn_index(j, channels, inner, c);
        double g = dy[i], xc = x[i] - mean;
        a += g;
        b += g * xc;
        d += xc;
    }
    *sdy = a;
    *sdyxmu = b;
    *sxmu = d;
}

/** CpuNorm.backward's dx: (dy - mean_dy - ((x - mean) - lo) * proj) * scale, in float (lo = the mean of x - mean). */
DL_HD float dl_bn_backward_dx(float dy, float x, float mean, float lo, float mean_dy, float proj, float scale) {
    return (dy - mean_dy - ((x - mean) - lo) * proj) * scale;
}

// ------------------------------------------------------------------ dropout (DropoutRng, CpuDropout)

/** DropoutRng.uniform bit for bit: SplitMix64's finaliser over seed + (i+1)*golden, top 24 bits scaled to [0, 1). */
DL_HD float dl_dropout_uniform(unsigned long long seed, long long i) {
    unsigned long long z = seed + ((unsigned long long) i + 1ull) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    return (float) (z >> 40) * 5.9604644775390625e-8f; // 2^-24
}

/** CpuDropout's mask value for element i: 1 when p == 0, else 0 when uniform(seed, i) < p, else keep. */
DL_HD float dl_dropout_mask(float p, float keep, unsigned long long seed, long long i) {
    if (p == 0.0f) return 1.0f;
    return dl_dropout_uniform(seed, i) < p ? 0.0f : keep;
}

// ------------------------------------------------------------------ optimisers (CpuOptim), one element each
//
// The host scalars (nlr, nclr, keep, omr, oma, omb1, omb2, decay, n_step_size, bc2_sqrt) are computed by the
// backend exactly as the same-named locals in CpuOptim; these functions are CpuOptim's inner loops.

/** CpuOptim.regularised: L2 then L1, each only when its coefficient is non-zero (as the CPU tests it). */
DL_HD float dl_regularised(float g, float p, float wd, float l1) {
    if (wd != 0.0f) g = g + wd * p;
    if (l1 != 0.0f) g = g + l1 * dl_signum(p);
    return g;
}

/** CpuOptim.lerp: torch.lerp for float, formula switching at |w| = 0.5. */
DL_HD float dl_lerp(float self, float end, float w) {
    return fabsf(w) < 0.5f ? self + w * (end - self) : end - (end - self) * (1.0f - w);
}

/** CpuOptim.sgd: plain when mom == 0 (buf untouched), else momentum (buf = g on the first step) and Nesterov. */
DL_HD void dl_sgd(float* p, float graw, float* buf, float nlr, float wd, float l1, float mom, float keep, int nesterov, int first) {
    float p0 = *p;
    float g = dl_regularised(graw, p0, wd, l1);
    if (mom == 0.0f) { *p = p0 + nlr * g; return; }
    float b = first ? g : *buf * mom + keep * g;
    *buf = b;
    float d = nesterov ? g + mom * b : b;
    *p = p0 + nlr * d;
}

/** CpuOptim.adagrad. */
DL_HD void dl_adagrad(float* p, float graw, float* sum, float nclr, float wd, float l1, float eps, float init, int first) {
    float p0 = *p;
    float g = dl_regularised(graw, p0, wd, l1);
    float s = (first ? init : *sum) + g * g;
    *sum = s;
    float std = sqrtf(s) + eps;
    *p = p0 + nclr * g / std;
}

/** CpuOptim.adadelta. */
DL_HD void dl_adadelta(float* p, float graw, float* sq, float* acc_delta, float nlr, float wd, float l1, float rho, float omr, float eps) {
    float p0 = *p;
    float g = dl_regularised(graw, p0, wd, l1);
    float s = *sq * rho + omr * g * g;
    *sq = s;
    float std = sqrtf(s + eps);
    float ad = *acc_delta;
    float delta = sqrtf(ad + eps) / std * g;
    *acc_delta = ad * rho + omr * delta * delta;
    *p = p0 + nlr * delta;
}

/** CpuOptim.rmsprop: momentum when mom > 0 (buf used), centred when centered (grad_avg used). */
DL_HD void dl_rmsprop(float* p, float graw, float* sq, float* buf, float* grad_avg, float nlr, float wd, float l1,
                      float alpha, float oma, float eps, float mom, int centered) {
    float p0 = *p;
    float g = dl_regularised(graw, p0, wd, l1);
    float s = *sq * alpha + oma * g * g;
    *sq = s;
    float avg;
    if (centered) {
        float ga = dl_lerp(*grad_avg, g, oma);
        *grad_avg = ga;
        avg = sqrtf(s + -1.0f * ga * ga);
    } else {
        avg = sqrtf(s);
    }
    avg = avg + eps;
    if (mom > 0.0f) {
        float b = *buf * mom + g / avg;
        *buf = b;
        *p = p0 + nlr * b;
    } else {
        *p = p0 + nlr * g / avg;
    }
}

/** CpuOptim.adam (Adam, and AdamW through decay != 1 with coupled_wd == 0). */
DL_HD void dl_adam(float* p, float graw, float* m, float* v, float n_step_size, float coupled_wd, float l1, float decay,
                   float omb1, float beta2, float omb2, float bc2_sqrt, float eps) {
    float p0 = *p;
    float g = dl_regularised(graw, p0, coupled_wd, l1);
    float pd = decay != 1.0f ? p0 * decay : p0;
    float mm = dl_lerp(*m, g, omb1);
    float vv = *v * beta2 + omb2 * g * g;
    *m = mm;
    *v = vv;
    float denom = sqrtf(vv) / bc2_sqrt + eps;
    *p = pd + n_step_size * mm / denom;
}

// ------------------------------------------------------------------ the block tree, sequentially (host replay)

/** The tree of dl_block_sum_double run sequentially over a[0..nthreads): the same additions in the same order. */
DL_HD double dl_tree_sum(double* a, unsigned nthreads) {
    for (unsigned s = dl_tree_start(nthreads); s > 0; s >>= 1)
        for (unsigned tid = 0; tid < s; tid++)
            if (tid + s < nthreads) a[tid] += a[tid + s];
    return a[0];
}

#ifdef __CUDACC__
/**
 * Sum of one value per thread over the block, in double, through sh[blockDim.x] in shared memory: a fixed tree
 * (dl_tree_start), so the result is the same on every run. Every thread gets the sum. Call from all threads.
 */
__device__ __forceinline__ double dl_block_sum_double(double v, double* sh) {
    unsigned tid = threadIdx.x, nt = blockDim.x;
    sh[tid] = v;
    __syncthreads();
    for (unsigned s = dl_tree_start(nt); s > 0; s >>= 1) {
        if (tid < s && tid + s < nt) sh[tid] += sh[tid + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads(); // sh may be reused right after
    return r;
}

/** Java-semantics max of one value per thread over the block (NaN wins), through sh[blockDim.x]. */
__device__ __forceinline__ float dl_block_max(float v, float* sh) {
    unsigned tid = threadIdx.x, nt = blockDim.x;
    sh[tid] = v;
    __syncthreads();
    for (unsigned s = dl_tree_start(nt); s > 0; s >>= 1) {
        if (tid < s && tid + s < nt) sh[tid] = dl_jmax(sh[tid], sh[tid + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

/** The most threads a reduction block may have (the shared arrays are sized for it). */
#define DL_MAX_BLOCK 1024

/** for (long long i = first index of this thread; i < n; i += all threads of the grid) */
#define DL_GRID_STRIDE(i, n) \
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long) gridDim.x * blockDim.x)
#endif
