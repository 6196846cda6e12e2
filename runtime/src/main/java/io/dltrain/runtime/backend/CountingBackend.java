package io.dltrain.runtime.backend;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@link Backend} decorator that delegates every method to another backend and counts the calls, for
 * `dl-train bench`'s "backend ops per step" (on CUDA, where each compute op is one or a few kernel launches, this
 * is the launch count a step pays for; on the CPU it is the number of parallel regions a step enters).
 *
 * <p>Ops find their backend through their inputs ({@code x.backend()}), so the counter only sees a model's work if
 * the model's tensors reference it. {@link #empty} therefore re-wraps the delegate's storage in a tensor whose
 * {@link Tensor#backend()} is this decorator: build the model, and create its inputs, on the CountingBackend and
 * every op the model, the autograd engine and the optimiser call comes through here. The delegate's kernels read
 * only the storage, never {@code t.backend()}, so they work on these tensors unchanged.
 *
 * <p>Calls fall in three kinds, counted separately: {@link Kind#COMPUTE} (everything that runs a kernel: GEMM,
 * convolution, element-wise, fill, device-to-device copies, optimiser updates...), {@link Kind#TRANSFER} (host
 * copies and {@link #item}) and {@link Kind#ALLOC} ({@link #empty}). {@link #name}, {@link #device},
 * {@link #describe}, {@link #synchronize} and {@link #close} are not counted. Counters are thread-safe.
 */
public final class CountingBackend implements Backend {
    /** What a counted call does. */
    public enum Kind { COMPUTE, TRANSFER, ALLOC }

    private final Backend delegate;
    private final Map<String, LongAdder> byOp = new ConcurrentHashMap<>();
    private final LongAdder[] byKind = {new LongAdder(), new LongAdder(), new LongAdder()};

    public CountingBackend(Backend delegate) {
        if (delegate == null) throw new IllegalArgumentException("CountingBackend needs a backend to delegate to, got null");
        if (delegate instanceof CountingBackend)
            throw new IllegalArgumentException("CountingBackend wrapped twice: wrap the real backend, not a CountingBackend");
        this.delegate = delegate;
    }

    /** The backend that does the work. */
    public Backend delegate() { return delegate; }

    /** Calls of one kind so far. */
    public long count(Kind kind) { return byKind[kind.ordinal()].sum(); }

    /** Compute calls so far (the "backend ops" of the bench). */
    public long computeOps() { return count(Kind.COMPUTE); }

    /** Calls per method name so far, sorted by name (e.g. {"convForward": 2, "gemm": 6, ...}). */
    public Map<String, Long> countsByOp() {
        Map<String, Long> m = new TreeMap<>();
        byOp.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }

    /** Sets every counter to zero. */
    public void reset() {
        byOp.clear();
        for (LongAdder a : byKind) a.reset();
    }

    private void count(Kind kind, String op) {
        byKind[kind.ordinal()].increment();
        byOp.computeIfAbsent(op, k -> new LongAdder()).increment();
    }

    private void compute(String op) { count(Kind.COMPUTE, op); }

    // ---------------------------------------------------------------- identity (not counted)

    @Override public String name() { return delegate.name(); }

    @Override public Device device() { return delegate.device(); }

    @Override public Map<String, Object> describe() { return delegate.describe(); }

    @Override public MemoryStats memoryStats() { return delegate.memoryStats(); }

    @Override public void synchronize() { delegate.synchronize(); }

    @Override public void close() { delegate.close(); }

    // ---------------------------------------------------------------- memory and copies

    /**
     * Allocates on the delegate and hands back a tensor over the same storage that reports this decorator as its
     * backend. The delegate's own tensor is taken out of the scope and dropped unclosed: the returned tensor owns
     * the storage and releases it exactly once.
     */
    @Override
    public Tensor empty(Shape shape, DType dtype) {
        count(Kind.ALLOC, "empty");
        Tensor inner = delegate.empty(shape, dtype).keep();
        return new Tensor(this, inner.storage(), shape);
    }

    @Override public void copyFromHost(float[] src, int srcOffset, Tensor dst) { count(Kind.TRANSFER, "copyFromHost"); delegate.copyFromHost(src, srcOffset, dst); }
    @Override public void copyFromHost(int[] src, int srcOffset, Tensor dst) { count(Kind.TRANSFER, "copyFromHost"); delegate.copyFromHost(src, srcOffset, dst); }
    @Override public void toHost(Tensor src, float[] dst) { count(Kind.TRANSFER, "toHost"); delegate.toHost(src, dst); }
    @Override public void toHost(Tensor src, int[] dst) { count(Kind.TRANSFER, "toHost"); delegate.toHost(src, dst); }
    @Override public float item(Tensor scalar) { count(Kind.TRANSFER, "item"); return delegate.item(scalar); }

    @Override public void copy(Tensor src, Tensor dst) { compute("copy"); delegate.copy(src, dst); }

    @Override
    public void copyBlocks(Tensor src, long srcOffset, long srcStride, Tensor dst, long dstOffset, long dstStride, long blockLen, int count) {
        compute("copyBlocks");
        delegate.copyBlocks(src, srcOffset, srcStride, dst, dstOffset, dstStride, blockLen, count);
    }

    @Override public void fill(Tensor t, float value) { compute("fill"); delegate.fill(t, value); }

    // ---------------------------------------------------------------- compute

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, long aOffset, int lda,
                     Tensor b, long bOffset, int ldb, float beta, Tensor c, long cOffset, int ldc) {
        compute("gemm");
        delegate.gemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    }

    /** Counted as one op (on CUDA it is one cuBLASLt call) and forwarded, so the delegate's fused path is kept. */
    @Override
    public void gemmBias(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
        compute("gemmBias");
        delegate.gemmBias(transA, transB, m, n, k, a, b, bias, c);
    }

    /** Counted as one op (on CUDA one cuBLASLt call, RELU_BIAS epilogue) and forwarded, like {@link #gemmBias}. */
    @Override
    public void gemmBiasRelu(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
        compute("gemmBiasRelu");
        delegate.gemmBiasRelu(transA, transB, m, n, k, a, b, bias, c);
    }

    @Override public void add(Tensor a, Tensor b, Tensor y) { compute("add"); delegate.add(a, b, y); }
    @Override public void mul(Tensor a, Tensor b, Tensor y) { compute("mul"); delegate.mul(a, b, y); }
    @Override public void scale(Tensor x, float alpha, Tensor y) { compute("scale"); delegate.scale(x, alpha, y); }
    @Override public void axpy(float alpha, Tensor x, Tensor y) { compute("axpy"); delegate.axpy(alpha, x, y); }
    @Override public void pow(Tensor x, float p, Tensor y) { compute("pow"); delegate.pow(x, p, y); }
    @Override public void powBackward(Tensor x, float p, Tensor dy, Tensor dx) { compute("powBackward"); delegate.powBackward(x, p, dy, dx); }
    @Override public void addBias(Tensor y, Tensor bias) { compute("addBias"); delegate.addBias(y, bias); }
    @Override public void biasGrad(Tensor dy, Tensor dbias, boolean accumulate) { compute("biasGrad"); delegate.biasGrad(dy, dbias, accumulate); }
    @Override public void sum(Tensor x, float alpha, Tensor out) { compute("sum"); delegate.sum(x, alpha, out); }
    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) { compute("sumSquares"); delegate.sumSquares(x, out, accumulate); }
    @Override public void clipByNorm(Tensor x, Tensor sumSq, float maxNorm) { compute("clipByNorm"); delegate.clipByNorm(x, sumSq, maxNorm); }
    @Override public void checkFinite(Tensor x, Tensor flag) { compute("checkFinite"); delegate.checkFinite(x, flag); }

    @Override public void activationForward(Activation act, Tensor x, Tensor y) { compute("activationForward"); delegate.activationForward(act, x, y); }
    @Override public void activationBackward(Activation act, Tensor x, Tensor y, Tensor dy, Tensor dx) { compute("activationBackward"); delegate.activationBackward(act, x, y, dy, dx); }
    @Override public void lstmCellForward(Tensor gates, Tensor cPrev, Tensor c, Tensor h) { compute("lstmCellForward"); delegate.lstmCellForward(gates, cPrev, c, h); }
    @Override public void lstmCellBackwardC(Tensor gates, Tensor cPrev, Tensor dc, Tensor dgates, Tensor dcPrev) { compute("lstmCellBackwardC"); delegate.lstmCellBackwardC(gates, cPrev, dc, dgates, dcPrev); }
    @Override public void lstmCellBackwardH(Tensor gates, Tensor c, Tensor dh, Tensor dgates, Tensor dc) { compute("lstmCellBackwardH"); delegate.lstmCellBackwardH(gates, c, dh, dgates, dc); }
    @Override public void softmaxForward(Tensor x, Tensor y, boolean log) { compute("softmaxForward"); delegate.softmaxForward(x, y, log); }
    @Override public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) { compute("softmaxBackward"); delegate.softmaxBackward(y, dy, dx, log); }

    @Override public void convForward(Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) { compute("convForward"); delegate.convForward(x, w, bias, y, p); }
    @Override public void convBackwardData(Tensor dy, Tensor w, Tensor dx, ConvParams p) { compute("convBackwardData"); delegate.convBackwardData(dy, w, dx, p); }
    @Override public void convBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) { compute("convBackwardFilter"); delegate.convBackwardFilter(x, dy, dw, p, accumulate); }

    @Override public void poolForward(Tensor x, Tensor y, PoolParams p) { compute("poolForward"); delegate.poolForward(x, y, p); }
    @Override public void poolBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) { compute("poolBackward"); delegate.poolBackward(x, y, dy, dx, p); }
    @Override public void adaptiveAvgPoolForward(Tensor x, Tensor y) { compute("adaptiveAvgPoolForward"); delegate.adaptiveAvgPoolForward(x, y); }
    @Override public void adaptiveAvgPoolBackward(Tensor dy, Tensor dx) { compute("adaptiveAvgPoolBackward"); delegate.adaptiveAvgPoolBackward(dy, dx); }

    @Override
    public void batchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        compute("batchNormForwardTraining");
        delegate.batchNormForwardTraining(x, gamma, beta, runningMean, runningVar, momentum, eps, y, saveMean, saveInvStd);
    }

    @Override
    public void batchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y) {
        compute("batchNormForwardInference");
        delegate.batchNormForwardInference(x, gamma, beta, runningMean, runningVar, eps, y);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        compute("batchNormBackward");
        delegate.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta, accumulate);
    }

    @Override public void dropoutForward(Tensor x, Tensor y, Tensor mask, float p, long seed) { compute("dropoutForward"); delegate.dropoutForward(x, y, mask, p, seed); }

    @Override public void crossEntropyForward(Tensor logits, Tensor labels, float ls, Tensor probs, Tensor loss) { compute("crossEntropyForward"); delegate.crossEntropyForward(logits, labels, ls, probs, loss); }
    @Override public void crossEntropyBackward(Tensor probs, Tensor labels, float ls, Tensor dloss, Tensor dlogits) { compute("crossEntropyBackward"); delegate.crossEntropyBackward(probs, labels, ls, dloss, dlogits); }
    @Override public void lossForward(LossKind kind, Tensor pred, Tensor target, Tensor loss) { compute("lossForward"); delegate.lossForward(kind, pred, target, loss); }
    @Override public void lossBackward(LossKind kind, Tensor pred, Tensor target, Tensor dloss, Tensor dpred) { compute("lossBackward"); delegate.lossBackward(kind, pred, target, dloss, dpred); }
    @Override public void countTopK(Tensor logits, Tensor labels, int k, Tensor count) { compute("countTopK"); delegate.countTopK(logits, labels, k, count); }
    @Override public void oneHot(Tensor labels, Tensor out) { compute("oneHot"); delegate.oneHot(labels, out); }

    @Override
    public void optimizerStep(OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        compute("optimizerStep");
        delegate.optimizerStep(hyper, param, grad, state, lr, step);
    }

    @Override
    public void optimizerStepAll(OptimizerHyper hyper, List<Tensor> params, List<Tensor> grads, List<Tensor[]> states, float lr, long step) {
        compute("optimizerStepAll");
        delegate.optimizerStepAll(hyper, params, grads, states, lr, step);
    }
}
