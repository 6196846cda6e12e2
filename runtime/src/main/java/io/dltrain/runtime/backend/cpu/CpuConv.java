package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import java.util.Arrays;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU 2-D convolution: forward, backward-data and backward-filter (cuDNN's three convolution calls, with the
 * semantics of PyTorch's {@code torch.nn.functional.conv2d} and its autograd), by im2col + OpenBLAS SGEMM.
 *
 * <p>Layout: x [N, C, H, W], w [K, C/G, R, S], y [N, K, P, Q]. Per group g the weights are a matrix
 * W_g [K/G, rows] with rows = (C/G)*R*S, and the im2col buffer holds one row per kernel tap (c, r, s), so
 * y_g = W_g col (forward), dcol = W_g^T dy_g followed by col2im (backward data) and dW_g += dy_g col^T (backward filter).
 *
 * <p>Five paths, picked by geometry ({@link Path}; CpuConvPathsTest checks each against direct loops on its edge geometries):
 * <ul>
 *   <li><b>pointwise</b> (1x1, stride 1, no padding): the input plane [C/G, H*W] already is col; no copy.</li>
 *   <li><b>wide</b> (stride 1, any kernel, padding or dilation): col is laid out over the padded input width Wp
 *       instead of Q, i.e. column j = p*Wp + q for q in [0, Wp). Then the row of tap (c, r, s) is one contiguous run
 *       of the (padded) input plane, starting at (r*dilH)*Wp + s*dilW: one arraycopy per row instead of one per
 *       output row. Columns q >= Q are "garbage": the forward drops them when it writes y; the backward passes widen
 *       dy with zeros there, so they contribute exact zeros (given finite inputs and weights). The GEMM does
 *       Wp/Q times the useful work (LeNet: 1.14x and 1.4x), which costs less than short copies would.
 *       Backward data on this path needs no col at all: for each tap, one small GEMM W_tap^T dy_wide accumulates
 *       straight into the padded dx at that tap's shift (see {@link #wideBackwardData}). With at least 16 channels per
 *       group the forward and the filter gradient do the same, one GEMM per tap on the padded input read in place
 *       ({@link #perTap}): for a narrow ResNet's 32x32-8x8 layers about twice as fast as building col.</li>
 *   <li><b>phased</b> (stride > 1, a kernel larger than 1x1, 16-64 channels per group: {@link #phased}): the padded input is
 *       split once into its stride phases (for stride 2 the four even/odd row/column planes, each [Cg, ceil(Hp/2),
 *       ceil(Wp/2)]; only the phases some tap reads), so each tap reads one phase plane at a stride-1 shift and the wide
 *       path's per-tap GEMMs apply unchanged, with lw = ceil(Wp/sw) as the row width ({@link #toPhases}). ResNet's 3x3
 *       stride-2 convolutions on 32x32 and 56x56 inputs: forward and filter gradient 10-40% less CPU time than im2col;
 *       on 16x16 and 8x8 about even.</li>
 *   <li><b>shifted</b> (inputs at most 8 wide, a kernel larger than 1x1, at least 16 channels per group, any stride:
 *       {@link #shifted}; checked before wide and phased): the padded input is copied once per column tap (and row
 *       phase) into planes [Cg, lh, Q] whose rows already hold that tap's output columns ({@link #toShifted}), so each
 *       tap's GEMM reads P*Q contiguous columns: no garbage columns, y written and dy read in place. For 8x8 and 4x4
 *       planes the wide layout's garbage was 25-50% of the GEMM work: ResNet's C64 8x8 and C128 4x4 layers (stride 1
 *       and 2) take 10-35% less CPU time in all three directions.</li>
 *   <li><b>general</b> (stride > 1 otherwise, e.g. a 1x1 stride-2 shortcut, whose im2col is one subsampling copy, or
 *       the RGB stem): classic im2col / col2im, one copy (or strided gather) per output row and tap.</li>
 * </ul>
 *
 * <p>Parallelism: when the batch has at least as many images as threads, each {@link Parallel} chunk takes a
 * contiguous range of images and runs the single-threaded {@link CpuGemm#gemmSerial} on them with its own scratch
 * buffers. The filter gradient sums per-chunk partials in chunk order, so it is bit-identical from run to run for a
 * given thread count. Smaller batches (inference on one image) go image by image and split each GEMM over the
 * threads instead. Tiny per-image GEMMs are batched: several images' columns sit side by side in one col buffer.
 *
 * <p>Why the copies look the way they do: C2 (JDK 25) does not vectorise a loop that reads one array and writes
 * another at different offsets (the two might be the same array), so data movement goes through
 * {@code System.arraycopy} / {@code Arrays.fill}, and element-wise loops index a single array.
 */
final class CpuConv {
    private CpuConv() {}

    /**
     * Several images share one GEMM only while one image's GEMM is smaller than this (m*n*k). OpenBLAS has fast
     * kernels for small matrices (m*n*k up to 1e6 on AVX-512); past that it packs and blocks, which for these thin
     * shapes runs at half the speed. So batching helps only tiny per-image GEMMs.
     */
    static final long BATCH_MNK = 100_000;

    /** Per-thread scratch arrays, grown on demand and reused across calls (no allocation in steady state). */
    static final class Scratch {
        // shared: filled by the calling thread before a parallel loop and only read by the workers (per-chunk
        // filter-gradient partials, tap-major weights); the others are private to the thread that owns them.
        private float[] col = new float[0], tmp = new float[0], pad = new float[0], shared = new float[0];

        float[] col(int n) { if (col.length < n) col = new float[n]; return col; }
        float[] tmp(int n) { if (tmp.length < n) tmp = new float[n]; return tmp; }
        float[] pad(int n) { if (pad.length < n) pad = new float[n]; return pad; }
        float[] shared(int n) { if (shared.length < n) shared = new float[n]; return shared; }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    enum Path { POINTWISE, WIDE, PHASED, SHIFTED, GENERAL }

    /** The sizes of one convolution, checked against the tensors ({@link Checks#conv}). */
    record Geo(int N, int C, int H, int W, int K, int R, int S, int P, int Q, int G, int Cg, int Kg, ConvParams p, Path path) {
        int rows() { return Cg * R * S; }
        int hw() { return H * W; }
        int hp() { return H + 2 * p.padH(); }
        int wp() { return W + 2 * p.padW(); }
        boolean padded() { return p.padH() > 0 || p.padW() > 0; }
        /** Wide, phased or shifted: y and dy are laid out with row stride {@link #lw}, columns q >= Q garbage (none where lw == Q: always when shifted; wide or phased with e.g. a kernel one column wide). */
        boolean perTapLayout() { return path == Path.WIDE || path == Path.PHASED || path == Path.SHIFTED; }
        /** Row length of the per-tap input layout: the padded width, one phase plane's width (phased), or Q (shifted). */
        int lw() { return path == Path.PHASED ? ceilDiv(wp(), p.strideW()) : path == Path.SHIFTED ? Q : wp(); }
        /** Rows of one channel in the per-tap input layout: Hp, ceil(Hp / strideH) (phased), or the rows the taps reach (shifted). */
        int lh() {
            return path == Path.PHASED ? ceilDiv(hp(), p.strideH()) : path == Path.SHIFTED ? P + (R - 1) * p.dilationH() / p.strideH() : hp();
        }
        /** One channel's plane in the per-tap input layout (the GEMMs' row stride over channels). */
        int plane() { return lh() * lw(); }
        /** Phase planes (slots) the taps read: 1 on the wide path; the row phases x column phases used (phased); S x the row phases used (shifted). */
        int slots() {
            int rowPhases = phases(R, p.dilationH(), p.strideH(), p.strideH());
            return path == Path.PHASED ? rowPhases * phases(S, p.dilationW(), p.strideW(), p.strideW()) : path == Path.SHIFTED ? S * rowPhases : 1;
        }
        /** Slot of phase (a, b): row-phase rank x column phases + column-phase rank (only phases a tap reads have one). */
        int slot(int a, int b) { return phases(R, p.dilationH(), p.strideH(), a) * phases(S, p.dilationW(), p.strideW(), p.strideW()) + phases(S, p.dilationW(), p.strideW(), b); }
        /**
         * Where tap (r, s) starts reading in the per-tap layout: the padded plane at (r*dilH, s*dilW) on the wide path;
         * on the phased path the slot of phase (r*dilH mod sh, s*dilW mod sw) at (r*dilH div sh, s*dilW div sw); on the
         * shifted path row r*dilH div sh of the slot of column tap s and row phase r*dilH mod sh.
         */
        int tapOffset(int r, int s) {
            int dr = r * p.dilationH(), ds = s * p.dilationW();
            int sh = p.strideH(), sw = p.strideW();
            if (path == Path.SHIFTED) return shiftedSlot(s, dr % sh) * Cg * plane() + dr / sh * Q;
            if (path != Path.PHASED) return dr * wp() + ds;
            return slot(dr % sh, ds % sw) * Cg * plane() + dr / sh * lw() + ds / sw;
        }
        /** Shifted path with unit strides and Q == W: each slot's rows of a channel are one block of the input ({@link #forShiftedBlocks}). */
        boolean shiftedBlocks() { return path == Path.SHIFTED && p.strideH() == 1 && p.strideW() == 1 && Q == W; }
        /** Slot of column tap s and row phase a on the shifted path: s x row phases + the row phase's rank. */
        int shiftedSlot(int s, int a) { int sh = p.strideH(); return s * phases(R, p.dilationH(), sh, sh) + phases(R, p.dilationH(), sh, a); }
        /** Zeros after the layout: the last channel's rows run past its plane by at most the largest column shift (none when shifted). */
        int tail() { return path == Path.SHIFTED ? 0 : (S - 1) * p.dilationW() / p.strideW(); }
        /** Columns of col per image: P*lw on the wide, phased and shifted paths (on the shifted one P*Q), P*Q otherwise. */
        int span() { return perTapLayout() ? P * lw() : P * Q; }
    }

    private static int ceilDiv(int a, int b) { return (a + b - 1) / b; }

    /** How many of the phases v < below (mod stride) the taps t*dil, t < taps, fall on: a phase's rank, or (below = stride) their number. */
    static int phases(int taps, int dil, int stride, int below) {
        int count = 0;
        for (int v = 0; v < below; v++)
            for (int t = 0; t < taps; t++)
                if (t * dil % stride == v) { count++; break; }
        return count;
    }

    static Geo geometry(String op, Tensor x, Tensor w, Tensor y, ConvParams p) {
        Checks.conv(op, Device.CPU, x, w, y, p);
        int N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
        int K = w.dim(0), R = w.dim(2), S = w.dim(3), G = p.groups();
        int P = p.outH(H, R), Q = p.outW(W, S);
        boolean stride1 = p.strideH() == 1 && p.strideW() == 1;
        Path path = stride1 && R == 1 && S == 1 && p.padH() == 0 && p.padW() == 0 ? Path.POINTWISE
                : shifted(C / G, R, S, W) ? Path.SHIFTED
                : stride1 ? Path.WIDE : phased(C / G, R, S) ? Path.PHASED : Path.GENERAL;
        return new Geo(N, C, H, W, K, R, S, P, Q, G, C / G, K / G, p, path);
    }

    /**
     * Forward and backward filter take one GEMM per kernel tap, reading the padded input in place (k = Cg, resp. the
     * output Kg x Cg), instead of building col: on the wide path with at least 16 channels per group, on the
     * phased path (stride > 1, which requires as many, on the phase planes) and on the shifted path (as many, on the shifted planes). With fewer channels (LeNet, a ResNet's RGB stem) those GEMMs are too thin and im2col's single GEMM is faster.
     */
    static boolean perTap(Geo g) { return g.path == Path.PHASED || g.path == Path.SHIFTED || g.path == Path.WIDE && g.Cg >= PER_TAP_CHANNELS; }

    /**
     * Input width up to which a convolution with at least 16 channels per group and a kernel larger than 1x1 takes the
     * shifted path ({@link #toShifted}). Measured (ConvShapesBench, calling thread's CPU time, 1 thread, batch 128):
     * C128 4x4 and C64 8x8 (stride 1 and 2) 10-35% less CPU time in all three directions; C32 16x16 stride 2 (output
     * width 8) even, its forward 7% slower; C32 16x16 stride 1 15-20% slower.
     */
    static final int SHIFTED_MAX_W = 8;

    /** Whether a convolution takes the shifted path: 16 channels per group or more, a kernel larger than 1x1, W <= 8. */
    static boolean shifted(int Cg, int R, int S, int W) { return shiftedOn && Cg >= PER_TAP_CHANNELS && R * S > 1 && W <= SHIFTED_MAX_W; }

    /** Tests only (CpuConvShiftedTest): false sends the shifted path's shapes to the path they took before it, as a reference. */
    static volatile boolean shiftedOn = true;

    /** Channels per group from which the per-tap GEMMs ({@link #perTap}) beat im2col's one GEMM. */
    static final int PER_TAP_CHANNELS = 16;

    /**
     * Channels per group up to which a stride > 1 convolution takes the phased path. Measured (calling thread's CPU
     * time, 1 thread, ConvShapesBench): 16-64 channels gain or break even (CIFAR C16 32x32 and resnet18 C64 56x56:
     * forward and filter gradient 10-40% less; CIFAR C32 16x16 and C64 8x8 about even), while resnet18's C128 28x28 and C256 14x14 layers were 10-35% slower in forward
     * and backward data than on im2col, whose one GEMM per image with k = 9*Cg suits OpenBLAS better there.
     */
    static final int PHASED_MAX_CHANNELS = 64;

    /** Whether a stride > 1 convolution takes the phased path: 16-64 channels per group and a kernel larger than 1x1. */
    static boolean phased(int Cg, int R, int S) { return Cg >= PER_TAP_CHANNELS && Cg <= PHASED_MAX_CHANNELS && R * S > 1; }

    /** Images per GEMM: 1, or enough tiny images to bring the GEMM near BATCH_MNK, at most the chunk's images. */
    private static int imagesPerGemm(Geo g, int chunkImages) {
        if (g.path == Path.POINTWISE) return 1;
        long perImage = (long) g.Kg * g.rows() * g.span();
        return (int) Math.max(1, Math.min(chunkImages, BATCH_MNK / Math.max(1, perImage)));
    }

    /** Work on images [n, n+nb) with the calling thread's scratch; par != null means: split the GEMMs over it. */
    private interface Images { void run(int n, int nb, Scratch sc, Parallel par); }

    /**
     * Runs body over the batch: contiguous chunks of whole images in parallel (each chunk walks its images in groups
     * of {@link #imagesPerGemm}), or, when the batch has fewer images than threads, image by image with parallel GEMMs.
     */
    private static void overImages(CpuBackend be, Geo g, Images body) {
        int threads = be.par.threads();
        if (g.N >= threads || threads == 1) {
            be.par.forChunks(g.N, be.par.chunks(g.N, 1), (ch, n0, n1) -> {
                Scratch sc = SCRATCH.get();
                for (int n = n0; n < n1; ) {
                    int nb = imagesPerGemm(g, n1 - n);
                    body.run(n, nb, sc, null);
                    n += nb;
                }
            });
        } else {
            Scratch sc = SCRATCH.get();
            for (int n = 0; n < g.N; n++) body.run(n, 1, sc, be.par);
        }
    }

    // ------------------------------------------------------------------ forward

    static void forward(CpuBackend be, Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) {
        Checks.convForward(Device.CPU, x, w, bias, y, p);
        Geo g = geometry("convForward", x, w, y, p);
        float[] X = f(x), Wt = f(w), Y = f(y), B = bias == null ? null : f(bias);
        int xo = off(x), wo = off(w), yo = off(y), bo = bias == null ? 0 : off(bias);
        if (perTap(g)) {
            float[] taps = tapMajorWeights(g, Wt, wo, true, SCRATCH.get());
            overImages(be, g, (n, nb, sc, par) -> {
                for (int j = 0; j < nb; j++) wideForward(g, X, xo, taps, B, bo, Y, yo, n + j, sc, par);
            });
            return;
        }
        overImages(be, g, (n, nb, sc, par) -> forwardImages(g, X, xo, Wt, wo, B, bo, Y, yo, n, nb, sc, par));
    }

    /**
     * Forward on the wide path, one image: the mirror of {@link #wideBackwardData}. y_wide[k, j] = sum over taps of
     * W_tap [Kg, Cg] x x_pad[c, shift(r, s) + j], one GEMM per tap reading the padded input in place (row stride
     * Hp*Wp, k = Cg), accumulated (beta = 1) into y_wide [Kg, P*Wp]; no col buffer, so the input is not copied R*S
     * times. Columns q >= Q are garbage and dropped when y is written. The padded copy has a zero tail for the last
     * channel's overrun (which reaches only garbage columns).
     */
    private static void wideForward(Geo g, float[] X, int xo, float[] taps, float[] B, int bo, float[] Y, int yo, int n,
                                    Scratch sc, Parallel par) {
        int plane = g.plane(), wp = g.lw(), span = g.span(), nTaps = g.R * g.S, pq = g.P * g.Q;
        boolean direct = wp == g.Q; // lw == Q, no garbage columns (the shifted path; wide or phased with e.g. a kernel one column wide): the GEMMs write y in place
        for (int gr = 0; gr < g.G; gr++) {
            float[] xp = perTapInput(X, xo + (n * g.C + gr * g.Cg) * g.hw(), g, sc);
            float[] out = direct ? Y : sc.tmp(g.Kg * span);
            int outOff = direct ? yo + (n * g.K + gr * g.Kg) * pq : 0;
            for (int r = 0; r < g.R; r++) {
                for (int s = 0; s < g.S; s++) {
                    int tap = r * g.S + s;
                    gemm(par, false, false, g.Kg, span, g.Cg, taps, ((gr * nTaps + tap) * g.Kg) * g.Cg, g.Cg,
                            xp, g.tapOffset(r, s), plane, tap == 0 ? 0f : 1f, out, outOff, span);
                }
            }
            for (int k = 0; k < g.Kg; k++) {
                int dst = yo + (n * g.K + gr * g.Kg + k) * pq;
                if (!direct)
                    for (int pp = 0; pp < g.P; pp++) System.arraycopy(out, k * span + pp * wp, Y, dst + pp * g.Q, g.Q);
                if (B != null) {
                    float b = B[bo + gr * g.Kg + k];
                    for (int i = dst; i < dst + pq; i++) Y[i] += b;
                }
            }
        }
    }

    /** y for images [n, n+nb): col of all nb images side by side, one GEMM per group. par != null splits the GEMM. */
    private static void forwardImages(Geo g, float[] X, int xo, float[] Wt, int wo, float[] B, int bo, float[] Y, int yo,
                                      int n, int nb, Scratch sc, Parallel par) {
        int rows = g.rows(), pq = g.P * g.Q, hw = g.hw(), span = g.span(), ld = nb * span;
        for (int gr = 0; gr < g.G; gr++) {
            int wOff = wo + gr * g.Kg * rows;
            if (g.path == Path.POINTWISE) {
                // y_g [Kg, HW] = W_g [Kg, Cg] x_g [Cg, HW], written in place, starting from the bias (beta = 1).
                int yOff = yo + (n * g.K + gr * g.Kg) * pq;
                float beta = 0f;
                if (B != null) {
                    for (int k = 0; k < g.Kg; k++) Arrays.fill(Y, yOff + k * pq, yOff + (k + 1) * pq, B[bo + gr * g.Kg + k]);
                    beta = 1f;
                }
                gemm(par, false, false, g.Kg, pq, rows, Wt, wOff, rows, X, xo + (n * g.C + gr * g.Cg) * hw, hw, beta, Y, yOff, pq);
                continue;
            }
            float[] col = sc.col(rows * ld);
            for (int j = 0; j < nb; j++) {
                int xOff = xo + ((n + j) * g.C + gr * g.Cg) * hw;
                if (g.path == Path.WIDE) wideIm2col(X, xOff, g, col, j * span, ld, sc);
                else im2col(X, xOff, g, col, j * span, ld, par);
            }
            float[] out = sc.tmp(g.Kg * ld);
            gemm(par, false, false, g.Kg, ld, rows, Wt, wOff, rows, col, 0, ld, 0f, out, 0, ld);
            // Scatter [Kg, nb * span] to NCHW, dropping the wide path's garbage columns, then add the bias. (Copies
            // go through arraycopy and the bias loop indexes one array: C2 does not vectorise loops that read and
            // write two arrays at different offsets, since they might be the same array.)
            int rowLen = g.path == Path.WIDE ? g.wp() : g.Q;
            for (int j = 0; j < nb; j++) {
                for (int k = 0; k < g.Kg; k++) {
                    int dst = yo + ((n + j) * g.K + gr * g.Kg + k) * pq, src = k * ld + j * span;
                    if (rowLen == g.Q) System.arraycopy(out, src, Y, dst, pq);
                    else for (int pp = 0; pp < g.P; pp++) System.arraycopy(out, src + pp * rowLen, Y, dst + pp * g.Q, g.Q);
                    if (B != null) {
                        float b = B[bo + gr * g.Kg + k];
                        for (int i = dst; i < dst + pq; i++) Y[i] += b;
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ backward data

    static void backwardData(CpuBackend be, Tensor dy, Tensor w, Tensor dx, ConvParams p) {
        Geo g = geometry("convBackwardData", dx, w, dy, p);
        float[] DY = f(dy), Wt = f(w), DX = f(dx);
        int dyo = off(dy), wo = off(w), dxo = off(dx);
        if (g.perTapLayout()) {
            float[] taps = tapMajorWeights(g, Wt, wo, false, SCRATCH.get());
            overImages(be, g, (n, nb, sc, par) -> {
                for (int j = 0; j < nb; j++) wideBackwardData(g, DY, dyo, taps, DX, dxo, n + j, sc, par);
            });
            return;
        }
        overImages(be, g, (n, nb, sc, par) -> backwardDataImages(g, DY, dyo, Wt, wo, DX, dxo, n, nb, sc, par));
    }

    /**
     * The weights rearranged tap-major: for the forward ({@code kc}) as [G][R*S][Kg][Cg], each group's and tap's matrix
     * W_tap (row k, column c), so the forward GEMM's A is not transposed (OpenBLAS packed a transposed A [512, 256] per
     * tap and image far more slowly: resnet18's 14x14 stride-2 forward 28-32 ms CPU against 18-20); for backward data as
     * [G][R*S][Cg][Kg], the matrix W_tap^T (row c, column k).
     */
    private static float[] tapMajorWeights(Geo g, float[] Wt, int wo, boolean kc, Scratch sc) {
        int taps = g.R * g.S, rows = g.rows();
        float[] t = sc.shared(g.K * rows);
        for (int gr = 0; gr < g.G; gr++)
            for (int k = 0; k < g.Kg; k++)
                for (int c = 0; c < g.Cg; c++)
                    for (int tap = 0; tap < taps; tap++)
                        t[kc ? ((gr * taps + tap) * g.Kg + k) * g.Cg + c : ((gr * taps + tap) * g.Cg + c) * g.Kg + k] =
                                Wt[wo + (gr * g.Kg + k) * rows + c * taps + tap];
        return t;
    }

    /**
     * Backward data on the wide path, one image: dx_pad[c, shift(r, s) + j] += sum_k W[k, c, r, s] dy_wide[k, j]
     * is, for each tap, a GEMM W_tap^T [Cg, Kg] x dy_wide [Kg, P*Wp] accumulated (beta = 1) straight into the
     * padded dx with row stride Hp*Wp, so no col buffer and no scalar col2im loop are needed. The garbage columns
     * of dy_wide are zero, so they add exact zeros. The padded buffer has a tail for the last channel's overrun.
     */
    private static void wideBackwardData(Geo g, float[] DY, int dyo, float[] taps, float[] DX, int dxo, int n, Scratch sc, Parallel par) {
        int plane = g.plane(), wp = g.wp(), span = g.span(), nTaps = g.R * g.S;
        int size = g.slots() * g.Cg * plane + g.tail();
        int hw = g.hw();
        for (int gr = 0; gr < g.G; gr++) {
            boolean direct = g.lw() == g.Q; // lw == Q, no garbage columns (the shifted path; wide or phased with e.g. a kernel one column wide): dy is already [Kg, P*Q]
            float[] dyMat = direct ? DY : gatherDy(g, DY, dyo, n, 1, gr, sc);
            int dyOff = direct ? dyo + (n * g.K + gr * g.Kg) * span : 0;
            float[] t = sc.pad(size);
            Arrays.fill(t, 0, size, 0f);
            for (int r = 0; r < g.R; r++) {
                for (int s = 0; s < g.S; s++) {
                    int tap = r * g.S + s;
                    gemm(par, false, false, g.Cg, span, g.Kg, taps, ((gr * nTaps + tap) * g.Cg) * g.Kg, g.Kg,
                            dyMat, dyOff, span, 1f, t, g.tapOffset(r, s), plane);
                }
            }
            int dxOff = dxo + (n * g.C + gr * g.Cg) * hw;
            if (g.path == Path.PHASED) fromPhases(t, g, DX, dxOff);
            else if (g.path == Path.SHIFTED) fromShifted(t, g, DX, dxOff);
            else if (!g.padded()) System.arraycopy(t, 0, DX, dxOff, g.Cg * plane);
            else {
                int ph = g.p.padH(), pw = g.p.padW(), hp = g.hp();
                for (int c = 0; c < g.Cg; c++)
                    for (int h = 0; h < g.H; h++)
                        System.arraycopy(t, (c * hp + h + ph) * wp + pw, DX, dxOff + (c * g.H + h) * g.W, g.W);
            }
        }
    }

    private static void backwardDataImages(Geo g, float[] DY, int dyo, float[] Wt, int wo, float[] DX, int dxo,
                                           int n, int nb, Scratch sc, Parallel par) {
        int rows = g.rows(), pq = g.P * g.Q, hw = g.hw(), span = g.span(), ld = nb * span;
        for (int gr = 0; gr < g.G; gr++) {
            int wOff = wo + gr * g.Kg * rows;
            if (g.path == Path.POINTWISE) {
                // dx_g [Cg, HW] = W_g^T [Cg, Kg] dy_g [Kg, HW], written in place.
                gemm(par, true, false, g.Cg, pq, g.Kg, Wt, wOff, rows, DY, dyo + (n * g.K + gr * g.Kg) * pq, pq,
                        0f, DX, dxo + (n * g.C + gr * g.Cg) * hw, hw);
                continue;
            }
            float[] dyMat = gatherDy(g, DY, dyo, n, nb, gr, sc);
            float[] col = sc.col(rows * ld);
            gemm(par, true, false, rows, ld, g.Kg, Wt, wOff, rows, dyMat, 0, ld, 0f, col, 0, ld);
            for (int j = 0; j < nb; j++) col2im(col, j * span, ld, g, DX, dxo + ((n + j) * g.C + gr * g.Cg) * hw, par);
        }
    }

    /**
     * dy of images [n, n+nb), group gr, as one matrix [Kg, nb * span] in scratch: image j's columns at j * span.
     * On the wide path each output row is widened from Q to Wp columns with zeros.
     */
    private static float[] gatherDy(Geo g, float[] DY, int dyo, int n, int nb, int gr, Scratch sc) {
        int pq = g.P * g.Q, span = g.span(), ld = nb * span;
        float[] t = sc.tmp(g.Kg * ld);
        boolean wide = g.perTapLayout();
        if (wide) Arrays.fill(t, 0, g.Kg * ld, 0f); // garbage columns
        for (int j = 0; j < nb; j++) {
            for (int k = 0; k < g.Kg; k++) {
                int src = dyo + ((n + j) * g.K + gr * g.Kg + k) * pq, dst = k * ld + j * span;
                if (!wide) { System.arraycopy(DY, src, t, dst, pq); continue; }
                for (int pp = 0; pp < g.P; pp++) System.arraycopy(DY, src + pp * g.Q, t, dst + pp * g.lw(), g.Q);
            }
        }
        return t;
    }

    /** As {@link #gatherDy}, transposed: [nb * span, Kg], element (column j, channel k) at j * Kg + k. */
    private static float[] gatherDyTransposed(Geo g, float[] DY, int dyo, int n, int nb, int gr, Scratch sc) {
        int pq = g.P * g.Q, span = g.span(), Kg = g.Kg, rowLen = g.perTapLayout() ? g.lw() : g.Q;
        float[] t = sc.tmp(Kg * nb * span);
        if (rowLen != g.Q) Arrays.fill(t, 0, Kg * nb * span, 0f); // the wide path's garbage columns
        for (int j = 0; j < nb; j++) {
            for (int k = 0; k < Kg; k++) {
                int src = dyo + ((n + j) * g.K + gr * Kg + k) * pq, dst = j * span * Kg + k;
                for (int pp = 0; pp < g.P; pp++) {
                    int s = src + pp * g.Q, d = dst + pp * rowLen * Kg;
                    for (int q = 0; q < g.Q; q++) t[d + q * Kg] = DY[s + q];
                }
            }
        }
        return t;
    }

    // ------------------------------------------------------------------ backward filter

    static void backwardFilter(CpuBackend be, Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) {
        Geo g = geometry("convBackwardFilter", x, dw, dy, p);
        float[] X = f(x), DY = f(dy), DW = f(dw);
        int xo = off(x), dyo = off(dy), dwo = off(dw);
        if (perTap(g)) { wideBackwardFilter(be, g, X, xo, DY, dyo, DW, dwo, accumulate); return; }
        int size = g.K * g.rows();
        int threads = be.par.threads();
        if (g.N >= threads || threads == 1) {
            int chunks = be.par.chunks(g.N, 1);
            // With one chunk and no accumulation, the single partial is dW itself.
            boolean direct = chunks == 1 && !accumulate;
            float[] partials = direct ? DW : SCRATCH.get().shared(chunks * size);
            be.par.forChunks(g.N, chunks, (ch, n0, n1) -> {
                Scratch sc = SCRATCH.get();
                int pOff = direct ? dwo : ch * size;
                for (int n = n0; n < n1; ) {
                    int nb = imagesPerGemm(g, n1 - n);
                    backwardFilterImages(g, X, xo, DY, dyo, partials, pOff, n, nb, n == n0 ? 0f : 1f, sc, null);
                    n += nb;
                }
            });
            if (!direct) {
                // Sum the partials in chunk order (deterministic), onto dW when accumulating.
                for (int i = 0; i < size; i++) {
                    float s = accumulate ? DW[dwo + i] : 0f;
                    for (int c = 0; c < chunks; c++) s += partials[c * size + i];
                    DW[dwo + i] = s;
                }
            }
        } else {
            Scratch sc = SCRATCH.get();
            for (int n = 0; n < g.N; n++)
                backwardFilterImages(g, X, xo, DY, dyo, DW, dwo, n, 1, accumulate || n > 0 ? 1f : 0f, sc, be.par);
        }
    }

    /**
     * Backward filter per tap (see {@link #perTap}): dW_tap [Kg, Cg] (+)= dy_wide [Kg, P*Wp] x_pad[shift]^T, one GEMM
     * per image, group and tap reading the padded input in place, into per-chunk partials laid out tap-major
     * ([G][R*S][Kg][Cg]); the partials are summed in chunk order into dW's [K][Cg][R][S] at the end (bit-identical run
     * to run for a given thread count). The garbage columns of dy_wide are zero, so they add exact zeros.
     */
    private static void wideBackwardFilter(CpuBackend be, Geo g, float[] X, int xo, float[] DY, int dyo, float[] DW, int dwo,
                                           boolean accumulate) {
        int size = g.K * g.rows(), threads = be.par.threads();
        boolean byChunk = g.N >= threads || threads == 1;
        int chunks = byChunk ? be.par.chunks(g.N, 1) : 1;
        float[] partials = SCRATCH.get().shared(chunks * size);
        if (byChunk) {
            be.par.forChunks(g.N, chunks, (ch, n0, n1) -> {
                Scratch sc = SCRATCH.get();
                for (int n = n0; n < n1; n++) wideBackwardFilterImage(g, X, xo, DY, dyo, partials, ch * size, n, n == n0 ? 0f : 1f, sc, null);
            });
        } else {
            Scratch sc = SCRATCH.get();
            for (int n = 0; n < g.N; n++) wideBackwardFilterImage(g, X, xo, DY, dyo, partials, 0, n, n > 0 ? 1f : 0f, sc, be.par);
        }
        int taps = g.R * g.S, rows = g.rows();
        for (int gr = 0; gr < g.G; gr++)
            for (int tap = 0; tap < taps; tap++)
                for (int k = 0; k < g.Kg; k++)
                    for (int c = 0; c < g.Cg; c++) {
                        int t = ((gr * taps + tap) * g.Kg + k) * g.Cg + c, d = dwo + (gr * g.Kg + k) * rows + c * taps + tap;
                        float s = accumulate ? DW[d] : 0f;
                        for (int ch = 0; ch < chunks; ch++) s += partials[ch * size + t];
                        DW[d] = s;
                    }
    }

    private static void wideBackwardFilterImage(Geo g, float[] X, int xo, float[] DY, int dyo, float[] part, int po, int n,
                                                float beta, Scratch sc, Parallel par) {
        int plane = g.plane(), span = g.span(), nTaps = g.R * g.S;
        for (int gr = 0; gr < g.G; gr++) {
            boolean direct = g.lw() == g.Q; // lw == Q, no garbage columns (the shifted path; wide or phased with e.g. a kernel one column wide): dy is already [Kg, P*Q]
            float[] dyMat = direct ? DY : gatherDy(g, DY, dyo, n, 1, gr, sc);
            int dyOff = direct ? dyo + (n * g.K + gr * g.Kg) * span : 0;
            float[] xp = perTapInput(X, xo + (n * g.C + gr * g.Cg) * g.hw(), g, sc);
            for (int r = 0; r < g.R; r++) {
                for (int s = 0; s < g.S; s++) {
                    int tap = r * g.S + s;
                    gemm(par, false, true, g.Kg, g.Cg, span, dyMat, dyOff, span, xp, g.tapOffset(r, s), plane,
                            beta, part, po + (gr * nTaps + tap) * g.Kg * g.Cg, g.Cg);
                }
            }
        }
    }

    /** dW (beta = 1: +=) over images [n, n+nb), one GEMM per group with k = nb * span. */
    private static void backwardFilterImages(Geo g, float[] X, int xo, float[] DY, int dyo, float[] DW, int dwo,
                                             int n, int nb, float beta, Scratch sc, Parallel par) {
        int rows = g.rows(), pq = g.P * g.Q, hw = g.hw(), span = g.span(), ld = nb * span;
        for (int gr = 0; gr < g.G; gr++) {
            int dwOff = dwo + gr * g.Kg * rows;
            if (g.path == Path.POINTWISE) {
                // dW_g [Kg, Cg] (+)= dy_g [Kg, HW] x_g^T [HW, Cg]
                gemm(par, false, true, g.Kg, rows, pq, DY, dyo + (n * g.K + gr * g.Kg) * pq, pq,
                        X, xo + (n * g.C + gr * g.Cg) * hw, hw, beta, DW, dwOff, rows);
                continue;
            }
            // dW_g [Kg, rows] (+)= dy_g [Kg, nb*span] col^T [nb*span, rows]. OpenBLAS's small-matrix kernel for
            // A * B^T is fast only while the output is small (m*n <= 1200); otherwise dy is gathered transposed
            // ([nb*span, Kg]) and the product taken as A^T * B^T, which runs about twice as fast for these shapes.
            boolean transposedDy = (long) g.Kg * rows > 1200;
            float[] dyMat = transposedDy ? gatherDyTransposed(g, DY, dyo, n, nb, gr, sc) : gatherDy(g, DY, dyo, n, nb, gr, sc);
            float[] col = sc.col(rows * ld);
            for (int j = 0; j < nb; j++) {
                int xOff = xo + ((n + j) * g.C + gr * g.Cg) * hw;
                if (g.path == Path.WIDE) wideIm2col(X, xOff, g, col, j * span, ld, sc);
                else im2col(X, xOff, g, col, j * span, ld, par);
            }
            if (transposedDy) gemm(par, true, true, g.Kg, rows, ld, dyMat, 0, g.Kg, col, 0, ld, beta, DW, dwOff, rows);
            else gemm(par, false, true, g.Kg, rows, ld, dyMat, 0, ld, col, 0, ld, beta, DW, dwOff, rows);
        }
    }

    private static void gemm(Parallel par, boolean ta, boolean tb, int m, int n, int k, float[] a, int ao, int lda,
                             float[] b, int bo, int ldb, float beta, float[] c, int co, int ldc) {
        if (par == null) CpuGemm.gemmSerial(ta, tb, m, n, k, 1f, a, ao, lda, b, bo, ldb, beta, c, co, ldc);
        else CpuGemm.gemm(par, ta, tb, m, n, k, 1f, a, ao, lda, b, bo, ldb, beta, c, co, ldc);
    }

    // ------------------------------------------------------------------ wide im2col / col2im (stride 1)

    /** The per-tap GEMMs' input for one image group: {@link #padded} on the wide path, {@link #toPhases} on the phased one. */
    private static float[] perTapInput(float[] x, int xo, Geo g, Scratch sc) {
        return g.path == Path.PHASED ? toPhases(x, xo, g, sc) : g.path == Path.SHIFTED ? toShifted(x, xo, g, sc) : padded(x, xo, g, sc, g.tail());
    }

    /**
     * Shifted layout of one image group x[Cg, H, W] (at xo), for small output planes: one plane set [Cg, lh, Q] per
     * column tap s and row phase a, slot {@link Geo#shiftedSlot}(s, a), element (c, i, q) = x_pad[c, i*sh + a,
     * q*sw + s*dilW] (0 in the padding). Tap (r, s) reads P whole rows of its slot from row (r*dilH) div sh: P*Q
     * contiguous columns, so its GEMM has no garbage columns and writes y (reads dy) in NCHW order directly. The copy is
     * S * (row phases) / (sh * sw) times the input, against the wide path's (Q + (S-1)*dilW) / Q times the GEMM work.
     */
    private static float[] toShifted(float[] x, int xo, Geo g, Scratch sc) {
        int size = g.slots() * g.Cg * g.plane();
        float[] t = sc.pad(size);
        Arrays.fill(t, 0, size, 0f);
        if (g.shiftedBlocks()) forShiftedBlocks(g, t, (xOff, tOff, sw, len) -> System.arraycopy(x, xo + xOff, t, tOff, len));
        else forShiftedRuns(g, (xOff, tOff, sw, len) -> { for (int j = 0; j < len; j++) t[tOff + j] = x[xo + xOff + j * sw]; });
        return t;
    }

    /** The adjoint of {@link #toShifted} for backward data: dx[Cg, H, W] (at dxo) = the sum of every slot entry read from each input. */
    private static void fromShifted(float[] t, Geo g, float[] dx, int dxo) {
        Arrays.fill(dx, dxo, dxo + g.Cg * g.hw(), 0f);
        forShiftedRuns(g, (xOff, tOff, sw, len) -> { for (int j = 0; j < len; j++) dx[dxo + xOff + j * sw] += t[tOff + j]; });
    }

    /**
     * With strides 1 and Q == W (a 'same' convolution) a slot's rows of one channel are one contiguous run of the input
     * shifted by the tap's column offset, except the padding columns, which the run fills with the neighbouring rows'
     * edge values: so one copy per slot and channel, after which those columns are zeroed again. (Its adjoint as one
     * block was slower than {@link #forShiftedRuns}' runs for backward data, so that keeps the runs.)
     */
    private static void forShiftedBlocks(Geo g, float[] t, PhaseRun block) {
        int ph = g.p.padH(), pw = g.p.padW(), Q = g.Q, lh = g.lh(), plane = g.plane();
        int iLo = ph, iHi = Math.min(lh, g.H + ph); // slot rows i that hold input row i - ph
        if (iHi <= iLo) return;
        for (int s = 0; s < g.S; s++) {
            int shift = s * g.p.dilationW() - pw;
            int q0 = Math.min(Q, Math.max(0, -shift)), q1 = Math.min(Q, Math.max(q0, g.W - shift));
            if (q1 <= q0) continue;
            int base = g.shiftedSlot(s, 0) * g.Cg * plane;
            for (int c = 0; c < g.Cg; c++) {
                int rows = base + c * plane;
                block.run((c * g.H + iLo - ph) * g.W + q0 + shift, rows + iLo * Q + q0, 1, (iHi - iLo - 1) * Q + q1 - q0);
                zeroPadColumns(t, rows, iLo, iHi, Q, q0, q1);
            }
        }
    }

    private static void zeroPadColumns(float[] t, int rows, int iLo, int iHi, int Q, int q0, int q1) {
        if (q0 == 0 && q1 == Q) return;
        for (int i = iLo; i < iHi; i++) {
            for (int q = 0; q < q0; q++) t[rows + i * Q + q] = 0f;
            for (int q = q1; q < Q; q++) t[rows + i * Q + q] = 0f;
        }
    }

    /** Every row of every shifted slot that holds input values (not padding), as runs (slot by slot, so in tap order). */
    private static void forShiftedRuns(Geo g, PhaseRun run) {
        int sh = g.p.strideH(), sw = g.p.strideW(), ph = g.p.padH(), pw = g.p.padW(), Q = g.Q, lh = g.lh(), plane = g.plane();
        for (int s = 0; s < g.S; s++) {
            int shift = s * g.p.dilationW() - pw; // input column of output column 0
            // Output columns q whose input column q*sw + shift lies inside [0, W).
            int q0 = Math.min(Q, ceilDiv(Math.max(0, -shift), sw)), q1 = Math.min(Q, Math.max(q0, ceilDiv(g.W - shift, sw)));
            if (q1 <= q0) continue;
            for (int a = 0; a < sh; a++) {
                if (phases(g.R, g.p.dilationH(), sh, a + 1) == phases(g.R, g.p.dilationH(), sh, a)) continue; // no tap reads it
                int base = g.shiftedSlot(s, a) * g.Cg * plane;
                for (int c = 0; c < g.Cg; c++)
                    for (int i = 0; i < lh; i++) {
                        int h = i * sh + a - ph;
                        if (h < 0 || h >= g.H) continue;
                        run.run((c * g.H + h) * g.W + q0 * sw + shift, base + c * plane + i * Q + q0, sw, q1 - q0);
                    }
            }
        }
    }

    /**
     * Phased layout (stride > 1) of one image group x[Cg, H, W] (at xo): the zero-padded input split by row phase
     * a = h mod sh and column phase b = w mod sw (padded coordinates) into planes [Cg, lh, lw], phase (a, b) at
     * x_pad[c, i*sh + a, j*sw + b]; only the phases some tap reads are kept, one slot each ({@link Geo#slot}), then
     * tail zeros. Tap (r, s) then reads one slot at a stride-1 shift ({@link Geo#tapOffset}), so the stride-1 per-tap
     * GEMMs apply; the copy is one strided gather of the input instead of im2col's R*S/(sh*sw) times larger one.
     */
    private static float[] toPhases(float[] x, int xo, Geo g, Scratch sc) {
        int plane = g.plane(), size = g.slots() * g.Cg * plane + g.tail();
        float[] t = sc.pad(size);
        Arrays.fill(t, 0, size, 0f);
        forPhaseRuns(g, (xOff, tOff, sw, len) -> { for (int j = 0; j < len; j++) t[tOff + j] = x[xo + xOff + j * sw]; });
        return t;
    }

    /** The inverse of {@link #toPhases} for backward data: dx[Cg, H, W] (at dxo) from the phase slots in t. */
    private static void fromPhases(float[] t, Geo g, float[] dx, int dxo) {
        if (g.slots() < g.p.strideH() * g.p.strideW()) Arrays.fill(dx, dxo, dxo + g.Cg * g.hw(), 0f); // inputs no tap reads
        forPhaseRuns(g, (xOff, tOff, sw, len) -> { for (int j = 0; j < len; j++) dx[dxo + xOff + j * sw] = t[tOff + j]; });
    }

    /** A run of one phase-plane row: len inputs from offset xOff (of the image group) with stride sw, at tOff of the slots. */
    private interface PhaseRun { void run(int xOff, int tOff, int sw, int len); }

    /** Every row of every kept phase plane that holds input values (not padding), as runs. */
    private static void forPhaseRuns(Geo g, PhaseRun run) {
        int sh = g.p.strideH(), sw = g.p.strideW(), ph = g.p.padH(), pw = g.p.padW(), lw = g.lw(), lh = g.lh(), plane = g.plane();
        for (int a = 0; a < sh; a++) {
            if (phases(g.R, g.p.dilationH(), sh, a + 1) == phases(g.R, g.p.dilationH(), sh, a)) continue; // no tap reads it
            for (int b = 0; b < sw; b++) {
                if (phases(g.S, g.p.dilationW(), sw, b + 1) == phases(g.S, g.p.dilationW(), sw, b)) continue;
                int base = g.slot(a, b) * g.Cg * plane;
                // Input columns w = j*sw + b - pw for j in [j0, j1): those inside [0, W).
                int j0 = ceilDiv(Math.max(0, pw - b), sw), j1 = Math.min(lw, ceilDiv(g.W + pw - b, sw));
                if (j1 <= j0) continue;
                for (int c = 0; c < g.Cg; c++)
                    for (int i = 0; i < lh; i++) {
                        int h = i * sh + a - ph;
                        if (h < 0 || h >= g.H) continue;
                        run.run((c * g.H + h) * g.W + j0 * sw + b - pw, base + c * plane + i * lw + j0, sw, j1 - j0);
                    }
            }
        }
    }

    /** x[Cg, H, W] (at xo) into a zero-bordered [Cg, Hp, Wp] scratch plane set followed by tail zeros. */
    private static float[] padded(float[] x, int xo, Geo g, Scratch sc, int tail) {
        int H = g.H, W = g.W, hp = g.hp(), wp = g.wp(), ph = g.p.padH(), pw = g.p.padW();
        float[] t = sc.pad(g.Cg * hp * wp + tail);
        if (!g.padded()) {
            System.arraycopy(x, xo, t, 0, g.Cg * hp * wp);
            Arrays.fill(t, g.Cg * hp * wp, g.Cg * hp * wp + tail, 0f);
            return t;
        }
        Arrays.fill(t, 0, g.Cg * hp * wp + tail, 0f);
        for (int c = 0; c < g.Cg; c++)
            for (int h = 0; h < H; h++)
                System.arraycopy(x, xo + (c * H + h) * W, t, (c * hp + h + ph) * wp + pw, W);
        return t;
    }

    /**
     * Wide im2col of one image group: row (c, r, s), column j in [0, P*Wp) = padded plane c at
     * (r*dilH)*Wp + s*dilW + j. Runs past the end of plane c only in garbage columns; those are zero-filled.
     */
    private static void wideIm2col(float[] x, int xo, Geo g, float[] col, int co, int ld, Scratch sc) {
        float[] src = x;
        int base = xo;
        if (g.padded()) { src = padded(x, xo, g, sc, 0); base = 0; }
        int plane = g.hp() * g.wp(), wp = g.wp(), span = g.span(), dh = g.p.dilationH(), dw = g.p.dilationW();
        for (int c = 0; c < g.Cg; c++) {
            for (int r = 0; r < g.R; r++) {
                for (int s = 0; s < g.S; s++) {
                    int start = c * plane + r * dh * wp + s * dw, len = Math.min(span, (c + 1) * plane - start);
                    int dst = co + ((c * g.R + r) * g.S + s) * ld;
                    System.arraycopy(src, base + start, col, dst, len);
                    if (len < span) Arrays.fill(col, dst + len, dst + span, 0f);
                }
            }
        }
    }

    // ------------------------------------------------------------------ general im2col / col2im

    /**
     * Unfolds one image group x[Cg, H, W] (at xo) into col[row = (c*R + r)*S + s][p*Q + q] (at co, row stride ld):
     * the input value that kernel tap (r, s) of channel c meets at output (p, q), or 0 in the padding.
     */
    static void im2col(float[] x, int xo, Geo g, float[] col, int co, int ld, Parallel par) {
        if (par != null) par.forRange(g.Cg, 1, (c0, c1) -> im2colChannels(x, xo, g, col, co, ld, c0, c1));
        else im2colChannels(x, xo, g, col, co, ld, 0, g.Cg);
    }

    private static void im2colChannels(float[] x, int xo, Geo g, float[] col, int co, int ld, int c0, int c1) {
        ConvParams p = g.p;
        int H = g.H, W = g.W, R = g.R, S = g.S, P = g.P, Q = g.Q;
        int sh = p.strideH(), sw = p.strideW(), ph = p.padH(), pw = p.padW(), dh = p.dilationH(), dw = p.dilationW();
        for (int c = c0; c < c1; c++) {
            int plane = xo + c * H * W;
            for (int r = 0; r < R; r++) {
                for (int s = 0; s < S; s++) {
                    int row = co + ((c * R + r) * S + s) * ld;
                    int wShift = s * dw - pw;
                    int qLo = qLow(wShift, sw, Q), qHi = qHigh(wShift, sw, W, Q, qLo);
                    for (int pp = 0; pp < P; pp++) {
                        int ih = pp * sh - ph + r * dh;
                        int d = row + pp * Q;
                        if (ih < 0 || ih >= H) { Arrays.fill(col, d, d + Q, 0f); continue; }
                        int src = plane + ih * W + wShift;
                        for (int q = 0; q < qLo; q++) col[d + q] = 0f;
                        // (No copy when the tap's columns all lie in the padding: src + qLo may then be outside x.)
                        if (sw == 1) { if (qHi > qLo) System.arraycopy(x, src + qLo, col, d + qLo, qHi - qLo); }
                        else for (int q = qLo; q < qHi; q++) col[d + q] = x[src + q * sw];
                        for (int q = qHi; q < Q; q++) col[d + q] = 0f;
                    }
                }
            }
        }
    }

    /** The inverse scatter of {@link #im2col}: dx[Cg, H, W] (at xo) = sum of col entries that read each input value. */
    static void col2im(float[] col, int co, int ld, Geo g, float[] dx, int xo, Parallel par) {
        if (par != null) par.forRange(g.Cg, 1, (c0, c1) -> col2imChannels(col, co, ld, g, dx, xo, c0, c1));
        else col2imChannels(col, co, ld, g, dx, xo, 0, g.Cg);
    }

    private static void col2imChannels(float[] col, int co, int ld, Geo g, float[] dx, int xo, int c0, int c1) {
        ConvParams p = g.p;
        int H = g.H, W = g.W, R = g.R, S = g.S, P = g.P, Q = g.Q;
        int sh = p.strideH(), sw = p.strideW(), ph = p.padH(), pw = p.padW(), dh = p.dilationH(), dw = p.dilationW();
        Arrays.fill(dx, xo + c0 * H * W, xo + c1 * H * W, 0f);
        for (int c = c0; c < c1; c++) {
            int plane = xo + c * H * W;
            for (int r = 0; r < R; r++) {
                for (int s = 0; s < S; s++) {
                    int row = co + ((c * R + r) * S + s) * ld;
                    int wShift = s * dw - pw;
                    int qLo = qLow(wShift, sw, Q), qHi = qHigh(wShift, sw, W, Q, qLo);
                    for (int pp = 0; pp < P; pp++) {
                        int ih = pp * sh - ph + r * dh;
                        if (ih < 0 || ih >= H) continue;
                        int d = plane + ih * W + wShift, src = row + pp * Q;
                        if (sw == 1) for (int q = qLo; q < qHi; q++) dx[d + q] += col[src + q];
                        else for (int q = qLo; q < qHi; q++) dx[d + q * sw] += col[src + q];
                    }
                }
            }
        }
    }

    /** First output column q whose input column q*sw + wShift is >= 0. */
    private static int qLow(int wShift, int sw, int Q) {
        return Math.min(Q, wShift >= 0 ? 0 : (-wShift + sw - 1) / sw);
    }

    /** One past the last output column q whose input column q*sw + wShift is < W (at least qLo). */
    private static int qHigh(int wShift, int sw, int W, int Q, int qLo) {
        int last = W - 1 - wShift;
        int hi = last < 0 ? 0 : Math.min(Q, last / sw + 1);
        return Math.max(hi, qLo);
    }
}
