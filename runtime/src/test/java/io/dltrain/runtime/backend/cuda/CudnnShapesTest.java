package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.bytedeco.cuda.global.cudnn.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU-free half of the cuDNN path ({@link CudnnShapes}, {@link ConvAlgoCache}): descriptor dimensions, strides and
 * padding, enum mappings, the algorithm-choice rule and cache key. Pooling plans are checked end to end against the
 * CPU backend by evaluating, on the host, what cuDNN's documented pooling computes for the planned descriptors
 * (window, padding, stride, the padded copy and its strided interior). Nothing here loads a native library: the
 * cuDNN enum values are compile-time constants.
 */
class CudnnShapesTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    // ------------------------------------------------------------------ strides and sizes

    @Test
    void packedStridesAreRowMajor() {
        int[] dims = {2, 3, 4, 5};
        int[] s = CudnnShapes.packedStrides(dims);
        // stride[i] = product of dims after i
        for (int i = 0; i < 4; i++) {
            int expect = 1;
            for (int j = i + 1; j < 4; j++) expect *= dims[j];
            assertEquals(expect, s[i], "stride " + i);
        }
        assertArrayEquals(new int[] {1, 1, 1, 1}, CudnnShapes.packedStrides(new int[] {7, 1, 1, 1}));
    }

    @Test
    void tooLargeSamplesAreRejectedWithTheShape() {
        // 2^31 elements in all, 32,768 a sample: fine, the calls go in slices (samplesPerCall).
        assertArrayEquals(new int[] {65536, 32768, 1, 1}, CudnnShapes.flatDims(Shape.of(65536, 32768), "op"));
        // One sample of 46,341 x 46,341 = 2,147,488,281 elements: no slice is small enough.
        var e = assertThrows(IllegalArgumentException.class,
                () -> CudnnShapes.flatDims(Shape.of(2, 46341, 46341), "activationForward RELU"));
        assertTrue(e.getMessage().startsWith("activationForward RELU: one sample of [2, 46341, 46341] has 2147488281 elements")
                && e.getMessage().contains("2^31-1"), e.getMessage());
    }

    @Test
    void batchesAreSplitSoThatNoCallExceedsTheSampleOrElementLimit() {
        long max = Integer.MAX_VALUE;
        assertEquals(3, CudnnShapes.samplesPerCall("op", "x", 3, max, 108, 144));
        assertEquals(CudnnOps.MAX_N_PER_CALL, CudnnShapes.samplesPerCall("op", "x", 100_000, max, 10));
        // ResNet's stem on 224 x 224 images: y [N, 64, 112, 112] has 802,816 elements a sample, so 2,674 samples a call.
        assertEquals(2674, CudnnShapes.samplesPerCall("convForward", "x", 4096, max, 3 * 224 * 224, 64 * 112 * 112));
        assertTrue(2674L * 64 * 112 * 112 <= max && 2675L * 64 * 112 * 112 > max);
        // The largest of the call's tensors decides; a lowered limit (tests) works the same way.
        assertEquals(2, CudnnShapes.samplesPerCall("op", "x", 5, 300, 108, 144, 0));
        assertEquals(1, CudnnShapes.samplesPerCall("op", "x", 5, 300, 162));
        var e = assertThrows(IllegalArgumentException.class, () -> CudnnShapes.samplesPerCall("poolForward", "[5, 2, 8, 8]", 5, 100, 128, 50));
        assertEquals("poolForward: one sample of [5, 2, 8, 8] has 128 elements, more than the 100 cuDNN takes per tensor (its legacy API"
                + " counts elements in 32 bits), so the batch cannot be split small enough; make the samples smaller (image size, channels)",
                e.getMessage());
        // Batch norm's training calls see the whole batch (CudaBackend sends larger ones to norm.cu instead).
        CudnnShapes.checkSize(max, max, "op", "x");
        e = assertThrows(IllegalArgumentException.class, () -> CudnnShapes.checkSize(max + 1, max, "batchNorm (training)", "[2048, 64, 128, 128]"));
        assertEquals("batchNorm (training): tensor [2048, 64, 128, 128] has 2147483648 elements; cuDNN takes at most 2^31-1 elements per"
                + " tensor, and this call cannot be split (its statistics span the batch); CudaBackend trains such batches on its own"
                + " kernels (norm.cu, see CudnnOps.cudnnTrains)", e.getMessage());
    }

    @Test
    void pointWiseOpsKeepTheBatchAsNAndPutTheRestInC() {
        assertArrayEquals(new int[] {3, 4, 1, 1}, CudnnShapes.flatDims(Shape.of(3, 4), "op"));
        assertArrayEquals(new int[] {128, 6 * 28 * 28, 1, 1}, CudnnShapes.flatDims(Shape.of(128, 6, 28, 28), "op"));
        assertArrayEquals(new int[] {7, 1, 1, 1}, CudnnShapes.flatDims(Shape.of(7), "op"));
        assertArrayEquals(new int[] {1, 1, 1, 1}, CudnnShapes.flatDims(Shape.SCALAR, "op"));
    }

    // ------------------------------------------------------------------ convolution

    /** PyTorch's conv output size, written out independently of ConvParams. */
    static int convOut(int in, int k, int s, int pad, int dil) { return Math.floorDiv(in + 2 * pad - dil * (k - 1) - 1, s) + 1; }

    @Test
    void convDimsMatchPyTorchsOutputRule() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int t = 0; t < 300; t++) {
            int G = 1 + rnd.nextInt(3), Cg = 1 + rnd.nextInt(3), Kg = 1 + rnd.nextInt(3);
            int R = 1 + rnd.nextInt(4), S = 1 + rnd.nextInt(4), sh = 1 + rnd.nextInt(3), sw = 1 + rnd.nextInt(3);
            int ph = rnd.nextInt(3), pw = rnd.nextInt(3), dh = 1 + rnd.nextInt(2), dw = 1 + rnd.nextInt(2);
            int H = dh * (R - 1) + 1 + rnd.nextInt(6), W = dw * (S - 1) + 1 + rnd.nextInt(6), N = 1 + rnd.nextInt(3);
            ConvParams p = new ConvParams(sh, sw, ph, pw, dh, dw, G);
            int P = convOut(H, R, sh, ph, dh), Q = convOut(W, S, sw, pw, dw);
            CudnnShapes.Conv g = CudnnShapes.conv("convForward", Shape.of(N, G * Cg, H, W), Shape.of(G * Kg, Cg, R, S),
                    Shape.of(N, G * Kg, P, Q), p);
            assertArrayEquals(new int[] {N, G * Cg, H, W}, g.xDims());
            assertArrayEquals(new int[] {G * Kg, Cg, R, S}, g.wDims(), "filter descriptor is [K, C/groups, R, S]");
            assertArrayEquals(new int[] {N, G * Kg, P, Q}, g.yDims());
            assertEquals(G, g.G());
            assertFalse(g.empty());
        }
    }

    /** Bad shapes are rejected with exactly the CPU backend's message. */
    @Test
    void convRejectsWhatTheCpuRejectsWithTheSameMessage() {
        ConvParams p1 = ConvParams.of(1, 1);
        ConvParams g2 = new ConvParams(1, 1, 0, 0, 1, 1, 2);
        Shape[][] bad = {
                {Shape.of(1, 3, 5, 5), Shape.of(4, 3, 3, 3), Shape.of(1, 4, 4, 4)},   // wrong output size
                {Shape.of(1, 3, 5, 5), Shape.of(4, 2, 3, 3), Shape.of(1, 4, 5, 5)},   // weight channels do not fit
                {Shape.of(1, 3, 5), Shape.of(4, 3, 3, 3), Shape.of(1, 4, 5, 5)},      // rank
                {Shape.of(1, 3, 1, 1), Shape.of(4, 3, 5, 5), Shape.of(1, 4, 1, 1)},   // kernel larger than padded input
        };
        ConvParams[] ps = {p1, p1, p1, p1};
        for (int i = 0; i < bad.length; i++) assertSameRejection(bad[i], ps[i]);
        assertSameRejection(new Shape[] {Shape.of(1, 3, 4, 4), Shape.of(4, 1, 1, 1), Shape.of(1, 4, 4, 4)}, g2); // C % groups
    }

    private static void assertSameRejection(Shape[] s, ConvParams p) {
        try (Tensor x = be.zeros(s[0]); Tensor w = be.zeros(s[1]); Tensor y = be.zeros(s[2])) {
            var cpu = assertThrows(IllegalArgumentException.class, () -> be.convForward(x, w, null, y, p));
            var ours = assertThrows(IllegalArgumentException.class, () -> CudnnShapes.conv("convForward", s[0], s[1], s[2], p));
            assertEquals(cpu.getMessage(), ours.getMessage());
        }
    }

    // ------------------------------------------------------------------ pooling

    static int cpuOut(int in, int k, int s, int pad, boolean ceil) {
        int num = in + 2 * pad - k + (ceil ? s - 1 : 0);
        int o = Math.floorDiv(num, s) + 1;
        if (ceil && (o - 1) * s >= in + pad) o--;
        return o;
    }

    @Test
    void poolModesMapToCudnnEnums() {
        Shape x = Shape.of(1, 1, 8, 8), y = Shape.of(1, 1, 4, 4);
        assertEquals(CUDNN_POOLING_MAX_DETERMINISTIC, CudnnShapes.pool("p", x, y, PoolParams.max(2, 2, 0)).mode());
        assertEquals(CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                CudnnShapes.pool("p", x, y, new PoolParams(PoolParams.Kind.AVG, 2, 2, 2, 2, 0, 0, true, false)).mode());
        assertEquals(CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING,
                CudnnShapes.pool("p", x, y, new PoolParams(PoolParams.Kind.AVG, 2, 2, 2, 2, 0, 0, false, false)).mode());
    }

    /**
     * Every geometry in a grid: the planned cuDNN output size equals the CPU's, and running the plan through a host
     * model of cuDNN's pooling gives the CPU backend's forward and (max) backward results.
     */
    @Test
    void poolPlansReproduceTheCpuBackend() {
        SplittableRandom rnd = new SplittableRandom(11);
        int planned = 0, padded = 0, unsupported = 0;
        for (PoolParams.Kind kind : PoolParams.Kind.values())
            for (boolean ceil : new boolean[] {false, true})
                for (boolean includePad : new boolean[] {true, false})
                    for (int k = 1; k <= 4; k++)
                        for (int s = 1; s <= 3; s++)
                            for (int pad = 0; pad * 2 <= k; pad++)
                                for (int H = 1; H <= 9; H += 2) {
                                    int W = H + 1;
                                    if (H + 2 * pad < k || W + 2 * pad < k) continue;
                                    PoolParams p = new PoolParams(kind, k, k, s, s, pad, pad, includePad, ceil);
                                    int P = cpuOut(H, k, s, pad, ceil), Q = cpuOut(W, k, s, pad, ceil);
                                    if (P < 1 || Q < 1) continue;
                                    Shape xs = Shape.of(2, 3, H, W), ys = Shape.of(2, 3, P, Q);
                                    boolean cudnnSize = P == (H + 2 * pad - k) / s + 1 && Q == (W + 2 * pad - k) / s + 1;
                                    if (!cudnnSize && kind == PoolParams.Kind.AVG) {
                                        var e = assertThrows(UnsupportedOperationException.class, () -> CudnnShapes.pool("poolForward", xs, ys, p));
                                        assertTrue(e.getMessage().contains("ceil_mode"), e.getMessage());
                                        unsupported++;
                                        continue;
                                    }
                                    CudnnShapes.Pool pl = CudnnShapes.pool("poolForward", xs, ys, p);
                                    assertEquals(!cudnnSize, pl.explicitPad(), p + " on " + xs);
                                    checkAgainstCpu(pl, p, xs, ys, rnd);
                                    planned++;
                                    if (pl.explicitPad()) padded++;
                                }
        assertTrue(planned > 300 && padded > 20 && unsupported > 20, planned + " plans, " + padded + " padded, " + unsupported + " unsupported");
    }

    private static void checkAgainstCpu(CudnnShapes.Pool pl, PoolParams p, Shape xs, Shape ys, SplittableRandom rnd) {
        int n = xs.size();
        float[] xv = new float[n];
        for (int i = 0; i < n; i++) xv[i] = (float) rnd.nextInt(-8, 9) / 4f; // ties on purpose: first-max routing matters
        float[] dyv = new float[ys.size()];
        for (int i = 0; i < dyv.length; i++) dyv[i] = (float) rnd.nextDouble(-1, 1);
        float[] cpuY = new float[ys.size()], cpuDx = new float[n];
        try (Tensor x = be.fromHost(xv, xs); Tensor y = be.empty(ys); Tensor dy = be.fromHost(dyv, ys); Tensor dx = be.empty(xs)) {
            be.poolForward(x, y, p);
            be.poolBackward(x, y, dy, dx, p);
            be.toHost(y, cpuY);
            be.toHost(dx, cpuDx);
        }
        int N = pl.N(), C = pl.C();
        // What cuDNN is given: x itself, or the padded copy (-inf everywhere, x written through the strided interior view).
        float[] in;
        int inH, inW;
        if (pl.explicitPad()) {
            inH = pl.paddedH(); inW = pl.paddedW();
            in = new float[Math.toIntExact(pl.paddedElements())];
            Arrays.fill(in, Float.NEGATIVE_INFINITY);
            int[] st = pl.interiorStrides();
            for (int a = 0; a < N; a++) for (int c = 0; c < C; c++) for (int h = 0; h < pl.H(); h++) for (int w = 0; w < pl.W(); w++)
                in[(int) (pl.interiorOffset() + (long) a * st[0] + c * st[1] + h * st[2] + w * st[3])] = xv[((a * C + c) * pl.H() + h) * pl.W() + w];
        } else {
            in = xv; inH = pl.H(); inW = pl.W();
        }
        // cuDNN's output size for the descriptor must be the CPU's.
        assertEquals(pl.P(), (inH + 2 * pl.descPadH() - pl.kH()) / pl.strideH() + 1, "P for " + p);
        assertEquals(pl.Q(), (inW + 2 * pl.descPadW() - pl.kW()) / pl.strideW() + 1, "Q for " + p);
        float[] gotY = new float[ys.size()];
        float[] gotDxIn = new float[in.length];
        cudnnPoolModel(pl, in, N * C, inH, inW, dyv, gotY, gotDxIn);
        for (int i = 0; i < gotY.length; i++)
            assertEquals(cpuY[i], gotY[i], 1e-6, "y[" + i + "] for " + p + " on " + xs);
        if (p.kind() != PoolParams.Kind.MAX) return;
        // Backward: dx is the interior of the padded gradient (or the gradient itself).
        float[] gotDx = new float[n];
        if (pl.explicitPad()) {
            int[] st = pl.interiorStrides();
            for (int a = 0; a < N; a++) for (int c = 0; c < C; c++) for (int h = 0; h < pl.H(); h++) for (int w = 0; w < pl.W(); w++)
                gotDx[((a * C + c) * pl.H() + h) * pl.W() + w] = gotDxIn[(int) (pl.interiorOffset() + (long) a * st[0] + c * st[1] + h * st[2] + w * st[3])];
        } else gotDx = gotDxIn;
        for (int i = 0; i < n; i++) assertEquals(cpuDx[i], gotDx[i], 1e-6, "dx[" + i + "] for " + p + " on " + xs);
    }

    /**
     * cuDNN's pooling as documented, on planes [inH, inW] with the descriptor's symmetric padding: max over the
     * window's in-bounds elements (padding never wins; gradient to the first maximum in row-major order); average
     * divided by the whole window (INCLUDE_PADDING) or by its in-bounds elements (EXCLUDE_PADDING).
     */
    private static void cudnnPoolModel(CudnnShapes.Pool pl, float[] in, int planes, int inH, int inW, float[] dy, float[] y, float[] dx) {
        int P = pl.P(), Q = pl.Q(), ph = pl.descPadH(), pw = pl.descPadW();
        for (int pln = 0; pln < planes; pln++)
            for (int i = 0; i < P; i++)
                for (int j = 0; j < Q; j++) {
                    int h0 = i * pl.strideH() - ph, w0 = j * pl.strideW() - pw;
                    float best = Float.NEGATIVE_INFINITY, sum = 0f;
                    int at = -1, count = 0;
                    for (int h = Math.max(h0, 0); h < Math.min(h0 + pl.kH(), inH); h++)
                        for (int w = Math.max(w0, 0); w < Math.min(w0 + pl.kW(), inW); w++) {
                            float v = in[(pln * inH + h) * inW + w];
                            if (at < 0 || v > best) { best = v; at = (pln * inH + h) * inW + w; }
                            sum += v;
                            count++;
                        }
                    int o = (pln * P + i) * Q + j;
                    if (pl.mode() == CUDNN_POOLING_MAX_DETERMINISTIC) {
                        y[o] = best;
                        if (at >= 0) dx[at] += dy[o];
                    } else {
                        int div = pl.mode() == CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING ? pl.kH() * pl.kW() : count;
                        y[o] = count == 0 ? 0f : sum / div;
                    }
                }
    }

    @Test
    void poolRejectsMismatchedOutput() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> CudnnShapes.pool("poolForward", Shape.of(1, 2, 8, 8), Shape.of(1, 2, 3, 3), PoolParams.max(2, 2, 0)));
        assertTrue(e.getMessage().contains("[1, 2, 4, 4]"), e.getMessage());
    }

    /** GoogLeNet's ceil-mode max pools take the padded path with the right sizes. */
    @Test
    void googLeNetCeilPools() {
        PoolParams p = new PoolParams(PoolParams.Kind.MAX, 3, 3, 2, 2, 0, 0, true, true);
        CudnnShapes.Pool pl = CudnnShapes.pool("poolForward", Shape.of(2, 64, 112, 112), Shape.of(2, 64, 56, 56), p);
        assertTrue(pl.explicitPad());
        assertEquals(0, pl.descPadH());
        assertEquals(113, pl.paddedH()); // (56 - 1) * 2 + 3
        assertEquals(0L, pl.interiorOffset());
        // Without ceil mode the same pool needs no padding.
        CudnnShapes.Pool floor = CudnnShapes.pool("poolForward", Shape.of(2, 64, 112, 112), Shape.of(2, 64, 55, 55),
                new PoolParams(PoolParams.Kind.MAX, 3, 3, 2, 2, 0, 0, true, false));
        assertFalse(floor.explicitPad());
    }

    // ------------------------------------------------------------------ activations

    @Test
    void activationsCudnnHas() {
        for (Activation.Kind k : Activation.Kind.values()) {
            Activation a = new Activation(k, 0.5f);
            boolean expected = k == Activation.Kind.RELU || k == Activation.Kind.SIGMOID || k == Activation.Kind.TANH || k == Activation.Kind.ELU;
            assertEquals(expected, CudnnShapes.supports(a), k.toString());
            assertEquals(expected, CudnnOps.supports(a), k.toString());
            // backward on cuDNN only where no convention at a kink or a NaN is involved (CudnnShapes.backwardOnCudnn)
            assertEquals(k == Activation.Kind.SIGMOID || k == Activation.Kind.TANH, CudnnShapes.backwardOnCudnn(a), k + " backward");
            if (CudnnShapes.backwardOnCudnn(a)) assertTrue(CudnnShapes.supports(a), k + ": a backward on cuDNN needs its forward there");
            if (!expected) assertThrows(IllegalArgumentException.class, () -> CudnnShapes.activationMode(a));
        }
        assertEquals(CUDNN_ACTIVATION_RELU, CudnnShapes.activationMode(Activation.RELU));
        assertEquals(CUDNN_ACTIVATION_SIGMOID, CudnnShapes.activationMode(Activation.SIGMOID));
        assertEquals(CUDNN_ACTIVATION_TANH, CudnnShapes.activationMode(Activation.TANH));
        assertEquals(CUDNN_ACTIVATION_ELU, CudnnShapes.activationMode(Activation.elu(0.7f)));
        assertEquals(0.7f, (float) CudnnShapes.activationCoef(Activation.elu(0.7f)));
        // cuDNN API reference, cudnnSetActivationDescriptor, coef: "when the activation mode is set to
        // CUDNN_ACTIVATION_RELU, this input specifies the upper bound". A coef of 0 would be an upper bound of 0 (every
        // output 0); the largest double clips no float, as PyTorch sets it (std::numeric_limits<double>::max()).
        assertEquals(Double.MAX_VALUE, CudnnShapes.activationCoef(Activation.RELU),
                "ReLU's cuDNN coef is its upper bound and must clip nothing");
    }

    // ------------------------------------------------------------------ softmax

    @Test
    void softmaxRowsBecomeInstances() {
        assertArrayEquals(new int[] {6, 5, 1, 1}, CudnnShapes.softmaxDims(Shape.of(2, 3, 5), "softmax"));
        assertArrayEquals(new int[] {1, 7, 1, 1}, CudnnShapes.softmaxDims(Shape.of(7), "softmax"));
        assertArrayEquals(new int[] {1, 1, 1, 1}, CudnnShapes.softmaxDims(Shape.SCALAR, "softmax"));
        assertNull(CudnnShapes.softmaxDims(Shape.of(0, 4), "softmax"));
        assertNull(CudnnShapes.softmaxDims(Shape.of(3, 0), "softmax"));
    }

    /** INSTANCE mode (normalise over C*H*W of each n) on the planned dims is the CPU's softmax over the last dimension. */
    @Test
    void instanceModeOnPlannedDimsIsLastDimSoftmax() {
        Shape s = Shape.of(2, 3, 5);
        int[] d = CudnnShapes.softmaxDims(s, "softmax");
        SplittableRandom rnd = new SplittableRandom(3);
        float[] xv = new float[s.size()];
        for (int i = 0; i < xv.length; i++) xv[i] = (float) rnd.nextDouble(-4, 4);
        float[] cpu = new float[xv.length];
        try (Tensor x = be.fromHost(xv, s); Tensor y = be.empty(s)) {
            be.softmaxForward(x, y, false);
            be.toHost(y, cpu);
        }
        int inst = d[1] * d[2] * d[3];
        for (int n = 0; n < d[0]; n++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < inst; j++) max = Math.max(max, xv[n * inst + j]);
            for (int j = 0; j < inst; j++) sum += Math.exp(xv[n * inst + j] - max);
            for (int j = 0; j < inst; j++) assertEquals(Math.exp(xv[n * inst + j] - max) / sum, cpu[n * inst + j], 1e-6);
        }
    }

    // ------------------------------------------------------------------ batch norm

    @Test
    void batchNormModesAndDims() {
        CudnnShapes.BatchNorm b2 = CudnnShapes.batchNorm("bn", Shape.of(8, 5));
        assertEquals(CUDNN_BATCHNORM_PER_ACTIVATION, b2.mode());
        assertArrayEquals(new int[] {8, 5, 1, 1}, b2.xDims());
        assertEquals(8, b2.perChannel());
        CudnnShapes.BatchNorm b3 = CudnnShapes.batchNorm("bn", Shape.of(4, 5, 7));
        assertEquals(CUDNN_BATCHNORM_SPATIAL, b3.mode());
        assertArrayEquals(new int[] {4, 5, 7, 1}, b3.xDims());
        assertEquals(28, b3.perChannel());
        CudnnShapes.BatchNorm b4 = CudnnShapes.batchNorm("bn", Shape.of(4, 5, 6, 7));
        assertEquals(CUDNN_BATCHNORM_SPATIAL, b4.mode());
        assertArrayEquals(new int[] {4, 5, 6, 7}, b4.xDims());
        assertEquals(4 * 6 * 7, b4.perChannel());
        CudnnShapes.BatchNorm b5 = CudnnShapes.batchNorm("bn", Shape.of(2, 3, 4, 5, 6));
        assertArrayEquals(new int[] {2, 3, 120, 1}, b5.xDims());
        for (CudnnShapes.BatchNorm b : List.of(b2, b3, b4, b5)) {
            assertEquals(1, b.paramDims()[0]);
            assertEquals(b.C(), b.paramDims()[1]);
        }
        assertThrows(IllegalArgumentException.class, () -> CudnnShapes.batchNorm("bn", Shape.of(5)));
        var e = assertThrows(IllegalArgumentException.class, () -> CudnnShapes.perChannel(Shape.of(4), "gamma (weight)", 5, Shape.of(8, 5), "bn"));
        assertTrue(e.getMessage().contains("gamma (weight)") && e.getMessage().contains("[5]"), e.getMessage());
    }

    // ------------------------------------------------------------------ algorithm choice and cache

    static ConvAlgoCache.Candidate cand(int algo, int status, long mem, boolean det, int math) {
        return new ConvAlgoCache.Candidate(algo, status, mem, det ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC, math);
    }

    @Test
    void algorithmChoiceRule() {
        int ok = CUDNN_STATUS_SUCCESS, bad = CUDNN_STATUS_NOT_SUPPORTED;
        List<ConvAlgoCache.Candidate> ranked = List.of(
                cand(0, bad, 0, true, CUDNN_FMA_MATH),                 // failed
                cand(1, ok, 1L << 40, true, CUDNN_FMA_MATH),           // workspace too large
                cand(2, ok, 0, true, CUDNN_TENSOR_OP_MATH),            // tensor ops (TF32)
                cand(3, ok, 64, false, CUDNN_FMA_MATH),                // non-deterministic
                cand(4, ok, 128, true, CUDNN_DEFAULT_MATH),            // deterministic, FP32
                cand(5, ok, 0, true, CUDNN_FMA_MATH));
        assertEquals(4, ConvAlgoCache.pick(ranked, false, 1L << 30).algo());
        assertEquals(2, ConvAlgoCache.pick(ranked, true, 1L << 30).algo(), "with TF32 allowed the tensor-op entry wins");
        assertEquals(1, ConvAlgoCache.pick(ranked, false, 1L << 41).algo(), "a larger limit admits the big one");
        // Only a non-deterministic one is acceptable: take it rather than fail.
        assertEquals(3, ConvAlgoCache.pick(List.of(cand(2, ok, 0, true, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION), cand(3, ok, 0, false, CUDNN_FMA_MATH)),
                false, 1L << 30).algo());
        assertNull(ConvAlgoCache.pick(List.of(cand(0, bad, 0, true, CUDNN_FMA_MATH)), false, 1L << 30));
        assertNull(ConvAlgoCache.pick(List.of(), true, 1L << 30));
        // Every acceptable entry, deterministic ones first, each group in cuDNN's order.
        assertEquals(List.of(4, 5, 3), ConvAlgoCache.acceptable(ranked, false, 1L << 30).stream().map(ConvAlgoCache.Candidate::algo).toList());
    }

    @Test
    void theWorkspaceCuDnnAsksForDecidesNotTheRankingsEstimate() {
        int ok = CUDNN_STATUS_SUCCESS;
        // The ranking said 0 bytes for algorithm 6, which then asks for 2 GiB: the next one within the limit runs.
        List<ConvAlgoCache.Candidate> acceptable = List.of(cand(6, ok, 0, true, CUDNN_FMA_MATH), cand(1, ok, 0, true, CUDNN_FMA_MATH),
                cand(0, ok, 0, false, CUDNN_FMA_MATH));
        java.util.Map<Integer, Long> real = java.util.Map.of(6, 2L << 30, 1, 300L << 20, 0, 0L);
        java.util.function.ToLongFunction<ConvAlgoCache.Candidate> bytes = c -> real.get(c.algo());
        assertEquals(1, ConvAlgoCache.firstWithin(acceptable, bytes, 1L << 30).algo());
        assertEquals(0, ConvAlgoCache.firstWithin(acceptable, bytes, 1L << 20).algo());
        assertNull(ConvAlgoCache.firstWithin(acceptable.subList(0, 1), bytes, 1L << 30));
        // Out of memory for algorithm 1's 300 MiB: the leanest one takes over; none leaner than 0 bytes.
        assertEquals(0, ConvAlgoCache.leanest(acceptable, bytes, 300L << 20).algo());
        assertNull(ConvAlgoCache.leanest(acceptable, bytes, 0));
        assertNull(ConvAlgoCache.leanest(List.of(), bytes, 1L << 30));
    }

    @Test
    void algorithmCacheKey() {
        ConvParams p = new ConvParams(2, 2, 1, 1, 1, 1, 1);
        CudnnShapes.Conv g = CudnnShapes.conv("convForward", Shape.of(8, 3, 32, 32), Shape.of(16, 3, 3, 3), Shape.of(8, 16, 16, 16), p);
        CudnnShapes.Conv same = CudnnShapes.conv("convForward", Shape.of(8, 3, 32, 32), Shape.of(16, 3, 3, 3), Shape.of(8, 16, 16, 16),
                new ConvParams(2, 2, 1, 1, 1, 1, 1));
        ConvAlgoCache.Key k = ConvAlgoCache.Key.of(ConvAlgoCache.Direction.FORWARD, g, p, false);
        assertEquals(k, ConvAlgoCache.Key.of(ConvAlgoCache.Direction.FORWARD, same, new ConvParams(2, 2, 1, 1, 1, 1, 1), false));
        assertEquals(k.hashCode(), ConvAlgoCache.Key.of(ConvAlgoCache.Direction.FORWARD, same, p, false).hashCode());
        assertNotEquals(k, ConvAlgoCache.Key.of(ConvAlgoCache.Direction.BACKWARD_FILTER, g, p, false));
        assertNotEquals(k, ConvAlgoCache.Key.of(ConvAlgoCache.Direction.FORWARD, g, p, true));
        CudnnShapes.Conv batch4 = CudnnShapes.conv("convForward", Shape.of(4, 3, 32, 32), Shape.of(16, 3, 3, 3), Shape.of(4, 16, 16, 16), p);
        assertNotEquals(k, ConvAlgoCache.Key.of(ConvAlgoCache.Direction.FORWARD, batch4, p, false));
        ConvParams dil = new ConvParams(2, 2, 1, 1, 2, 2, 1);
        CudnnShapes.Conv gd = CudnnShapes.conv("convForward", Shape.of(8, 3, 32, 32), Shape.of(16, 3, 3, 3), Shape.of(8, 16, 15, 15), dil);
        assertNotEquals(k, ConvAlgoCache.Key.of(ConvAlgoCache.Direction.FORWARD, gd, dil, false));

        ConvAlgoCache cache = new ConvAlgoCache();
        ConvAlgoCache.Choice c = new ConvAlgoCache.Choice(1, CUDNN_FMA_MATH, 4096, true);
        cache.put(k, c);
        assertSame(c, cache.get(ConvAlgoCache.Key.of(ConvAlgoCache.Direction.FORWARD, same, p, false)));
        assertNull(cache.get(ConvAlgoCache.Key.of(ConvAlgoCache.Direction.BACKWARD_DATA, g, p, false)));
        assertEquals(1, cache.size());
    }
}
