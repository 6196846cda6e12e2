package io.dltrain.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.nn.loss.MSELoss;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.train.EpochMetrics;
import io.dltrain.runtime.train.Task;
import io.dltrain.runtime.train.TrainConfig;
import io.dltrain.runtime.train.Trainer;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The registry's own models trained against their PyTorch twins: mlp, lstm (1x28x28, and 3x5x7: rows channel after
 * channel), autoencoder, conv-autoencoder (1x28x28, and 3x15x10, where the transposed convolutions' output_padding
 * differs between height and width), resnet18-cifar-narrow in train mode and
 * resnet18-cifar in eval mode. golden/training.golden.safetensors (benchmarks/pytorch/export_training_golden.py) holds
 * per case a batch, and from PyTorch in float64 and in float32, after weights from {@link ZooGoldenTest#formula}: the
 * output of the first step, the loss of each of 4 steps with the optimiser {@link Optimizers#create} builds (SGD with
 * momentum, Nesterov and weight decay; Adam; AdamW) and the loss the model's task picks (cross-entropy, or MSE
 * against the target), [L2 norm, dot with a pseudo-random vector] of every first-step gradient and of every
 * state_dict entry's change over the 4 steps, and the batch norms' counters; the ResNets take 2 steps and their
 * state change after the first (their later gradients are kink-sensitive: PyTorch's own float32 run leaves its
 * float64 one by percents; see the exporter). This test does the same steps and compares.
 *
 * <p>Tolerance, as {@link ZooGoldenTest}'s: PyTorch's own float32 results' distance from its float64 ones is this
 * network's float32 rounding noise on this batch; ours is float32 rounded differently (other summation orders), so
 * it may be of the same order. Outputs and losses: 4 times PyTorch's largest float32 error in that tensor + 1e-5
 * absolute, plus 1e-4 relative (float32 GEMM and convolution sums); gradients and updates: 4 times PyTorch's worst
 * float32 relative distance over the case's gradients + 1e-5, relative to each tensor's norm, and for the state
 * changes in addition the float32 resolution of the new values (half an ulp a step, bounded generously:
 * {@link #compareStats}). Then two whole fits through {@link Trainer#fit} ({@link #fitsAsPyTorchOnTheCpu}). Runs in
 * about 10 s on 2 cores (resnet18-cifar, 11 M parameters, 4.4 to 4.9 s of it).
 */
class TrainingGoldenTest {
    static final List<String> CASES = List.of("mlp", "lstm", "autoencoder", "conv-autoencoder", "conv-autoencoder-odd",
            "lstm-rgb", "resnet18-cifar-narrow", "resnet18-cifar");

    static final List<String> FITS = List.of("fit-mlp", "fit-autoencoder");

    static SafeTensors.Contents golden() {
        return SafeTensors.read(GoldenReplayTest.goldenDir().resolve("training.golden.safetensors"));
    }

    @Test
    void theFileHoldsExactlyTheseCases() throws Exception {
        SafeTensors.Contents g = golden();
        JsonNode cases = new ObjectMapper().readTree(g.metadata().get("cases"));
        List<String> names = new ArrayList<>();
        cases.fieldNames().forEachRemaining(names::add);
        assertEquals(CASES, names, "cases of training.golden.safetensors (re-export it, or add the case here)");
        List<String> fits = new ArrayList<>();
        new ObjectMapper().readTree(g.metadata().get("fits")).fieldNames().forEachRemaining(fits::add);
        assertEquals(FITS, fits, "fits of training.golden.safetensors (re-export it, or add the fit here)");
        assertEquals(Double.toString(ZooGoldenTest.PHI), g.metadata().get("phi"));
        assertEquals(Double.toString(ZooGoldenTest.PSI), g.metadata().get("psi"));
    }

    @ParameterizedTest(name = "{0} on the CPU")
    @ValueSource(strings = {"mlp", "lstm", "autoencoder", "conv-autoencoder", "conv-autoencoder-odd", "lstm-rgb", "resnet18-cifar-narrow",
            "resnet18-cifar"})
    void trainsAsPyTorchOnTheCpu(String name) throws Exception {
        try (CpuBackend be = new CpuBackend(2)) {
            replay(be, name);
        }
    }

    /**
     * A whole fit through {@link Trainer#fit}: 2 epochs over 10 samples in order (batches 4, 4, 2), a validation pass
     * after each, with the schedule, clipping, label smoothing or reconstruction target the exporter's FITS give; the
     * per-epoch training and validation losses, the last step's learning rate, and every state entry's change over
     * the fit against PyTorch's loop, with {@link #replay}'s tolerances (the training-loss yardstick for the
     * changes' relative part).
     */
    @ParameterizedTest(name = "{0} on the CPU")
    @ValueSource(strings = {"fit-mlp", "fit-autoencoder"})
    void fitsAsPyTorchOnTheCpu(String name) throws Exception {
        SafeTensors.Contents golden = golden();
        Map<String, LoadedTensor> t = golden.tensors();
        JsonNode c = new ObjectMapper().readTree(golden.metadata().get("fits")).get(name);
        if (c == null) fail("training.golden.safetensors has no fit " + name + "; re-export it with benchmarks/pytorch/export_training_golden.py");
        String model = c.get("model").asText();
        Task task = ModelRegistry.get(model).task();
        int[] sample = {c.get("sample").get(0).asInt(), c.get("sample").get(1).asInt(), c.get("sample").get(2).asInt()};
        int epochs = c.get("epochs").asInt(), batch = c.get("batch").asInt();
        String what = name + " (" + model + ", " + c.get("opt").get(0).asText() + ", " + c.get("schedule").asText() + ")";
        try (CpuBackend be = new CpuBackend(2);
             Module m = Scope.outside(() -> ModelRegistry.get(model).build(new Context(be, 0), new ModelSpec(sample[0], sample[1], sample[2], c.get("classes").asInt())))) {
            Map<String, float[]> initial = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
                float[] f = ZooGoldenTest.formula(e.getKey(), e.getValue().shape().dims());
                initial.put(e.getKey(), f);
                be.copyFromHost(f, 0, e.getValue());
            }
            TrainConfig config = new TrainConfig(epochs, batch, c.get("opt").get(1).asDouble(), c.get("opt").get(0).asText(),
                    c.get("opt").get(2).asDouble(), c.get("opt").get(3).asDouble(), c.get("schedule").asText(),
                    (float) c.get("label_smoothing").asDouble(), (float) c.get("clip_norm").asDouble(), 0L, 0.0, 0, 0.0, 1);
            Trainer trainer = new Trainer(be, config).task(task);
            if (c.has("mean")) trainer.reconstructionScale(new float[] {(float) c.get("mean").asDouble()}, new float[] {(float) c.get("std").asDouble()});
            Loss loss = task.classifies() ? new CrossEntropyLoss(config.labelSmoothing()) : new MSELoss();
            Trainer.Result result;
            try (Optimizer opt = Optimizers.create(config.optimizer(), m.namedParameters(), config.lr(), config.momentum(), config.weightDecay());
                 DataLoader train = new DataLoader(new Held(name + " train", sample, c.get("classes").asInt(), need(t, name + ".train_x"), need(t, name + ".train_y")),
                         null, batch, false, false, 0L, 0, 2);
                 DataLoader val = new DataLoader(new Held(name + " val", sample, c.get("classes").asInt(), need(t, name + ".val_x"), need(t, name + ".val_y")),
                         null, batch, false, false, 0L, 0, 2)) {
                result = trainer.fit(m, loss, opt, LrSchedules.parse(config.schedule()), train, val, null);
            }
            assertEquals(epochs, result.epochs().size(), what + ": epochs trained");
            List<String> failures = new ArrayList<>();
            double yard = 0;
            for (String key : List.of("train_loss", "val_loss", "lr")) {
                float[] ref = need(t, name + "." + key).floats(), ref32 = need(t, name + "." + key + "32").floats();
                float[] ours = new float[epochs];
                for (int e = 0; e < epochs; e++) {
                    EpochMetrics em = result.epochs().get(e);
                    ours[e] = (float) (key.equals("train_loss") ? em.trainLoss() : key.equals("val_loss") ? em.valLoss() : em.lr());
                }
                double e32 = ZooGoldenTest.maxDiff(ref32, ref);
                if (key.equals("train_loss")) yard = e32 / Math.abs(ref[0]);
                System.out.printf("%s: %s %s, PyTorch %s (float32 %.3g from it)%n", what, key, java.util.Arrays.toString(ours), java.util.Arrays.toString(ref), e32);
                ZooGoldenTest.within(failures, what + ": " + key + " per epoch", ref, ours, 4 * e32 + 1e-5, 1e-4);
            }
            Map<String, double[]> updates = new LinkedHashMap<>(), floors = new LinkedHashMap<>();
            List<Long> counters = new ArrayList<>();
            changes(m, initial, (int) (epochs * trainSteps(c)), updates, floors, counters);
            compareStats(failures, what, "change over the fit", names(c, "update"), need(t, name + ".update").floats(), updates, floors, 4 * yard + 1e-5, true);
            if (!failures.isEmpty()) fail(failures.size() + " differences from PyTorch " + golden.metadata().get("torch_version")
                    + " (training.golden.safetensors):\n" + String.join("\n", failures));
        }
    }

    private static long trainSteps(JsonNode c) { return (c.get("train").asInt() + c.get("batch").asInt() - 1) / c.get("batch").asInt(); }

    /** Samples held in memory: the golden file's [N, C, H, W] inputs and [N] labels. */
    record Held(String name, int[] sample, int classes, LoadedTensor x, LoadedTensor y) implements Dataset {
        @Override public int size() { return x.shape()[0]; }
        @Override public Shape sampleShape() { return Shape.of(sample[0], sample[1], sample[2]); }
        @Override public int numClasses() { return classes; }
        @Override public List<String> classNames() { return java.util.stream.IntStream.range(0, classes).mapToObj(Integer::toString).toList(); }
        @Override public int read(int index, float[] dst, int dstOffset) {
            int per = sample[0] * sample[1] * sample[2];
            System.arraycopy(x.floats(), index * per, dst, dstOffset, per);
            return y.ints()[index];
        }
    }

    static void replay(Backend be, String name) throws Exception {
        SafeTensors.Contents golden = golden();
        Map<String, LoadedTensor> t = golden.tensors();
        JsonNode c = new ObjectMapper().readTree(golden.metadata().get("cases")).get(name);
        if (c == null) fail("training.golden.safetensors has no case " + name + "; re-export it with benchmarks/pytorch/export_training_golden.py");
        String what = name + " (" + c.get("model").asText() + ", " + c.get("optimizer").asText() + ") on " + be.name();
        List<String> failures = new ArrayList<>();
        Run ours = run(be, t, name, c);

        float[] out = need(t, name + ".output").floats(), out32 = need(t, name + ".output32").floats();
        double e32 = ZooGoldenTest.maxDiff(out32, out);
        System.out.printf("%s: output max |ours - float64| %.3g, PyTorch float32 %.3g%n", what, ZooGoldenTest.maxDiff(ours.output, out), e32);
        ZooGoldenTest.within(failures, what + ": output of the first step", out, ours.output, 4 * e32 + 1e-5, 1e-4);
        float[] losses = need(t, name + ".losses").floats(), losses32 = need(t, name + ".losses32").floats();
        double l32 = ZooGoldenTest.maxDiff(losses32, losses);
        System.out.printf("%s: losses %s, max |ours - float64| %.3g, PyTorch float32 %.3g%n", what, java.util.Arrays.toString(ours.losses),
                ZooGoldenTest.maxDiff(ours.losses, losses), l32);
        ZooGoldenTest.within(failures, what + ": losses of the " + losses.length + " steps", losses, ours.losses, 4 * l32 + 1e-5, 1e-4);

        double rtol = compareStats(failures, what, "gradient of the first step", names(c, "grads"), need(t, name + ".grads").floats(), ours.grads, null, 0, true);
        compareStats(failures, what, "change over " + c.get("update_after").asInt() + " steps", names(c, "update"), need(t, name + ".update").floats(),
                ours.updates, ours.floors, rtol, false);
        LoadedTensor counters = t.get(name + ".num_batches_tracked");
        if (counters != null) {
            long[] want = new long[counters.ints().length];
            for (int i = 0; i < want.length; i++) want[i] = counters.ints()[i];
            assertArrayEquals(want, ours.counters.stream().mapToLong(Long::longValue).toArray(), what + ": num_batches_tracked after the steps");
        } else {
            assertEquals(List.of(), ours.counters, what + ": batch norms the twin does not have");
        }
        if (!failures.isEmpty()) fail(failures.size() + " differences from PyTorch " + golden.metadata().get("torch_version")
                + " (training.golden.safetensors):\n" + String.join("\n", failures));
    }

    /**
     * Rows [norm, dot] of float64 then float32 in the file, names in order; ours by name. Gradients (floors null): each
     * within rtol = 4 x PyTorch's worst float32 relative distance in the case + 1e-5, relative to the reference norm;
     * returns that rtol. State changes: within the gradients' rtol (the steps are functions of the gradients; for a
     * fit, whose gradients are not stored, the larger of its training loss's and its changes' own yardstick) plus
     * each tensor's floors: a change stored as new - old in float32 is off by up to half an ulp of the new value a
     * step, more than rtol where the change is small next to the value (a batch-norm scale of ~1 moved by 1e-7).
     */
    static double compareStats(List<String> failures, String what, String kind, List<String> names, float[] st, Map<String, double[]> ours,
                               Map<String, double[]> floors, double gradRtol, boolean ownYardstick) {
        assertEquals(names, new ArrayList<>(ours.keySet()), what + ": the tensors compared for the " + kind + " (ours, in order, vs the twin's)");
        assertEquals(4 * names.size(), st.length, what + ": rows of the " + kind);
        double y32 = 0, worst = 0;
        for (int k = 0; k < names.size(); k++)
            if (st[4 * k] > 0) y32 = Math.max(y32, ZooGoldenTest.relDistance(new float[] {st[4 * k + 2], st[4 * k + 3]}, new float[] {st[4 * k], st[4 * k + 1]}));
        double rtol = Math.max(gradRtol, ownYardstick ? 4 * y32 + 1e-5 : 0);
        for (int k = 0; k < names.size(); k++) {
            float[] r = {st[4 * k], st[4 * k + 1]};
            double[] o = ours.get(names.get(k)), f = floors == null ? new double[2] : floors.get(names.get(k));
            if (r[0] > 0) worst = Math.max(worst, ZooGoldenTest.relDistance(new float[] {(float) o[0], (float) o[1]}, r));
            double tn = rtol * Math.abs(r[0]) + f[0] + 1e-12, td = rtol * Math.abs(r[0]) + f[1] + 1e-12;
            if (!(Math.abs(o[0] - r[0]) <= tn) || !(Math.abs(o[1] - r[1]) <= td))
                failures.add(String.format("%s: %s of %s: norm %.7g and dot %.7g, PyTorch %.7g and %.7g (tolerances %.3g and %.3g)",
                        what, kind, names.get(k), o[0], o[1], r[0], r[1], tn, td));
        }
        System.out.printf("%s: %s: worst relative distance %.3g, PyTorch float32 %.3g (tolerance %.3g relative%s)%n", what, kind, worst, y32, rtol,
                floors == null ? "" : " + float32 resolution of the new values");
        return rtol;
    }

    static List<String> names(JsonNode c, String key) {
        List<String> out = new ArrayList<>();
        c.get(key).forEach(n -> out.add(n.asText()));
        return out;
    }

    /** floors: per state entry, [||ulp(new)||, sum |v_i| ulp(new_i)] times the steps taken (compareStats). */
    record Run(float[] output, float[] losses, Map<String, double[]> grads, Map<String, double[]> updates, Map<String, double[]> floors,
               List<Long> counters) {}

    /** The case's steps: formula weights, the optimiser Optimizers.create builds, the task's loss, the same batch each step. */
    static Run run(Backend be, Map<String, LoadedTensor> t, String name, JsonNode c) {
        int[] in = new int[4];
        for (int i = 0; i < 4; i++) in[i] = c.get("input").get(i).asInt();
        ModelSpec spec = new ModelSpec(in[1], in[2], in[3], c.get("classes").asInt());
        boolean mse = c.get("loss").asText().equals("mse");
        LoadedTensor input = need(t, name + ".input"), target = need(t, name + (mse ? ".target" : ".labels"));
        assertArrayEquals(in, input.shape(), name + ": input shape");
        int steps = c.get("steps").asInt(), updateAfter = c.get("update_after").asInt();
        try (Module m = Scope.outside(() -> ModelRegistry.get(c.get("model").asText()).build(new Context(be, 0), spec))) {
            Map<String, float[]> initial = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
                Tensor v = e.getValue();
                if (v.dtype() == DType.INT32) {
                    be.copyFromHost(new int[(int) v.numel()], 0, v);
                } else {
                    float[] f = ZooGoldenTest.formula(e.getKey(), v.shape().dims());
                    initial.put(e.getKey(), f);
                    be.copyFromHost(f, 0, v);
                }
            }
            m.train(c.get("train").asBoolean());
            float[] output = null, losses = new float[steps];
            Map<String, double[]> grads = new LinkedHashMap<>(), updates = new LinkedHashMap<>(), floors = new LinkedHashMap<>();
            List<Long> counters = new ArrayList<>();
            try (Optimizer opt = Optimizers.create(c.get("optimizer").asText(), m.namedParameters(), c.get("lr").asDouble(),
                    c.get("momentum").asDouble(), c.get("weight_decay").asDouble())) {
                for (int step = 0; step < steps; step++) {
                    opt.zeroGrad();
                    try (Scope s = Scope.open()) {
                        Tensor x = be.fromHost(input.floats(), input.shapeObject());
                        Tensor out = m.forward(x);
                        Tensor loss = mse ? Losses.mse(out, be.fromHost(target.floats(), target.shapeObject()))
                                : Losses.crossEntropy(out, be.fromHost(target.ints(), target.shapeObject()), 0f);
                        loss.backward();
                        if (step == 0) {
                            output = out.toFloatArray();
                            for (Map.Entry<String, Tensor> p : m.namedParameters().entrySet()) {
                                Tensor g = p.getValue().grad();
                                if (g == null) fail(name + ": " + p.getKey() + " received no gradient");
                                grads.put(p.getKey(), ZooGoldenTest.stats(p.getKey(), g.toFloatArray()));
                            }
                        }
                        opt.step();
                        losses[step] = loss.item();
                    }
                    if (step + 1 == updateAfter) changes(m, initial, updateAfter, updates, floors, counters);
                }
            }
            return new Run(output, losses, grads, updates, floors, counters);
        }
    }

    /** Each floating state entry's change from initial (its stats, and its float32 floors), and the int counters. */
    static void changes(Module m, Map<String, float[]> initial, int steps, Map<String, double[]> updates, Map<String, double[]> floors, List<Long> counters) {
        for (Map.Entry<String, Tensor> e : m.stateDict().entrySet()) {
            if (e.getValue().dtype() == DType.INT32) {
                for (int v : e.getValue().toIntArray()) counters.add((long) v);
                continue;
            }
            float[] now = e.getValue().toFloatArray(), was = initial.get(e.getKey());
            double[] d = new double[now.length];
            double sq = 0, abs = 0;
            long h = ZooGoldenTest.nameHash(e.getKey() + "#grad");
            for (int i = 0; i < d.length; i++) {
                d[i] = (double) now[i] - was[i];
                double ulp = Math.ulp(now[i]);
                sq += ulp * ulp;
                abs += Math.abs(2 * ZooGoldenTest.u(h, i) - 1) * ulp;
            }
            updates.put(e.getKey(), stats(e.getKey(), d));
            floors.put(e.getKey(), new double[] {steps * Math.sqrt(sq), steps * abs});
        }
    }

    /** [L2 norm, dot with v(name)] of a double vector, as ZooGoldenTest.stats and the exporter's stats(). */
    static double[] stats(String name, double[] g) {
        long h = ZooGoldenTest.nameHash(name + "#grad");
        double sq = 0, dot = 0;
        for (int i = 0; i < g.length; i++) {
            sq += g[i] * g[i];
            dot += g[i] * (2 * ZooGoldenTest.u(h, i) - 1);
        }
        return new double[] {Math.sqrt(sq), dot};
    }

    static LoadedTensor need(Map<String, LoadedTensor> t, String name) {
        LoadedTensor x = t.get(name);
        if (x == null) fail("golden/training.golden.safetensors has no " + name + "; re-export it with benchmarks/pytorch/export_training_golden.py");
        return x;
    }
}
