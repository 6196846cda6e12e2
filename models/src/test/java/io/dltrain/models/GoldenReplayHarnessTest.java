package io.dltrain.models;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The golden replay's harness, on the CPU, while PyTorch's golden files do not exist yet: golden files in the same
 * layout as export_golden.py's, written from dl-train's own CPU steps, replay clean through
 * {@link GoldenReplayTest#replay} (file names, metadata, strict weight loading, every comparison), and the same files
 * with one quantity made wrong by a bug-sized amount fail it, naming that quantity. It says nothing about agreement
 * with PyTorch: the reference here is ours.
 */
class GoldenReplayHarnessTest {
    static final int STEPS = 10;

    /** Writes name.weights.safetensors and name.golden.safetensors from our CPU run, with {@code spoil} applied. */
    static Path[] write(CpuBackend be, Path dir, String name, int[] shape, Consumer<Map<String, float[]>> spoil) {
        ModelSpec spec = new ModelSpec(shape[1], shape[2], shape[3], 10);
        Path weights = dir.resolve(name + ".weights.safetensors"), golden = dir.resolve(name + ".golden.safetensors");
        try (Module m = Scope.outside(() -> GoldenReplayTest.build(name, new Context(be, 11), spec)); Scope s = Scope.open()) {
            SafeTensors.write(weights, m.stateDict(), Map.of());
            SplittableRandom r = new SplittableRandom(5);
            int n = shape[0] * shape[1] * shape[2] * shape[3];
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) (2 * r.nextDouble() - 1);
            int[] y = new int[shape[0]];
            for (int i = 0; i < y.length; i++) y[i] = r.nextInt(10);
            LoadedTensor input = new LoadedTensor("F32", shape, x, null), labels = new LoadedTensor("I64", new int[] {shape[0]}, null, y);
            GoldenReplayTest.Run run = GoldenReplayTest.run(be, name, weights, input, x, labels, 10, 0.01, 0.9, STEPS);

            Map<String, float[]> f = new LinkedHashMap<>();
            f.put("logits", run.logits());
            f.put("loss", new float[] {run.loss()});
            f.put("losses", run.losses());
            run.grads().forEach((k, v) -> f.put("grad." + k, v));
            run.state().forEach((k, v) -> f.put("final." + k, v));
            spoil.accept(f);
            Map<String, Tensor> t = new LinkedHashMap<>();
            t.put("input", be.fromHost(x, Shape.of(shape)));
            t.put("labels", be.fromHost(y, Shape.of(shape[0])));
            // logits keep their [N, classes] shape (the replay takes the class count from it); the rest are flat
            for (Map.Entry<String, float[]> e : f.entrySet())
                t.put(e.getKey(), be.fromHost(e.getValue(), e.getKey().equals("logits") ? Shape.of(shape[0], 10) : Shape.of(e.getValue().length)));
            run.intState().forEach((k, v) -> t.put("final." + k, be.fromHost(v, Shape.of(v.length))));
            SafeTensors.write(golden, t, Map.of("model", name, "lr", "0.01", "momentum", "0.9", "steps", Integer.toString(STEPS)));
        }
        return new Path[] {weights, golden};
    }

    static void replay(CpuBackend be, Path[] files, String name) { GoldenReplayTest.replay(be, name, files[0], files[1]); }

    static String fails(CpuBackend be, Path dir, String name, int[] shape, Consumer<Map<String, float[]>> spoil) {
        Path[] files = write(be, dir, name, shape, spoil);
        return assertThrows(AssertionFailedError.class, () -> replay(be, files, name), name + ": a spoiled golden file was accepted").getMessage();
    }

    @Test
    void lenet5ReplaysItsOwnStepsAndRejectsWrongOnes(@TempDir Path dir) {
        int[] shape = {4, 1, 28, 28};
        try (CpuBackend be = new CpuBackend(2)) {
            replay(be, write(be, dir, "lenet5", shape, f -> {}), "lenet5");
            // a gradient 0.1% off (a smooth model is held to 1e-4 relative)
            String m = fails(be, dir, "lenet5", shape, f -> scale(f.get("grad.3.weight"), 1.001f));
            assertTrue(m.contains("grad 3.weight"), m);
            // two gradient elements exchanged (a layout error): the norm of the gradient is unchanged
            m = fails(be, dir, "lenet5", shape, f -> swapLargest(f.get("grad.0.weight")));
            assertTrue(m.contains("grad 0.weight"), m);
            m = fails(be, dir, "lenet5", shape, f -> f.get("logits")[7] += 1e-3f);
            assertTrue(m.contains("logits"), m);
            m = fails(be, dir, "lenet5", shape, f -> f.get("losses")[9] *= 1.001f);
            assertTrue(m.contains("losses of 10 SGD steps"), m);
            m = fails(be, dir, "lenet5", shape, f -> scale(f.get("final.9.bias"), 1.01f));
            assertTrue(m.contains("9.bias after 10 steps"), m);
        }
    }

    @Test
    void resnetNarrowReplaysItsOwnStepsAndRejectsWrongOnes(@TempDir Path dir) {
        int[] shape = {4, 3, 16, 16};
        try (CpuBackend be = new CpuBackend(2)) {
            replay(be, write(be, dir, "resnet-narrow", shape, f -> {}), "resnet-narrow");
            // the running variance updated with the biased batch variance instead of the unbiased one (n = 4 * 16 * 16)
            String m = fails(be, dir, "resnet-narrow", shape, f -> scale(f.get("final.bn1.running_var"), 1023f / 1024f));
            assertTrue(m.contains("bn1.running_var after 10 steps"), m);
            m = fails(be, dir, "resnet-narrow", shape, f -> scale(f.get("grad.layer2.0.downsample.1.weight"), 1.001f));
            assertTrue(m.contains("grad layer2.0.downsample.1.weight"), m);
        }
    }

    static void scale(float[] v, float by) { for (int i = 0; i < v.length; i++) v[i] *= by; }

    /** Exchanges the largest element with the smallest. */
    static void swapLargest(float[] v) {
        int hi = 0, lo = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[hi]) hi = i;
            if (v[i] < v[lo]) lo = i;
        }
        float t = v[hi];
        v[hi] = v[lo];
        v[lo] = t;
    }
}
