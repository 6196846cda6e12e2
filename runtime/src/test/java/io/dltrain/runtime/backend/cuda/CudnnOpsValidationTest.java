package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CudnnOps} rejects bad calls with a clear message before it touches cuDNN or the device, so these run on a
 * machine without CUDA: the context below fails the test if anything asks it for a handle, stream or memory, and the
 * tensors are CPU tensors (only their shapes and dtypes are read before the first cuDNN call). Also: close() with
 * nothing created needs no native cuDNN, and use after close() is an error.
 */
class CudnnOpsValidationTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    /** A context that must never be used. */
    static final CudaContext NO_DEVICE = new CudaContext() {
        @Override public int deviceIndex() { throw new AssertionError("validation must not reach the device"); }
        @Override public CUstream_st stream() { throw new AssertionError("validation must not reach the device"); }
        @Override public cublasContext cublas() { throw new AssertionError("validation must not reach the device"); }
        @Override public cudnnContext cudnn() { throw new AssertionError("validation must not reach the device"); }
        @Override public DeviceBuffer allocate(long bytes, String purpose) { throw new AssertionError("validation must not allocate"); }
        @Override public KernelLauncher kernels() { throw new AssertionError("validation must not launch"); }
    };

    private static void assertMessage(Throwable e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }

    /** The -Ddltrain.cudnn.search switch: heuristic (or unset) and measured, in any case; anything else names both. */
    @Test
    void searchSwitchTakesHeuristicOrMeasured() {
        assertFalse(CudnnOps.parseSearch(null));
        assertFalse(CudnnOps.parseSearch(""));
        assertFalse(CudnnOps.parseSearch(" Heuristic "));
        assertTrue(CudnnOps.parseSearch("measured"));
        assertTrue(CudnnOps.parseSearch("MEASURED"));
        assertMessage(assertThrows(IllegalArgumentException.class, () -> CudnnOps.parseSearch("benchmark")),
                "-Ddltrain.cudnn.search=benchmark", "expected heuristic", "or measured");
    }

    @Test
    void badShapesAndTypesFailBeforeAnyCudnnCall() {
        try (CudnnOps ops = new CudnnOps(NO_DEVICE);
             Tensor x = be.zeros(Shape.of(2, 3, 8, 8)); Tensor w = be.zeros(Shape.of(4, 3, 3, 3));
             Tensor yBad = be.zeros(Shape.of(2, 4, 8, 8)); Tensor labels = be.zeros(Shape.of(2, 3, 8, 8), DType.INT32);
             Tensor bias = be.zeros(Shape.of(5)); Tensor y = be.zeros(Shape.of(2, 4, 6, 6))) {
            ConvParams p = ConvParams.of(1, 0);
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.convForward(x, w, null, yBad, p)),
                    "convForward", "[2, 4, 6, 6]");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.convForward(x, w, bias, y, p)),
                    "bias", "4 elements");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.convForward(labels, w, null, y, p)),
                    "FP32", "INT32");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.convBackwardData(yBad, w, x, p)),
                    "convBackwardData");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.convBackwardFilter(x, yBad, w, p, true)),
                    "convBackwardFilter");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.activationForward(Activation.GELU, x, x)),
                    "GELU");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.activationBackward(Activation.leakyRelu(0.1f), x, x, x, x)),
                    "LEAKY_RELU");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.activationForward(Activation.RELU, x, w)),
                    "sizes differ");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.softmaxForward(x, w, true)),
                    "logSoftmax");
        }
    }

    @Test
    void poolingCasesCudnnCannotExpressAreRefused() {
        PoolParams avgCeil = new PoolParams(PoolParams.Kind.AVG, 3, 3, 2, 2, 0, 0, true, true);
        try (CudnnOps ops = new CudnnOps(NO_DEVICE);
             Tensor x = be.zeros(Shape.of(1, 2, 8, 8)); Tensor y = be.zeros(Shape.of(1, 2, 4, 4))) {
            // 8 -> ceil((8 - 3) / 2) + 1 = 4 windows on the CPU, 3 in cuDNN.
            assertMessage(assertThrows(UnsupportedOperationException.class, () -> ops.poolForward(x, y, avgCeil)),
                    "ceil_mode", "average pooling");
            assertMessage(assertThrows(UnsupportedOperationException.class, () -> ops.poolBackward(x, y, y, x, avgCeil)),
                    "ceil_mode");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> ops.poolForward(x, x, PoolParams.max(2, 2, 0))),
                    "poolForward", "[1, 2, 4, 4]");
        }
    }

    @Test
    void batchNormChecks() {
        try (CudnnOps ops = new CudnnOps(NO_DEVICE);
             Tensor x = be.zeros(Shape.of(1, 3)); Tensor c3 = be.zeros(Shape.of(3)); Tensor c4 = be.zeros(Shape.of(4));
             Tensor x2 = be.zeros(Shape.of(4, 3, 2, 2))) {
            assertMessage(assertThrows(IllegalArgumentException.class,
                            () -> ops.batchNormForwardTraining(x, c3, c3, c3, c3, 0.1f, 1e-5f, x, c3, c3)),
                    "more than 1 value per channel");
            assertMessage(assertThrows(IllegalArgumentException.class,
                            () -> ops.batchNormForwardTraining(x2, c4, c3, c3, c3, 0.1f, 1e-5f, x2, c3, c3)),
                    "gamma (weight)", "[3]");
            assertMessage(assertThrows(IllegalArgumentException.class,
                            () -> ops.batchNormForwardInference(x2, c3, c3, c3, c3, 0f, x2)),
                    "eps");
            assertMessage(assertThrows(IllegalArgumentException.class,
                            () -> ops.batchNormBackward(x2, x2, c3, c3, c3, x2, c4, c3, false)),
                    "dgamma");
        }
    }

    @Test
    void useAfterCloseIsAnError() {
        CudnnOps ops = new CudnnOps(NO_DEVICE);
        ops.close();
        ops.close(); // idempotent
        try (Tensor x = be.zeros(Shape.of(2, 3, 8, 8)); Tensor w = be.zeros(Shape.of(4, 3, 3, 3)); Tensor y = be.zeros(Shape.of(2, 4, 6, 6))) {
            assertMessage(assertThrows(IllegalStateException.class, () -> ops.convForward(x, w, null, y, ConvParams.of(1, 0))),
                    "after close");
        }
    }
}
