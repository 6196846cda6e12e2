package io.dltrain.runtime.backend.meta;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Storage;
import io.dltrain.runtime.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The meta backend, PyTorch's {@code device="meta"}: tensors that have a shape and a dtype but no values and no
 * memory. Building a model here costs only the module objects, whatever the parameter count, so listing models and
 * counting their parameters ({@code Module.parameterCount()}, {@code Module.stateDict()} names and shapes) is fast
 * even for VGG's 138 million weights.
 *
 * <p>What works: {@link #empty} (a storage that records only its size), and everything a module's constructor does
 * to its parameters and buffers: {@link #fill}, {@link #zeros}, {@link #copyFromHost} / {@link #fromHost} (the
 * upload at the end of every {@code Init} initialiser), {@link #copy} and {@link #copyBlocks} are no-ops that check
 * only sizes. {@code init.Init} also skips drawing its random values for meta tensors, so no host array is made.
 *
 * <p>What does not: there are no values, so reading one back ({@link #toHost}, {@link #item}) and every compute op
 * (GEMM, convolution, pooling, activations, batch norm, losses, optimiser steps, ...) throw
 * {@link UnsupportedOperationException}. Unlike PyTorch's meta tensors, ops here do not propagate shapes: a forward
 * pass on the meta backend fails at its first op. Build the model on a real backend to run it.
 */
public final class MetaBackend implements Backend {

    /** The message of every operation that would need values. */
    public static final String NO_VALUES = "the meta backend only records shapes";

    /** Storage that records its size and dtype and holds nothing. */
    private record MetaStorage(long elements, DType dtype) implements Storage {
        @Override public void release() { /* nothing was allocated */ }
    }

    @Override public String name() { return "meta"; }

    @Override public Device device() { return Device.META; }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("device", "meta");
        m.put("note", "shapes only: no memory is allocated and no op computes");
        return m;
    }

    // ------------------------------------------------------------ memory and copies: record sizes, move nothing

    @Override
    public Tensor empty(Shape shape, DType dtype) {
        if (dtype == null) throw new IllegalArgumentException("empty: dtype must not be null");
        return new Tensor(this, new MetaStorage(shape.numel(), dtype), shape);
    }

    @Override
    public void copyFromHost(float[] src, int srcOffset, Tensor dst) { checkHost(src.length, srcOffset, dst); }

    @Override
    public void copyFromHost(int[] src, int srcOffset, Tensor dst) { checkHost(src.length, srcOffset, dst); }

    /** The same argument check the CPU's System.arraycopy makes, so a wrong upload fails here too. */
    private static void checkHost(int length, int srcOffset, Tensor dst) {
        if (srcOffset < 0 || srcOffset + dst.numel() > length)
            throw new IllegalArgumentException("copyFromHost: " + dst.numel() + " values from offset " + srcOffset
                    + " do not fit in a host array of " + length + " for " + dst);
    }

    @Override public void toHost(Tensor src, float[] dst) { throw noValues("toHost"); }

    @Override public void toHost(Tensor src, int[] dst) { throw noValues("toHost"); }

    @Override
    public void copy(Tensor src, Tensor dst) {
        if (src.numel() != dst.numel())
            throw new IllegalArgumentException("copy: sizes differ: " + src.shape() + " vs " + dst.shape());
    }

    @Override
    public void copyBlocks(Tensor src, long srcOffset, long srcStride, Tensor dst, long dstOffset, long dstStride, long blockLen, int count) {
        if (count > 0 && ((count - 1) * srcStride + srcOffset + blockLen > src.numel() || (count - 1) * dstStride + dstOffset + blockLen > dst.numel()))
            throw new IllegalArgumentException("copyBlocks: blocks exceed the tensors (" + src.shape() + " -> " + dst.shape() + ")");
    }

    @Override public void fill(Tensor t, float value) { /* no values to set */ }

    @Override public float item(Tensor scalar) { throw noValues("item"); }

    @Override public void synchronize() {}

    // ------------------------------------------------------------ compute: nothing to compute on

    private static UnsupportedOperationException noValues(String op) {
        return new UnsupportedOperationException(NO_VALUES + " (" + op + " needs values; build the model on the cpu or cuda backend to run it)");
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, long aOffset, int lda,
                     Tensor b, long bOffset, int ldb, float beta, Tensor c, long cOffset, int ldc) { throw noValues("gemm"); }

    @Override public void add(Tensor a, Tensor b, Tensor y) { throw noValues("add"); }
    @Override public void mul(Tensor a, Tensor b, Tensor y) { throw noValues("mul"); }
    @Override public void scale(Tensor x, float alpha, Tensor y) { throw noValues("scale"); }
    @Override public void axpy(float alpha, Tensor x, Tensor y) { throw noValues("axpy"); }
    @Override public void pow(Tensor x, float p, Tensor y) { throw noValues("pow"); }
    @Override public void powBackward(Tensor x, float p, Tensor dy, Tensor dx) { throw noValues("powBackward"); }
    @Override public void addBias(Tensor y, Tensor bias) { throw noValues("addBias"); }
    @Override public void biasGrad(Tensor dy, Tensor dbias, boolean accumulate) { throw noValues("biasGrad"); }
    @Override public void sum(Tensor x, float alpha, Tensor out) { throw noValues("sum"); }
    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) { throw noValues("sumSquares"); }
    @Override public void clipByNorm(Tensor x, Tensor sumSq, float maxNorm) { throw noValues("clipByNorm"); }
    @Override public void checkFinite(Tensor x, Tensor flag) { throw noValues("checkFinite"); }

    @Override public void activationForward(Activation act, Tensor x, Tensor y) { throw noValues("activationForward"); }
    @Override public void activationBackward(Activation act, Tensor x, Tensor y, Tensor dy, Tensor dx) { throw noValues("activationBackward"); }
    @Override public void lstmCellForward(Tensor gates, Tensor cPrev, Tensor c, Tensor h) { throw noValues("lstmCellForward"); }
    @Override public void lstmCellBackwardC(Tensor gates, Tensor cPrev, Tensor dc, Tensor dgates, Tensor dcPrev) { throw noValues("lstmCellBackwardC"); }
    @Override public void lstmCellBackwardH(Tensor gates, Tensor c, Tensor dh, Tensor dgates, Tensor dc) { throw noValues("lstmCellBackwardH"); }
    @Override public void softmaxForward(Tensor x, Tensor y, boolean log) { throw noValues("softmaxForward"); }
    @Override public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) { throw noValues("softmaxBackward"); }

    @Override public void convForward(Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) { throw noValues("convForward"); }
    @Override public void convBackwardData(Tensor dy, Tensor w, Tensor dx, ConvParams p) { throw noValues("convBackwardData"); }
    @Override public void convBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) { throw noValues("convBackwardFilter"); }
    @Override public void poolForward(Tensor x, Tensor y, PoolParams p) { throw noValues("poolForward"); }
    @Override public void poolBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) { throw noValues("poolBackward"); }
    @Override public void adaptiveAvgPoolForward(Tensor x, Tensor y) { throw noValues("adaptiveAvgPoolForward"); }
    @Override public void adaptiveAvgPoolBackward(Tensor dy, Tensor dx) { throw noValues("adaptiveAvgPoolBackward"); }

    @Override
    public void batchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) { throw noValues("batchNormForwardTraining"); }

    @Override
    public void batchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                          float eps, Tensor y) { throw noValues("batchNormForwardInference"); }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) { throw noValues("batchNormBackward"); }

    @Override public void dropoutForward(Tensor x, Tensor y, Tensor mask, float p, long seed) { throw noValues("dropoutForward"); }

    @Override public void crossEntropyForward(Tensor logits, Tensor labels, float ls, Tensor probs, Tensor loss) { throw noValues("crossEntropyForward"); }
    @Override public void crossEntropyBackward(Tensor probs, Tensor labels, float ls, Tensor dloss, Tensor dlogits) { throw noValues("crossEntropyBackward"); }
    @Override public void lossForward(LossKind kind, Tensor pred, Tensor target, Tensor loss) { throw noValues("lossForward"); }
    @Override public void lossBackward(LossKind kind, Tensor pred, Tensor target, Tensor dloss, Tensor dpred) { throw noValues("lossBackward"); }
    @Override public void countTopK(Tensor logits, Tensor labels, int k, Tensor count) { throw noValues("countTopK"); }
    @Override public void oneHot(Tensor labels, Tensor out) { throw noValues("oneHot"); }

    @Override
    public void optimizerStep(OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step) { throw noValues("optimizerStep"); }

    /** Nothing to free. */
    @Override public void close() {}
}
