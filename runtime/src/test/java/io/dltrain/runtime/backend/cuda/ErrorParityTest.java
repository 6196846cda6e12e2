package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.Executable;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * One wrong call per row, made on the CPU backend and on the CUDA backend (the routing test's double: a fake device and
 * a recording launcher, no cuDNN), must fail the same way on both: the same exception type and the same message, which
 * names the value or shape that is wrong. On the CUDA backend nothing may be launched or left allocated, and a cuDNN
 * op must fail before it reaches CudnnOps (the double has none: reaching it is a NullPointerException). A row whose
 * tensor is on the other backend compares the messages with the two device names swapped.
 */
class ErrorParityTest {
    /** A wrong call: made with this backend (the one under test) and the other (for a tensor on the wrong device). */
    interface BadCall { Executable on(Backend self, Backend other); }

    record Row(String name, BadCall call) {}

    static CachingAllocatorTest.FakeDevice dev;
    static CudaBackendRoutingTest.Recorder rec;
    static CudaBackend cuda;
    static CpuBackend cpu;

    @BeforeAll
    static void open() {
        dev = new CachingAllocatorTest.FakeDevice(1L << 30);
        rec = new CudaBackendRoutingTest.Recorder();
        cuda = CudaBackend.forTesting(rec, dev, 108);
        cpu = new CpuBackend(1);
    }

    @AfterAll
    static void close() {
        cuda.close();
        cpu.close();
    }

    /** The tensors a row made, closed after it: on the CUDA backend, what is then still in use leaked. */
    static final List<Tensor> made = new ArrayList<>();

    private static Tensor t(Backend b, int... dims) { return keep(b.empty(Shape.of(dims))); }

    private static Tensor ti(Backend b, int... dims) { return keep(b.empty(Shape.of(dims), DType.INT32)); }

    private static Tensor keep(Tensor t) {
        made.add(t);
        return t;
    }

    private static void closeMade() {
        made.forEach(Tensor::close);
        made.clear();
    }

    private static Row row(String name, BadCall call) { return new Row(name, call); }

    static final ConvParams S1 = ConvParams.of(1, 0);
    static final OptimizerHyper ADAM = new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0f, 0f);

    static List<Row> rows() {
        return List.of(
                // ---- copies
                row("copyBlocks past the end", (b, o) -> () -> b.copyBlocks(t(b, 4), 0, 3, t(b, 8), 0, 3, 3, 2)),
                row("copyBlocks negative offset", (b, o) -> () -> b.copyBlocks(t(b, 4), -1, 2, t(b, 8), 0, 2, 2, 1)),
                row("copyBlocks INT32", (b, o) -> () -> b.copyBlocks(ti(b, 4), 0, 2, t(b, 8), 0, 2, 2, 1)),
                row("copy sizes", (b, o) -> () -> b.copy(t(b, 4), t(b, 5))),
                row("copy INT32 into FP32", (b, o) -> () -> b.copy(ti(b, 4), t(b, 4))),
                row("copy to the other device", (b, o) -> () -> b.copy(t(b, 4), t(o, 4))),
                row("copy from the other device", (b, o) -> () -> b.copy(t(o, 4), t(b, 4))),
                row("copyFromHost past the source's end", (b, o) -> () -> b.copyFromHost(new float[5], 2, t(b, 4))),
                row("copyFromHost INT32 into FP32", (b, o) -> () -> b.copyFromHost(new int[4], 0, t(b, 4))),
                row("toHost short destination", (b, o) -> () -> b.toHost(t(b, 4), new float[3])),
                row("toHost of the other device's tensor", (b, o) -> () -> b.toHost(t(o, 4), new float[4])),
                row("fill on the other device", (b, o) -> () -> b.fill(t(o, 3), 1f)),
                row("item of an empty tensor", (b, o) -> () -> b.item(t(b, 0))),
                row("item of INT32", (b, o) -> () -> b.item(ti(b, 1))),
                // ---- GEMM
                row("gemm INT32 A", (b, o) -> () -> b.gemm(false, false, 2, 2, 2, 1f, ti(b, 2, 2), 0, 2, t(b, 2, 2), 0, 2, 0f, t(b, 2, 2), 0, 2)),
                row("gemm C on the other device", (b, o) -> () -> b.gemm(false, false, 2, 2, 2, 1f, t(b, 2, 2), 0, 2, t(b, 2, 2), 0, 2, 0f, t(o, 2, 2), 0, 2)),
                row("gemmBias bias size", (b, o) -> () -> b.gemmBias(false, false, 2, 3, 4, t(b, 2, 4), t(b, 4, 3), t(b, 2), t(b, 2, 3))),
                row("gemmBias A too small", (b, o) -> () -> b.gemmBias(false, true, 2, 3, 4, t(b, 2, 3), t(b, 3, 4), t(b, 3), t(b, 2, 3))),
                row("gemmBiasRelu INT32 bias", (b, o) -> () -> b.gemmBiasRelu(false, false, 2, 3, 4, t(b, 2, 4), t(b, 4, 3), ti(b, 3), t(b, 2, 3))),
                row("gemmBiasRelu C on the other device", (b, o) -> () -> b.gemmBiasRelu(false, false, 2, 3, 4, t(b, 2, 4), t(b, 4, 3), t(b, 3), t(o, 2, 3))),
                // ---- element-wise and reductions
                row("add INT32", (b, o) -> () -> b.add(t(b, 4), ti(b, 4), t(b, 4))),
                row("add on the other device", (b, o) -> () -> b.add(t(b, 4), t(o, 4), t(b, 4))),
                row("mul sizes", (b, o) -> () -> b.mul(t(b, 4), t(b, 4), t(b, 5))),
                row("scale sizes", (b, o) -> () -> b.scale(t(b, 4), 2f, t(b, 5))),
                row("scale on the other device", (b, o) -> () -> b.scale(t(o, 4), 2f, t(b, 4))),
                row("axpy sizes", (b, o) -> () -> b.axpy(1f, t(b, 4), t(b, 5))),
                row("pow sizes", (b, o) -> () -> b.pow(t(b, 4), 2f, t(b, 5))),
                row("pow INT32", (b, o) -> () -> b.pow(ti(b, 4), 0.5f, t(b, 4))),
                row("powBackward dy on the other device", (b, o) -> () -> b.powBackward(t(b, 4), 3f, t(o, 4), t(b, 4))),
                row("powBackward dx sizes", (b, o) -> () -> b.powBackward(t(b, 4), 3f, t(b, 4), t(b, 3))),
                row("addBias rank 1", (b, o) -> () -> b.addBias(t(b, 6), t(b, 6))),
                row("biasGrad rank 1", (b, o) -> () -> b.biasGrad(t(b, 6), t(b, 6), false)),
                row("sum into nothing", (b, o) -> () -> b.sum(t(b, 4), 1f, t(b, 0))),
                row("sumSquares into nothing", (b, o) -> () -> b.sumSquares(t(b, 4), t(b, 0), false)),
                row("clipByNorm empty norm", (b, o) -> () -> b.clipByNorm(t(b, 4), t(b, 0), 1f)),
                row("checkFinite empty flag", (b, o) -> () -> b.checkFinite(t(b, 4), t(b, 0))),
                row("checkFinite INT32", (b, o) -> () -> b.checkFinite(ti(b, 4), t(b, 1))),
                // ---- LSTM cell
                row("lstmCellForward gates", (b, o) -> () -> b.lstmCellForward(t(b, 2, 6), t(b, 2, 2), t(b, 2, 2), t(b, 2, 2))),
                row("lstmCellBackwardC dcPrev size", (b, o) -> () -> b.lstmCellBackwardC(t(b, 2, 8), t(b, 2, 2), t(b, 2, 2), t(b, 2, 8), t(b, 2, 3))),
                row("lstmCellBackwardH dgates", (b, o) -> () -> b.lstmCellBackwardH(t(b, 2, 8), t(b, 2, 2), t(b, 2, 2), t(b, 2, 7), t(b, 2, 2))),
                // ---- activations (ReLU on cuDNN, GELU on our kernel) and softmax
                row("relu INT32", (b, o) -> () -> b.activationForward(Activation.RELU, ti(b, 4), t(b, 4))),
                row("gelu INT32", (b, o) -> () -> b.activationForward(Activation.GELU, ti(b, 4), t(b, 4))),
                row("relu on the other device", (b, o) -> () -> b.activationForward(Activation.RELU, t(b, 4), t(o, 4))),
                row("tanh backward sizes", (b, o) -> () -> b.activationBackward(Activation.TANH, t(b, 4), t(b, 4), t(b, 4), t(b, 3))),
                row("softplus beta 0", (b, o) -> () -> b.activationBackward(Activation.softplus(0f), t(b, 4), t(b, 4), t(b, 4), t(b, 4))),
                row("softmax sizes", (b, o) -> () -> b.softmaxForward(t(b, 2, 3), t(b, 2, 4), false)),
                row("logSoftmax INT32", (b, o) -> () -> b.softmaxForward(t(b, 2, 3), ti(b, 2, 3), true)),
                row("softmax backward sizes", (b, o) -> () -> b.softmaxBackward(t(b, 2, 3), t(b, 2, 3), t(b, 3, 3), false)),
                // ---- convolution
                row("conv kernel larger than the padded input", (b, o) -> () -> b.convForward(t(b, 1, 2, 3, 3), t(b, 4, 2, 5, 5), null, t(b, 1, 4, 1, 1), ConvParams.of(1, 0))),
                row("conv groups do not divide the channels", (b, o) -> () -> b.convForward(t(b, 1, 3, 5, 5), t(b, 4, 1, 3, 3), null, t(b, 1, 4, 3, 3), new ConvParams(1, 1, 0, 0, 1, 1, 2))),
                row("conv output shape", (b, o) -> () -> b.convForward(t(b, 1, 2, 5, 5), t(b, 4, 2, 3, 3), null, t(b, 1, 4, 5, 5), S1)),
                row("conv x rank 3", (b, o) -> () -> b.convForward(t(b, 2, 5, 5), t(b, 4, 2, 3, 3), null, t(b, 1, 4, 3, 3), S1)),
                row("conv bias size", (b, o) -> () -> b.convForward(t(b, 1, 2, 5, 5), t(b, 4, 2, 3, 3), t(b, 3), t(b, 1, 4, 3, 3), S1)),
                row("conv INT32 x", (b, o) -> () -> b.convForward(ti(b, 1, 2, 5, 5), t(b, 4, 2, 3, 3), null, t(b, 1, 4, 3, 3), S1)),
                row("conv INT32 bias", (b, o) -> () -> b.convForward(t(b, 1, 2, 5, 5), t(b, 4, 2, 3, 3), ti(b, 4), t(b, 1, 4, 3, 3), S1)),
                row("conv weight on the other device", (b, o) -> () -> b.convForward(t(b, 1, 2, 5, 5), t(o, 4, 2, 3, 3), null, t(b, 1, 4, 3, 3), S1)),
                row("conv backward-data dx shape", (b, o) -> () -> b.convBackwardData(t(b, 1, 4, 3, 3), t(b, 4, 2, 3, 3), t(b, 1, 2, 6, 6), S1)),
                row("transposed conv (backward-data) groups", (b, o) -> () -> b.convBackwardData(t(b, 1, 4, 3, 3), t(b, 4, 2, 3, 3), t(b, 1, 3, 5, 5), S1)),
                row("conv backward-data INT32 dy", (b, o) -> () -> b.convBackwardData(ti(b, 1, 4, 3, 3), t(b, 4, 2, 3, 3), t(b, 1, 2, 5, 5), S1)),
                row("conv backward-filter dw shape", (b, o) -> () -> b.convBackwardFilter(t(b, 1, 2, 5, 5), t(b, 1, 4, 3, 3), t(b, 4, 2, 2, 2), S1, false)),
                row("conv backward-filter dw on the other device", (b, o) -> () -> b.convBackwardFilter(t(b, 1, 2, 5, 5), t(b, 1, 4, 3, 3), t(o, 4, 2, 3, 3), S1, true)),
                // ---- pooling (max and average on cuDNN, ceil-mode average on our kernel)
                row("max pool x rank 3", (b, o) -> () -> b.poolForward(t(b, 2, 4, 4), t(b, 2, 2, 2), PoolParams.max(2, 2, 0))),
                row("max pool output shape", (b, o) -> () -> b.poolForward(t(b, 1, 2, 4, 4), t(b, 1, 2, 3, 3), PoolParams.max(2, 2, 0))),
                row("max pool kernel larger than the input", (b, o) -> () -> b.poolForward(t(b, 1, 2, 2, 2), t(b, 1, 2, 0, 0), PoolParams.max(3, 1, 0))),
                row("avg pool INT32", (b, o) -> () -> b.poolForward(ti(b, 1, 2, 4, 4), t(b, 1, 2, 2, 2), PoolParams.avg(2, 2, 0))),
                row("ceil-mode avg pool output shape", (b, o) -> () -> b.poolForward(t(b, 1, 1, 5, 5), t(b, 1, 1, 2, 2),
                        new PoolParams(PoolParams.Kind.AVG, 2, 2, 2, 2, 0, 0, true, true))),
                row("max pool backward dx", (b, o) -> () -> b.poolBackward(t(b, 1, 2, 4, 4), t(b, 1, 2, 2, 2), t(b, 1, 2, 2, 2), t(b, 1, 2, 4, 3), PoolParams.max(2, 2, 0))),
                row("avg pool backward y", (b, o) -> () -> b.poolBackward(t(b, 1, 2, 4, 4), t(b, 1, 2, 2, 3), t(b, 1, 2, 2, 2), t(b, 1, 2, 4, 4), PoolParams.avg(2, 2, 0))),
                row("max pool backward INT32 dy", (b, o) -> () -> b.poolBackward(t(b, 1, 2, 4, 4), t(b, 1, 2, 2, 2), ti(b, 1, 2, 2, 2), t(b, 1, 2, 4, 4), PoolParams.max(2, 2, 0))),
                row("adaptive pool channels", (b, o) -> () -> b.adaptiveAvgPoolForward(t(b, 1, 2, 4, 4), t(b, 1, 3, 1, 1))),
                row("adaptive pool backward rank", (b, o) -> () -> b.adaptiveAvgPoolBackward(t(b, 1, 2, 1), t(b, 1, 2, 4, 4))),
                row("adaptive pool INT32", (b, o) -> () -> b.adaptiveAvgPoolForward(ti(b, 1, 2, 4, 4), t(b, 1, 2, 1, 1))),
                // ---- batch norm (rank 4 on cuDNN, [N, C] on norm.cu)
                row("batch norm weight size", (b, o) -> () -> bnTrain(b, t(b, 2, 3, 4, 4), t(b, 4), 1e-5f)),
                row("batch norm [N, C] weight size", (b, o) -> () -> bnTrain(b, t(b, 2, 3), t(b, 4), 1e-5f)),
                row("batch norm x rank 1", (b, o) -> () -> bnTrain(b, t(b, 3), t(b, 3), 1e-5f)),
                row("batch norm one value per channel", (b, o) -> () -> bnTrain(b, t(b, 1, 3, 1, 1), t(b, 3), 1e-5f)),
                row("batch norm eps 0", (b, o) -> () -> bnTrain(b, t(b, 2, 3, 4, 4), t(b, 3), 0f)),
                row("batch norm [N, C] eps negative", (b, o) -> () -> bnTrain(b, t(b, 2, 3), t(b, 3), -1f)),
                row("batch norm INT32 x", (b, o) -> () -> bnTrain(b, ti(b, 2, 3, 4, 4), t(b, 3), 1e-5f)),
                row("batch norm weight on the other device", (b, o) -> () -> bnTrain(b, t(b, 2, 3, 4, 4), t(o, 3), 1e-5f)),
                row("batch norm missing running_var", (b, o) -> () -> b.batchNormForwardTraining(t(b, 2, 3, 4, 4), t(b, 3), t(b, 3), t(b, 3), null,
                        0.1f, 1e-5f, t(b, 2, 3, 4, 4), t(b, 3), t(b, 3))),
                row("batch norm inference bias size", (b, o) -> () -> b.batchNormForwardInference(t(b, 2, 3, 4, 4), t(b, 3), t(b, 2), t(b, 3), t(b, 3), 1e-5f, t(b, 2, 3, 4, 4))),
                row("batch norm inference eps NaN", (b, o) -> () -> b.batchNormForwardInference(t(b, 2, 3, 4, 4), t(b, 3), t(b, 3), t(b, 3), t(b, 3), Float.NaN, t(b, 2, 3, 4, 4))),
                row("batch norm inference y size", (b, o) -> () -> b.batchNormForwardInference(t(b, 2, 3, 4, 4), t(b, 3), t(b, 3), t(b, 3), t(b, 3), 1e-5f, t(b, 2, 3, 4, 5))),
                row("batch norm backward dgamma size", (b, o) -> () -> b.batchNormBackward(t(b, 2, 3, 4, 4), t(b, 2, 3, 4, 4), t(b, 3), t(b, 3), t(b, 3),
                        t(b, 2, 3, 4, 4), t(b, 2), t(b, 3), false)),
                row("batch norm [N, C] backward dx size", (b, o) -> () -> b.batchNormBackward(t(b, 2, 3), t(b, 2, 3), t(b, 3), t(b, 3), t(b, 3),
                        t(b, 2, 4), t(b, 3), t(b, 3), true)),
                // ---- dropout
                row("dropout mask size", (b, o) -> () -> b.dropoutForward(t(b, 4), t(b, 4), t(b, 3), 0.5f, 1)),
                row("dropout INT32 mask", (b, o) -> () -> b.dropoutForward(t(b, 4), t(b, 4), ti(b, 4), 0.5f, 1)),
                row("dropout p NaN", (b, o) -> () -> b.dropoutForward(t(b, 4), t(b, 4), t(b, 4), Float.NaN, 1)),
                // ---- losses and metrics
                row("cross-entropy loss with no element", (b, o) -> () -> b.crossEntropyForward(t(b, 2, 3), ti(b, 2), 0f, t(b, 2, 3), t(b, 0))),
                row("cross-entropy probs size", (b, o) -> () -> b.crossEntropyForward(t(b, 2, 3), ti(b, 2), 0f, t(b, 2, 4), t(b, 1))),
                row("cross-entropy backward dloss with no element", (b, o) -> () -> b.crossEntropyBackward(t(b, 2, 3), ti(b, 2), 0f, t(b, 0), t(b, 2, 3))),
                row("cross-entropy backward dlogits size", (b, o) -> () -> b.crossEntropyBackward(t(b, 2, 3), ti(b, 2), 0.1f, t(b, 1), t(b, 2, 2))),
                row("cross-entropy backward smoothing", (b, o) -> () -> b.crossEntropyBackward(t(b, 2, 3), ti(b, 2), -0.1f, t(b, 1), t(b, 2, 3))),
                row("cross-entropy FP32 labels", (b, o) -> () -> b.crossEntropyForward(t(b, 2, 3), t(b, 2), 0f, t(b, 2, 3), t(b, 1))),
                row("cross-entropy labels on the other device", (b, o) -> () -> b.crossEntropyForward(t(b, 2, 3), ti(o, 2), 0f, t(b, 2, 3), t(b, 1))),
                row("MSE loss with no element", (b, o) -> () -> b.lossForward(LossKind.MSE, t(b, 3), t(b, 3), t(b, 0))),
                row("L1 loss backward dpred size", (b, o) -> () -> b.lossBackward(LossKind.L1, t(b, 3), t(b, 3), t(b, 1), t(b, 4))),
                row("BCE loss backward dloss with no element", (b, o) -> () -> b.lossBackward(LossKind.BCE_WITH_LOGITS, t(b, 3), t(b, 3), t(b, 0), t(b, 3))),
                row("countTopK count with no element", (b, o) -> () -> b.countTopK(t(b, 2, 3), ti(b, 2), 1, t(b, 0))),
                row("countTopK labels size", (b, o) -> () -> b.countTopK(t(b, 2, 3), ti(b, 3), 1, t(b, 1))),
                row("countTopK count on the other device", (b, o) -> () -> b.countTopK(t(b, 2, 3), ti(b, 2), 1, t(o, 1))),
                row("oneHot FP32 labels", (b, o) -> () -> b.oneHot(t(b, 2), t(b, 2, 3))),
                row("oneHot INT32 out", (b, o) -> () -> b.oneHot(ti(b, 2), ti(b, 2, 3))),
                row("oneHot labels [N, 1]", (b, o) -> () -> b.oneHot(ti(b, 2, 1), t(b, 2, 3))),
                row("oneHot out with no class", (b, o) -> () -> b.oneHot(ti(b, 2), t(b, 2, 0))),
                row("oneHot labels size", (b, o) -> () -> b.oneHot(ti(b, 3), t(b, 2, 3))),
                row("oneHot labels on the other device", (b, o) -> () -> b.oneHot(ti(o, 2), t(b, 2, 3))),
                // ---- optimisers
                row("Adam without exp_avg_sq", (b, o) -> () -> b.optimizerStep(ADAM, t(b, 4), t(b, 4), new Tensor[] {t(b, 4)}, 0.1f, 1)),
                row("Adam INT32 state", (b, o) -> () -> b.optimizerStep(ADAM, t(b, 4), t(b, 4), new Tensor[] {t(b, 4), ti(b, 4)}, 0.1f, 1)),
                row("SGD grad size", (b, o) -> () -> b.optimizerStep(new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f), t(b, 4), t(b, 5), new Tensor[0], 0.1f, 1)),
                row("SGD grad on the other device", (b, o) -> () -> b.optimizerStep(new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f), t(b, 4), t(o, 4), new Tensor[0], 0.1f, 1)),
                row("Adagrad step 0", (b, o) -> () -> b.optimizerStep(new OptimizerHyper.Adagrad(0f, 1e-10f, 0f, 0f, 0f), t(b, 4), t(b, 4), new Tensor[] {t(b, 4)}, 0.1f, 0)),
                row("optimizerStepAll lists", (b, o) -> () -> b.optimizerStepAll(ADAM, List.of(t(b, 4)), List.of(), List.of(), 0.1f, 1)),
                row("optimizerStepAll one parameter twice", (b, o) -> {
                    Tensor p = t(b, 4);
                    return () -> b.optimizerStepAll(ADAM, List.of(p, p), List.of(t(b, 4), t(b, 4)),
                            List.of(new Tensor[] {t(b, 4), t(b, 4)}, new Tensor[] {t(b, 4), t(b, 4)}), 0.1f, 1);
                }),
                row("optimizerStepAll second state missing", (b, o) -> () -> b.optimizerStepAll(ADAM, List.of(t(b, 4), t(b, 2)), List.of(t(b, 4), t(b, 2)),
                        List.of(new Tensor[] {t(b, 4), t(b, 4)}, new Tensor[] {t(b, 2)}), 0.1f, 1)));
    }

    /** Batch-norm training of x with this gamma; the other per-channel tensors have x's channels. */
    private static void bnTrain(Backend b, Tensor x, Tensor gamma, float eps) {
        int c = x.rank() > 1 ? x.dim(1) : gamma.dim(0);
        b.batchNormForwardTraining(x, gamma, t(b, c), t(b, c), t(b, c), 0.1f, eps, t(b, x.shape().dims()), t(b, c), t(b, c));
    }

    /**
     * The rows above show that the CUDA backend queues nothing for a refused group; on the CPU, which updates in place
     * parameter by parameter, the first parameter must not have moved either when the second one's state is missing.
     */
    @Test
    void aRefusedGroupUpdatesNoParameterOnTheCpu() {
        Tensor p0 = cpu.fromHost(new float[] {1, 2, 3, 4}, Shape.of(4)), g0 = cpu.fromHost(new float[] {1, 1, 1, 1}, Shape.of(4));
        Tensor[] s0 = {cpu.zeros(Shape.of(4)), cpu.zeros(Shape.of(4))};
        assertThrows(IllegalArgumentException.class, () -> cpu.optimizerStepAll(ADAM, List.of(p0, cpu.zeros(Shape.of(2))),
                List.of(g0, cpu.zeros(Shape.of(2))), List.of(s0, new Tensor[] {cpu.zeros(Shape.of(2))}), 0.1f, 1));
        assertArrayEquals(new float[] {1, 2, 3, 4}, p0.toFloatArray(), "a refused optimizerStepAll updated params[0]");
    }

    /** The message with this backend's device name as "HERE" and the other's as "THERE". */
    private static String neutral(String msg, Backend self, Backend other) {
        return msg.replace(self.name(), "HERE").replace(other.name(), "THERE");
    }

    @TestFactory
    Stream<DynamicTest> aWrongCallFailsAlikeOnBothBackends() {
        return rows().stream().map(r -> DynamicTest.dynamicTest(r.name(), () -> {
            Throwable c = assertThrows(Throwable.class, r.call().on(cpu, cuda), "the CPU backend accepted it");
            closeMade();
            rec.calls.clear();
            long inUse = cuda.memoryStats().inUseBytes();
            Throwable g = assertThrows(Throwable.class, r.call().on(cuda, cpu), "the CUDA backend accepted it");
            closeMade();
            assertEquals(c.getClass(), g.getClass(), "CPU: " + c + "\nCUDA: " + g);
            assertEquals(neutral(c.getMessage(), cpu, cuda), neutral(g.getMessage(), cuda, cpu));
            assertTrue(rec.calls.isEmpty(), "launched after a failed check: " + rec.calls.stream().map(CudaBackendRoutingTest.Call::kernel).toList());
            assertEquals(inUse, cuda.memoryStats().inUseBytes(), "device memory left allocated by a failed call");
        }));
    }
}
