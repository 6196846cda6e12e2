package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The CPU backend: the reference implementation of every op, multithreaded over {@link Parallel}.
 * This class only routes; each family of ops lives in its own small file beside it:
 * {@link CpuGemm} (OpenBLAS), {@link CpuElementwise}, {@link CpuActivation}, {@link CpuSoftmax}, {@link CpuConv},
 * {@link CpuPool}, {@link CpuNorm}, {@link CpuDropout}, {@link CpuLoss}, {@link CpuOptim}, {@link CpuLstm}.
 * Storage is pooled host arrays ({@link CpuAllocator}); kernels read them through {@link #f} / {@link #off}.
 */
public final class CpuBackend implements Backend {
    private final CpuAllocator allocator = new CpuAllocator();
    final Parallel par;

    /**
     * A CPU backend with {@code threads} threads (the machine's core count when threads <= 0). The count decides how
     * work is split, and so the exact results; beyond the core count, one thread per core runs the pieces.
     */
    public CpuBackend(int threads) {
        this(new Parallel(threads > 0 ? threads : Runtime.getRuntime().availableProcessors()));
    }

    /** For tests: a backend over a given thread pool (e.g. one with fewer runners than threads). */
    CpuBackend(Parallel par) {
        this.par = par;
    }

    public CpuBackend() { this(0); }

    public int threads() { return par.threads(); }

    // ------------------------------------------------------------ array access for the kernels

    /**
     * The float array behind an FP32 tensor. Element i of t is f(t)[off(t) + i]. Every op reaches its tensors' data
     * through f or i, so this is where a closed backend refuses work (one volatile read: a plain load on x86).
     */
    static float[] f(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s) || s.f == null)
            throw new IllegalArgumentException("expected an FP32 tensor on the CPU backend, got " + t);
        if (s.backendClosed()) throw usedAfterClose(t);
        return s.f;
    }

    /** The int array behind an INT32 tensor. */
    static int[] i(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s) || s.i == null)
            throw new IllegalArgumentException("expected an INT32 tensor on the CPU backend, got " + t);
        if (s.backendClosed()) throw usedAfterClose(t);
        return s.i;
    }

    private static IllegalStateException usedAfterClose(Object what) {
        return new IllegalStateException("the CPU backend was closed (close() was called) and cannot be used any more, here for "
                + what + "; make a new CpuBackend, and new tensors on it, instead");
    }

    /** Offset of t's first element in its array. */
    static int off(Tensor t) { return (int) t.offset(); }

    static int n(Tensor t) { return t.shape().size(); }

    // ------------------------------------------------------------ identity and memory

    @Override public String name() { return "cpu"; }

    @Override public Device device() { return Device.CPU; }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("device", "cpu");
        m.put("threads", par.threads());
        m.put("cores_used", par.runners()); // fewer than threads when threads exceeds the cores (Parallel)
        m.put("gemm", CpuGemm.STATUS);
        m.put("memory_in_use_bytes", allocator.inUseBytes());
        m.put("memory_reserved_bytes", allocator.reservedBytes());
        m.put("memory_peak_bytes", allocator.peakBytes());
        return m;
    }

    @Override
    public Tensor empty(Shape shape, DType dtype) {
        if (allocator.closed) throw usedAfterClose("a new tensor " + shape);
        // A CPU tensor is one Java array: at most 2^31-9 elements (the JVM's largest array).
        if (shape.numel() > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("tensor " + shape + " has " + shape.numel() + " elements, more than the 2^31-9 a CPU"
                    + " tensor (one Java array) holds; use a smaller batch");
        int n = shape.size();
        return switch (dtype) {
            case FP32 -> new Tensor(this, CpuStorage.floats(allocator, n), shape);
            case INT32 -> new Tensor(this, CpuStorage.ints(allocator, n), shape);
            default -> throw new UnsupportedOperationException("the CPU backend stores FP32 and INT32 tensors; " + dtype + " is not supported yet");
        };
    }

    @Override public void copyFromHost(float[] src, int srcOffset, Tensor dst) {
        Checks.fp32("copyFromHost", Device.CPU, dst);
        Checks.hostSource(src.length, srcOffset, dst.numel(), "copyFromHost");
        System.arraycopy(src, srcOffset, f(dst), off(dst), n(dst));
    }

    @Override public void copyFromHost(int[] src, int srcOffset, Tensor dst) {
        Checks.int32("copyFromHost", Device.CPU, dst);
        Checks.hostSource(src.length, srcOffset, dst.numel(), "copyFromHost");
        System.arraycopy(src, srcOffset, i(dst), off(dst), n(dst));
    }

    @Override public void toHost(Tensor src, float[] dst) {
        Checks.fp32("toHost", Device.CPU, src);
        Checks.hostDestination(dst.length, src);
        System.arraycopy(f(src), off(src), dst, 0, n(src));
    }

    @Override public void toHost(Tensor src, int[] dst) {
        Checks.int32("toHost", Device.CPU, src);
        Checks.hostDestination(dst.length, src);
        System.arraycopy(i(src), off(src), dst, 0, n(src));
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        Checks.copy(src, dst);
        Checks.on("copy", Device.CPU, dst);   // the CUDA backend's order: dst, then src
        Checks.on("copy", Device.CPU, src);
        if (src.dtype() == DType.INT32) System.arraycopy(i(src), off(src), i(dst), off(dst), n(src));
        else System.arraycopy(f(src), off(src), f(dst), off(dst), n(src));
    }

    @Override
    public void copyBlocks(Tensor src, long srcOffset, long srcStride, Tensor dst, long dstOffset, long dstStride, long blockLen, int count) {
        if (!Checks.copyBlocks(Device.CPU, src, srcOffset, srcStride, dst, dstOffset, dstStride, blockLen, count)) return;
        float[] s = f(src), d = f(dst);
        int so = off(src) + (int) srcOffset, dO = off(dst) + (int) dstOffset, len = (int) blockLen;
        for (int b = 0; b < count; b++) System.arraycopy(s, so + (int) (b * srcStride), d, dO + (int) (b * dstStride), len);
    }

    @Override
    public void fill(Tensor t, float value) {
        Checks.on("fill", Device.CPU, t);
        if (t.dtype() == DType.INT32) java.util.Arrays.fill(i(t), off(t), off(t) + n(t), (int) value);
        else java.util.Arrays.fill(f(t), off(t), off(t) + n(t), value);
    }

    @Override public float item(Tensor scalar) { Checks.scalar(scalar, "item", Device.CPU); return f(scalar)[off(scalar)]; }

    @Override public void synchronize() {}

    // ------------------------------------------------------------ GEMM

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, long aOffset, int lda,
                     Tensor b, long bOffset, int ldb, float beta, Tensor c, long cOffset, int ldc) {
        // OpenBLAS reads and writes the heap arrays without bounds (an FFM critical downcall): check first.
        Checks.fp32("gemm", Device.CPU, a, b, c);
        Checks.gemm(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        CpuGemm.gemm(par, transA, transB, m, n, k, alpha, f(a), off(a) + (int) aOffset, lda,
                f(b), off(b) + (int) bOffset, ldb, beta, f(c), off(c) + (int) cOffset, ldc);
    }

    // ------------------------------------------------------------ element-wise and reductions

    @Override public void add(Tensor a, Tensor b, Tensor y) { CpuElementwise.add(this, a, b, y); }
    @Override public void mul(Tensor a, Tensor b, Tensor y) { CpuElementwise.mul(this, a, b, y); }
    @Override public void scale(Tensor x, float alpha, Tensor y) { CpuElementwise.scale(this, x, alpha, y); }
    @Override public void axpy(float alpha, Tensor x, Tensor y) { CpuElementwise.axpy(this, alpha, x, y); }
    @Override public void pow(Tensor x, float p, Tensor y) { CpuElementwise.pow(this, x, p, y); }
    @Override public void powBackward(Tensor x, float p, Tensor dy, Tensor dx) { CpuElementwise.powBackward(this, x, p, dy, dx); }
    @Override public void addBias(Tensor y, Tensor bias) { CpuElementwise.addBias(this, y, bias); }
    @Override public void biasGrad(Tensor dy, Tensor dbias, boolean accumulate) { CpuElementwise.biasGrad(this, dy, dbias, accumulate); }
    @Override public void sum(Tensor x, float alpha, Tensor out) { CpuElementwise.sum(this, x, alpha, out); }
    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) { CpuElementwise.sumSquares(this, x, out, accumulate); }
    @Override public void clipByNorm(Tensor x, Tensor sumSq, float maxNorm) { CpuElementwise.clipByNorm(this, x, sumSq, maxNorm); }
    @Override public void checkFinite(Tensor x, Tensor flag) { CpuElementwise.checkFinite(this, x, flag); }

    // ------------------------------------------------------------ activations, softmax

    @Override public void activationForward(Activation act, Tensor x, Tensor y) { CpuActivation.forward(this, act, x, y); }
    @Override public void activationBackward(Activation act, Tensor x, Tensor y, Tensor dy, Tensor dx) { CpuActivation.backward(this, act, x, y, dy, dx); }
    @Override public void lstmCellForward(Tensor gates, Tensor cPrev, Tensor c, Tensor h) { CpuLstm.forward(this, gates, cPrev, c, h); }
    @Override public void lstmCellBackwardC(Tensor gates, Tensor cPrev, Tensor dc, Tensor dgates, Tensor dcPrev) { CpuLstm.backwardC(this, gates, cPrev, dc, dgates, dcPrev); }
    @Override public void lstmCellBackwardH(Tensor gates, Tensor c, Tensor dh, Tensor dgates, Tensor dc) { CpuLstm.backwardH(this, gates, c, dh, dgates, dc); }
    @Override public void softmaxForward(Tensor x, Tensor y, boolean log) { CpuSoftmax.forward(this, x, y, log); }
    @Override public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) { CpuSoftmax.backward(this, y, dy, dx, log); }

    // ------------------------------------------------------------ convolution, pooling

    @Override public void convForward(Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) { CpuConv.forward(this, x, w, bias, y, p); }
    @Override public void convBackwardData(Tensor dy, Tensor w, Tensor dx, ConvParams p) { CpuConv.backwardData(this, dy, w, dx, p); }
    @Override public void convBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) { CpuConv.backwardFilter(this, x, dy, dw, p, accumulate); }
    @Override public void poolForward(Tensor x, Tensor y, PoolParams p) { CpuPool.forward(this, x, y, p); }
    @Override public void poolBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) { CpuPool.backward(this, x, y, dy, dx, p); }
    @Override public void adaptiveAvgPoolForward(Tensor x, Tensor y) { CpuPool.adaptiveAvgForward(this, x, y); }
    @Override public void adaptiveAvgPoolBackward(Tensor dy, Tensor dx) { CpuPool.adaptiveAvgBackward(this, dy, dx); }

    // ------------------------------------------------------------ batch norm, dropout

    @Override
    public void batchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        CpuNorm.forwardTraining(this, x, gamma, beta, runningMean, runningVar, momentum, eps, y, saveMean, saveInvStd);
    }

    @Override
    public void batchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y) {
        CpuNorm.forwardInference(this, x, gamma, beta, runningMean, runningVar, eps, y);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        CpuNorm.backward(this, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta, accumulate);
    }

    @Override public void dropoutForward(Tensor x, Tensor y, Tensor mask, float p, long seed) { CpuDropout.forward(this, x, y, mask, p, seed); }

    // ------------------------------------------------------------ losses, metrics

    @Override public void crossEntropyForward(Tensor logits, Tensor labels, float ls, Tensor probs, Tensor loss) { CpuLoss.crossEntropyForward(this, logits, labels, ls, probs, loss); }
    @Override public void crossEntropyBackward(Tensor probs, Tensor labels, float ls, Tensor dloss, Tensor dlogits) { CpuLoss.crossEntropyBackward(this, probs, labels, ls, dloss, dlogits); }
    @Override public void lossForward(LossKind kind, Tensor pred, Tensor target, Tensor loss) { CpuLoss.forward(this, kind, pred, target, loss); }
    @Override public void lossBackward(LossKind kind, Tensor pred, Tensor target, Tensor dloss, Tensor dpred) { CpuLoss.backward(this, kind, pred, target, dloss, dpred); }
    @Override public void countTopK(Tensor logits, Tensor labels, int k, Tensor count) { CpuLoss.countTopK(this, logits, labels, k, count); }
    @Override public void oneHot(Tensor labels, Tensor out) { CpuLoss.oneHot(labels, out); }

    // ------------------------------------------------------------ optimisers

    @Override
    public void optimizerStep(OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        CpuOptim.step(this, hyper, param, grad, state, lr, step);
    }

    /** Memory statistics: bytes in use, reserved by the pool, and the peak in use. */
    public long memoryInUse() { return allocator.inUseBytes(); }
    public long memoryReserved() { return allocator.reservedBytes(); }
    public long memoryPeak() { return allocator.peakBytes(); }

    @Override
    public io.dltrain.runtime.backend.MemoryStats memoryStats() {
        return new io.dltrain.runtime.backend.MemoryStats(allocator.inUseBytes(), allocator.reservedBytes(), allocator.peakBytes());
    }

    /**
     * Stops the worker threads and drops the pooled arrays. Afterwards every op, on new tensors or on tensors made
     * before, throws an IllegalStateException that says the backend was closed; closing tensors stays harmless.
     */
    @Override
    public void close() {
        allocator.closed = true;
        par.close();
        allocator.trim();
    }
}
