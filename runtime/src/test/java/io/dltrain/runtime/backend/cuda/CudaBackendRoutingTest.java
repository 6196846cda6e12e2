package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The CUDA backend's routing on the CPU: a backend over a fake device and a recording launcher (no CUDA call), so each
 * kernel-backed op is checked for the kernel it launches, its argument list (validated against KernelSignatures, with
 * the right addresses, sizes and scalars) and its scratch buffers; argument errors are compared with the CPU
 * backend's messages for the same bad call.
 */
class CudaBackendRoutingTest {
    record Call(String kernel, long n, int grid, int block, Object[] args) {
        Object arg(int i) { return args[i]; }
    }

    static final class Recorder implements KernelLauncher {
        final List<Call> calls = new ArrayList<>();

        @Override public void launch(String kernel, long n, Object... args) {
            KernelSignatures.validate(kernel, args);
            calls.add(new Call(kernel, n, -1, -1, args));
        }

        @Override public void launch(String kernel, int gridX, int blockX, int sharedBytes, Object... args) {
            KernelSignatures.validate(kernel, args);
            calls.add(new Call(kernel, -1, gridX, blockX, args));
        }

        Call only() {
            assertEquals(1, calls.size(), "launches: " + calls.stream().map(Call::kernel).toList());
            return calls.remove(0);
        }
    }

    private CachingAllocatorTest.FakeDevice dev;
    private Recorder rec;
    private CudaBackend be;
    private CpuBackend cpu;

    @BeforeEach
    void setUp() {
        dev = new CachingAllocatorTest.FakeDevice(1L << 30);
        rec = new Recorder();
        be = CudaBackend.forTesting(rec, dev, 108);
        cpu = new CpuBackend(1);
    }

    @AfterEach
    void tearDown() {
        be.close();
        cpu.close();
        assertEquals(0, dev.used, "close() returns every block to the device");
    }

    private static long addr(Tensor t) { return CudaStorage.address(t); }

    private Tensor t(int... dims) {
        Tensor x = be.empty(Shape.of(dims));
        rec.calls.clear();
        return x;
    }

    private Tensor ti(int... dims) { return be.empty(Shape.of(dims), DType.INT32); }

    /** The same bad call on both backends fails with the same message. */
    private void sameError(Consumer<Backend> call) {
        String cpuMsg = assertThrows(IllegalArgumentException.class, asExec(cpu, call)).getMessage();
        String cudaMsg = assertThrows(IllegalArgumentException.class, asExec(be, call)).getMessage();
        assertEquals(cpuMsg, cudaMsg);
        assertTrue(rec.calls.isEmpty(), "nothing may be launched after a failed check");
    }

    private static Executable asExec(Backend b, Consumer<Backend> call) { return () -> call.accept(b); }

    @Test
    void zerosAndFillUseTheFillKernels() {
        Tensor z = be.zeros(Shape.of(2, 3));
        Call c = rec.only();
        assertEquals("fill_f32", c.kernel());
        assertArrayEquals(new Object[] {addr(z), 0f, 6L}, c.args());
        assertEquals(6, c.n());
        Tensor zi = be.zeros(Shape.of(5), DType.INT32);
        assertArrayEquals(new Object[] {addr(zi), 0, 5L}, rec.only().args());
        be.fill(z, 2.5f);
        assertEquals(2.5f, rec.only().arg(1));
        assertEquals(1024, be.memoryStats().inUseBytes(), "two 512-byte blocks");
    }

    @Test
    void elementwiseArgumentsAndViews() {
        Tensor a = t(4, 8), b = t(4, 8), y = t(4, 8);
        be.add(a, b, y);
        assertArrayEquals(new Object[] {addr(a), addr(b), addr(y), 32L}, rec.only().args());
        Tensor row = a.view(8, Shape.of(8)), row2 = b.view(16, Shape.of(8));
        assertEquals(addr(a) + 32, addr(row), "a view's address includes its offset in bytes");
        be.axpy(0.5f, row, row2);
        assertArrayEquals(new Object[] {0.5f, addr(a) + 32, addr(b) + 64, 8L}, rec.only().args());
        be.scale(a, -2f, a);
        assertArrayEquals(new Object[] {addr(a), -2f, addr(a), 32L}, rec.only().args());
        be.mul(a, b, y);
        assertEquals("mul_f32", rec.only().kernel());
        be.pow(row, 2.5f, row2);
        Call pw = rec.only();
        assertEquals("pow_f32", pw.kernel());
        assertArrayEquals(new Object[] {addr(a) + 32, 2.5f, addr(b) + 64, 8L}, pw.args());
        be.powBackward(a, -0.5f, b, y);
        Call pb = rec.only();
        assertEquals("pow_backward_f32", pb.kernel());
        assertArrayEquals(new Object[] {addr(a), -0.5f, addr(b), addr(y), 32L}, pb.args());
        sameError(x -> x.add(x.empty(Shape.of(4, 8)), x.empty(Shape.of(4, 7)), x.empty(Shape.of(4, 8))));
    }

    /**
     * sum and mean over more than 2^31-1 elements (50,000 x 50,000 = 2.5e9 floats, 10 GB, which a GPU holds; here on a fake
     * device, nothing allocated): the backward viewed dx as [numel, 1] with Math.toIntExact and threw "integer overflow",
     * and addBias narrowed its inner size to an int the same way. Now dx is viewed as [1, 1, ...x's dimensions] and
     * add_bias_f32 gets the element count as a long. sliceLast, whose copyBlocks counts rows with an int, says so.
     */
    @Test
    void sumAndMeanBackwardOverMoreThan2To31Elements() {
        CachingAllocatorTest.FakeDevice big = new CachingAllocatorTest.FakeDevice(1L << 36);
        Recorder r = new Recorder();
        try (CudaBackend b = CudaBackend.forTesting(r, big, 108)) {
            for (boolean mean : new boolean[] {false, true}) {
                try (io.dltrain.runtime.tensor.Scope s = io.dltrain.runtime.tensor.Scope.open()) {
                    Tensor x = b.empty(Shape.of(50_000, 50_000)).requiresGrad(true);
                    long n = 2_500_000_000L;
                    assertEquals(n, x.numel());
                    Tensor loss = mean ? io.dltrain.runtime.ops.Basic.mean(x) : io.dltrain.runtime.ops.Basic.sum(x);
                    r.calls.clear();
                    // The op's own backward (loss.backward() would then copy dx into x.grad() with cudaMemcpy, a real CUDA call).
                    Tensor dy = b.empty(Shape.SCALAR);
                    Tensor dx = loss.gradFn().fn().apply(dy, new boolean[] {true})[0];
                    Call add = r.calls.stream().filter(c -> c.kernel().equals("add_bias_f32")).findFirst().orElseThrow(
                            () -> new AssertionError("no add_bias_f32 launch: " + r.calls.stream().map(Call::kernel).toList()));
                    assertEquals(n, add.n(), "launched over every element");
                    assertArrayEquals(new Object[] {n, 1, n}, java.util.Arrays.copyOfRange(add.args(), 2, 5),
                            "dx [1, 1, 50000, 50000] += dy: n, one channel, 2.5e9 elements in it");
                    assertEquals(x.shape(), dx.shape(), "x's gradient");
                    assertEquals(addr(dx), add.arg(0), "added into dx");
                    assertEquals(addr(dy), add.arg(1), "dy is the one channel's bias");
                    if (mean) assertTrue(r.calls.stream().anyMatch(c -> c.kernel().equals("scale_f32") && c.n() == n), "mean scales dx by 1/n");
                }
            }
            // An op whose backend call counts with an int refuses such a tensor by its shape (it threw "integer overflow").
            try (Tensor x = b.empty(Shape.of(50_000, 50_000, 2))) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> io.dltrain.runtime.ops.Sequence.sliceLast(x, 0, 1));
                assertEquals("sliceLast: [50000, 50000, 2] has 2500000000 rows of its last dimension, more than the 2^31-1 one strided copy"
                        + " takes; slice a smaller batch", e.getMessage());
            }
        }
    }

    @Test
    void biasOps() {
        Tensor y = t(2, 3, 4, 5), bias = t(3);
        be.addBias(y, bias);
        Call c = rec.only();
        assertEquals("add_bias_f32", c.kernel());
        assertArrayEquals(new Object[] {addr(y), addr(bias), 120L, 3, 20L}, c.args());
        be.biasGrad(y, bias, true);
        c = rec.only();
        assertEquals("bias_grad_f32", c.kernel());
        assertEquals(3, c.grid(), "one block per channel");
        assertEquals(256, c.block());
        assertArrayEquals(new Object[] {addr(y), addr(bias), 2, 3, 20L, 1}, c.args());
        sameError(x -> x.addBias(x.empty(Shape.of(2, 3, 4, 5)), x.empty(Shape.of(4))));
        sameError(x -> x.biasGrad(x.empty(Shape.of(2, 3)), x.empty(Shape.of(2)), false));
    }

    /**
     * gemmBias in the test double: cuBLASLt is never created or called (the path reports why), every argument check
     * runs before anything is queued, and an empty product queues nothing. (The sgemm + add_bias_f32 fallback itself
     * needs cuBLAS, which the test double does not have: CudaVsCpuTest runs it on a GPU.)
     */
    @Test
    void gemmBiasInTheTestDoubleNeverTouchesCublasLt() {
        assertNull(be.cublasLt(), "the test double makes no CUDA call, so it has no cuBLASLt handle");
        assertTrue(be.gemmBiasPath().startsWith("cuBLAS sgemm + add_bias_f32 (test double"), be.gemmBiasPath());
        assertEquals(be.gemmBiasPath(), be.describe().get("gemm_bias"));

        Tensor a = t(4, 6), w = t(5, 6), bias = t(5), c = t(4, 5);
        String msg = assertThrows(IllegalArgumentException.class, () -> be.gemmBias(false, true, 4, 5, 6, a, w, t(4), c)).getMessage();
        assertTrue(msg.startsWith("gemmBias: bias [4]") && msg.contains("5 columns"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> be.gemmBias(false, true, 4, 5, 6, a, w, bias, t(5, 4))).getMessage();
        assertTrue(msg.startsWith("gemmBias: C must be [4, 5]"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> be.gemmBias(false, true, 4, 5, 7, a, w, bias, c)).getMessage();
        assertTrue(msg.contains("smaller than op(A) 4 x 7"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> be.gemmBias(false, true, 4, 5, 6, a, w, ti(5), c)).getMessage();
        assertTrue(msg.contains("expected an FP32 tensor"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> be.gemmBias(false, true, 4, 5, 6, cpu.empty(Shape.of(4, 6)), w, bias, c)).getMessage();
        assertTrue(msg.contains("expected a tensor on cuda:0"), msg);
        assertTrue(rec.calls.isEmpty(), "nothing may be queued after a failed check");

        // An empty batch: nothing to compute, nothing queued (and no cuBLAS call, which the double could not make).
        be.gemmBias(false, true, 0, 5, 6, t(0, 6), w, bias, t(0, 5));
        assertTrue(rec.calls.isEmpty(), "launches: " + rec.calls.stream().map(Call::kernel).toList());
    }

    @Test
    void reductionsAreOneBlockOf1024() {
        Tensor x = t(1000), out = t(1);
        be.sum(x, 0.5f, out);
        Call c = rec.only();
        assertEquals(1, c.grid());
        assertEquals(1024, c.block());
        assertArrayEquals(new Object[] {addr(x), 1000L, 0.5f, addr(out)}, c.args());
        be.sumSquares(x, out, true);
        assertArrayEquals(new Object[] {addr(x), 1000L, addr(out), 1}, rec.only().args());
        be.clipByNorm(x, out, 1f);
        assertArrayEquals(new Object[] {addr(x), 1000L, addr(out), 1f}, rec.only().args());
        be.checkFinite(x, out);
        assertArrayEquals(new Object[] {addr(x), 1000L, addr(out)}, rec.only().args());
    }

    @Test
    void crossEntropyUsesARowScratchThenTheMean() {
        Tensor logits = t(4, 10), probs = t(4, 10), loss = t(1);
        Tensor labels = ti(4);
        long inUse = be.memoryStats().inUseBytes();
        be.crossEntropyForward(logits, labels, 0.1f, probs, loss);
        assertEquals(2, rec.calls.size());
        Call row = rec.calls.get(0), mean = rec.calls.get(1);
        assertEquals("cross_entropy_forward_f32", row.kernel());
        assertEquals(4, row.grid(), "one block per row");
        long scratch = (Long) row.arg(6);
        assertArrayEquals(new Object[] {addr(logits), addr(labels), 4, 10, 0.1f, addr(probs), scratch}, row.args());
        assertEquals("sum_f32", mean.kernel());
        assertArrayEquals(new Object[] {scratch, 4L, 0.25f, addr(loss)}, mean.args());
        assertEquals(inUse, be.memoryStats().inUseBytes(), "the scratch goes back to the cache");
        rec.calls.clear();
        be.crossEntropyBackward(probs, labels, 0.1f, loss, logits);
        Call b = rec.only();
        assertEquals(40, b.n());
        assertArrayEquals(new Object[] {addr(probs), addr(labels), 4, 10, 0.1f, addr(loss), addr(logits)}, b.args());
        // The CPU backend's messages for bad shapes, dtypes and smoothing.
        sameError(x -> x.crossEntropyForward(x.empty(Shape.of(4, 10, 1)), x.empty(Shape.of(4), DType.INT32), 0f, x.empty(Shape.of(4, 10, 1)), x.empty(Shape.of(1))));
        sameError(x -> x.crossEntropyForward(x.empty(Shape.of(4, 10)), x.empty(Shape.of(4)), 0f, x.empty(Shape.of(4, 10)), x.empty(Shape.of(1))));
        sameError(x -> x.crossEntropyForward(x.empty(Shape.of(4, 10)), x.empty(Shape.of(5), DType.INT32), 0f, x.empty(Shape.of(4, 10)), x.empty(Shape.of(1))));
        sameError(x -> x.crossEntropyForward(x.empty(Shape.of(4, 10)), x.empty(Shape.of(4), DType.INT32), 1.5f, x.empty(Shape.of(4, 10)), x.empty(Shape.of(1))));
    }

    @Test
    void elementLossesAndTopK() {
        Tensor pred = t(6, 2), target = t(6, 2), loss = t(1), dpred = t(6, 2);
        be.lossForward(LossKind.BCE_WITH_LOGITS, pred, target, loss);
        Call e = rec.calls.get(0), m = rec.calls.get(1);
        assertEquals("loss_forward_f32", e.kernel());
        assertEquals(2, e.arg(0), "LossKind ordinal");
        long scratch = (Long) e.arg(3);
        assertEquals(List.of(scratch, 12L, 1f / 12, addr(loss)), Arrays.asList(m.args()));
        rec.calls.clear();
        be.lossBackward(LossKind.L1, pred, target, loss, dpred);
        assertArrayEquals(new Object[] {1, addr(pred), addr(target), addr(loss), addr(dpred), 12L}, rec.only().args());
        sameError(x -> x.lossForward(LossKind.MSE, x.empty(Shape.of(3)), x.empty(Shape.of(4)), x.empty(Shape.of(1))));
        sameError(x -> x.lossForward(LossKind.MSE, x.empty(Shape.of(3)), x.empty(Shape.of(3), DType.INT32), x.empty(Shape.of(1))));

        Tensor logits = t(6, 5), labels = ti(6), count = t(1);
        be.countTopK(logits, labels, 3, count);
        Call k = rec.only();
        assertEquals(6, k.n(), "element-wise over rows");
        assertArrayEquals(new Object[] {addr(logits), addr(labels), 6, 5, 3, addr(count)}, k.args());
        sameError(x -> x.countTopK(x.empty(Shape.of(6, 5)), x.empty(Shape.of(6), DType.INT32), 0, x.empty(Shape.of(1))));

        rec.calls.clear();
        Tensor oneHot = t(6, 5);
        be.oneHot(labels, oneHot);
        Call h = rec.only();
        assertEquals("one_hot_f32", h.kernel());
        assertEquals(30, h.n(), "element-wise over rows x classes");
        assertArrayEquals(new Object[] {addr(labels), 6, 5, addr(oneHot)}, h.args());
        sameError(x -> x.oneHot(x.empty(Shape.of(7), DType.INT32), x.empty(Shape.of(6, 5))));
    }

    @Test
    void activationsDropoutAndAdaptivePool() {
        Tensor x = t(3, 7), y = t(3, 7), dy = t(3, 7), dx = t(3, 7);
        // kinds cuDNN has (ReLU, Sigmoid, Tanh, ELU) go to CudnnOps (backward: Sigmoid and Tanh only); the others to our kernel
        be.activationForward(Activation.leakyRelu(0.7f), x, y);
        assertArrayEquals(new Object[] {Activation.Kind.LEAKY_RELU.ordinal(), 0.7f, addr(x), addr(y), 21L}, rec.only().args());
        be.activationBackward(Activation.GELU, x, y, dy, dx);
        assertArrayEquals(new Object[] {6, 0f, addr(x), addr(y), addr(dy), addr(dx), 21L}, rec.only().args());
        // ReLU's and ELU's backward too (their forward is cuDNN's): PyTorch's gradient at x = 0 and at a NaN, which
        // cuDNN's reference leaves undefined (CudnnShapes.backwardOnCudnn)
        be.activationBackward(Activation.RELU, x, y, dy, dx);
        Call relu = rec.only();
        assertEquals("activation_backward_f32", relu.kernel());
        assertArrayEquals(new Object[] {Activation.Kind.RELU.ordinal(), 0f, addr(x), addr(y), addr(dy), addr(dx), 21L}, relu.args());
        be.activationBackward(Activation.elu(0.5f), x, y, dy, dx);
        Call elu = rec.only();
        assertEquals("activation_backward_f32", elu.kernel());
        assertArrayEquals(new Object[] {Activation.Kind.ELU.ordinal(), 0.5f, addr(x), addr(y), addr(dy), addr(dx), 21L}, elu.args());
        sameError(b -> b.activationForward(Activation.softplus(0f), b.empty(Shape.of(2)), b.empty(Shape.of(2))));
        // backward: each of y, dy and dx the wrong size in turn
        for (int wrong = 0; wrong < 3; wrong++) {
            int w = wrong;
            sameError(b -> b.activationBackward(Activation.RELU, b.empty(Shape.of(2)), b.empty(Shape.of(w == 0 ? 3 : 2)),
                    b.empty(Shape.of(w == 1 ? 3 : 2)), b.empty(Shape.of(w == 2 ? 3 : 2))));
        }

        Tensor mask = t(3, 7);
        be.dropoutForward(x, y, mask, 0.25f, 1234567890123L);
        assertArrayEquals(new Object[] {addr(x), addr(y), addr(mask), 0.25f, 4f / 3f, 1234567890123L, 21L}, rec.only().args());
        sameError(b -> b.dropoutForward(b.empty(Shape.of(2)), b.empty(Shape.of(2)), b.empty(Shape.of(2)), 1.5f, 1));

        Tensor img = t(2, 3, 7, 9), pooled = t(2, 3, 2, 4);
        be.adaptiveAvgPoolForward(img, pooled);
        Call f = rec.only();
        assertEquals(48, f.n(), "element-wise over the output");
        assertArrayEquals(new Object[] {addr(img), addr(pooled), 6, 7, 9, 2, 4}, f.args());
        be.adaptiveAvgPoolBackward(pooled, img);
        Call g = rec.only();
        assertEquals(378, g.n(), "element-wise over the input (gather, no atomics)");
        assertArrayEquals(new Object[] {addr(pooled), addr(img), 6, 7, 9, 2, 4}, g.args());
        sameError(b -> b.adaptiveAvgPoolForward(b.empty(Shape.of(2, 3, 7)), b.empty(Shape.of(2, 3, 2, 4))));
    }

    @Test
    void optimiserStepPassesStateBuffersInOrder() {
        Tensor p = t(10), g = t(10), m = t(10), v = t(10);
        be.optimizerStep(new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 0.01f, 0f), p, g, new Tensor[] {m, v}, 1e-3f, 3);
        Call c = rec.only();
        assertEquals("adam_step_f32", c.kernel());
        assertEquals(List.of(addr(p), addr(g), addr(m), addr(v), 10L), Arrays.asList(c.args()).subList(0, 5));
        be.optimizerStep(new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f), p, g, new Tensor[0], 0.1f, 1);
        assertEquals(0L, rec.only().arg(2), "plain SGD needs no buffer");
        // Missing or mismatched state, and bad steps: the CPU backend's messages.
        OptimizerHyper adam = new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0f, 0f);
        sameError(b -> b.optimizerStep(adam, b.empty(Shape.of(10)), b.empty(Shape.of(10)), new Tensor[] {b.empty(Shape.of(10))}, 0.1f, 1));
        sameError(b -> b.optimizerStep(adam, b.empty(Shape.of(10)), b.empty(Shape.of(10)), new Tensor[] {b.empty(Shape.of(10)), b.empty(Shape.of(9))}, 0.1f, 1));
        sameError(b -> b.optimizerStep(adam, b.empty(Shape.of(10)), b.empty(Shape.of(10)), new Tensor[0], 0.1f, 0));
        sameError(b -> b.optimizerStep(adam, b.empty(Shape.of(10)), b.empty(Shape.of(9)), new Tensor[0], 0.1f, 1));
        OptimizerHyper rms = new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0.9f, true, 0f, 0f);
        sameError(b -> b.optimizerStep(rms, b.empty(Shape.of(4)), b.empty(Shape.of(4)), new Tensor[] {b.empty(Shape.of(4)), b.empty(Shape.of(4))}, 0.1f, 1));
    }

    @Test
    void tensorsOfOtherBackendsAndDtypesAreRejected() {
        Tensor onCpu = cpu.empty(Shape.of(4)), y = t(4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.scale(onCpu, 1f, y));
        assertTrue(e.getMessage().contains("expected a tensor on cuda:0"), e.getMessage());
        Tensor ints = ti(4);
        e = assertThrows(IllegalArgumentException.class, () -> be.scale(ints, 1f, y));
        assertTrue(e.getMessage().contains("expected an FP32 tensor on cuda:0"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> be.empty(Shape.of(2), DType.BF16));
        assertTrue(rec.calls.isEmpty());
    }

    @Test
    void closedBackendRefusesWork() {
        Tensor x = t(2);
        be.close();
        assertThrows(IllegalStateException.class, () -> be.fill(x, 1f));
    }

    /**
     * GEMM and host copies check every element they would touch before BLAS, cuBLAS, cuBLASLt or arraycopy sees a
     * pointer, with the same message on both backends: OpenBLAS (through an FFM critical downcall on the heap arrays)
     * and cuBLAS read and write past a tensor's end without noticing.
     */
    @Test
    void gemmAndHostCopiesCheckWhatTheyTouchTheSameOnBothBackends() {
        // C too small for m x n; A and B too small; a row stride below the columns; a negative offset; an offset that
        // runs op(A) past the end; transposed B (stored n x k) too small.
        sameError(b -> b.gemm(false, false, 2, 4, 3, 1f, b.empty(Shape.of(2, 3)), 0, 3, b.empty(Shape.of(3, 4)), 0, 4, 0f, b.empty(Shape.of(2, 3)), 0, 4));
        sameError(b -> b.gemm(false, false, 2, 4, 3, 1f, b.empty(Shape.of(2, 2)), 0, 3, b.empty(Shape.of(3, 4)), 0, 4, 0f, b.empty(Shape.of(2, 4)), 0, 4));
        sameError(b -> b.gemm(false, false, 2, 4, 3, 1f, b.empty(Shape.of(2, 3)), 0, 3, b.empty(Shape.of(3, 3)), 0, 4, 0f, b.empty(Shape.of(2, 4)), 0, 4));
        sameError(b -> b.gemm(false, false, 2, 4, 3, 1f, b.empty(Shape.of(2, 3)), 0, 2, b.empty(Shape.of(3, 4)), 0, 4, 0f, b.empty(Shape.of(2, 4)), 0, 4));
        sameError(b -> b.gemm(false, false, 2, 4, 3, 1f, b.empty(Shape.of(2, 3)), -1, 3, b.empty(Shape.of(3, 4)), 0, 4, 0f, b.empty(Shape.of(2, 4)), 0, 4));
        sameError(b -> b.gemm(true, false, 2, 4, 3, 1f, b.empty(Shape.of(8)), 3, 2, b.empty(Shape.of(3, 4)), 0, 4, 0f, b.empty(Shape.of(2, 4)), 0, 4));
        sameError(b -> b.gemm(false, true, 2, 4, 3, 1f, b.empty(Shape.of(2, 3)), 0, 3, b.empty(Shape.of(3, 3)), 0, 3, 0f, b.empty(Shape.of(2, 4)), 0, 4));
        sameError(b -> b.gemm(false, false, -1, 4, 3, 1f, b.empty(Shape.of(2, 3)), 0, 3, b.empty(Shape.of(3, 4)), 0, 4, 0f, b.empty(Shape.of(2, 4)), 0, 4));
        String msg = assertThrows(IllegalArgumentException.class, () -> cpu.gemm(false, false, 2, 4, 3, 1f, cpu.empty(Shape.of(2, 3)), 0, 3,
                cpu.empty(Shape.of(3, 4)), 0, 4, 0f, cpu.empty(Shape.of(2, 3)), 0, 4)).getMessage();
        assertEquals("gemm: C [2, 3] holds 6 elements, but its 2 x 4 rows at offset 0, stride 4 reach element 8", msg);
        // In bounds: a 2 x 2 block of a 3 x 4 matrix (offset 5, stride 4) times an identity, and k = 0 (C = beta C).
        float[] am = new float[12];
        for (int i = 0; i < 12; i++) am[i] = i;
        Tensor a = cpu.fromHost(am, Shape.of(3, 4)), eye = cpu.fromHost(new float[] {1, 0, 0, 1}, Shape.of(2, 2)), c = cpu.zeros(Shape.of(2, 2));
        cpu.gemm(false, false, 2, 2, 2, 1f, a, 5, 4, eye, 0, 2, 0f, c, 0, 2);
        assertArrayEquals(new float[] {5, 6, 9, 10}, c.toFloatArray());
        cpu.gemm(false, false, 2, 2, 0, 1f, cpu.empty(Shape.of(2, 0)), 0, 0, cpu.empty(Shape.of(0, 2)), 0, 2, 0.5f, c, 0, 2);
        assertArrayEquals(new float[] {2.5f, 3, 4.5f, 5}, c.toFloatArray());
        // (CUDA's gemm with offsets and strides in bounds: CudaVsCpuTest on the emulated device and the GPU.)

        // gemmBias: the bias, C and the operands, checked before anything is written (the CPU's C keeps its values).
        sameError(b -> b.gemmBias(false, false, 2, 4, 3, b.empty(Shape.of(2, 3)), b.empty(Shape.of(3, 4)), b.empty(Shape.of(3)), b.empty(Shape.of(2, 4))));
        sameError(b -> b.gemmBiasRelu(false, false, 2, 4, 3, b.empty(Shape.of(2, 3)), b.empty(Shape.of(3, 4)), b.empty(Shape.of(3)), b.empty(Shape.of(2, 4))));
        sameError(b -> b.gemmBias(false, false, 2, 4, 3, b.empty(Shape.of(2, 3)), b.empty(Shape.of(3, 4)), b.empty(Shape.of(4)), b.empty(Shape.of(4, 2))));
        sameError(b -> b.gemmBias(false, false, 2, 4, 3, b.empty(Shape.of(5)), b.empty(Shape.of(3, 4)), b.empty(Shape.of(4)), b.empty(Shape.of(2, 4))));
        Tensor c7 = cpu.fromHost(new float[] {7, 7, 7, 7, 7, 7, 7, 7}, Shape.of(2, 4));
        assertThrows(IllegalArgumentException.class, () -> cpu.gemmBias(false, false, 2, 4, 3, cpu.zeros(Shape.of(2, 3)), cpu.zeros(Shape.of(3, 4)),
                cpu.zeros(Shape.of(3)), c7));
        assertArrayEquals(new float[] {7, 7, 7, 7, 7, 7, 7, 7}, c7.toFloatArray(), "a refused gemmBias must not write C");

        // Host copies: a source too short for the tensor from its offset, a negative offset, a destination too short.
        sameError(b -> b.copyFromHost(new float[3], 1, b.empty(Shape.of(3))));
        sameError(b -> b.copyFromHost(new int[3], -1, b.empty(Shape.of(2), DType.INT32)));
        sameError(b -> b.toHost(b.empty(Shape.of(3)), new float[2]));
        sameError(b -> b.toHost(b.empty(Shape.of(3), DType.INT32), new int[2]));
        // Device copies: sizes, and types (the CPU named only the type it expected for the source).
        sameError(b -> b.copy(b.empty(Shape.of(3)), b.empty(Shape.of(4))));
        sameError(b -> b.copy(b.empty(Shape.of(3)), b.empty(Shape.of(3), DType.INT32)));
        sameError(b -> b.copy(b.empty(Shape.of(3), DType.INT32), b.empty(Shape.of(3))));
    }
}
