package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.Tensor;

/**
 * PLACEHOLDER so the CUDA backend compiles before the cuDNN work lands: helper C's {@code CudnnOps} (convolution,
 * pooling, activations cuDNN has, softmax, batch norm) replaces this file at merge with the same signatures
 * (CUDA-CONTRACT.md). Every method here throws.
 */
public final class CudnnOps implements AutoCloseable {
    private static final String MISSING = "cuDNN ops land with CudnnOps";

    public CudnnOps(CudaContext ctx) {}

    public void convForward(Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) { throw new UnsupportedOperationException(MISSING); }

    public void convBackwardData(Tensor dy, Tensor w, Tensor dx, ConvParams p) { throw new UnsupportedOperationException(MISSING); }

    public void convBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) { throw new UnsupportedOperationException(MISSING); }

    public void poolForward(Tensor x, Tensor y, PoolParams p) { throw new UnsupportedOperationException(MISSING); }

    public void poolBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) { throw new UnsupportedOperationException(MISSING); }

    /** Whether cuDNN implements this activation with our semantics (the placeholder: none, so our kernels run). */
    public static boolean supports(Activation a) { return false; }

    public void activationForward(Activation a, Tensor x, Tensor y) { throw new UnsupportedOperationException(MISSING); }

    public void activationBackward(Activation a, Tensor x, Tensor y, Tensor dy, Tensor dx) { throw new UnsupportedOperationException(MISSING); }

    public void softmaxForward(Tensor x, Tensor y, boolean log) { throw new UnsupportedOperationException(MISSING); }

    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) { throw new UnsupportedOperationException(MISSING); }

    public void batchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        throw new UnsupportedOperationException(MISSING);
    }

    public void batchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                          float eps, Tensor y) {
        throw new UnsupportedOperationException(MISSING);
    }

    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        throw new UnsupportedOperationException(MISSING);
    }

    @Override
    public void close() {}
}
