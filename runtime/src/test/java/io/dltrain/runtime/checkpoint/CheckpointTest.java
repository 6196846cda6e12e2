package io.dltrain.runtime.checkpoint;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Flatten;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.Adadelta;
import io.dltrain.runtime.optim.Adagrad;
import io.dltrain.runtime.optim.Adam;
import io.dltrain.runtime.optim.AdamW;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.RMSprop;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Checkpoints of a small Conv2d / BatchNorm2d / Linear network trained with Adam: bit-exact round trips, a resumed
 * run that continues bit-identically to the uninterrupted one (with every optimiser), PyTorch state_dict names in the
 * file, strict and non-strict (transfer learning) loading, directory handling (latest, keep-last-N, stale temporaries, failures).
 */
class CheckpointTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    @TempDir Path dir;

    static final int N = 4, CLASSES = 3;

    /** Conv2d(3->4, 3x3, pad 1) on 5x5 images, BatchNorm2d, ReLU, Flatten, Linear(100 -> classes). */
    static Sequential model(long seed, int classes) {
        Context ctx = new Context(be, seed);
        return new Sequential(new Conv2d(ctx, 3, 4, 3, 1, 1), new BatchNorm2d(ctx, 4), new ReLU(), new Flatten(),
                new Linear(ctx, 4 * 5 * 5, classes));
    }

    /** Training steps [from, from + n) on data drawn from a per-step seed, so two runs see the same batches. */
    static void train(Module m, Optimizer opt, int from, int n) { train(m, opt, from, n, step -> {}); }

    /** As above, with {@code beforeStep} run between the backward pass and the optimiser step (given the step index). */
    static void train(Module m, Optimizer opt, int from, int n, IntConsumer beforeStep) {
        for (int step = from; step < from + n; step++) {
            SplittableRandom rng = new SplittableRandom(1000 + step);
            int[] labels = new int[N];
            for (int i = 0; i < N; i++) labels[i] = rng.nextInt(CLASSES);
            opt.zeroGrad();
            try (Scope _ = Scope.open()) {
                Tensor x = be.fromHost(Check.uniform(rng, N * 3 * 5 * 5, -1, 1), Shape.of(N, 3, 5, 5));
                Tensor y = be.fromHost(labels, Shape.of(N));
                Losses.crossEntropy(m.forward(x), y, 0f).backward();
            }
            beforeStep.accept(step);
            opt.step();
        }
    }

    static TrainingState state(long step) {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("batch_size", 32);
        config.put("schedule", "cosine");
        config.put("warmup", 0.1);
        config.put("augment", true);
        config.put("milestones", List.of(30, 60));
        Map<String, Double> metrics = new LinkedHashMap<>();
        metrics.put("train_loss", 0.6931471805599453);
        metrics.put("val_acc", Double.NaN);
        return new TrainingState(1, step, "tiny-cnn", "random", Map.of("init", 1L, "data", -42L), config, "adam", 1e-3, metrics);
    }

    /** Every tensor's raw bits, by name. */
    static Map<String, List<Integer>> bits(Map<String, Tensor> ts) {
        Map<String, List<Integer>> out = new LinkedHashMap<>();
        ts.forEach((k, t) -> {
            List<Integer> l = new ArrayList<>();
            if (t.dtype() == DType.FP32) for (float f : t.toFloatArray()) l.add(Float.floatToRawIntBits(f));
            else for (int i : t.toIntArray()) l.add(i);
            out.put(k, l);
        });
        return out;
    }

    static List<String> ls(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ------------------------------------------------------------------------------------------------ round trip

    @Test void roundTripIsBitExactAndResumeContinuesIdentically() {
        try (Sequential a = model(1, CLASSES); Adam optA = new Adam(a.namedParameters(), 0.01);
             Sequential b = model(2, CLASSES); Adam optB = new Adam(b.namedParameters(), 0.5)) {
            train(a, optA, 0, 3);
            optA.setLr(0.007);
            Path ck = Checkpoint.save(dir, a, optA, state(3), 3);
            assertEquals(dir.resolve("ckpt-3").toAbsolutePath(), ck);

            assertNotEquals(bits(a.stateDict()), bits(b.stateDict()), "different seeds give different weights");
            TrainingState st = Checkpoint.load(ck, b, optB);
            assertEquals(state(3), st, "state.json round trip (config, seeds, NaN metric included)");
            assertEquals(bits(a.stateDict()), bits(b.stateDict()), "model bit-exact");
            assertEquals(bits(optA.state()), bits(optB.state()), "Adam exp_avg / exp_avg_sq bit-exact");
            assertEquals(3, optB.stepCount());
            for (String p : a.namedParameters().keySet()) assertEquals(3, optB.stepCount(p), p);
            assertEquals(0.007, optB.lr());
            assertArrayEquals(new int[] {3}, b.stateDict().get("1.num_batches_tracked").toIntArray());

            // resuming: two more steps on both give bit-identical parameters, statistics and optimiser state
            train(a, optA, 3, 2);
            train(b, optB, 3, 2);
            assertEquals(bits(a.stateDict()), bits(b.stateDict()), "resumed run diverged from the uninterrupted one");
            assertEquals(bits(optA.state()), bits(optB.state()));
            assertArrayEquals(new int[] {5}, b.stateDict().get("1.num_batches_tracked").toIntArray());
        }
    }

    /**
     * Resuming continues bit-identically for every optimiser (each with weight decay), including the state PyTorch
     * creates on a parameter's first step (SGD's momentum buffer = the gradient, which dampening tells apart from a
     * zero buffer; Adagrad's initial accumulator; Adam's bias corrections) and per-parameter step counts: before the
     * checkpoint at step 2, the last layer's weight misses step 0 (its first step is the one just before the
     * checkpoint) and its bias both steps (its first step comes after the resume). The learning rate, lowered as a
     * schedule would, must come back too.
     */
    @Test void everyOptimizerResumesBitIdentically() {
        Map<String, Function<Map<String, Tensor>, Optimizer>> optimizers = new LinkedHashMap<>();
        optimizers.put("sgd", p -> new SGD(p, 0.1).weightDecay(1e-2));
        optimizers.put("sgd momentum dampening", p -> new SGD(p, 0.1).momentum(0.9).dampening(0.1).weightDecay(1e-2));
        optimizers.put("sgd nesterov", p -> new SGD(p, 0.1).momentum(0.9).nesterov(true).weightDecay(1e-2));
        optimizers.put("adagrad", p -> new Adagrad(p, 0.1).lrDecay(0.1).initialAccumulatorValue(0.5).weightDecay(1e-2));
        optimizers.put("adadelta", p -> new Adadelta(p, 1.0).weightDecay(1e-2));
        optimizers.put("rmsprop", p -> new RMSprop(p, 0.01).weightDecay(1e-2));
        optimizers.put("rmsprop momentum centered", p -> new RMSprop(p, 0.01).momentum(0.9).centered(true).weightDecay(1e-2));
        optimizers.put("adam", p -> new Adam(p, 0.01).weightDecay(1e-2));
        optimizers.put("adamw", p -> new AdamW(p, 0.01).weightDecay(0.1));
        optimizers.forEach((name, make) -> {
            try (Sequential a = model(1, CLASSES); Optimizer optA = make.apply(a.namedParameters());
                 Sequential b = model(2, CLASSES); Optimizer optB = make.apply(b.namedParameters())) {
                train(a, optA, 0, 2, step -> {
                    a.namedParameters().get("4.bias").clearGrad();
                    if (step == 0) a.namedParameters().get("4.weight").clearGrad();
                });
                optA.setLr(optA.lr() / 2);
                Path ck = Checkpoint.save(dir.resolve(name), a, optA, state(2), 1);
                Checkpoint.load(ck, b, optB);
                assertEquals(optA.lr(), optB.lr(), name);
                assertEquals(List.of(2L, 1L, 0L), List.of(optB.stepCount("0.weight"), optB.stepCount("4.weight"), optB.stepCount("4.bias")), name);

                train(a, optA, 2, 2);
                train(b, optB, 2, 2);
                assertEquals(bits(a.stateDict()), bits(b.stateDict()), name + ": resumed run diverged from the uninterrupted one");
                assertEquals(bits(optA.state()), bits(optB.state()), name + ": optimiser state");
            }
        });
    }

    @Test void filesUsePyTorchNamesAndRecordOptimizerSteps() throws Exception {
        try (Sequential a = model(1, CLASSES); Adam opt = new Adam(a.namedParameters())) {
            train(a, opt, 0, 2);
            opt.setStepCount("4.bias", 1); // a parameter stepped less often keeps its own counter
            Path ck = Checkpoint.save(dir, a, opt, state(2), 1);
            assertEquals(List.of("model.safetensors", "optimizer.safetensors", "state.json"), ls(ck));

            SafeTensors.Contents m = SafeTensors.read(ck.resolve(Checkpoint.MODEL_FILE));
            assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                    "1.num_batches_tracked", "4.weight", "4.bias"), new ArrayList<>(m.tensors().keySet()));
            assertEquals("pt", m.metadata().get("format"));
            assertArrayEquals(new int[] {4, 3, 3, 3}, m.tensors().get("0.weight").shape());
            assertEquals("I32", m.tensors().get("1.num_batches_tracked").fileDtype());

            SafeTensors.Contents o = SafeTensors.read(ck.resolve(Checkpoint.OPTIMIZER_FILE));
            assertEquals(List.of("0.weight.exp_avg", "0.weight.exp_avg_sq", "0.bias.exp_avg", "0.bias.exp_avg_sq"),
                    new ArrayList<>(o.tensors().keySet()).subList(0, 4));
            assertEquals(Adam.class.getName(), o.metadata().get("optimizer_class"));
            assertEquals("2", o.metadata().get("step_count"));
            assertEquals("1", o.metadata().get("step.4.bias"));
            assertEquals("2", o.metadata().get("step.0.weight"));
            assertEquals("[0.9, 0.999]", o.metadata().get("betas"));   // torch.optim's param_groups keys and defaults
            assertEquals("1.0E-8", o.metadata().get("eps"));
            assertEquals("0.0", o.metadata().get("weight_decay"));

            String json = Files.readString(ck.resolve(Checkpoint.STATE_FILE));
            assertTrue(json.contains("\"format_version\" : " + Checkpoint.FORMAT_VERSION) && json.contains("\"model\" : \"tiny-cnn\""), json);

            try (Sequential b = model(5, CLASSES); Adam optB = new Adam(b.namedParameters())) {
                Checkpoint.load(ck, b, optB);
                assertEquals(1, optB.stepCount("4.bias"));
                assertEquals(2, optB.stepCount("4.weight"));
            }
        }
    }

    @Test void modelOnlyCheckpoint() {
        try (Sequential a = model(1, CLASSES); Sequential b = model(2, CLASSES); Adam optB = new Adam(b.namedParameters())) {
            Path ck = Checkpoint.save(dir, a, null, state(0), 1);
            assertFalse(Files.exists(ck.resolve(Checkpoint.OPTIMIZER_FILE)));
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(ck, b, optB));
            assertTrue(e.getMessage().contains("saved without optimiser state"), e.getMessage());
            assertNotEquals(bits(a.stateDict()), bits(b.stateDict()), "failed load changed nothing");
            Checkpoint.load(ck, b, null);
            assertEquals(bits(a.stateDict()), bits(b.stateDict()));
        }
    }

    // ------------------------------------------------------------------------------------------------ format version

    @Test void filesRecordTheirFormatAndTheBuildThatWroteThem() throws Exception {
        try (Sequential a = model(1, CLASSES)) {
            Path ck = Checkpoint.save(dir, a, null, state(1), 1);
            com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(ck.resolve(Checkpoint.STATE_FILE).toFile());
            assertEquals(Checkpoint.FORMAT_VERSION, j.get("format_version").intValue());
            assertEquals(io.dltrain.runtime.BuildInfo.version(), j.get("dl_train_version").textValue());
            assertEquals(io.dltrain.runtime.BuildInfo.build(), j.get("dl_train_build").textValue());
            for (Path f : List.of(ck.resolve(Checkpoint.MODEL_FILE), dir.resolve("export.safetensors"))) {
                if (!Files.exists(f)) Checkpoint.saveModel(f, a);
                // safetensors metadata: strings only (PyTorch's safe_open refuses anything else)
                assertEquals(Map.of("format", "pt", "format_version", Integer.toString(Checkpoint.FORMAT_VERSION),
                        "dl_train_version", io.dltrain.runtime.BuildInfo.version(), "dl_train_build", io.dltrain.runtime.BuildInfo.build()),
                        SafeTensors.read(f).metadata(), f.toString());
            }
        }
    }

    /**
     * A format_version below 1 (format versions start at 1) is damage, said as such, in state.json, optimizer.safetensors'
     * metadata and the JSON files the CLI checks (summary.json, metrics.jsonl lines); it was read as an older format.
     */
    @Test void aFormatVersionBelowOneIsDamage() throws Exception {
        try (Sequential a = model(1, CLASSES); Adam optA = new Adam(a.namedParameters()); Adam optB = new Adam(a.namedParameters())) {
            Path ck = Checkpoint.save(dir, a, optA, state(1), 1);
            Path sj = ck.resolve(Checkpoint.STATE_FILE).toAbsolutePath(), of = ck.resolve(Checkpoint.OPTIMIZER_FILE).toAbsolutePath();
            String good = Files.readString(sj);
            for (String v : List.of("-1", "0")) {
                Files.writeString(sj, good.replace("\"format_version\" : " + Checkpoint.FORMAT_VERSION, "\"format_version\" : " + v));
                CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.readState(ck));
                assertEquals(sj + ": \"format_version\" is " + v + ", but format versions start at 1 (this dl-train reads 1 to "
                        + Checkpoint.FORMAT_VERSION + "); the file is damaged", e.getMessage());
            }
            Files.writeString(sj, good);
            Map<String, String> meta = new LinkedHashMap<>(SafeTensors.read(of).metadata());
            meta.put("format_version", "0");
            SafeTensors.write(of, optA.state(), meta);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.loadOptimizer(optB, of));
            assertEquals(of + ": metadata \"format_version\" is '0', but format versions start at 1 (this dl-train reads 1 to "
                    + Checkpoint.FORMAT_VERSION + "); the file is damaged", e.getMessage());
            com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
            e = assertThrows(CheckpointException.class, () -> Checkpoint.checkFormat(sj, json.readTree("{\"format_version\":-3,\"epoch\":1}")));
            assertTrue(e.getMessage().endsWith("\"format_version\" is -3, but format versions start at 1 (this dl-train reads 1 to "
                    + Checkpoint.FORMAT_VERSION + "); the file is damaged"), e.getMessage());
            Checkpoint.checkFormat(sj, json.readTree("{\"format_version\":1}")); // the first version, and none, pass
            Checkpoint.checkFormat(sj, json.readTree("{\"epoch\":1}"));
        }
    }

    /** A file of a format newer than this dl-train's is refused, naming it, both versions and its writer; older ones load. */
    @Test void aNewerFormatIsRefusedByEveryLoadAndAnOlderOneIsRead() throws Exception {
        int newer = Checkpoint.FORMAT_VERSION + 1;
        try (Sequential a = model(1, CLASSES); Sequential b = model(2, CLASSES); Adam optA = new Adam(a.namedParameters());
             Adam optB = new Adam(b.namedParameters())) {
            Path ck = Checkpoint.save(dir, a, optA, state(1), 1);
            Path sj = ck.resolve(Checkpoint.STATE_FILE), mf = ck.resolve(Checkpoint.MODEL_FILE);
            String good = Files.readString(sj);
            String key = "\"format_version\" : " + Checkpoint.FORMAT_VERSION;
            Files.writeString(sj, good.replace(key, "\"format_version\" : " + newer).replaceAll("\"dl_train_version\" : \"[^\"]*\"", "\"dl_train_version\" : \"9.9.9\"")
                    .replaceAll("\"dl_train_build\" : \"[^\"]*\"", "\"dl_train_build\" : \"abcdef012345\""));
            for (Runnable r : List.<Runnable>of(() -> Checkpoint.readState(ck), () -> Checkpoint.load(ck, b, optB), () -> Checkpoint.load(ck, b, null))) {
                CheckpointException e = assertThrows(CheckpointException.class, r::run);
                assertEquals(sj.toAbsolutePath() + " has format_version " + newer + ", written by dl-train 9.9.9 (build abcdef012345), but this"
                        + " dl-train " + io.dltrain.runtime.BuildInfo.version() + " (build " + io.dltrain.runtime.BuildInfo.build() + ") reads format_version "
                        + Checkpoint.FORMAT_VERSION + " and older: its content may mean what this version cannot know. Use the dl-train that"
                        + " wrote it, or a newer one", e.getMessage());
            }
            assertNotEquals(bits(a.stateDict()), bits(b.stateDict()), "a refused load changes nothing");
            Files.writeString(sj, good.replace(key, "\"format_version\" : 1"));   // an older format reads as before
            assertEquals(1, Checkpoint.readState(ck).step());

            // model.safetensors, as --init-from and eval/predict load it: newer refused, strict or not, in load too
            SafeTensors.write(mf, a.stateDict(), Map.of("format", "pt", "format_version", Integer.toString(newer), "dl_train_version", "9.9.9"));
            for (Runnable r : List.<Runnable>of(() -> Checkpoint.loadInto(b, mf, true), () -> Checkpoint.loadInto(b, mf, false),
                    () -> Checkpoint.load(ck, b, optB))) {
                CheckpointException e = assertThrows(CheckpointException.class, r::run);
                assertTrue(e.getMessage().startsWith(mf.toAbsolutePath() + " has format_version " + newer + ", written by dl-train 9.9.9, but")
                        && e.getMessage().endsWith("Use the dl-train that wrote it, or a newer one"), e.getMessage());
            }
            assertNotEquals(bits(a.stateDict()), bits(b.stateDict()), "a refused load changes nothing");
            // the current, an older and no version (a file of dl-train before 2026-12-07, or PyTorch's) all load
            for (Map<String, String> meta : List.of(Map.of("format", "pt", "format_version", Integer.toString(Checkpoint.FORMAT_VERSION)),
                    Map.of("format", "pt", "format_version", "1"), Map.of("format", "pt"), Map.of("format_version", "v2"))) {
                SafeTensors.write(mf, a.stateDict(), meta);
                try (Sequential c = model(3, CLASSES)) {
                    Checkpoint.loadInto(c, mf, true);
                    assertEquals(bits(a.stateDict()), bits(c.stateDict()), meta.toString());
                }
            }
            Checkpoint.load(ck, b, optB);
            assertEquals(bits(a.stateDict()), bits(b.stateDict()));
        }
    }

    /**
     * optimizer.safetensors records its format and writer too (it recorded neither before 2026-12-08, so a file of a later
     * layout, read only by --resume and Checkpoint.load/loadOptimizer, would have been taken as today's): a newer version
     * is refused with the file, both versions and the way on, and nothing is loaded; an older one, and none, load as before.
     */
    @Test void theOptimizerFileRecordsItsFormatAndANewerOneIsRefused() {
        int newer = Checkpoint.FORMAT_VERSION + 1;
        try (Sequential a = model(1, CLASSES); Adam optA = new Adam(a.namedParameters());
             Sequential b = model(2, CLASSES); Adam optB = new Adam(b.namedParameters())) {
            train(a, optA, 0, 2);
            Path ck = Checkpoint.save(dir, a, optA, state(2), 1);
            Path f = ck.resolve(Checkpoint.OPTIMIZER_FILE);
            Map<String, String> meta = new LinkedHashMap<>(SafeTensors.read(f).metadata());
            assertEquals(List.of("format_version", "dl_train_version", "dl_train_build"), new ArrayList<>(meta.keySet()).subList(0, 3), meta.toString());
            assertEquals(Integer.toString(Checkpoint.FORMAT_VERSION), meta.get("format_version"));
            assertEquals(io.dltrain.runtime.BuildInfo.version(), meta.get("dl_train_version"));
            assertEquals(io.dltrain.runtime.BuildInfo.build(), meta.get("dl_train_build"));

            Map<String, String> later = new LinkedHashMap<>(meta);
            later.put("format_version", Integer.toString(newer));
            later.put("dl_train_version", "9.9.9");
            later.put("dl_train_build", "abcdef012345");
            SafeTensors.write(f, optA.state(), later);
            Map<String, List<Integer>> model = bits(b.stateDict());
            for (Runnable r : List.<Runnable>of(() -> Checkpoint.load(ck, b, optB), () -> Checkpoint.loadOptimizer(optB, f))) {
                CheckpointException e = assertThrows(CheckpointException.class, r::run);
                assertEquals(f.toAbsolutePath() + " has format_version " + newer + ", written by dl-train 9.9.9 (build abcdef012345), but this"
                        + " dl-train " + io.dltrain.runtime.BuildInfo.version() + " (build " + io.dltrain.runtime.BuildInfo.build() + ") reads format_version "
                        + Checkpoint.FORMAT_VERSION + " and older: its content may mean what this version cannot know. Use the dl-train that"
                        + " wrote it, or a newer one", e.getMessage());
            }
            assertEquals(model, bits(b.stateDict()), "a refused load changes nothing");
            assertEquals(0, optB.stepCount());
            later.put("format_version", "two");
            SafeTensors.write(f, optA.state(), later);
            CheckpointException damaged = assertThrows(CheckpointException.class, () -> Checkpoint.load(ck, b, optB));
            assertEquals(f.toAbsolutePath() + ": metadata \"format_version\" is 'two', not an integer; the file is damaged", damaged.getMessage());

            // an older version, and none (a file of dl-train before 2026-12-08), load as before
            Map<String, String> none = new LinkedHashMap<>(meta);
            none.keySet().removeAll(List.of("format_version", "dl_train_version", "dl_train_build"));
            Map<String, String> one = new LinkedHashMap<>(meta);
            one.put("format_version", "1");
            for (Map<String, String> m : List.of(one, none)) {
                SafeTensors.write(f, optA.state(), m);
                try (Sequential c = model(3, CLASSES); Adam optC = new Adam(c.namedParameters())) {
                    Checkpoint.load(ck, c, optC);
                    assertEquals(2, optC.stepCount(), m.toString());
                    assertEquals(bits(optA.state()), bits(optC.state()), m.toString());
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ strict / non-strict

    @Test void strictLoadListsEveryProblemAndLoadsNothing() {
        try (Sequential a = model(1, CLASSES)) {
            Path f = dir.resolve("a.safetensors");
            Checkpoint.saveModel(f, a);
            // head with 5 classes (shape mismatch) and an extra layer (missing keys)
            try (Sequential b = model(2, 5)) {
                b.add(new Linear(new Context(be, 3), 5, 2));
                Map<String, List<Integer>> before = bits(b.stateDict());
                CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.loadInto(b, f, true));
                String m = e.getMessage();
                assertTrue(m.contains(f.toAbsolutePath().toString()), m);
                assertTrue(m.contains("2 missing key(s) [5.weight, 5.bias]"), m);
                assertTrue(m.contains("4.weight (shape mismatch: file [3, 100], model [5, 100])"), m);
                assertTrue(m.contains("4.bias (shape mismatch: file [3], model [5])"), m);
                assertTrue(m.contains("non-strictly"), m);
                assertEquals(before, bits(b.stateDict()), "strict failure must not load anything");
            }
            // a model without the head: the file's head keys are unexpected
            Context ctx = new Context(be, 4);
            try (Sequential c = new Sequential(new Conv2d(ctx, 3, 4, 3, 1, 1), new BatchNorm2d(ctx, 4))) {
                CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.loadInto(c, f, true));
                assertTrue(e.getMessage().contains("2 unexpected key(s) [4.weight, 4.bias]"), e.getMessage());
                LoadReport r = Checkpoint.loadInto(c, f, false);
                assertEquals(List.of("4.weight", "4.bias"), r.unexpected());
                assertEquals(7, r.loaded().size());
                assertTrue(r.skipped().isEmpty());
            }
        }
    }

    @Test void nonStrictLoadForTransferLearning() {
        try (Sequential a = model(1, CLASSES); Sequential b = model(2, 10)) {
            Path f = dir.resolve("backbone.safetensors");
            Checkpoint.saveModel(f, a);
            Map<String, List<Integer>> headBefore = bits(Map.of("w", b.stateDict().get("4.weight"), "b", b.stateDict().get("4.bias")));
            LoadReport r = Checkpoint.loadInto(b, f, false);
            assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                    "1.num_batches_tracked"), r.loaded());
            assertEquals(List.of(
                    new LoadReport.Skipped("4.weight", LoadReport.Reason.SHAPE_MISMATCH, "file [3, 100], model [10, 100]"),
                    new LoadReport.Skipped("4.bias", LoadReport.Reason.SHAPE_MISMATCH, "file [3], model [10]")), r.skipped());
            assertTrue(r.unexpected().isEmpty());
            assertFalse(r.complete());
            Map<String, Tensor> sa = a.stateDict(), sb = b.stateDict();
            for (String k : r.loaded()) assertEquals(bits(Map.of(k, sa.get(k))), bits(Map.of(k, sb.get(k))), k);
            assertEquals(headBefore, bits(Map.of("w", sb.get("4.weight"), "b", sb.get("4.bias"))), "skipped head untouched");
        }
    }

    @Test void dtypeMismatchAndPyTorchInt64Buffers() throws Exception {
        try (Sequential m = model(1, CLASSES)) {
            // PyTorch-style file: num_batches_tracked as I64 loads into our INT32 buffer; a float one does not.
            Map<String, Tensor> sd = m.stateDict();
            String i64 = write(sd, "I64", 7);
            Checkpoint.loadInto(m, dir.resolve(i64), true);
            assertArrayEquals(new int[] {7}, sd.get("1.num_batches_tracked").toIntArray());

            String f32 = write(sd, "F32", 9);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.loadInto(m, dir.resolve(f32), true));
            assertTrue(e.getMessage().contains("1.num_batches_tracked (dtype mismatch: file F32, model INT32)"), e.getMessage());
            LoadReport r = Checkpoint.loadInto(m, dir.resolve(f32), false);
            assertEquals(List.of(new LoadReport.Skipped("1.num_batches_tracked", LoadReport.Reason.DTYPE_MISMATCH, "file F32, model INT32")), r.skipped());
            assertArrayEquals(new int[] {7}, sd.get("1.num_batches_tracked").toIntArray(), "skipped buffer untouched");
        }
    }

    /**
     * A state_dict saved in float64 (numpy's default; model.double() in PyTorch) loads, rounded to float32, and the
     * report names the tensors that were rounded so the CLI can say so.
     */
    @Test void float64FileLoadsAndTheReportNamesTheRoundedTensors() throws Exception {
        try (Sequential a = model(1, CLASSES); Sequential b = model(2, CLASSES)) {
            Map<String, Tensor> sa = a.stateDict();
            String f64 = write(sa, "I64", 3, "F64");
            LoadReport r = Checkpoint.loadInto(b, dir.resolve(f64), true);
            assertTrue(r.complete(), r.toString());
            assertEquals(List.of("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight", "4.bias"),
                    r.roundedFromFloat64());
            Map<String, Tensor> sb = b.stateDict();
            for (String k : sa.keySet())
                if (!k.endsWith("num_batches_tracked")) assertEquals(bits(Map.of(k, sa.get(k))), bits(Map.of(k, sb.get(k))), k);
            assertEquals(List.of(), Checkpoint.loadInto(b, dir.resolve(write(sa, "I64", 3)), true).roundedFromFloat64(), "an F32 file");
        }
    }

    /** A file with every FP32 tensor of sd (as F32) and num_batches_tracked with the given dtype and value, built by hand. */
    String write(Map<String, Tensor> sd, String nbtDtype, long nbt) throws IOException { return write(sd, nbtDtype, nbt, "F32"); }

    /** As PyTorch writes a state_dict: num_batches_tracked as nbtDtype, the float tensors as floatDtype (F32 or F64). */
    String write(Map<String, Tensor> sd, String nbtDtype, long nbt, String floatDtype) throws IOException {
        StringBuilder h = new StringBuilder("{");
        java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
        for (Map.Entry<String, Tensor> e : sd.entrySet()) {
            Tensor t = e.getValue();
            boolean isNbt = e.getKey().endsWith("num_batches_tracked");
            ByteBuffer b;
            String dt;
            if (isNbt) {
                dt = nbtDtype;
                b = ByteBuffer.allocate(nbtDtype.equals("I64") ? 8 : 4).order(ByteOrder.LITTLE_ENDIAN);
                if (nbtDtype.equals("I64")) b.putLong(nbt); else b.putFloat(nbt);
            } else {
                dt = floatDtype;
                float[] v = t.toFloatArray();
                b = ByteBuffer.allocate((dt.equals("F64") ? 8 : 4) * v.length).order(ByteOrder.LITTLE_ENDIAN);
                for (float x : v) if (dt.equals("F64")) b.putDouble(x); else b.putFloat(x);
            }
            if (h.length() > 1) h.append(',');
            h.append('"').append(e.getKey()).append("\":{\"dtype\":\"").append(dt).append("\",\"shape\":")
                    .append(t.shape().toString().replace(" ", "")).append(",\"data_offsets\":[").append(data.size())
                    .append(',').append(data.size() + b.capacity()).append("]}");
            data.writeBytes(b.array());
        }
        byte[] header = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
        String name = "nbt-" + nbtDtype + "-" + floatDtype + ".safetensors";
        Files.write(dir.resolve(name), SafeTensorsTest.raw(header.length, header, data.toByteArray()));
        return name;
    }

    @Test void optimizerOfAnotherKindIsRefused() {
        try (Sequential a = model(1, CLASSES); Adam opt = new Adam(a.namedParameters());
             Sequential b = model(2, CLASSES); SGD sgd = new SGD(b.namedParameters(), 0.1).momentum(0.9)) {
            train(a, opt, 0, 1);
            Path ck = Checkpoint.save(dir, a, opt, state(1), 1);
            Map<String, List<Integer>> before = bits(b.stateDict());
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(ck, b, sgd));
            // in the terms of the call, naming the command's option as such: a Java caller has no --optimizer
            assertTrue(e.getMessage().endsWith(" holds the state of Adam but the optimiser to restore is SGD; resume with the same"
                    + " optimiser (Adam; --optimizer on the command line), or start it fresh and load only the model (Checkpoint.load"
                    + " with a null optimizer; --init-from on the command line)"),
                    e.getMessage());
            assertEquals(before, bits(b.stateDict()), "model untouched when the optimiser part fails");
            assertEquals(0, sgd.stepCount());
        }
    }

    @Test void optimizerOfAnotherModelIsRefused() {
        try (Sequential a = model(1, CLASSES); Adam opt = new Adam(a.namedParameters());
             Sequential b = model(2, 7); Adam optB = new Adam(b.namedParameters())) {
            Path ck = Checkpoint.save(dir, a, opt, state(0), 1);
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoint.loadOptimizer(optB, ck.resolve(Checkpoint.OPTIMIZER_FILE)));
            assertTrue(e.getMessage().contains("4.weight.exp_avg (file F32 [3, 100], optimiser FP32 [7, 100])"), e.getMessage());
        }
    }

    /**
     * A resume into an optimiser built with other hyper-parameters than the checkpoint's is refused, naming each
     * differing setting with both values (exactly as written: one ulp apart differs) and loading nothing. Settings that
     * decide which state tensors exist (RMSprop's centered) are named too, not reported as missing tensors.
     */
    @Test void optimizerWithOtherSettingsIsRefused() {
        record Case(Function<Map<String, Tensor>, Optimizer> saved, Function<Map<String, Tensor>, Optimizer> resumed, List<String> differ) {}
        double wd = Math.nextUp(5e-4);
        List<Case> cases = List.of(
                new Case(p -> new Adam(p).betas(0.9, 0.99).eps(1e-6), Adam::new,
                        List.of("betas (file [0.9, 0.99], optimiser [0.9, 0.999])", "eps (file 1.0E-6, optimiser 1.0E-8)")),
                new Case(AdamW::new, p -> new AdamW(p).weightDecay(0.1), List.of("weight_decay (file 0.01, optimiser 0.1)")),
                new Case(p -> new Adagrad(p).lrDecay(0.1).eps(1e-9).initialAccumulatorValue(0.5), Adagrad::new,
                        List.of("lr_decay (file 0.1, optimiser 0.0)", "eps (file 1.0E-9, optimiser 1.0E-10)",
                                "initial_accumulator_value (file 0.5, optimiser 0.0)")),
                new Case(p -> new Adadelta(p).rho(0.95).eps(1e-5), Adadelta::new,
                        List.of("rho (file 0.95, optimiser 0.9)", "eps (file 1.0E-5, optimiser 1.0E-6)")),
                new Case(p -> new RMSprop(p).alpha(0.9).momentum(0.9).centered(true), p -> new RMSprop(p).momentum(0.5),
                        List.of("alpha (file 0.9, optimiser 0.99)", "momentum (file 0.9, optimiser 0.5)", "centered (file true, optimiser false)")),
                new Case(p -> new SGD(p, 0.1).momentum(0.9).dampening(0.1), p -> new SGD(p, 0.1).momentum(0.8),
                        List.of("momentum (file 0.9, optimiser 0.8)", "dampening (file 0.1, optimiser 0.0)")),
                new Case(p -> new SGD(p, 0.1).momentum(0.9).nesterov(true), p -> new SGD(p, 0.1).momentum(0.9),
                        List.of("nesterov (file true, optimiser false)")),
                new Case(p -> new SGD(p, 0.1).weightDecay(5e-4).l1(1e-5), p -> new SGD(p, 0.1).weightDecay(wd),
                        List.of("weight_decay (file 5.0E-4, optimiser " + wd + ")", "l1 (file 1.0E-5, optimiser 0.0)")));
        for (Case c : cases) {
            try (Sequential a = model(1, CLASSES); Optimizer optA = c.saved.apply(a.namedParameters());
                 Sequential b = model(2, CLASSES); Optimizer optB = c.resumed.apply(b.namedParameters())) {
                train(a, optA, 0, 1);
                Path ck = Checkpoint.save(dir.resolve(String.valueOf(cases.indexOf(c))), a, optA, state(1), 1);
                Map<String, List<Integer>> before = bits(b.stateDict());
                CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(ck, b, optB), c.differ.toString());
                String m = e.getMessage();
                assertTrue(m.startsWith(ck.resolve(Checkpoint.OPTIMIZER_FILE) + " was saved by " + optB.getClass().getSimpleName()
                        + " with other settings than the optimiser to restore: " + String.join("; ", c.differ) + ". "), m);
                assertTrue(m.contains("build the optimiser with the file's settings"), m);
                assertEquals(before, bits(b.stateDict()), "model untouched when the optimiser's settings differ");
                assertEquals(0, optB.stepCount());
            }
        }
    }

    /** An optimizer.safetensors written before the settings were recorded (no such metadata) loads without the check. */
    @Test void optimizerFileWithoutSettingsLoadsUnchecked() {
        try (Sequential a = model(1, CLASSES); Adam optA = new Adam(a.namedParameters()).betas(0.8, 0.9).weightDecay(1e-2);
             Sequential b = model(2, CLASSES); Adam optB = new Adam(b.namedParameters())) {
            train(a, optA, 0, 2);
            Path ck = Checkpoint.save(dir, a, optA, state(2), 1);
            Path f = ck.resolve(Checkpoint.OPTIMIZER_FILE);
            Map<String, String> meta = new LinkedHashMap<>(SafeTensors.read(f).metadata());
            assertTrue(meta.keySet().containsAll(optA.settings().keySet()), meta.toString());
            meta.keySet().removeAll(optA.settings().keySet());
            SafeTensors.write(f, optA.state(), meta);
            Checkpoint.load(ck, b, optB);
            assertEquals(2, optB.stepCount());
            assertEquals(bits(optA.state()), bits(optB.state()));
        }
    }

    // ------------------------------------------------------------------------------------------------ directories

    @Test void latestKeepLastAndStaleTemporaries() throws Exception {
        assertTrue(Checkpoint.latest(dir.resolve("does-not-exist")).isEmpty());
        assertTrue(Checkpoint.latest(dir).isEmpty());
        try (Sequential a = model(1, CLASSES); Adam opt = new Adam(a.namedParameters())) {
            for (long s : new long[] {10, 20, 30}) Checkpoint.save(dir, a, opt, state(s), 2);
            assertEquals(List.of("ckpt-20", "ckpt-30"), ls(dir));
            assertEquals(dir.resolve("ckpt-30").toAbsolutePath(), Checkpoint.latest(dir).orElseThrow());

            // debris of a crash: an unfinished temporary directory and an incomplete one are never "latest"
            Files.createDirectories(dir.resolve("ckpt-40.tmp"));
            Files.writeString(dir.resolve("ckpt-40.tmp/model.safetensors"), "half");
            Files.createDirectories(dir.resolve("ckpt-50"));
            Files.createDirectories(dir.resolve("ckpt-99x"));
            assertEquals(dir.resolve("ckpt-30").toAbsolutePath(), Checkpoint.latest(dir).orElseThrow());
            // ... but the incomplete one is listed, for a resume to mention; the temporary directory is not
            assertEquals(List.of(dir.resolve("ckpt-50").toAbsolutePath()), Checkpoint.incomplete(dir, 30));
            assertEquals(List.of(), Checkpoint.incomplete(dir, 51));
            assertEquals(List.of(), Checkpoint.incomplete(dir.resolve("does-not-exist"), 0));
            assertEquals(50, Checkpoint.step(dir.resolve("ckpt-50")));
            assertEquals(50, Checkpoint.step(dir.resolve("ckpt-50.old")));
            assertEquals(-1, Checkpoint.step(dir.resolve("ckpt-40.tmp")));
            assertEquals(-1, Checkpoint.step(dir.resolve("best")));

            // numeric, not lexical, order; the next save removes the stale temporary
            Checkpoint.save(dir, a, opt, state(100), 3);
            assertEquals(List.of("ckpt-100", "ckpt-20", "ckpt-30", "ckpt-50", "ckpt-99x"), ls(dir));
            assertEquals(dir.resolve("ckpt-100").toAbsolutePath(), Checkpoint.latest(dir).orElseThrow());

            // saving the same step again replaces it in place
            train(a, opt, 0, 1);
            Checkpoint.save(dir, a, opt, state(100), 3);
            assertEquals(List.of("ckpt-100", "ckpt-20", "ckpt-30", "ckpt-50", "ckpt-99x"), ls(dir));
            assertEquals("1", SafeTensors.read(dir.resolve("ckpt-100/optimizer.safetensors")).metadata().get("step_count"));

            // a crash between moving the old ckpt-N aside and renaming the new one leaves ckpt-N.old: still found
            Files.move(dir.resolve("ckpt-100"), dir.resolve("ckpt-100.old"));
            assertEquals(dir.resolve("ckpt-100.old").toAbsolutePath(), Checkpoint.latest(dir).orElseThrow());

            // the newly written checkpoint is always kept, even if older runs left higher steps behind
            Checkpoint.save(dir, a, opt, state(5), 1);
            assertEquals(List.of("ckpt-5", "ckpt-50", "ckpt-99x"), ls(dir));
            assertEquals(dir.resolve("ckpt-5").toAbsolutePath(), Checkpoint.latest(dir).orElseThrow());
        }
    }

    /**
     * A process killed while pruning (deleting a checkpoint is one file at a time: state.json went first in an audit's
     * runs) leaves part of a checkpoint, model and optimiser files but no state, which latest() passes over: the next
     * save deletes it, so a run killed again and again (preemption, the OOM killer) does not pile them up.
     */
    @Test void whatAnInterruptedPruneLeftIsDeletedByTheNextSave() throws Exception {
        try (Sequential a = model(1, CLASSES); Adam opt = new Adam(a.namedParameters())) {
            Checkpoint.save(dir, a, opt, state(10), 2);
            for (long s = 20; s <= 50; s += 10) {
                Checkpoint.save(dir, a, opt, state(s), 2);
                // the checkpoint before it, as a kill part-way through pruning it leaves it
                Files.delete(dir.resolve("ckpt-" + (s - 10) + "/" + Checkpoint.STATE_FILE));
                assertEquals(dir.resolve("ckpt-" + s).toAbsolutePath(), Checkpoint.latest(dir).orElseThrow());
            }
            // and a .old copy of a step the prune has passed, cut short the same way
            Files.createDirectories(dir.resolve("ckpt-45.old"));
            Files.copy(dir.resolve("ckpt-40/" + Checkpoint.MODEL_FILE), dir.resolve("ckpt-45.old/" + Checkpoint.MODEL_FILE));
            Checkpoint.save(dir, a, opt, state(60), 2);
            assertEquals(List.of("ckpt-50", "ckpt-60"), ls(dir));
        }
    }

    @Test void failedSaveKeepsThePreviousCheckpoint() throws Exception {
        try (Sequential a = model(1, CLASSES)) {
            Adam opt = new Adam(a.namedParameters());
            Path ck = Checkpoint.save(dir, a, opt, state(10), 1);
            List<String> files = ls(ck);
            byte[] model = Files.readAllBytes(ck.resolve(Checkpoint.MODEL_FILE));
            opt.close(); // its state can no longer be read: the save fails after model.safetensors was written
            assertThrows(IllegalStateException.class, () -> Checkpoint.save(dir, a, opt, state(20), 1));
            assertThrows(IllegalStateException.class, () -> Checkpoint.save(dir, a, opt, state(10), 1));
            assertEquals(List.of("ckpt-10"), ls(dir), "no ckpt-20, no temporary directory");
            assertEquals(files, ls(ck));
            assertArrayEquals(model, Files.readAllBytes(ck.resolve(Checkpoint.MODEL_FILE)));
            assertEquals(dir.resolve("ckpt-10").toAbsolutePath(), Checkpoint.latest(dir).orElseThrow());
        }
    }

    @Test void unwritableRunDirectoryIsACheckpointException() throws Exception {
        Path file = dir.resolve("not-a-dir");
        Files.writeString(file, "x");
        try (Sequential a = model(1, CLASSES)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.save(file, a, null, state(1), 1));
            // nothing was ever saved there: the message must not promise earlier checkpoints
            assertTrue(e.getMessage().contains("ckpt-1") && e.getMessage().contains("there is no earlier checkpoint in"), e.getMessage());
            assertFalse(e.getMessage().contains("intact"), e.getMessage());
        }
    }

    @Test void aFailedSaveSaysWhetherEarlierCheckpointsExist() throws Exception {
        assertEquals("there is no earlier checkpoint in " + dir, Checkpoint.earlier(dir));
        try (Sequential a = model(1, CLASSES)) {
            Checkpoint.save(dir, a, null, state(1), 1);
        }
        assertEquals("the earlier checkpoints in " + dir + " are intact", Checkpoint.earlier(dir));
    }

    /** The damaged-checkpoint message's advice works: renamed as it says, the checkpoint before it is the latest. */
    @Test void aDamagedCheckpointSaysHowToUseTheOneBefore() throws Exception {
        try (Sequential a = model(1, CLASSES)) {
            Path first = Checkpoint.save(dir, a, null, state(1), 5);
            Path second = Checkpoint.save(dir, a, null, state(2), 5);
            Files.writeString(second.resolve(Checkpoint.STATE_FILE), "{");
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.readState(Checkpoint.latest(dir).orElseThrow()));
            String advice = "rename " + second + " (e.g. to " + second.getFileName() + ".damaged)";
            assertTrue(e.getMessage().contains(advice), e.getMessage());
            Files.move(second, second.resolveSibling(second.getFileName() + ".damaged"));
            assertEquals(first, Checkpoint.latest(dir).orElseThrow());
            assertEquals(1, Checkpoint.readState(first).step());
        }
    }

    @Test void damagedStateJsonIsReported() throws Exception {
        try (Sequential a = model(1, CLASSES)) {
            Path ck = Checkpoint.save(dir, a, null, state(1), 1);
            Path sj = ck.resolve(Checkpoint.STATE_FILE);
            String good = Files.readString(sj);
            Files.writeString(sj, good.substring(0, good.length() / 2));
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.readState(ck));
            assertTrue(e.getMessage().contains(sj.toAbsolutePath().toString()) && e.getMessage().contains("not valid JSON"), e.getMessage());
            Files.writeString(sj, good.replace("\"format_version\" : " + Checkpoint.FORMAT_VERSION, "\"format_version\" : " + (Checkpoint.FORMAT_VERSION + 1)));
            e = assertThrows(CheckpointException.class, () -> Checkpoint.readState(ck));
            assertTrue(e.getMessage().contains("or a newer one"), e.getMessage());
            Files.writeString(sj, good.replace("\"step\" : 1", "\"step\" : \"one\""));
            e = assertThrows(CheckpointException.class, () -> Checkpoint.readState(ck));
            assertTrue(e.getMessage().contains("\"step\" is missing or not a non-negative integer"), e.getMessage());
            Files.writeString(sj, good.replace("\"epoch\" : 1", "\"epoch\" : 1, \"epoch\" : 2"));
            e = assertThrows(CheckpointException.class, () -> Checkpoint.readState(ck));
            assertTrue(e.getMessage().contains("Duplicate"), e.getMessage());
            Files.delete(sj);
            e = assertThrows(CheckpointException.class, () -> Checkpoint.readState(ck));
            assertTrue(e.getMessage().contains("cannot read"), e.getMessage());
        }
    }
}
