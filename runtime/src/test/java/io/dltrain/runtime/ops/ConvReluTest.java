package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link Conv#conv2dRelu}, which a Sequential runs for a Conv2d followed by a ReLU: the numbers of conv2d and relu run
 * one after the other, bit for bit (output, dx, dw, dbias), and a forward that keeps one activation where the two ops
 * kept the convolution's output beside the ReLU's.
 */
class ConvReluTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    static final Shape X = Shape.of(2, 3, 7, 6), W = Shape.of(5, 3, 3, 3);
    /** 16 channels on an 8x8 plane: CpuConv's shifted path, whose forward writes y in place before the ReLU does. */
    static final Shape X_SHIFTED = Shape.of(2, 16, 8, 8), W_SHIFTED = Shape.of(5, 16, 3, 3);
    static final ConvParams P = ConvParams.of(1, 1);

    static int[][] run(boolean fused) { return run(fused, X, W); }

    static int[][] run(boolean fused, Shape X, Shape W) {
        SplittableRandom r = new SplittableRandom(3);
        float[] xs = new float[(int) X.numel()], ws = new float[(int) W.numel()], bs = {0.1f, -0.2f, 0f, 0.3f, Float.NaN};
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        for (int i = 0; i < ws.length; i++) ws[i] = (float) r.nextGaussian() * 0.3f;
        int taps = W.dim(1) * W.dim(2) * W.dim(3);
        for (int i = 0; i < taps; i++) ws[2 * taps + i] = 0f; // output channel 2 is its bias, 0: exactly at ReLU's threshold
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(xs, X).requiresGrad(true), w = be.fromHost(ws, W).requiresGrad(true);
            Tensor b = be.fromHost(bs, Shape.of(5)).requiresGrad(true);
            Tensor y = fused ? Conv.conv2dRelu(x, w, b, P) : Activations.relu(Conv.conv2d(x, w, b, P));
            float[] dys = new float[(int) y.numel()];
            for (int i = 0; i < dys.length; i++) dys[i] = (float) r.nextGaussian();
            Autograd.backward(y, be.fromHost(dys, y.shape()));
            return new int[][] {bits(y), bits(x.grad()), bits(w.grad()), bits(b.grad())};
        }
    }

    static int[] bits(Tensor t) {
        float[] v = t.toFloatArray();
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    @Test
    void fusedIsBitForBitTheTwoOps() {
        int[][] sep = run(false), fused = run(true);
        String[] what = {"output", "dx", "dw", "dbias"};
        for (int k = 0; k < what.length; k++) assertArrayEquals(sep[k], fused[k], what[k]);
    }

    @Test
    void fusedIsBitForBitTheTwoOpsOnTheShiftedPath() {
        int[][] sep = run(false, X_SHIFTED, W_SHIFTED), fused = run(true, X_SHIFTED, W_SHIFTED);
        String[] what = {"output", "dx", "dw", "dbias"};
        for (int k = 0; k < what.length; k++) assertArrayEquals(sep[k], fused[k], what[k] + " (16 channels, 8x8)");
    }

    @Test
    void aSequentialOfConvAndReluKeepsOneActivation() {
        try (Sequential seq = Scope.outside(() -> new Sequential(new Conv2d(new Context(be, 1), 3, 5, 3, 1, 1), new ReLU()));
             Scope s = Scope.open()) {
            Tensor x = be.zeros(X).requiresGrad(true);
            long before = be.memoryStats().inUseBytes();
            Tensor y = seq.forward(x);
            // the output only; conv2d then relu kept the convolution's output as well (2 x this)
            assertEquals(4 * y.numel(), be.memoryStats().inUseBytes() - before);
        }
    }
}
