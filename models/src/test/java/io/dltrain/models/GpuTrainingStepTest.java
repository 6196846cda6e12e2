package io.dltrain.models;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Whole training steps on the GPU against the CPU: {@code lenet5} and {@code resnet18} are built on both backends with
 * identical weights (the CPU model's state_dict copied into the GPU model), then two steps of forward, cross-entropy,
 * backward and SGD with momentum 0.9 (the second step uses the momentum buffer) run on the same batch. Compared after
 * each step: the loss (1e-4 relative), every parameter gradient, every parameter and every batch-norm buffer.
 *
 * <p>Gradient tolerance, per tensor: 1e-3 relative plus 1e-3 of the tensor's largest CPU gradient. The two backends
 * use different FP32 summation orders (cuBLAS, cuDNN's algorithms) in every layer; backpropagation through ~20
 * layers, and batch norm dividing by a batch standard deviation, amplify the per-layer ~1e-6 relative differences.
 * A wrong kernel gives errors of the order of the gradient itself, far above this. Parameters after a step differ by
 * at most lr times that (plus momentum), so they use lr * the gradient tolerance plus 1e-6.
 *
 * <p>Also: checkpoints saved on one device load on the other, bit for bit ({@link #checkpointsMoveBetweenDevices}).
 *
 * <p>Skips with "no usable GPU: reason" when CUDA cannot be used; {@code -Ddltrain.gpuTest.standIn=cpu} runs it
 * against a second CPU backend (a check of the harness only).
 */
@Tag("gpu")
class GpuTrainingStepTest {
    static Backend cpu, dev;
    static String unusable;

    @BeforeAll
    static void open() {
        if ("cpu".equals(System.getProperty("dltrain.gpuTest.standIn"))) {
            dev = new CpuBackend(1);
        } else {
            unusable = Backends.cudaUnavailableReason();
            if (unusable != null) return;
            dev = Backends.create("cuda", 0, msg -> {});
        }
        cpu = new CpuBackend(2);
    }

    @AfterAll
    static void close() {
        if (dev != null) dev.close();
        if (cpu != null) cpu.close();
    }

    static final double LR = 0.01, MOMENTUM = 0.9;

    @ParameterizedTest(name = "{0} {1}x{2}x{3} batch {4}, {5} steps")
    @CsvSource({"lenet5, 1, 28, 28, 4, 2", "resnet18, 3, 64, 64, 4, 2",
            // concat along channels, ceil-mode max pools, average pools, dense blocks, LSTM through time, ConvTranspose2d.
            // densenet121 is compared after one step only: its second step's gradients already differ beyond these
            // tolerances between two CPU backends with 1 and 2 threads (a summation-order difference of ~1e-7 flips
            // max-pool choices 120 layers deep), so a second step would test the tolerance, not the device.
            "googlenet, 3, 64, 64, 2, 2", "densenet121, 3, 96, 96, 4, 1", "lstm, 1, 28, 28, 4, 2", "conv-autoencoder, 1, 28, 28, 4, 2"})
    void trainingStepMatchesCpu(String name, int c, int h, int w, int n, int steps) {
        Assumptions.assumeTrue(unusable == null, "no usable GPU: " + unusable);
        ModelSpec spec = new ModelSpec(c, h, w, 10);
        ModelRegistry.Entry e = ModelRegistry.get(name);
        SplittableRandom rng = new SplittableRandom(31);
        float[] x = uniform(rng, n * c * h * w, -1, 1);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = rng.nextInt(10);
        try (Module mc = Scope.outside(() -> e.build(new Context(cpu, 7), spec));
             // the same seed: dropout draws its masks from seeds the Context hands out (copyState still copies every tensor)
             Module md = Scope.outside(() -> e.build(new Context(dev, 7), spec))) {
            copyState(mc, md);
            try (SGD oc = new SGD(mc.namedParameters(), LR).momentum(MOMENTUM);
                 SGD od = new SGD(md.namedParameters(), LR).momentum(MOMENTUM)) {
                for (int step = 1; step <= steps; step++) {
                    String at = name + " step " + step + ": ";
                    boolean recon = e.task() == io.dltrain.runtime.train.Task.RECONSTRUCTION;
                    float lc = step(mc, oc, cpu, x, labels, spec, n, recon);
                    float ld = step(md, od, dev, x, labels, spec, n, recon);
                    assertEquals(lc, ld, 1e-4 * Math.abs(lc), at + "loss on the device vs the CPU");
                    // step() leaves the gradients of this step in place (zeroGrad runs before the next forward).
                    for (Map.Entry<String, Tensor> p : mc.namedParameters().entrySet()) {
                        Tensor pd = md.namedParameters().get(p.getKey());
                        float[] gc = p.getValue().grad().toFloatArray(), gd = pd.grad().toFloatArray();
                        double gAtol = 1e-3 * maxAbs(gc);
                        close(at + "grad " + p.getKey(), gc, gd, gAtol, 1e-3);
                        close(at + "param " + p.getKey() + " after the update", p.getValue().toFloatArray(), pd.toFloatArray(),
                                LR * (1 + MOMENTUM) * gAtol + 1e-6, 1e-5);
                    }
                    for (Map.Entry<String, Tensor> b : mc.namedBuffers().entrySet()) {
                        Tensor bd = md.namedBuffers().get(b.getKey());
                        if (b.getValue().dtype() == DType.INT32)
                            assertArrayEquals(b.getValue().toIntArray(), bd.toIntArray(), at + "buffer " + b.getKey());
                        else close(at + "buffer " + b.getKey(), b.getValue().toFloatArray(), bd.toFloatArray(), 1e-5, 1e-4);
                    }
                }
            }
        }
    }

    /**
     * Checkpoints move between devices: resnet18 (batch-norm buffers, an INT32 counter among them) trained two steps
     * with SGD momentum on the device is saved, loaded into a CPU model and optimiser built from another seed, and must
     * equal the device's weights, buffers and momentum buffers bit for bit (a checkpoint is a copy); a third step on
     * each then agrees as the steps above do (which needs the momentum buffers to have come along). Then back: the CPU
     * state saved and loaded into a fresh device model and optimiser, bit for bit.
     */
    @org.junit.jupiter.api.Test
    void checkpointsMoveBetweenDevices(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        Assumptions.assumeTrue(unusable == null, "no usable GPU: " + unusable);
        ModelSpec spec = new ModelSpec(3, 32, 32, 10);
        ModelRegistry.Entry e = ModelRegistry.get("resnet18");
        int n = 4;
        SplittableRandom rng = new SplittableRandom(41);
        float[] x = uniform(rng, n * 3 * 32 * 32, -1, 1);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = rng.nextInt(10);
        io.dltrain.runtime.checkpoint.TrainingState state = new io.dltrain.runtime.checkpoint.TrainingState(
                0, 2, "resnet18", "synthetic", Map.of(), Map.of(), "sgd", LR, Map.of());
        try (Module md = Scope.outside(() -> e.build(new Context(dev, 7), spec));
             Module mc = Scope.outside(() -> e.build(new Context(cpu, 99), spec));
             Module md2 = Scope.outside(() -> e.build(new Context(dev, 123), spec));
             SGD od = new SGD(md.namedParameters(), LR).momentum(MOMENTUM);
             SGD oc = new SGD(mc.namedParameters(), LR).momentum(MOMENTUM);
             SGD od2 = new SGD(md2.namedParameters(), LR).momentum(MOMENTUM)) {
            step(md, od, dev, x, labels, spec, n, false);
            step(md, od, dev, x, labels, spec, n, false);
            java.nio.file.Path fromDevice = io.dltrain.runtime.checkpoint.Checkpoint.save(dir.resolve("device"), md, od, state, 1);
            io.dltrain.runtime.checkpoint.Checkpoint.load(fromDevice, mc, oc);
            sameBits("device -> cpu", md.stateDict(), mc.stateDict());
            sameBits("device -> cpu optimiser", od.state(), oc.state());

            float ld = step(md, od, dev, x, labels, spec, n, false), lc = step(mc, oc, cpu, x, labels, spec, n, false);
            assertEquals(lc, ld, 1e-4 * Math.abs(lc), "step 3 loss after the move");
            for (Map.Entry<String, Tensor> p : mc.namedParameters().entrySet()) {
                float[] gc = p.getValue().grad().toFloatArray();
                close("step 3 param " + p.getKey(), p.getValue().toFloatArray(), md.namedParameters().get(p.getKey()).toFloatArray(),
                        LR * (1 + MOMENTUM) * 1e-3 * maxAbs(gc) + 1e-6, 1e-5);
            }

            java.nio.file.Path fromCpu = io.dltrain.runtime.checkpoint.Checkpoint.save(dir.resolve("cpu"), mc, oc, state, 1);
            io.dltrain.runtime.checkpoint.Checkpoint.load(fromCpu, md2, od2);
            sameBits("cpu -> device", mc.stateDict(), md2.stateDict());
            sameBits("cpu -> device optimiser", oc.state(), od2.state());
        }
    }

    /** The same names, and each tensor's values identical to the bit (FP32 by raw bits, INT32 exactly). */
    static void sameBits(String what, Map<String, Tensor> want, Map<String, Tensor> got) {
        assertEquals(want.keySet(), got.keySet(), what + ": names");
        for (Map.Entry<String, Tensor> w : want.entrySet()) {
            Tensor g = got.get(w.getKey());
            assertEquals(w.getValue().dtype(), g.dtype(), what + ": " + w.getKey() + " dtype");
            if (g.dtype() == DType.INT32) assertArrayEquals(w.getValue().toIntArray(), g.toIntArray(), what + ": " + w.getKey());
            else {
                float[] a = w.getValue().toFloatArray(), b = g.toFloatArray();
                assertEquals(a.length, b.length, what + ": " + w.getKey() + " length");
                for (int i = 0; i < a.length; i++)
                    if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i]))
                        fail(what + ": " + w.getKey() + "[" + i + "] is " + b[i] + ", expected " + a[i] + " (bit for bit)");
            }
        }
    }

    /** zero_grad, forward, cross-entropy, backward, optimiser step; returns the loss. Gradients stay for inspection. */
    static float step(Module m, SGD opt, Backend be, float[] x, int[] labels, ModelSpec s, int n, boolean reconstruction) {
        opt.zeroGrad();
        try (Scope scope = Scope.open()) {
            Tensor xt = be.fromHost(x, Shape.of(n, s.inChannels(), s.height(), s.width()));
            // a reconstruction model (the autoencoders) is trained with MSE against its input, the rest with cross-entropy
            Tensor loss = reconstruction
                    ? Losses.mse(m.forward(xt), xt)
                    : Losses.crossEntropy(m.forward(xt), be.fromHost(labels, Shape.of(n)), 0f);
            loss.backward();
            opt.step();
            return loss.item();
        }
    }

    // ------------------------------------------------------------------------ helpers shared with GoldenReplayTest

    /** Copies every parameter and buffer of {@code from} into the same-named tensor of {@code to} (other backend). */
    static void copyState(Module from, Module to) {
        Map<String, Tensor> dst = to.stateDict();
        for (Map.Entry<String, Tensor> e : from.stateDict().entrySet()) {
            Tensor d = dst.get(e.getKey());
            assertNotNull(d, "model on " + to + " has no tensor " + e.getKey());
            assertEquals(e.getValue().shape(), d.shape(), e.getKey());
            if (d.dtype() == DType.INT32) d.backend().copyFromHost(e.getValue().toIntArray(), 0, d);
            else d.backend().copyFromHost(e.getValue().toFloatArray(), 0, d);
        }
        assertEquals(from.stateDict().keySet(), dst.keySet(), "state_dict keys differ");
    }

    static float[] uniform(SplittableRandom rng, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        return v;
    }

    static double maxAbs(float[] v) {
        double m = 0;
        for (float f : v) m = Math.max(m, Math.abs(f));
        return m;
    }

    /** |got - want| <= atol + rtol * |want| element-wise (llm.c's rule), failing with the worst element. */
    static void close(String what, float[] want, float[] got, double atol, double rtol) {
        assertEquals(want.length, got.length, what + ": length");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs((double) got[i] - want[i]);
            double excess = err - (atol + rtol * Math.abs(want[i]));
            if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) { worst = i; worstExcess = excess; }
        }
        if (worst >= 0) fail(String.format(Locale.ROOT, "%s: element %d of %d is %.7g, expected %.7g (|err| %.3g > atol %.2g + rtol %.1g * |expected|)",
                what, worst, want.length, got[worst], want[worst], Math.abs((double) got[worst] - want[worst]), atol, rtol));
    }
}
