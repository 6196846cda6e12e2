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
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Whole training steps on the GPU against the CPU: {@code lenet5}, {@code resnet18} and the rest are built on both
 * backends with identical weights (the CPU model's state_dict copied into the GPU model), then two steps of forward,
 * loss, backward and SGD with momentum 0.9 run on the same batch; the second step starts from the CPU's state after the
 * first, momentum buffers included (so it tests the momentum path, and differences do not compound). Compared after
 * each step: the loss, every parameter gradient, every parameter and every batch-norm buffer.
 *
 * <p>The tolerance is the model's own sensitivity to FP32 rounding, measured in the test ({@link #agree}). The two
 * backends sum in different orders (cuBLAS, cuDNN's algorithms), so their activations differ by ~1e-7 relative; in a
 * ReLU network a pre-activation within that distance of 0 then falls on different sides of the kink on the two
 * devices (and a max-pool window near a tie picks a different element), and that element's whole gradient goes
 * one way on one device and the other way on the other. The forward is continuous, so the loss hardly moves, but
 * gradients below that point change by far more than rounding: measured on the CPU alone, nudging the input by
 * 1e-7 relative moves the worst per-tensor gradient of resnet18 (3x64x64, batch 4) by 0.47% (relative L2) and of
 * googlenet (batch 2) by 3.7%; the emulated device's resnet18 step differed from the CPU by the same 0.47%. An
 * element-wise bound there passes or fails by luck. So two more models, on the CPU, take the same steps on the input
 * nudged by up to 1e-5 relative (enough to flip many more such decisions than two FP32 implementations do), one by a
 * random nudge and one by its mirror image (an antithetic pair: a decision near its kink crosses it under one of the
 * two, on whichever side the device's rounding put it; one random nudge alone misses it half the time), and
 * every quantity Q must satisfy ||Q_device - Q_cpu|| <= max(1e-4 * scale, 2 * max ||Q_nudged - Q_cpu||) + 1e-8 * sqrt(n)
 * (scale: ||Q_cpu||, or for parameters the norm of the CPU's update in this step). A smooth model (lenet5: the
 * nudge moves its gradients by ~6e-6) is thereby held to 1e-4 relative; a wrong kernel, layout or descriptor gives
 * errors of the order of Q itself, far above either bound. INT32 buffers must be equal.
 *
 * <p>Also: checkpoints saved on one device load on the other, bit for bit ({@link #checkpointsMoveBetweenDevices}).
 *
 * <p>Skips with "no usable GPU: reason" when CUDA cannot be used; {@code -Ddltrain.gpuTest.standIn=cpu} runs it
 * against a second CPU backend (a check of the harness only). The emulated device (models' EmulatedDeviceTrainingTest)
 * runs it against the real CUDA backend over host stand-ins.
 */
@Tag("gpu")
class GpuTrainingStepTest {
    static Backend cpu, dev;
    static String unusable;

    @BeforeAll
    static void open() {
        io.dltrain.runtime.backend.cuda.GpuTestDevice d = io.dltrain.runtime.backend.cuda.GpuTestDevice.open();
        dev = d.backend();
        unusable = d.unusable();
        if (dev != null) cpu = new CpuBackend(2);
    }

    @AfterAll
    static void close() {
        if (dev != null) dev.close();
        if (cpu != null) cpu.close();
    }

    static final double LR = 0.01, MOMENTUM = 0.9;
    /** Relative size of the input nudge that measures a model's sensitivity, and the smallest relative bound. */
    static final double NUDGE = 1e-5, TAU = 1e-4;

    @ParameterizedTest(name = "{0} {1}x{2}x{3} batch {4}, {5} steps")
    @CsvSource({"lenet5, 1, 28, 28, 4, 2", "resnet18, 3, 64, 64, 4, 2",
            // concat along channels, ceil-mode max pools, average pools, dense blocks, LSTM through time, ConvTranspose2d;
            // densenet121 (120 layers) for one step, to keep the suite's time down
            "googlenet, 3, 64, 64, 2, 2", "densenet121, 3, 96, 96, 4, 1", "lstm, 1, 28, 28, 4, 2", "conv-autoencoder, 1, 28, 28, 4, 2"})
    void trainingStepMatchesCpu(String name, int c, int h, int w, int n, int steps) {
        Assumptions.assumeTrue(unusable == null, "no usable GPU: " + unusable);
        ModelSpec spec = new ModelSpec(c, h, w, 10);
        ModelRegistry.Entry e = ModelRegistry.get(name);
        SplittableRandom rng = new SplittableRandom(31);
        float[] x = uniform(rng, n * c * h * w, -1, 1);
        float[] xn = nudge(x, 17, 1), xm = nudge(x, 17, -1);
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = rng.nextInt(10);
        boolean recon = e.task() == io.dltrain.runtime.train.Task.RECONSTRUCTION;
        try (Module mc = Scope.outside(() -> e.build(new Context(cpu, 7), spec));
             Module mn = Scope.outside(() -> e.build(new Context(cpu, 7), spec));
             Module mm = Scope.outside(() -> e.build(new Context(cpu, 7), spec));
             // the same seed: dropout draws its masks from seeds the Context hands out (copyState still copies every tensor)
             Module md = Scope.outside(() -> e.build(new Context(dev, 7), spec))) {
            copyState(mc, md);
            copyState(mc, mn);
            copyState(mc, mm);
            try (SGD oc = new SGD(mc.namedParameters(), LR).momentum(MOMENTUM);
                 SGD on = new SGD(mn.namedParameters(), LR).momentum(MOMENTUM);
                 SGD om = new SGD(mm.namedParameters(), LR).momentum(MOMENTUM);
                 SGD od = new SGD(md.namedParameters(), LR).momentum(MOMENTUM)) {
                for (int step = 1; step <= steps; step++) {
                    String at = name + " step " + step + ": ";
                    if (step > 1) {
                        // Each step starts from the CPU's state (weights, buffers, momentum): one step's differences are
                        // compared, not those of the step before carried through this one.
                        copyState(mc, md);
                        copyState(mc, mn);
                        copyState(mc, mm);
                        copyTensors(oc.state(), od.state());
                        copyTensors(oc.state(), on.state());
                        copyTensors(oc.state(), om.state());
                    }
                    Map<String, float[]> before = hostCopies(mc.namedParameters());
                    float lc = step(mc, oc, cpu, x, labels, spec, n, recon);
                    float ln = step(mn, on, cpu, xn, labels, spec, n, recon);
                    float lm = step(mm, om, cpu, xm, labels, spec, n, recon);
                    float ld = step(md, od, dev, x, labels, spec, n, recon);
                    agree(at + "loss", new float[] {lc}, List.of(new float[] {ln}, new float[] {lm}), new float[] {ld}, Math.abs(lc));
                    // step() leaves the gradients of this step in place (zeroGrad runs before the next forward).
                    for (Map.Entry<String, Tensor> p : mc.namedParameters().entrySet()) {
                        String k = p.getKey();
                        float[] gc = p.getValue().grad().toFloatArray();
                        agree(at + "grad " + k, gc, List.of(mn.namedParameters().get(k).grad().toFloatArray(),
                                        mm.namedParameters().get(k).grad().toFloatArray()),
                                md.namedParameters().get(k).grad().toFloatArray(), norm(gc, null));
                        float[] pc = p.getValue().toFloatArray();
                        agree(at + "param " + k + " after the update", pc, List.of(mn.namedParameters().get(k).toFloatArray(),
                                        mm.namedParameters().get(k).toFloatArray()),
                                md.namedParameters().get(k).toFloatArray(), norm(pc, before.get(k)));
                    }
                    for (Map.Entry<String, Tensor> b : mc.namedBuffers().entrySet()) {
                        String k = b.getKey();
                        if (b.getValue().dtype() == DType.INT32)
                            assertArrayEquals(b.getValue().toIntArray(), md.namedBuffers().get(k).toIntArray(), at + "buffer " + k);
                        else {
                            float[] bc = b.getValue().toFloatArray();
                            agree(at + "buffer " + k, bc, List.of(mn.namedBuffers().get(k).toFloatArray(), mm.namedBuffers().get(k).toFloatArray()),
                                    md.namedBuffers().get(k).toFloatArray(),
                                    norm(bc, null));
                        }
                    }
                }
            }
        }
    }

    /**
     * x with every element scaled by (1 + sign * d), d uniform in [-NUDGE, NUDGE] drawn from seed: the nudges with sign
     * 1 and -1 are mirror images (an antithetic pair). A decision near its kink (a ReLU pre-activation, a max-pool
     * near-tie) moves one way under one of them and the other way under the other, so one of the pair crosses any kink
     * closer than the nudge's reach, whichever side it lies on; a single random nudge crosses it half the time.
     */
    static float[] nudge(float[] x, long seed, int sign) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] out = x.clone();
        for (int i = 0; i < out.length; i++) out[i] *= (float) (1 + sign * NUDGE * (2 * r.nextDouble() - 1));
        return out;
    }

    /** The k-th of a series of nudges: antithetic pairs, k = 0, 1 from seed base, k = 2, 3 from base + 1, ... */
    static float[] nudgePair(float[] x, long base, int k) {
        return nudge(x, base + k / 2, k % 2 == 0 ? 1 : -1);
    }

    /**
     * The device's value of a quantity agrees with the CPU's as far as the model's FP32 sensitivity allows (see the
     * class comment): ||dev - cpu|| <= max(TAU * scale, 2 * max_k ||nudged_k - cpu||) + 1e-8 * sqrt(n), nudged_k the
     * CPU's value on each input of an antithetic pair of nudges ({@link #nudge(float[], long, int)}).
     */
    static void agree(String what, float[] cpuValue, List<float[]> nudged, float[] devValue, double scale) {
        double floor = 0;
        for (float[] v : nudged) floor = Math.max(floor, norm(v, cpuValue));
        within(what, cpuValue, "the CPU", devValue, "the device", floor, scale);
    }

    /**
     * The one bound of both GPU-era comparisons (this test and {@link GoldenReplayTest}): ||value - ref|| <=
     * max(TAU * scale, 2 * floor) + 1e-8 * sqrt(n), where floor is how far nudged inputs moved the quantity.
     */
    static void within(String what, float[] ref, String refName, float[] value, String valueName, double floor, double scale) {
        assertEquals(ref.length, value.length, what + ": length");
        double err = norm(value, ref);
        double bound = Math.max(TAU * scale, 2 * floor) + 1e-8 * Math.sqrt(ref.length);
        if (!(err <= bound)) {
            int worst = 0;
            for (int i = 1; i < ref.length; i++)
                if (!(Math.abs(value[i] - ref[i]) <= Math.abs(value[worst] - ref[worst]))) worst = i;
            fail(String.format(Locale.ROOT, "%s: ||%s - %s|| = %.3g > bound %.3g (%.0e * scale %.3g; nudged inputs moved it "
                            + "by %.3g); worst element %d of %d: %.7g on %s, %.7g on %s",
                    what, valueName, refName, err, bound, TAU, scale, floor, worst, ref.length, value[worst], valueName, ref[worst], refName));
        }
    }

    /** ||a||, or ||a - minus|| when minus is given (Euclidean, in double; NaN if either has a NaN). */
    static double norm(float[] a, float[] minus) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = minus == null ? a[i] : (double) a[i] - minus[i];
            s += d * d;
        }
        return Math.sqrt(s);
    }

    static Map<String, float[]> hostCopies(Map<String, Tensor> tensors) {
        Map<String, float[]> out = new java.util.HashMap<>();
        for (Map.Entry<String, Tensor> t : tensors.entrySet()) out.put(t.getKey(), t.getValue().toFloatArray());
        return out;
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
             Module mn = Scope.outside(() -> e.build(new Context(cpu, 5), spec));
             Module mm = Scope.outside(() -> e.build(new Context(cpu, 6), spec));
             Module md2 = Scope.outside(() -> e.build(new Context(dev, 123), spec));
             SGD od = new SGD(md.namedParameters(), LR).momentum(MOMENTUM);
             SGD oc = new SGD(mc.namedParameters(), LR).momentum(MOMENTUM);
             SGD on = new SGD(mn.namedParameters(), LR).momentum(MOMENTUM);
             SGD om = new SGD(mm.namedParameters(), LR).momentum(MOMENTUM);
             SGD od2 = new SGD(md2.namedParameters(), LR).momentum(MOMENTUM)) {
            step(md, od, dev, x, labels, spec, n, false);
            step(md, od, dev, x, labels, spec, n, false);
            java.nio.file.Path fromDevice = io.dltrain.runtime.checkpoint.Checkpoint.save(dir.resolve("device"), md, od, state, 1);
            io.dltrain.runtime.checkpoint.Checkpoint.load(fromDevice, mc, oc);
            io.dltrain.runtime.checkpoint.Checkpoint.load(fromDevice, mn, on);
            io.dltrain.runtime.checkpoint.Checkpoint.load(fromDevice, mm, om);
            sameBits("device -> cpu", md.stateDict(), mc.stateDict());
            sameBits("device -> cpu optimiser", od.state(), oc.state());

            // A third step on each agrees as in trainingStepMatchesCpu (which needs the momentum buffers to have come along).
            Map<String, float[]> before = hostCopies(mc.namedParameters());
            float ld = step(md, od, dev, x, labels, spec, n, false), lc = step(mc, oc, cpu, x, labels, spec, n, false),
                  ln = step(mn, on, cpu, nudge(x, 19, 1), labels, spec, n, false),
                  lm = step(mm, om, cpu, nudge(x, 19, -1), labels, spec, n, false);
            agree("step 3 loss after the move", new float[] {lc}, List.of(new float[] {ln}, new float[] {lm}), new float[] {ld}, Math.abs(lc));
            for (Map.Entry<String, Tensor> p : mc.namedParameters().entrySet()) {
                float[] pc = p.getValue().toFloatArray();
                agree("step 3 param " + p.getKey(), pc, List.of(mn.namedParameters().get(p.getKey()).toFloatArray(),
                                mm.namedParameters().get(p.getKey()).toFloatArray()),
                        md.namedParameters().get(p.getKey()).toFloatArray(), norm(pc, before.get(p.getKey())));
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
    static void copyState(Module from, Module to) { copyTensors(from.stateDict(), to.stateDict()); }

    /** Copies each tensor of from into the same-named tensor of to, on its backend (state_dicts, optimiser state). */
    static void copyTensors(Map<String, Tensor> from, Map<String, Tensor> to) {
        for (Map.Entry<String, Tensor> e : from.entrySet()) {
            Tensor d = to.get(e.getKey());
            assertNotNull(d, "no tensor " + e.getKey() + " to copy into");
            assertEquals(e.getValue().shape(), d.shape(), e.getKey());
            if (d.dtype() == DType.INT32) d.backend().copyFromHost(e.getValue().toIntArray(), 0, d);
            else d.backend().copyFromHost(e.getValue().toFloatArray(), 0, d);
        }
        assertEquals(from.keySet(), to.keySet(), "tensor names differ");
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
