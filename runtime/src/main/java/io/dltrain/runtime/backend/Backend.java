package io.dltrain.runtime.backend;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;

/**
 * The compute seam. Everything a model does to numbers goes through these methods, at the granularity that
 * cuBLAS and cuDNN offer: GEMM, convolution forward / backward-data / backward-filter, pooling, activation,
 * batch-norm, softmax, losses, element-wise work, reductions, dropout, optimiser updates and copies.
 * Autograd ({@code io.dltrain.runtime.ops}) composes them; it never touches memory itself.
 *
 * <p>Implementations: {@code backend.cpu.CpuBackend} (the reference, every op) and the CUDA backend
 * ({@code backend.cuda.CudaBackend}); two backends given the same inputs agree within float tolerance, and tests hold
 * them to it. Two more implement every method without computing: {@code backend.meta.MetaBackend} (shapes only; its
 * compute methods throw) and {@code backend.CountingBackend} (counts each call and delegates), so a new method goes
 * into all four (docs/ARCHITECTURE.md, "How to add an op").
 *
 * <p>Conventions for every method:
 * <ul>
 *   <li>Outputs are passed in, already allocated with the right shape; a method writes every element of its
 *       output unless it says it accumulates.</li>
 *   <li>Image tensors are NCHW. "Per channel" means dimension 1 of a tensor of rank >= 2 ([N, C] or [N, C, ...]).</li>
 *   <li>Scalars that the device produces or consumes (losses, norms, loss gradients) are one-element tensors,
 *       so a training step needs no host synchronisation.</li>
 *   <li>Methods may run asynchronously on a device; {@link #item}, {@link #toHost} and {@link #synchronize}
 *       wait for them.</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {

    /** "cpu", "cuda:0", ... */
    String name();

    Device device();

    /** Human-readable facts for `dl-train info` and summary.json (threads, library versions, memory). */
    java.util.Map<String, Object> describe();

    // ---------------------------------------------------------------- memory and copies

    /** A new tensor whose contents are undefined (the allocator may hand back used memory). */
    Tensor empty(Shape shape, DType dtype);

    default Tensor empty(Shape shape) { return empty(shape, DType.FP32); }

    /** A new tensor filled with zeros. */
    default Tensor zeros(Shape shape, DType dtype) {
        Tensor t = empty(shape, dtype);
        fill(t, 0f);
        return t;
    }

    default Tensor zeros(Shape shape) { return zeros(shape, DType.FP32); }

    /** A new FP32 tensor holding a copy of {@code data}. */
    default Tensor fromHost(float[] data, Shape shape) {
        checkHostLength(data.length, shape);
        Tensor t = empty(shape, DType.FP32);
        copyFromHost(data, 0, t);
        return t;
    }

    /** A new INT32 tensor holding a copy of {@code data}. */
    default Tensor fromHost(int[] data, Shape shape) {
        checkHostLength(data.length, shape);
        Tensor t = empty(shape, DType.INT32);
        copyFromHost(data, 0, t);
        return t;
    }

    /** fromHost's check, before anything is allocated: one value per element of the shape. */
    private static void checkHostLength(int length, Shape shape) {
        if (length != shape.size())
            throw new IllegalArgumentException("fromHost: " + length + " values for shape " + shape + ", which has " + shape.size()
                    + " elements");
    }

    /** Copies dst.numel() values from src[srcOffset...] into dst. */
    void copyFromHost(float[] src, int srcOffset, Tensor dst);

    void copyFromHost(int[] src, int srcOffset, Tensor dst);

    /** Copies all of src into dst[0...]; dst must be at least src.numel() long. */
    void toHost(Tensor src, float[] dst);

    void toHost(Tensor src, int[] dst);

    /** dst = src (same number of elements, same dtype). */
    void copy(Tensor src, Tensor dst);

    /**
     * A 2-D strided copy (cudaMemcpy2D): for i in [0, count), copies {@code blockLen} elements from
     * src[srcOffset + i*srcStride] to dst[dstOffset + i*dstStride]. Offsets are relative to each tensor.
     * Concatenation and splitting along channels are built from this.
     */
    void copyBlocks(Tensor src, long srcOffset, long srcStride, Tensor dst, long dstOffset, long dstStride,
                    long blockLen, int count);

    /** Sets every element of t to value. */
    void fill(Tensor t, float value);

    /** The value of a one-element FP32 tensor. Waits for queued work. */
    float item(Tensor scalar);

    /** Waits until all queued work is done. */
    void synchronize();

    // ---------------------------------------------------------------- GEMM

    /**
     * C = alpha * op(A) * op(B) + beta * C on row-major matrices (BLAS sgemm, row-major): op(A) is m x k,
     * op(B) is k x n, C is m x n. Offsets are in elements, relative to each tensor; ld* are row strides.
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k,
              float alpha, Tensor a, long aOffset, int lda,
              Tensor b, long bOffset, int ldb,
              float beta, Tensor c, long cOffset, int ldc);

    /**
     * C = op(A) * op(B) + bias, the bias added to every row: Linear's forward in one call. C is m x n, row-major and
     * contiguous (ld = n); A and B are dense with their natural row strides (op(A) is m x k, op(B) is k x n); bias
     * has n elements. The default is {@link #gemm} (alpha 1, beta 0) followed by {@link #addBias}; a backend may fuse
     * the two (the CUDA backend uses cuBLASLt's bias epilogue).
     */
    default void gemmBias(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
        Checks.gemmBias("gemmBias", device(), m, n, k, a, b, bias, c);   // before gemm writes C
        gemm(transA, transB, m, n, k, 1f, a, 0, transA ? m : k, b, 0, transB ? k : n, 0f, c, 0, n);
        addBias(c, bias);
    }

    /**
     * C = max(op(A) * op(B) + bias, 0): a Linear followed by a ReLU ({@code nn.Sequential} fuses the pair), with the
     * shapes of {@link #gemmBias}. ReLU is the CPU's: {@code Math.max(v, 0f)}, so NaN stays NaN and -0 becomes +0.
     * The default is {@link #gemmBias} followed by an in-place {@link #activationForward} with
     * {@link Activation#RELU}; the CUDA backend makes it one cuBLASLt matmul with the RELU_BIAS epilogue.
     */
    default void gemmBiasRelu(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
        gemmBias(transA, transB, m, n, k, a, b, bias, c);
        activationForward(Activation.RELU, c, c);
    }

    // ---------------------------------------------------------------- element-wise and reductions

    /** y = a + b (same shapes; y may alias a or b). */
    void add(Tensor a, Tensor b, Tensor y);

    /** y = a * b, element by element. */
    void mul(Tensor a, Tensor b, Tensor y);

    /** y = alpha * x (y may alias x). */
    void scale(Tensor x, float alpha, Tensor y);

    /** y += alpha * x. */
    void axpy(float alpha, Tensor x, Tensor y);

    /**
     * y = x^p for a constant p, element by element, as torch.pow(x, p) (y may alias x): p = 0 gives 1 (NaN included),
     * p = 1 x, p = 2 x * x, p = 3 x * x * x, p = -2 1 / (x * x), p = 0.5 sqrt(x), p = -0.5 1 / sqrt(x), p = -1 1 / x (so
     * 0.5 of -0 is -0, as in PyTorch); any other p C's powf (a negative x with a non-integer p gives NaN).
     */
    void pow(Tensor x, float p, Tensor y);

    /**
     * dx = dy * (p * x^(p - 1)) with x^(p - 1) as {@link #pow} computes it, and dx = 0 where p = 0 (torch's pow_backward:
     * so 0^p for 0 < p < 1 has an infinite gradient). x, dy and dx have the same size.
     */
    void powBackward(Tensor x, float p, Tensor dy, Tensor dx);

    /** y[n, c, ...] += bias[c] for y of rank >= 2. */
    void addBias(Tensor y, Tensor bias);

    /** dbias[c] (+)= sum of dy[n, c, ...] over n and the trailing dimensions; accumulates when asked. */
    void biasGrad(Tensor dy, Tensor dbias, boolean accumulate);

    /** out[0] = sum of x (alpha * sum when scaled). */
    void sum(Tensor x, float alpha, Tensor out);

    /** out[0] (+)= sum of x^2, accumulating when asked (used for the global gradient norm). */
    void sumSquares(Tensor x, Tensor out, boolean accumulate);

    /**
     * x *= min(1, maxNorm / (sqrt(sumSq[0]) + 1e-6)): PyTorch's clip_grad_norm_ given the squared norm (a NaN norm
     * makes x NaN, as torch.clamp keeps the NaN coefficient).
     */
    void clipByNorm(Tensor x, Tensor sumSq, float maxNorm);

    /** flag[0] = 1 if any element of x is NaN or infinite, else leaves it unchanged. */
    void checkFinite(Tensor x, Tensor flag);

    // ---------------------------------------------------------------- LSTM cell (nn.LSTM's element-wise step)

    /**
     * The element-wise part of one LSTM step, in PyTorch's gate order: gates [N, 4H] holds the pre-activations
     * i, f, g, o (x W_ih^T + b_ih + h W_hh^T + b_hh) and cPrev, c and h are [N, H]:
     * c = sigmoid(f) * cPrev + sigmoid(i) * tanh(g), h = sigmoid(o) * tanh(c).
     */
    void lstmCellForward(Tensor gates, Tensor cPrev, Tensor c, Tensor h);

    /**
     * Backward of c (with s = sigmoid, s' = s (1 - s), tanh' = 1 - tanh^2, from the pre-activations in gates):
     * dgates = [dc tanh(g) s'(i), dc cPrev s'(f), dc s(i) tanh'(g), 0] and, unless dcPrev is null, dcPrev = dc s(f).
     */
    void lstmCellBackwardC(Tensor gates, Tensor cPrev, Tensor dc, Tensor dgates, Tensor dcPrev);

    /** Backward of h: dgates = [0, 0, 0, dh tanh(c) s'(o)] and dc = dh s(o) tanh'(c). */
    void lstmCellBackwardH(Tensor gates, Tensor c, Tensor dh, Tensor dgates, Tensor dc);

    // ---------------------------------------------------------------- activations and softmax

    /** y = act(x) element by element; y may be x (in place: {@link #gemmBiasRelu}'s default, the ops that fuse a ReLU). */
    void activationForward(Activation act, Tensor x, Tensor y);

    /**
     * dx = dy * act'(x); x and y are the forward input and output (each kind uses whichever it needs). For RELU, whose
     * derivative depends only on whether x &gt; 0 (dy passes at a NaN), the ops that ran it in place pass the output as
     * x too ({@code Norm.batchNormRelu}, {@code Conv.conv2dRelu}, {@code Basic.linearRelu}): y &gt; 0 exactly where x &gt; 0.
     */
    void activationBackward(Activation act, Tensor x, Tensor y, Tensor dy, Tensor dx);

    /** Softmax (or log-softmax) over the last dimension of x, any rank >= 1. */
    void softmaxForward(Tensor x, Tensor y, boolean log);

    /** dx from the forward output y and dy; same shapes. */
    void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log);

    // ---------------------------------------------------------------- convolution

    /** y = conv(x, w) (+ bias[k] when bias is not null). Shapes: see {@link ConvParams}. */
    void convForward(Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p);

    /** dx = gradient of the convolution with respect to its input (also: transposed convolution forward). */
    void convBackwardData(Tensor dy, Tensor w, Tensor dx, ConvParams p);

    /** dw (+)= gradient with respect to the weights, accumulating when asked. */
    void convBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate);

    // ---------------------------------------------------------------- pooling

    void poolForward(Tensor x, Tensor y, PoolParams p);

    /** dx from the forward input x, output y and dy (max pooling routes dy to the first maximum, like cuDNN). */
    void poolBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p);

    /** Adaptive average pooling of [N, C, H, W] to [N, C, outH, outW] with PyTorch's window rule. */
    void adaptiveAvgPoolForward(Tensor x, Tensor y);

    void adaptiveAvgPoolBackward(Tensor dy, Tensor dx);

    // ---------------------------------------------------------------- batch normalisation

    /**
     * Training-mode batch norm per channel over N and the spatial dimensions. Writes y, and saveMean / saveInvStd
     * ([C]) for the backward pass, and updates the running statistics as PyTorch does:
     * running = (1 - momentum) * running + momentum * batch (the variance unbiased, n/(n-1)).
     */
    void batchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                  float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd);

    /** Inference-mode batch norm with the running statistics. */
    void batchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                   float eps, Tensor y);

    /** dx, and dgamma / dbeta (accumulated when asked), from the saved statistics. */
    void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                           Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate);

    // ---------------------------------------------------------------- dropout

    /**
     * Inverted dropout: mask[i] = 0 with probability p, else 1/(1-p); y = x * mask. The keep decision for element i
     * is a pure function of (seed, i) ({@code io.dltrain.runtime.backend.DropoutRng}), so every backend draws the
     * same mask.
     */
    void dropoutForward(Tensor x, Tensor y, Tensor mask, float p, long seed);

    // ---------------------------------------------------------------- losses and metrics

    /**
     * Mean softmax cross-entropy of logits [N, C] against INT32 labels [N], with label smoothing eps
     * (target = (1-eps) one-hot + eps/C). Writes the softmax probabilities (kept for backward) and loss[0].
     */
    void crossEntropyForward(Tensor logits, Tensor labels, float labelSmoothing, Tensor probs, Tensor loss);

    /** dlogits = dloss[0] * (probs - target) / N. */
    void crossEntropyBackward(Tensor probs, Tensor labels, float labelSmoothing, Tensor dloss, Tensor dlogits);

    /** loss[0] = mean over all elements of the element-wise loss. */
    void lossForward(LossKind kind, Tensor pred, Tensor target, Tensor loss);

    /** dpred = dloss[0] * d(mean loss)/d pred. */
    void lossBackward(LossKind kind, Tensor pred, Tensor target, Tensor dloss, Tensor dpred);

    /**
     * count[0] += number of rows of logits [N, C] whose label is among the k largest logits. Ties go to the lower
     * index (the label's rank counts the larger logits, NaNs, and equal logits at lower indices), so top-1 agrees
     * with torch.argmax and a row of equal logits is a hit only for label 0 (..k-1). A NaN at the label never hits.
     */
    void countTopK(Tensor logits, Tensor labels, int k, Tensor count);

    /**
     * out [N, C] = the one-hot rows of INT32 labels [N]: out[r, c] = 1 where c == labels[r], else 0 (C is out's second
     * dimension, at least 1). A label outside [0, C) is an error naming the row and the value on the CPU, before out
     * is written; a device backend cannot refuse it without a host synchronisation, so the CUDA kernel writes NaN
     * across that row instead (a loss built on it is NaN, which the trainer's non-finite check stops). Not
     * differentiable: labels are class indices.
     */
    void oneHot(Tensor labels, Tensor out);

    // ---------------------------------------------------------------- optimisers

    /**
     * One fused optimiser update of param from grad, in place. {@code state} holds the optimiser's per-parameter
     * buffers (same shape as param, zero-initialised by the caller): SGD [momentum], Adagrad [sum],
     * Adadelta [squareAvg, accDelta], RMSprop [squareAvg, momentum, gradAvg], Adam/AdamW [expAvg, expAvgSq].
     * {@code step} counts this parameter's updates from 1. grad is not modified.
     */
    void optimizerStep(OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step);

    /**
     * {@link #optimizerStep} for every parameter of a group that shares the hyper-parameters, learning rate and step
     * count: {@code optimizerStep(hyper, params[i], grads[i], states[i], lr, step)} for each i, with the same results
     * bit for bit. A backend may fuse them: the CUDA backend updates the whole group in one kernel launch (torch.optim's
     * foreach path), where one launch per parameter would cost resnet50 161 launches a step. The lists must have one
     * entry per parameter and no parameter twice.
     */
    default void optimizerStepAll(OptimizerHyper hyper, List<Tensor> params, List<Tensor> grads, List<Tensor[]> states, float lr, long step) {
        Checks.optimizerGroup(device(), hyper, params, grads, states, step);   // all of them before the first update
        for (int i = 0; i < params.size(); i++) optimizerStep(hyper, params.get(i), grads.get(i), states.get(i), lr, step);
    }

    /** Memory in use, reserved by the allocator's cache, and peak; {@link MemoryStats#NONE} where not tracked. */
    default MemoryStats memoryStats() { return MemoryStats.NONE; }

    /** Frees pools and threads. Tensors still open become invalid. */
    @Override
    void close();
}
