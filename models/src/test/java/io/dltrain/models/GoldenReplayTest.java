package io.dltrain.models;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import io.dltrain.runtime.nn.AdaptiveAvgPool2d;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.dltrain.models.GpuTrainingStepTest.close;
import static io.dltrain.models.GpuTrainingStepTest.maxAbs;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Golden replay against PyTorch (llm.c's test method): {@code benchmarks/pytorch/export_golden.py} builds the same
 * networks in PyTorch, and writes per model the initial state_dict ({@code <model>.weights.safetensors}) and a golden
 * file ({@code <model>.golden.safetensors}): an input batch, labels, the logits, loss and every parameter gradient of
 * the first training step, the losses of 10 SGD steps (lr 0.01, momentum 0.9, same batch) and the state_dict after
 * them. This test loads the weights through dl-train's checkpoint reader (strict: every name and shape must match),
 * replays the 10 steps and compares everything with the file, on the CPU (always) and on the GPU (tag gpu).
 *
 * <p>The reference was computed in float64 on float32 values, so it is exact at float32 resolution; the criteria are
 * for dl-train's float32 arithmetic:
 * <ul>
 *   <li>logits 1e-4 relative + 1e-5 absolute element-wise (GEMM/convolution sums in float32), loss 1e-5 relative, the
 *       10 losses 1e-4 relative: the forward pass is continuous, so rounding moves these smoothly;</li>
 *   <li>each gradient of the first step, and each tensor of the final state, by {@link #agree}: ||ours - PyTorch|| <=
 *       max(1e-4 * scale, 2 * max_k ||ours_k - ours||) + 1e-8 sqrt(n), where ours_k are {@value #NUDGED_RUNS} replays of
 *       ours on the input nudged by up to 1e-5 relative, in antithetic pairs (a random nudge and its mirror image:
 *       {@link GpuTrainingStepTest#nudge(float[], long, int)}), and scale is the reference's norm (for parameters after
 *       the steps, the norm of the reference's total update). Why not element-wise: a ReLU pre-activation or a max-pool
 *       near-tie within float32 rounding of its kink sends that element's gradient one way in float64 and the other
 *       in float32. Measured on the CPU for these two models at the golden shapes (batch 4; {@link GoldenKinkTest}),
 *       nudging the input by 3e-7 relative broke the element-wise bound this test used before (1e-3 relative + 1e-3 of
 *       the largest value) for 1 to 3 of 300 random initialisations of each (up to 66 times over the bound), and this
 *       criterion accepts all 600. Why pairs: with four independent nudges it rejected lenet5's seed 282 with OpenBLAS's
 *       Haswell kernels (OPENBLAS_CORETYPE=Haswell; the rounding, and so which seeds sit on a kink, depends on the
 *       kernels OpenBLAS runs), where no nudge happened to cross the kink the 3e-7 nudge crossed; one of a mirrored
 *       pair crosses every kink within the nudge's reach. The same criterion as {@link GpuTrainingStepTest}'s; the floor is taken
 *       around OUR value, so a wrong result of ours cannot widen its own bound; a smooth model is held to 1e-4
 *       relative, and a wrong gradient, layout or semantic (say, a biased batch variance in the running variance: a
 *       factor 1 + 1/1023 at bn1's shape) gives errors far above either bound ({@link GoldenReplayHarnessTest}: ten
 *       times over it).</li>
 * </ul>
 *
 * <p>The committed files (runtime/src/test/resources/golden) were exported on the development machine with Debian's
 * PyTorch 1.13 ({@code /usr/bin/python3} of the {@code python3-torch} package; their metadata names the version): the
 * reference is float64 arithmetic on the CPU, so where PyTorch runs does not change it. So the CPU replay runs in CI;
 * the GPU runner exports them again with the GPU machine's PyTorch before its GPU replay. Where the files are absent
 * every case skips with "golden files not generated yet: run benchmarks/pytorch/export_golden.py".
 */
class GoldenReplayTest {
    static final String NOT_GENERATED = "golden files not generated yet: run benchmarks/pytorch/export_golden.py";

    /** The golden directory: -Ddltrain.golden.dir, else runtime/src/test/resources/golden seen from models/ or the root. */
    static Path goldenDir() {
        String p = System.getProperty("dltrain.golden.dir");
        if (p != null) return Path.of(p);
        for (String c : List.of("../runtime/src/test/resources/golden", "runtime/src/test/resources/golden")) {
            if (Files.isDirectory(Path.of(c))) return Path.of(c);
        }
        return Path.of("../runtime/src/test/resources/golden");
    }

    @ParameterizedTest(name = "{0} on the CPU")
    @ValueSource(strings = {"lenet5", "resnet-narrow"})
    void replayOnCpu(String model) {
        Path[] files = files(model);
        try (CpuBackend be = new CpuBackend(2)) {
            replay(be, model, files[0], files[1]);
        }
    }

    @Tag("gpu")
    @ParameterizedTest(name = "{0} on the GPU")
    @ValueSource(strings = {"lenet5", "resnet-narrow"})
    void replayOnGpu(String model) {
        Path[] files = files(model);
        String why = Backends.cudaUnavailableReason();
        Assumptions.assumeTrue(why == null, "no usable GPU: " + why);
        try (Backend be = Backends.create("cuda", 0, msg -> {})) {
            replay(be, model, files[0], files[1]);
        }
    }

    static Path[] files(String model) {
        Path dir = goldenDir();
        Path w = dir.resolve(model + ".weights.safetensors"), g = dir.resolve(model + ".golden.safetensors");
        Assumptions.assumeTrue(Files.isRegularFile(w) && Files.isRegularFile(g), NOT_GENERATED + " (looked for " + w.toAbsolutePath() + ")");
        return new Path[] {w, g};
    }

    /** What one replay of the golden steps produced. */
    record Run(float[] logits, float loss, Map<String, float[]> grads, float[] losses, Map<String, float[]> state,
               Map<String, int[]> intState) {}

    /** Runs of ours on the input nudged by up to NUDGE relative, for the sensitivity floor (see the class comment). */
    static final int NUDGED_RUNS = 4;

    static void replay(Backend be, String name, Path weights, Path goldenFile) {
        SafeTensors.Contents golden = SafeTensors.read(goldenFile);
        Map<String, LoadedTensor> t = golden.tensors();
        Map<String, String> meta = golden.metadata();
        assertEquals(name, meta.get("model"), goldenFile + ": metadata model");
        double lr = Double.parseDouble(meta.get("lr")), momentum = Double.parseDouble(meta.get("momentum"));
        int steps = Integer.parseInt(meta.get("steps"));
        LoadedTensor input = need(t, "input", goldenFile), labels = need(t, "labels", goldenFile);
        LoadedTensor logitsRef = need(t, "logits", goldenFile), lossesRef = need(t, "losses", goldenFile);
        assertEquals(steps, lossesRef.numel(), "losses in " + goldenFile);

        int classes = logitsRef.shape()[1];
        Run ours = run(be, name, weights, input, input.floats(), labels, classes, lr, momentum, steps);
        List<Run> nudged = new java.util.ArrayList<>();
        for (int k = 0; k < NUDGED_RUNS; k++)
            nudged.add(run(be, name, weights, input, GpuTrainingStepTest.nudgePair(input.floats(), 1000, k), labels, classes, lr, momentum, steps));

        String at = name + " on " + be.name() + ", first step: ";
        close(at + "logits", logitsRef.floats(), ours.logits(), 1e-5, 1e-4);
        float want = need(t, "loss", goldenFile).floats()[0];
        assertEquals(want, ours.loss(), 1e-5 * Math.abs(want) + 1e-7, at + "loss");
        for (Map.Entry<String, float[]> g : ours.grads().entrySet()) {
            float[] ref = need(t, "grad." + g.getKey(), goldenFile).floats();
            agree(at + "grad " + g.getKey(), ref, g.getValue(), nudged.stream().map(r -> r.grads().get(g.getKey())).toList(),
                    GpuTrainingStepTest.norm(ref, null));
        }
        close(name + " on " + be.name() + ": losses of " + steps + " SGD steps", lossesRef.floats(), ours.losses(), 1e-6, 1e-4);
        SafeTensors.Contents initial = SafeTensors.read(weights);
        for (Map.Entry<String, float[]> e : ours.state().entrySet()) {
            float[] ref = need(t, "final." + e.getKey(), goldenFile).floats();
            // parameters: relative to how far the 10 steps moved them; buffers (running statistics): to their size
            LoadedTensor before = initial.tensors().get(e.getKey());
            boolean param = ours.grads().containsKey(e.getKey());
            double scale = param && before != null ? GpuTrainingStepTest.norm(ref, before.floats()) : GpuTrainingStepTest.norm(ref, null);
            agree(name + " on " + be.name() + ": " + e.getKey() + " after " + steps + " steps", ref, e.getValue(),
                    nudged.stream().map(r -> r.state().get(e.getKey())).toList(), scale);
        }
        for (Map.Entry<String, int[]> e : ours.intState().entrySet()) {
            int[] ref = need(t, "final." + e.getKey(), goldenFile).ints();
            assertArrayEquals(ref, e.getValue(), name + " on " + be.name() + ": " + e.getKey() + " after " + steps + " steps");
        }
    }

    /**
     * Ours agrees with PyTorch's value as far as the model's FP32 sensitivity allows: ||ours - ref|| <= max(TAU * scale,
     * 2 * max_k ||nudged_k - ours||) + 1e-8 sqrt(n). The floor is measured from OUR runs on nudged inputs around ours
     * (not around the reference: a wrong result of ours would then widen its own bound).
     */
    static void agree(String what, float[] ref, float[] ours, List<float[]> nudged, double scale) {
        double floor = 0;
        for (float[] n : nudged) floor = Math.max(floor, GpuTrainingStepTest.norm(n, ours));
        GpuTrainingStepTest.within(what, ref, "PyTorch", ours, "ours", floor, scale);
    }

    /** The golden steps on {@code x}: from the golden weights, {@code steps} SGD steps on the same batch. */
    static Run run(Backend be, String name, Path weights, LoadedTensor input, float[] x, LoadedTensor labels, int classes,
                   double lr, double momentum, int steps) {
        int[] in = input.shape();
        ModelSpec spec = new ModelSpec(in[1], in[2], in[3], classes);
        try (Module model = Scope.outside(() -> build(name, new Context(be, 0), spec))) {
            Checkpoint.loadInto(model, weights, true); // strict: PyTorch's names and shapes must be ours exactly
            model.train(true);
            try (SGD opt = new SGD(model.namedParameters(), lr).momentum(momentum)) {
                float[] losses = new float[steps], logits0 = null;
                float loss0 = Float.NaN;
                Map<String, float[]> grads = new java.util.LinkedHashMap<>();
                for (int step = 0; step < steps; step++) {
                    opt.zeroGrad();
                    try (Scope s = Scope.open()) {
                        Tensor xt = be.fromHost(x, input.shapeObject());
                        Tensor y = be.fromHost(labels.ints(), labels.shapeObject());
                        Tensor logits = model.forward(xt);
                        Tensor loss = Losses.crossEntropy(logits, y, 0f);
                        loss.backward();
                        if (step == 0) {
                            logits0 = logits.toFloatArray();
                            loss0 = loss.item();
                            for (Map.Entry<String, Tensor> p : model.namedParameters().entrySet()) {
                                assertNotNull(p.getValue().grad(), name + " on " + be.name() + ": " + p.getKey() + " received no gradient");
                                grads.put(p.getKey(), p.getValue().grad().toFloatArray());
                            }
                        }
                        opt.step();
                        losses[step] = loss.item();
                    }
                }
                Map<String, float[]> state = new java.util.LinkedHashMap<>();
                Map<String, int[]> ints = new java.util.LinkedHashMap<>();
                for (Map.Entry<String, Tensor> e : model.stateDict().entrySet()) {
                    if (e.getValue().dtype() == DType.INT32) ints.put(e.getKey(), e.getValue().toIntArray());
                    else state.put(e.getKey(), e.getValue().toFloatArray());
                }
                return new Run(logits0, loss0, grads, losses, state, ints);
            }
        }
    }

    static LoadedTensor need(Map<String, LoadedTensor> t, String key, Path file) {
        LoadedTensor v = t.get(key);
        if (v == null) fail(file + " has no tensor '" + key + "'; regenerate it with benchmarks/pytorch/export_golden.py");
        return v;
    }

    static Module build(String name, Context ctx, ModelSpec spec) {
        return switch (name) {
            case "resnet-narrow" -> new NarrowResNet(ctx, spec);
            default -> ModelRegistry.get(name).build(ctx, spec);
        };
    }

    /**
     * The narrow ResNet of export_golden.py from dl-train's own {@link ResNets.BasicBlock} and torchvision-style
     * shortcut: conv1 (3x3, width 8) - bn1 - relu - layer1 [BasicBlock 8] - layer2 [BasicBlock 8 -> 16, stride 2,
     * downsample conv1x1 + BN] - adaptive avg pool - fc. The registry has no width option, and resnet18's weights and
     * gradients would make the golden files ~90 MB.
     */
    static final class NarrowResNet extends Module {
        private final Conv2d conv1;
        private final BatchNorm2d bn1;
        private final Sequential layer1, layer2;
        private final AdaptiveAvgPool2d avgpool;
        private final Linear fc;

        NarrowResNet(Context ctx, ModelSpec s) {
            conv1 = addModule("conv1", ResNets.conv3x3(ctx, s.inChannels(), 8, 1));
            bn1 = addModule("bn1", new BatchNorm2d(ctx, 8));
            addModule("relu", new ReLU());
            layer1 = addModule("layer1", new Sequential(new ResNets.BasicBlock(ctx, 8, 8, 1, null)));
            layer2 = addModule("layer2", new Sequential(new ResNets.BasicBlock(ctx, 8, 16, 2,
                    new Sequential(ResNets.conv1x1(ctx, 8, 16, 2), new BatchNorm2d(ctx, 16)))));
            avgpool = addModule("avgpool", new AdaptiveAvgPool2d(1, 1));
            fc = addModule("fc", new Linear(ctx, 16, s.numClasses()));
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor h = Activations.relu(bn1.forward(conv1.forward(x)));
            h = layer2.forward(layer1.forward(h));
            return fc.forward(Basic.flatten(avgpool.forward(h)));
        }
    }
}
