package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.dltrain.cli.CliTest.JSON;
import static io.dltrain.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dl-train eval} and {@code predict} on a model trained through the CLI on a small real Fashion-MNIST subset
 * (CliTest's subset helper): eval reproduces training's test numbers, predict agrees with the model run directly on
 * the dataset's own input pipeline, bad input is a usage error, and the pictures are valid PNGs.
 */
class EvalPredictTest {
    static final int TRAIN = 1200, TEST = 300;
    @TempDir static Path shared;
    static Path subset, runDir;

    @BeforeAll
    static void trainATinyModel() throws IOException {
        subset = CliTest.fashionSubset(shared.resolve("fmnist-small"), TRAIN, TEST);
        runDir = shared.resolve("run");
        CliTest.Result r = run("--model", "mlp", "--data", "fashion-mnist", "--data-dir", subset.toString(), "--epochs", "2",
                "--threads", "2", "--progress", "none", "--out", runDir.toString());
        assertEquals(0, r.code(), r.err() + r.out());
    }

    /** The test split as the dataset pipeline delivers it. */
    static Dataset testSplit() { return DatasetRegistry.get("fashion-mnist").load(subset).test(); }

    /** The model's logits [TEST, 10] for the whole test split, computed here without the predict command. */
    static float[] referenceLogits(Path modelDir) {
        Dataset test = testSplit();
        float[] x = new float[TEST * 784];
        for (int i = 0; i < TEST; i++) test.read(i, x, i * 784);
        return logits(modelDir, x, TEST);
    }

    /** The model's logits [n, 10] for n inputs [n, 1, 28, 28], computed here without the predict command. */
    static float[] logits(Path modelDir, float[] x, int n) {
        return logits(modelDir, new ModelSpec(1, 28, 28, 10), x, n);
    }

    /** The logits of the mlp in modelDir built for spec, on n inputs x, in evaluation mode on the CPU. */
    static float[] logits(Path modelDir, ModelSpec spec, float[] x, int n) {
        try (CpuBackend be = new CpuBackend(1);
             Module m = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 0), spec));
             GradMode.Guard g = GradMode.noGrad()) {
            Checkpoint.loadInto(m, modelDir.resolve(Checkpoint.MODEL_FILE), true);
            m.eval();
            try (Scope s = Scope.open()) {
                Tensor t = be.empty(Shape.of(n, spec.inChannels(), spec.height(), spec.width()));
                be.copyFromHost(x, 0, t);
                return m.forward(t).toFloatArray();
            }
        }
    }

    static int argmax(float[] a, int off) {
        int best = 0;
        for (int j = 1; j < 10; j++) if (a[off + j] > a[off + best]) best = j;
        return best;
    }

    /** Softmax in double of row i. */
    static double[] softmax(float[] a, int i) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int j = 0; j < 10; j++) max = Math.max(max, a[i * 10 + j]);
        double[] p = new double[10];
        for (int j = 0; j < 10; j++) sum += p[j] = Math.exp(a[i * 10 + j] - max);
        for (int j = 0; j < 10; j++) p[j] /= sum;
        return p;
    }

    static void assertPng(Path f, int minW, int minH) throws IOException {
        assertTrue(Files.isRegularFile(f), f + " missing");
        BufferedImage img = ImageIO.read(f.toFile());
        assertNotNull(img, f + " is not a readable image");
        assertTrue(img.getWidth() >= minW && img.getHeight() >= minH && img.getWidth() <= 4000 && img.getHeight() <= 4000,
                f + " is " + img.getWidth() + "x" + img.getHeight());
    }

    /** The confusion matrix's predicted class ranks as the accuracy does: NaN first, ties to the lower index. */
    @Test
    void confusionMatrixPredictsAsTheAccuracyCounts() {
        float nan = Float.NaN;
        assertEquals(0, EvalCommand.argmax(new float[] {0, 0, 0}, 0, 3), "equal logits: the first");
        assertEquals(1, EvalCommand.argmax(new float[] {9, 1, 5, 5, 2}, 1, 4), "tied maxima from the offset: the first");
        assertEquals(1, EvalCommand.argmax(new float[] {1, nan, 3}, 0, 3), "NaN ranks above every number");
        assertEquals(0, EvalCommand.argmax(new float[] {nan, 5, nan}, 0, 3), "the first NaN");
        assertEquals(2, EvalCommand.argmax(new float[] {-1, 0, 4}, 0, 3));
    }

    @Test
    void trainingWritesTheFinalModelAndCurves() throws IOException {
        JsonNode meta = JSON.readTree(runDir.resolve("model/model.json").toFile());
        assertEquals("mlp", meta.get("model").asText());
        assertEquals("fashion-mnist", meta.get("dataset").asText());
        assertEquals(10, meta.get("classes").asInt());
        assertEquals(28, meta.get("height").asInt());
        assertEquals("Ankle boot", meta.get("class_names").get(9).asText());
        assertTrue(Files.isRegularFile(runDir.resolve("model/model.safetensors")));
        assertPng(runDir.resolve("curves.png"), 2 * Curves.WIDTH, Curves.HEIGHT);
        assertTrue(!Files.exists(runDir.resolve("curves.png.tmp")), "temporary file left behind");
    }

    /**
     * eval was silent until its result: resnet18 on the CPU evaluated a 320-image split in about 2 minutes (then two
     * passes, the loss and the confusion matrix; one now). Now --progress (as train's) shows both passes on stderr, so that
     * stdout keeps the result alone; plain lines at most every 10 s (here every batch), none with --progress none.
     */
    @Test
    void evalShowsItsPassesOnStderr(@TempDir Path tmp) {
        String[] args = {"eval", "--checkpoint", runDir.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--threads", "2", "--batch-size", "100"};
        System.setProperty("dltrain.plainProgressSeconds", "0");
        try {
            CliTest.Result r = run(CliTest.concat(args, "--progress", "plain", "--out", tmp.resolve("plain").toString()));
            assertEquals(0, r.code(), r.err() + r.out());
            // 300 test samples: 3 batches of 100, in one pass for the loss and the confusion matrix (the data is read once)
            for (String line : List.of("eval batch 1/3\n", "eval batch 3/3\n"))
                assertTrue(r.err().contains(line), "'" + line.strip() + "' on stderr:\n" + r.err());
            assertEquals(r.err().indexOf("eval batch 1/3"), r.err().lastIndexOf("eval batch 1/3"), "one pass:\n" + r.err());
            assertFalse(r.err().contains("confusion matrix batch"), "no second pass for the confusion matrix:\n" + r.err());
            assertFalse(r.out().contains("batch 1/3") || r.err().contains("\r"), "stdout has the result alone, and no bar in plain mode:\n" + r.out());
            assertTrue(r.out().contains("test: loss"), r.out());

            CliTest.Result none = run(CliTest.concat(args, "--progress", "none", "--out", tmp.resolve("none").toString()));
            assertEquals(0, none.code(), none.err() + none.out());
            assertFalse(none.err().contains("batch 1/3"), "--progress none:\n" + none.err());
        } finally {
            System.clearProperty("dltrain.plainProgressSeconds");
        }
    }

    @Test
    void evalReproducesTrainingsTestNumbers(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("eval");
        CliTest.Result r = run("eval", "--checkpoint", runDir.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--threads", "2", "--out", out.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        JsonNode summary = JSON.readTree(runDir.resolve("summary.json").toFile());
        JsonNode eval = JSON.readTree(out.resolve("eval.json").toFile());
        // the same Trainer.evaluate over the same batches: equal up to printing (tolerance 1e-6)
        assertEquals(summary.get("test_loss").asDouble(), eval.get("loss").asDouble(), 1e-6);
        assertEquals(summary.get("test_acc").asDouble(), eval.get("top1").asDouble(), 1e-6);
        assertEquals(summary.get("test_top5").asDouble(), eval.get("top5").asDouble(), 1e-6);
        assertEquals(TEST, eval.get("samples").asInt());

        // confusion matrix against the model's arg-max and the true labels, counted here
        float[] logits = referenceLogits(runDir.resolve("model"));
        Dataset test = testSplit();
        long[][] expected = new long[10][10];
        float[] scratch = new float[784];
        for (int i = 0; i < TEST; i++) expected[test.read(i, scratch, 0)][argmax(logits, i * 10)]++;
        JsonNode cm = eval.get("confusion_matrix");
        long diag = 0, total = 0;
        for (int t = 0; t < 10; t++) {
            long row = 0;
            for (int p = 0; p < 10; p++) {
                assertEquals(expected[t][p], cm.get(t).get(p).asLong(), "confusion[" + t + "][" + p + "]");
                row += expected[t][p];
                total += expected[t][p];
            }
            diag += expected[t][t];
            String name = test.classNames().get(t);
            if (row > 0) assertEquals((double) expected[t][t] / row, eval.get("per_class_accuracy").get(name).asDouble(), 1e-12, name);
        }
        assertEquals(TEST, total);
        assertEquals(eval.get("top1").asDouble(), (double) diag / total, 1e-6, "top-1 vs the confusion matrix's diagonal");
        assertTrue(r.out().contains("confusion matrix") && r.out().contains("Ankle boot"), r.out());
        assertPng(out.resolve("confusion.png"), 300, 300);
    }

    /**
     * eval read the test split twice, once for the loss and accuracies and again for the confusion matrix: twice the
     * reading and decoding (a JPEG tree's) and twice the forward passes. One pass now gives all of them: each test sample
     * is read once, the scores are Trainer.evaluate's to the bit, and the matrix is the model's arg-max per sample.
     */
    @Test
    void evalReadsEachTestSampleOnceForTheScoresAndTheConfusionMatrix() {
        Dataset test = testSplit();
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        Dataset counted = new Dataset() {
            public String name() { return test.name(); }
            public int size() { return test.size(); }
            public Shape sampleShape() { return test.sampleShape(); }
            public int numClasses() { return test.numClasses(); }
            public List<String> classNames() { return test.classNames(); }
            public int read(int i, float[] dst, int off) {
                reads.incrementAndGet();
                return test.read(i, dst, off);
            }
        };
        try (CpuBackend be = new CpuBackend(1);
             Module m = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 0), new ModelSpec(1, 28, 28, 10)));
             io.dltrain.runtime.data.DataLoader once = new io.dltrain.runtime.data.DataLoader(counted, null, 100, false, false, 0, 1, 4);
             io.dltrain.runtime.data.DataLoader again = new io.dltrain.runtime.data.DataLoader(test, null, 100, false, false, 0, 1, 4)) {
            Checkpoint.loadInto(m, runDir.resolve("model/model.safetensors"), true);
            io.dltrain.runtime.train.Trainer trainer = new io.dltrain.runtime.train.Trainer(be,
                    new io.dltrain.runtime.train.TrainConfig(1, 100, 0.1, "sgd", 0, 0, "constant", 0f, 0f, 0, 0, 0, 0, 1));
            long[][] cm = new long[10][10];
            io.dltrain.runtime.train.EvalResult r = EvalCommand.classify(trainer, m, once, cm, null);
            assertEquals(TEST, reads.get(), "each test sample read once");
            io.dltrain.runtime.train.EvalResult alone = trainer.evaluate(m, again, new io.dltrain.runtime.nn.loss.CrossEntropyLoss(0f));
            assertEquals(alone, r, "the scores of an evaluation pass alone");
            float[] logits = referenceLogits(runDir.resolve("model"));
            long[][] expected = new long[10][10];
            float[] scratch = new float[784];
            for (int i = 0; i < TEST; i++) expected[test.read(i, scratch, 0)][argmax(logits, i * 10)]++;
            for (int t = 0; t < 10; t++) assertEquals(java.util.Arrays.toString(expected[t]), java.util.Arrays.toString(cm[t]), "row " + t);
        }
    }

    /**
     * A checkpoint of the run's mlp (its model/ weights, no optimiser state) at global step 34 after 2 epochs, saved as
     * ckpts/ckpt-34/ with these config entries in its state.json; returns that directory.
     */
    private Path checkpointOfTheRun(Path ckpts, Map<String, Object> config) {
        try (CpuBackend be = new CpuBackend(1);
             Module m = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 0), new ModelSpec(1, 28, 28, 10)))) {
            Checkpoint.loadInto(m, runDir.resolve("model/model.safetensors"), true);
            return Checkpoint.save(ckpts, m, null, new TrainingState(2, 34, "mlp", "fashion-mnist", Map.of(), config, "sgd", 0.01, Map.of()), 1);
        }
    }

    @Test
    void evalReadsAPeriodicCheckpointDirectory(@TempDir Path tmp) throws IOException {
        // a ckpt-<step>/ as periodic checkpointing writes it: model.safetensors + state.json naming model and dataset
        Path ckpts = tmp.resolve("run2/checkpoints");
        checkpointOfTheRun(ckpts, Map.of());
        Path out = tmp.resolve("eval");
        CliTest.Result r = run("eval", "--checkpoint", tmp.resolve("run2").toString(), "--data", "fashion-mnist",
                "--data-dir", subset.toString(), "--threads", "2", "--out", out.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("ckpt-34"), r.out());
        JsonNode summary = JSON.readTree(runDir.resolve("summary.json").toFile());
        assertEquals(summary.get("test_loss").asDouble(), JSON.readTree(out.resolve("eval.json").toFile()).get("loss").asDouble(), 1e-6);
    }

    /**
     * eval of a checkpoint directory (no model.json) on a dataset of another kind and shape: the model's input shape
     * was taken from the evaluated data, so the mlp was rebuilt for 3x32x32 inputs and the strict load failed with
     * "model.safetensors does not match the model: 1.weight (shape mismatch ...) ... load it non-strictly", where the
     * run's model/ gets "samples are [3, 32, 32] but the model ... was trained on [1, 28, 28]". The checkpoint's own run
     * data (state.json's dataset and data_dir) now gives its shape, and the message is model/'s.
     */
    @Test
    void evalOfACheckpointOnAnotherKindOfDatasetNamesBothShapes(@TempDir Path tmp) throws IOException {
        Path ckpts = tmp.resolve("run4/checkpoints");
        checkpointOfTheRun(ckpts, Map.of("data_dir", subset.toAbsolutePath().toString()));
        for (Path c : java.util.List.of(runDir, tmp.resolve("run4"))) {
            Path e = tmp.resolve("e-" + c.getFileName());
            CliTest.usageError(e, new String[] {"eval", "--checkpoint", c.toString(), "--data", "synthetic:3x32x32,train=16,test=16",
                    "--threads", "2", "--out", e.toString()}, "samples are [3, 32, 32] but the model mlp", "was trained on [1, 28, 28] (fashion-mnist)");
        }
    }

    /**
     * eval of a checkpoint directory (no model.json) read its run's whole training split (state.json's dataset and
     * data_dir) to learn the model's input shape and class names: an ImageNet-size folder listed and checked to evaluate
     * one checkpoint, and, with the run's data moved away, a notice and the evaluated data's shape in its place. A
     * checkpoint now records model.json's fields (state.json's model_meta): here the run's own checkpoint, its data
     * directory gone, is evaluated on its test data with the training's numbers and on other data with both shapes
     * named, without a word about the run's data. (Checkpoints written before, without model_meta, take the old way:
     * evalReadsAPeriodicCheckpointDirectory and evalOfACheckpointOnAnotherKindOfDatasetNamesBothShapes.)
     */
    @Test
    void evalOfACheckpointTakesTheModelsShapeAndClassesFromItsStateNotItsRunsData(@TempDir Path tmp) throws IOException {
        Path ck = Checkpoint.latest(runDir.resolve("checkpoints")).orElseThrow();
        Path copy = tmp.resolve("run5/checkpoints").resolve(ck.getFileName());
        Files.createDirectories(copy);
        try (var files = Files.list(ck)) {
            for (Path f : files.toList()) Files.copy(f, copy.resolve(f.getFileName()));
        }
        var state = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(copy.resolve(Checkpoint.STATE_FILE).toFile());
        assertEquals("Ankle boot", state.get("config").get(SavedModel.STATE_KEY).get("class_names").get(9).asText(), state.toString());
        ((com.fasterxml.jackson.databind.node.ObjectNode) state.get("config")).put("data_dir", tmp.resolve("moved-away").toString());
        JSON.writeValue(copy.resolve(Checkpoint.STATE_FILE).toFile(), state);

        Path out = tmp.resolve("eval");
        CliTest.Result r = run("eval", "--checkpoint", tmp.resolve("run5").toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--threads", "2", "--out", out.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        assertFalse(r.err().contains("cannot be read"), "the run's data is not read:\n" + r.err());
        JsonNode summary = JSON.readTree(runDir.resolve("summary.json").toFile());
        assertEquals(summary.get("test_loss").asDouble(), JSON.readTree(out.resolve("eval.json").toFile()).get("loss").asDouble(), 1e-6);

        CliTest.Result other = run("eval", "--checkpoint", tmp.resolve("run5").toString(), "--data", "synthetic:3x32x32,train=16,test=16",
                "--threads", "2", "--out", tmp.resolve("e").toString());
        assertEquals(2, other.code(), other.err() + other.out());
        assertTrue(other.err().contains("samples are [3, 32, 32] but the model mlp") && other.err().contains("was trained on [1, 28, 28] (fashion-mnist)"),
                other.err());
        assertFalse(other.err().contains("cannot be read"), "the run's data is not read:\n" + other.err());
    }

    /**
     * The files of a run say which format they follow and which build wrote them, and a file of a format newer than
     * this dl-train's is refused by eval, predict, --resume and --init-from, naming it, its version and its writer, ours,
     * and the way on. Until 2026-12-07 model.json recorded no version, state.json 1 whatever changed, summary.json
     * "0.1.0" in every build and model.safetensors nothing: a file of a later format would be misread without a word.
     */
    @Test
    void filesRecordTheirFormatAndANewerOneIsRefusedByEvalPredictResumeAndInitFrom(@TempDir Path tmp) throws IOException {
        int ours = Checkpoint.FORMAT_VERSION, newer = ours + 1;
        String version = io.dltrain.runtime.BuildInfo.version(), build = io.dltrain.runtime.BuildInfo.build();
        Path ck = Checkpoint.latest(runDir.resolve("checkpoints")).orElseThrow();
        for (Path f : List.of(runDir.resolve("model/model.json"), ck.resolve(Checkpoint.STATE_FILE), runDir.resolve("summary.json"))) {
            JsonNode j = JSON.readTree(f.toFile());
            assertEquals(ours, j.get("format_version").intValue(), f.toString());
            assertEquals(version, j.get("dl_train_version").textValue(), f.toString());
            assertEquals(build, j.get("dl_train_build").textValue(), f.toString());
        }
        assertEquals(Integer.toString(ours), io.dltrain.runtime.checkpoint.SafeTensors.read(runDir.resolve("model/model.safetensors")).metadata().get("format_version"));
        CliTest.beginsWithFormatAndBuild(JSON.readTree(runDir.resolve("summary.json").toFile()));
        for (String line : Files.readAllLines(runDir.resolve("metrics.jsonl"))) CliTest.beginsWithFormatAndBuild(JSON.readTree(line));

        // a copy of the run, its files then rewritten as a later dl-train (9.9.9, build abcdef012345) would write them
        Path copy = tmp.resolve("run");
        try (var files = Files.walk(runDir)) {
            for (Path f : files.toList()) {
                Path to = copy.resolve(runDir.relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else if (!f.getFileName().toString().startsWith(".")) Files.copy(f, to);
            }
        }
        String ourWords = "this dl-train " + version + " (build " + build + ") reads format_version " + ours + " and older: its content"
                + " may mean what this version cannot know. Use the dl-train that wrote it, or a newer one";
        Path modelJson = copy.resolve("model/model.json");
        String goodMeta = Files.readString(modelJson);
        Files.writeString(modelJson, goodMeta.replace("\"format_version\" : " + ours, "\"format_version\" : " + newer)
                .replace("\"dl_train_version\" : \"" + version + "\"", "\"dl_train_version\" : \"9.9.9\"")
                .replace("\"dl_train_build\" : \"" + build + "\"", "\"dl_train_build\" : \"abcdef012345\""));
        String refused = modelJson.toAbsolutePath() + " has format_version " + newer + ", written by dl-train 9.9.9 (build abcdef012345), but " + ourWords;
        Path png = tmp.resolve("x.png");
        ImageIO.write(new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY), "png", png.toFile());
        CliTest.usageError(tmp.resolve("e1"), new String[] {"eval", "--checkpoint", copy.toString(), "--data", "fashion-mnist", "--data-dir",
                subset.toString(), "--threads", "2", "--out", tmp.resolve("e1").toString()}, refused);
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", copy.toString(), png.toString()}, refused);
        Files.writeString(modelJson, goodMeta.replace("\"format_version\" : " + ours, "\"format_version\" : 1"));  // an older one reads
        CliTest.Result older = run("predict", "--checkpoint", copy.toString(), png.toString());
        assertEquals(0, older.code(), older.err());
        Files.writeString(modelJson, goodMeta.replace("\"format_version\" : " + ours, "\"format_version\" : \"" + newer + "\""));
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", copy.toString(), png.toString()},
                modelJson.toAbsolutePath() + ": \"format_version\" is \"" + newer + "\", not an integer; the file is damaged");
        Files.writeString(modelJson, goodMeta);

        // model.safetensors of a newer format (its metadata's "format_version": "2" rewritten in place, same length)
        Path weights = copy.resolve("model/model.safetensors");
        byte[] good = Files.readAllBytes(weights);
        String header = new String(good, 0, 400, java.nio.charset.StandardCharsets.ISO_8859_1);
        int at = header.indexOf("\"format_version\":\"" + ours + "\"");
        assertTrue(at > 0 && newer < 10, header);
        byte[] bumped = good.clone();
        bumped[at + "\"format_version\":\"".length()] = (byte) ('0' + newer);
        Files.write(weights, bumped);
        String weightsRefused = weights.toAbsolutePath() + " has format_version " + newer + ", written by dl-train " + version;
        CliTest.usageError(tmp.resolve("e2"), new String[] {"eval", "--checkpoint", copy.toString(), "--data", "fashion-mnist", "--data-dir",
                subset.toString(), "--threads", "2", "--out", tmp.resolve("e2").toString()}, weightsRefused, ourWords);
        Path fresh = tmp.resolve("fresh");
        CliTest.usageError(fresh, new String[] {"--model", "mlp", "--data", "fashion-mnist", "--data-dir", subset.toString(), "--epochs", "1",
                "--threads", "2", "--progress", "none", "--init-from", copy.resolve("model").toString(), "--out", fresh.toString()},
                "--init-from " + copy.resolve("model"), weightsRefused, ourWords);

        // a checkpoint's state.json of a newer format: eval, predict and --resume refuse it, and the resume trains nothing
        Path copyCk = copy.resolve("checkpoints").resolve(ck.getFileName());
        Path state = copyCk.resolve(Checkpoint.STATE_FILE);
        Files.writeString(state, Files.readString(state).replace("\"format_version\" : " + ours, "\"format_version\" : " + newer));
        String stateRefused = state.toAbsolutePath() + " has format_version " + newer + ", written by dl-train " + version + " (build " + build + "), but " + ourWords;
        CliTest.usageError(tmp.resolve("e3"), new String[] {"eval", "--checkpoint", copyCk.toString(), "--data", "fashion-mnist", "--data-dir",
                subset.toString(), "--threads", "2", "--out", tmp.resolve("e3").toString()}, stateRefused);
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", copyCk.toString(), png.toString()}, stateRefused);
        String metrics = Files.readString(copy.resolve("metrics.jsonl"));
        CliTest.usageError(null, new String[] {"--resume", copy.toString(), "--epochs", "3", "--threads", "2", "--progress", "none"},
                "--resume " + copy + ": " + stateRefused);
        assertEquals(metrics, Files.readString(copy.resolve("metrics.jsonl")), "a refused resume writes nothing");
        Files.writeString(state, Files.readString(state).replace("\"format_version\" : " + newer, "\"format_version\" : " + ours));

        // the other files --resume reads (since 2026-12-08 they record a version too): optimizer.safetensors (its
        // metadata's "format_version" rewritten in place), a metrics.jsonl line the resume keeps, and summary.json (read
        // where the run is finished): each of a newer format is refused, and the resume writes nothing
        String[] extend = {"--resume", copy.toString(), "--epochs", "3", "--threads", "2", "--progress", "none"};
        Path opt = copyCk.resolve(Checkpoint.OPTIMIZER_FILE);
        byte[] goodOpt = Files.readAllBytes(opt);
        int o = new String(goodOpt, 0, 400, java.nio.charset.StandardCharsets.ISO_8859_1).indexOf("\"format_version\":\"" + ours + "\"");
        assertTrue(o > 0, "optimizer.safetensors' header records its format");
        byte[] optBumped = goodOpt.clone();
        optBumped[o + "\"format_version\":\"".length()] = (byte) ('0' + newer);
        Files.write(opt, optBumped);
        CliTest.Result optRefused = CliTest.run(extend);
        assertEquals(2, optRefused.code(), optRefused.err());
        assertTrue(optRefused.err().contains("--resume " + copy + ": its latest checkpoint " + copyCk.toAbsolutePath() + " cannot be loaded: "
                + opt.toAbsolutePath() + " has format_version " + newer + ", written by dl-train " + version + " (build " + build + "), but "
                + ourWords), optRefused.err());
        // not damage: no advice to move the checkpoint aside and resume from the one before it (lost steps, and that one
        // was most likely written by the same newer dl-train)
        assertFalse(optRefused.err().contains("checkpoint before it"), optRefused.err());
        assertEquals(metrics, Files.readString(copy.resolve("metrics.jsonl")), "a refused resume writes nothing");
        Files.write(opt, goodOpt);
        Path metricsFile = copy.resolve("metrics.jsonl");
        assertTrue(metrics.startsWith("{\"format_version\":" + ours + ",\"dl_train_version\":\"" + version + "\",\"dl_train_build\":\"" + build + "\",\"epoch\":1,"), metrics);
        String newerLine = metrics.replaceFirst("\"format_version\":" + ours, "\"format_version\":" + newer);
        Files.writeString(metricsFile, newerLine);
        CliTest.usageError(null, extend, "--resume " + copy + ": " + metricsFile.toAbsolutePath() + " line 1 has format_version " + newer
                + ", written by dl-train " + version + " (build " + build + "), but " + ourWords);
        assertEquals(newerLine, Files.readString(metricsFile), "a refused resume writes nothing");
        Files.writeString(metricsFile, metrics);
        Path summary = copy.resolve("summary.json");
        String goodSummary = Files.readString(summary);
        Files.writeString(summary, goodSummary.replace("\"format_version\" : " + ours, "\"format_version\" : " + newer));
        CliTest.usageError(null, new String[] {"--resume", copy.toString(), "--epochs", "2", "--threads", "2", "--progress", "none"},
                "--resume " + copy + ": " + summary.toAbsolutePath() + " has format_version " + newer + ", written by dl-train " + version, ourWords);
        assertEquals(metrics, Files.readString(metricsFile), "a refused resume writes nothing");
    }

    /**
     * eval and predict on the directory of a run that is training: the checkpoint they locate can be deleted by the run's
     * rotation (--keep) before they read its state.json or its weights. Found by evaluating a live `train
     * --checkpoint-every 1s --keep 1` run: 8 evals of 8 failed, "ckpt-78 has model.safetensors but neither model.json nor
     * state.json". They take the run's latest checkpoint instead, and say so.
     */
    @Test
    void aCheckpointRotatedAwayWhileBeingReadIsReplacedByTheRunsLatest(@TempDir Path tmp) {
        Path run = tmp.resolve("live"), ckpts = run.resolve("checkpoints");
        picocli.CommandLine cl = new picocli.CommandLine(new EvalCommand());
        java.io.StringWriter said = new java.io.StringWriter();
        java.io.PrintWriter notices = new java.io.PrintWriter(said, true);
        try (CpuBackend be = new CpuBackend(1);
             Module m = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 0), new ModelSpec(1, 28, 28, 10)))) {
            Checkpoint.loadInto(m, runDir.resolve("model/model.safetensors"), true);
            java.util.function.LongConsumer save = step -> Checkpoint.save(ckpts, m, null,
                    new TrainingState(1, step, "mlp", "fashion-mnist", Map.of(), Map.of(), "sgd", 0.01, Map.of()), 1);
            save.accept(34);
            Path located = Loaded.locate(cl, run, notices);
            assertEquals(ckpts.resolve("ckpt-34").toAbsolutePath(), located.toAbsolutePath());
            Dataset train = DatasetRegistry.get("fashion-mnist").load(subset).train();
            int[] calls = {0};
            SavedModel saved = Loaded.read(cl, run, located, notices, found -> {
                if (calls[0]++ == 0) save.accept(40); // the run saves ckpt-40 and, with --keep 1, deletes ckpt-34
                return SavedModel.read(found, train);
            });
            assertEquals(ckpts.resolve("ckpt-40").toAbsolutePath(), saved.dir().toAbsolutePath());
            assertTrue(said.toString().contains("ckpt-34 was deleted while being read") && said.toString().contains("using " + saved.dir()),
                    said.toString());
            save.accept(50); // and again between reading state.json and the weights
            Path[] from = {null};
            try (Module loaded = Loaded.model(cl, be, saved, notices, newer -> from[0] = newer)) {
                assertEquals(ckpts.resolve("ckpt-50").toAbsolutePath(), from[0].toAbsolutePath());
                assertTrue(said.toString().contains("using the weights of " + ckpts.resolve("ckpt-50").toAbsolutePath()), said.toString());
                assertEquals(m.stateDict().keySet(), loaded.stateDict().keySet());
            }
        }
    }

    /**
     * eval --json, for a pipeline: stdout holds eval.json's object alone (the same as the file), and what eval says
     * otherwise, its notices and the text report, goes to stderr; the exit status and files are as without it.
     */
    @Test
    void evalJsonPrintsEvalJsonAloneOnStdout(@TempDir Path tmp) throws IOException {
        Path ckpts = tmp.resolve("run4/checkpoints");
        checkpointOfTheRun(ckpts, Map.of());
        Path ckpt = ckpts.resolve("ckpt-34");
        CliTest.Result r = run("eval", "--checkpoint", ckpt.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--threads", "2", "--progress", "none", "--json");
        assertEquals(0, r.code(), r.err() + r.out());
        JsonNode printed = JSON.readTree(r.out());
        assertEquals(JSON.readTree(ckpt.resolve("eval.json").toFile()), printed, r.out());
        assertEquals(TEST, printed.get("samples").asInt(), r.out());
        CliTest.beginsWithFormatAndBuild(printed);
        assertTrue(r.err().contains("notice: eval.json and confusion.png go into " + ckpt) && r.err().contains("test: loss")
                && r.err().contains("confusion matrix"), r.err());
    }

    /**
     * Without --json, stdout holds eval's report alone (what was evaluated, the scores, the confusion matrix and the files
     * written): its notices (a checkpoint the run rotates away, --device auto's fallback) were printed in the report,
     * so `dl-train eval ... > report.txt` kept them there. They go to stderr, with the progress.
     */
    @Test
    void evalPrintsItsReportAloneOnStdout(@TempDir Path tmp) throws IOException {
        Path ckpts = tmp.resolve("run5/checkpoints");
        checkpointOfTheRun(ckpts, Map.of());
        Path ckpt = ckpts.resolve("ckpt-34");
        CliTest.Result r = run("eval", "--checkpoint", ckpt.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--threads", "2", "--device", "auto", "--progress", "plain");
        assertEquals(0, r.code(), r.err() + r.out());
        List<String> lines = r.out().lines().toList();
        assertEquals(17, lines.size(), r.out()); // eval:, test:, blank, the matrix's 2 heading lines and 10 rows, blank, wrote
        assertTrue(lines.get(0).startsWith("eval: mlp (1x28x28 -> 10) from " + ckpt + " on fashion-mnist/test (300 samples)"), r.out());
        assertTrue(lines.get(1).startsWith("test: loss ") && lines.get(2).isEmpty(), r.out());
        assertTrue(lines.get(3).startsWith("confusion matrix") && lines.get(4).startsWith("true \\ predicted"), r.out());
        for (int c = 0; c < 10; c++) assertTrue(lines.get(5 + c).startsWith(String.format("%3d ", c)), lines.get(5 + c));
        assertEquals("dl-train: wrote " + ckpt.resolve("eval.json") + " and " + ckpt.resolve("confusion.png"), lines.get(16));
        assertTrue(r.err().contains("dl-train: notice: eval.json and confusion.png go into " + ckpt), r.err());
        String why = io.dltrain.runtime.backend.Backends.cudaUnavailableReason();
        if (why != null) assertTrue(r.err().contains("dl-train: notice: no usable GPU: " + why + "; using the CPU\n"), r.err());
        assertFalse(r.err().contains("test: loss") || r.err().contains("confusion matrix"), r.err());
    }

    /** An eval written into a checkpoint of a run's checkpoints/ (which the run rotates away) says so; --out is quiet. */
    @Test
    void evalIntoARotatedCheckpointSaysSoAndAnotherDatasetIsNamed(@TempDir Path tmp) throws IOException {
        Path ckpts = tmp.resolve("run3/checkpoints");
        checkpointOfTheRun(ckpts, Map.of());
        Path ckpt = ckpts.resolve("ckpt-34");
        CliTest.Result r = run("eval", "--checkpoint", ckpt.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(), "--threads", "2");
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("notice: eval.json and confusion.png go into " + ckpt + ", which the run deletes or replaces if it is resumed (checkpoint rotation); give --out DIR to keep them elsewhere"), r.err());
        assertTrue(Files.isRegularFile(ckpt.resolve("eval.json")) && Files.isRegularFile(ckpt.resolve("confusion.png")));
        assertTrue(!r.err().contains("is evaluated on"), "same dataset: no notice\n" + r.err());
        // a best/ checkpoint is rotated too; the run directory itself is not (its eval.json stays)
        Path best = checkpointOfTheRun(ckpts.resolve("best"), Map.of());
        CliTest.Result b = run("eval", "--checkpoint", best.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(), "--threads", "2");
        assertTrue(b.code() == 0 && b.err().contains("notice: eval.json and confusion.png go into " + best), b.out() + b.err());
        CliTest.Result whole = run("eval", "--checkpoint", tmp.resolve("run3").toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(), "--threads", "2");
        assertTrue(whole.code() == 0 && !whole.err().contains("checkpoint rotation"), whole.out() + whole.err());
        // mnist has fashion-mnist's shape and 10 classes: evaluated, with a line saying whose pipeline applies
        CliTest.Result other = run("eval", "--checkpoint", runDir.toString(), "--data", "mnist", "--data-dir", subset.toString(),
                "--threads", "2", "--out", tmp.resolve("e2").toString());
        assertEquals(0, other.code(), other.err() + other.out());
        assertTrue(other.err().contains("notice: the model was trained on fashion-mnist, and is evaluated on mnist with mnist's input pipeline"),
                other.err());
        assertTrue(!other.err().contains("checkpoint rotation"), other.err());
    }

    /**
     * predict --json prints its array at the end: 10,000 JPEGs took 9.9 s here with nothing shown. Now the files done
     * and the inputs predicted so far on stderr (plain lines at most every 10 s, here every batch), stdout keeps the JSON
     * alone; --progress none shows none. Text output showed none either, though a long IDX or CSV file printed nothing
     * on stderr to its end; now it does (with --progress auto, none when stdout is a terminal).
     */
    @Test
    void predictJsonShowsTheFilesDoneOnStderr(@TempDir Path tmp) throws IOException {
        byte[] px = io.dltrain.datasets.idx.IdxFile.readImages(subset.resolve("t10k-images-idx3-ubyte.gz")).data();
        Path folder = Files.createDirectories(tmp.resolve("few"));
        for (int i = 0; i < 3; i++) {
            BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            img.getRaster().setDataElements(0, 0, 28, 28, java.util.Arrays.copyOfRange(px, i * 784, (i + 1) * 784));
            assertTrue(ImageIO.write(img, "png", folder.resolve("img-" + i + ".png").toFile()));
        }
        System.setProperty("dltrain.plainProgressSeconds", "0");
        try {
            CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--json", "--progress", "plain", "--threads", "2", folder.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains("predict files 3/3, 3 inputs\n"), r.err());
            assertEquals(3, JSON.readTree(r.out()).size(), "stdout is the JSON array alone");
            CliTest.Result none = run("predict", "--checkpoint", runDir.toString(), "--json", "--progress", "none", "--threads", "2", folder.toString());
            assertFalse(none.err().contains("predict files"), none.err());
            // text results too (they said nothing on stderr, however long the file): an IDX file of 300 images is
            // 256 inputs into its one file, then the file done; stdout holds the results alone
            Path idx = subset.resolve("t10k-images-idx3-ubyte.gz");
            CliTest.Result text = run("predict", "--checkpoint", runDir.toString(), "--progress", "plain", "--threads", "2", idx.toString());
            assertEquals(0, text.code(), text.err());
            assertTrue(text.err().contains("predict files 0/1, 256 inputs\npredict files 1/1, 300 inputs\n"), text.err());
            assertEquals(TEST, text.out().lines().count());
            assertTrue(text.out().lines().allMatch(l -> l.startsWith(idx + "[")), "stdout holds the results alone");
        } finally {
            System.clearProperty("dltrain.plainProgressSeconds");
        }
    }

    /**
     * More files than one batch (PredictCommand.BATCH): read a batch at a time, images decoded in parallel, results in
     * file order and equal to the model's on each image; text lines appear batch by batch, so a file that cannot be
     * read in the second batch fails the command (exit 2, naming it) after the first batch's lines.
     */
    @Test
    void predictReadsManyFilesABatchAtATimeInOrder(@TempDir Path tmp) throws IOException {
        float[] logits = referenceLogits(runDir.resolve("model"));
        byte[] px = io.dltrain.datasets.idx.IdxFile.readImages(subset.resolve("t10k-images-idx3-ubyte.gz")).data();
        Path folder = Files.createDirectories(tmp.resolve("many"));
        for (int i = 0; i < TEST; i++) {
            BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            img.getRaster().setDataElements(0, 0, 28, 28, java.util.Arrays.copyOfRange(px, i * 784, (i + 1) * 784));
            assertTrue(ImageIO.write(img, "png", folder.resolve(String.format("img-%03d.png", i)).toFile()));
        }
        assertTrue(TEST > PredictCommand.BATCH, "the test needs more images than one batch");
        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "1", "--threads", "2", folder.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode a = JSON.readTree(r.out());
        assertEquals(TEST, a.size());
        for (int i = 0; i < TEST; i++) {
            assertEquals(folder.resolve(String.format("img-%03d.png", i)).toString(), a.get(i).get("file").asText());
            assertEquals(argmax(logits, i * 10), a.get(i).get("predictions").get(0).get("class").asInt(), "image " + i);
        }
        Files.writeString(folder.resolve("img-280.png"), "not a PNG any more");
        CliTest.Result bad = run("predict", "--checkpoint", runDir.toString(), "--threads", "2", folder.toString());
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("img-280.png"), bad.err());
        assertEquals(PredictCommand.BATCH, bad.out().lines().count(), "the first batch's results came out before the failure");
    }

    /**
     * An IDX file whose gzip stream breaks off after the first batch (a download cut short): the batch before it is
     * printed, then exit 2 with IdxFile.read's message, which says how many bytes came (predict said the first batch's
     * 200,704 where read says 235,191), and no descriptor is left open on the file.
     */
    @Test
    void predictOnAnIdxFileCutShortSaysWhereAndClosesIt(@TempDir Path tmp) throws IOException {
        byte[] gz = Files.readAllBytes(subset.resolve("t10k-images-idx3-ubyte.gz"));
        Path cut = Files.write(tmp.resolve("cut-idx3-ubyte.gz"), java.util.Arrays.copyOf(gz, gz.length - 12));
        String read = org.junit.jupiter.api.Assertions.assertThrows(io.dltrain.datasets.DatasetException.class,
                () -> io.dltrain.datasets.idx.IdxFile.readImages(cut)).getMessage();
        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--threads", "2", "--progress", "none", cut.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("dl-train: error: " + read), r.err() + "\nread says: " + read);
        assertEquals(PredictCommand.BATCH, r.out().lines().count(), "the first batch's results came out before the failure");
        if (Files.isDirectory(Path.of("/proc/self/fd")))
            try (var fds = Files.list(Path.of("/proc/self/fd"))) {
                Path real = cut.toRealPath();
                for (Path fd : fds.toList()) {
                    Path to;
                    try {
                        to = Files.readSymbolicLink(fd);
                    } catch (IOException gone) { // the listing's own descriptor, closed since
                        continue;
                    }
                    assertFalse(to.equals(real), fd + " is still open on " + cut);
                }
            }
    }

    @Test
    void predictOnAPngAndOnTheIdxFileMatchesTheModel(@TempDir Path tmp) throws IOException {
        float[] logits = referenceLogits(runDir.resolve("model"));
        // test image 0 as an 8-bit grey PNG, straight from the IDX bytes
        Path idx = subset.resolve("t10k-images-idx3-ubyte.gz");
        byte[] px = io.dltrain.datasets.idx.IdxFile.readImages(idx).data();
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setDataElements(0, 0, 28, 28, java.util.Arrays.copyOf(px, 784));
        Path png = tmp.resolve("first.png");
        assertTrue(ImageIO.write(img, "png", png.toFile()));

        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "3", "--threads", "2", png.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        JsonNode a = JSON.readTree(r.out());
        assertEquals(1, a.size());
        JsonNode preds = a.get(0).get("predictions");
        assertEquals(3, preds.size());
        double[] p = softmax(logits, 0);
        assertEquals(argmax(logits, 0), preds.get(0).get("class").asInt());
        // same input floats, same model: probabilities agree to float rounding of the logits (1e-6)
        for (JsonNode c : preds) assertEquals(p[c.get("class").asInt()], c.get("probability").asDouble(), 1e-6);
        assertTrue(preds.get(0).get("probability").asDouble() >= preds.get(1).get("probability").asDouble());

        CliTest.Result all = run("predict", "--checkpoint", runDir.resolve("model").toString(), "--json", "--top-k", "1",
                "--threads", "2", idx.toString());
        assertEquals(0, all.code(), all.err());
        JsonNode b = JSON.readTree(all.out());
        assertEquals(TEST, b.size());
        for (int i = 0; i < TEST; i++) {
            assertEquals(i, b.get(i).get("index").asInt());
            assertEquals(argmax(logits, i * 10), b.get(i).get("predictions").get(0).get("class").asInt(), "image " + i);
        }
        // the same image 3x larger (nearest neighbour) and in colour: grey R=G=B has luma equal to the grey value, and
        // it is brought back to 28x28 as torchvision's Resize((28, 28)) does on a PIL picture (PredictResizeTest checks
        // that resize against Pillow), so the model's input is those levels, normalised: the same probabilities (1e-6)
        BufferedImage big = new BufferedImage(84, 84, BufferedImage.TYPE_INT_RGB);
        float[] bigGrey = new float[84 * 84];
        for (int y = 0; y < 84; y++) for (int x = 0; x < 84; x++) { int v = px[(y / 3) * 28 + x / 3] & 0xFF; big.setRGB(x, y, v << 16 | v << 8 | v); bigGrey[y * 84 + x] = v; }
        Path bigPng = tmp.resolve("big.png");
        assertTrue(ImageIO.write(big, "png", bigPng.toFile()));
        SavedModel saved = SavedModel.read(runDir.resolve("model"), null);
        float[] levels = PredictCommand.resize(bigGrey, 84, 84, 28, 28), bigX = new float[784];
        for (int j = 0; j < 784; j++) bigX[j] = (levels[j] / 255f - saved.mean()[0]) / saved.std()[0];
        double[] pBig = softmax(logits(runDir.resolve("model"), bigX, 1), 0);
        CliTest.Result rb = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "3", "--threads", "2", bigPng.toString());
        assertEquals(0, rb.code(), rb.err());
        JsonNode bp = JSON.readTree(rb.out()).get(0).get("predictions");
        for (int j = 0; j < 3; j++) assertEquals(pBig[bp.get(j).get("class").asInt()], bp.get(j).get("probability").asDouble(), 1e-6);
        CliTest.Result text = run("predict", "--checkpoint", runDir.toString(), "--threads", "2", png.toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().contains(testSplit().classNames().get(argmax(logits, 0))), text.out());

        // a directory stands for the images directly in it, in name order; other files and subdirectories are passed over
        Path folder = Files.createDirectories(tmp.resolve("folder"));
        Files.copy(bigPng, folder.resolve("b.PNG"));
        Files.copy(png, folder.resolve("a.png"));
        Files.writeString(folder.resolve("notes.txt"), "not an image");
        Files.createDirectories(folder.resolve("sub"));
        CliTest.Result rd = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "3", "--threads", "2", folder.toString());
        assertEquals(0, rd.code(), rd.err());
        JsonNode d = JSON.readTree(rd.out());
        assertEquals(2, d.size(), rd.out());
        assertEquals(folder.resolve("a.png").toString(), d.get(0).get("file").asText());
        assertEquals(folder.resolve("b.PNG").toString(), d.get(1).get("file").asText());
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) assertEquals((i == 0 ? preds : bp).get(j).get("probability").asDouble(), d.get(i).get("predictions").get(j).get("probability").asDouble(), 1e-6);
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", runDir.toString(), folder.resolve("sub").toString()},
                "no .png, .jpg or .jpeg files directly in it");
    }

    /**
     * A 16-bit grey PNG for a grey model: each sample's high byte, as the image-folder datasets decode 16-bit PNGs
     * (PIL keeps the high byte of 16-bit PNG samples; ImageFolderDatasetTest.sixteenBitPngKeepsTheHighByteAsPilDoes).
     * Test image 0 with every level v stored as v * 256 + 255 is the 8-bit picture again, so it gets the same
     * probabilities (1e-6); scaling with rounding made every level up to 126 one level lighter.
     */
    @Test
    void predictReadsA16BitGreyPngByItsHighByte(@TempDir Path tmp) throws IOException {
        float[] logits = referenceLogits(runDir.resolve("model"));
        byte[] px = io.dltrain.datasets.idx.IdxFile.readImages(subset.resolve("t10k-images-idx3-ubyte.gz")).data();
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 28; y++) for (int x = 0; x < 28; x++) img.getRaster().setSample(x, y, 0, (px[y * 28 + x] & 0xFF) << 8 | 0xFF);
        Path png = tmp.resolve("first16.png");
        assertTrue(ImageIO.write(img, "png", png.toFile()));
        double[] p = softmax(logits, 0);
        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "10", "--threads", "2", png.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        for (JsonNode q : JSON.readTree(r.out()).get(0).get("predictions"))
            assertEquals(p[q.get("class").asInt()], q.get("probability").asDouble(), 1e-6, r.out());
    }

    /**
     * A JPEG's embedded ICC profile does not change what the model is fed: PIL ignores it (as the image-folder
     * datasets do: ImageFolderDatasetTest.anEmbeddedIccProfileIsIgnoredAsPilDoes), where ImageIO's reader converted
     * every pixel through it. A colour JPEG with Java's linear-RGB profile spliced in (an APP2 ICC_PROFILE segment
     * after SOI) gets the probabilities of the same JPEG without it (1e-6).
     */
    @Test
    void predictIgnoresAJpegsIccProfileAsPilDoes(@TempDir Path tmp) throws IOException {
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 28; y++) for (int x = 0; x < 28; x++) img.setRGB(x, y, (y * 9) << 16 | (x * 9) << 8 | ((x + y) * 4));
        Path plain = tmp.resolve("plain.jpg");
        assertTrue(ImageIO.write(img, "jpeg", plain.toFile()));
        byte[] b = Files.readAllBytes(plain), icc = java.awt.color.ICC_Profile.getInstance(java.awt.color.ColorSpace.CS_LINEAR_RGB).getData();
        byte[] id = "ICC_PROFILE\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        java.io.ByteArrayOutputStream tagged = new java.io.ByteArrayOutputStream();
        int len = 2 + id.length + 2 + icc.length;
        tagged.write(b, 0, 2);
        tagged.write(new byte[]{(byte) 0xFF, (byte) 0xE2, (byte) (len >> 8), (byte) len});
        tagged.write(id);
        tagged.write(new byte[]{1, 1});
        tagged.write(icc);
        tagged.write(b, 2, b.length - 2);
        Path withIcc = Files.write(tmp.resolve("icc.jpg"), tagged.toByteArray());
        JsonNode[] preds = new JsonNode[2];
        for (int i = 0; i < 2; i++) {
            CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "10", "--threads", "2",
                    (i == 0 ? plain : withIcc).toString());
            assertEquals(0, r.code(), r.err() + r.out());
            preds[i] = JSON.readTree(r.out()).get(0).get("predictions");
        }
        for (int j = 0; j < 10; j++) {
            assertEquals(preds[0].get(j).get("class").asInt(), preds[1].get(j).get("class").asInt(), preds[1].toString());
            assertEquals(preds[0].get(j).get("probability").asDouble(), preds[1].get(j).get("probability").asDouble(), 1e-6, preds[1].toString());
        }
    }

    /**
     * A colour picture for a grey model becomes grey as PIL's convert("L") (torchvision's Grayscale) makes it: rounded,
     * so pure green is 150 and (0, 0, 5) is 1, where the truncating formula gave 149 and 0 (about half the pixels of a
     * colour picture one level too dark). The levels are Pillow 9.4's for these colours; the picture, tiled with them,
     * gets the probabilities of the grey picture of those levels (1e-6).
     */
    @Test
    void predictTurnsAColourPictureGreyAsPilDoes(@TempDir Path tmp) throws IOException {
        int[][] colours = {{0, 255, 0}, {0, 0, 5}, {7, 3, 9}, {90, 200, 30}, {30, 60, 250}, {255, 255, 0}, {200, 100, 50}, {250, 180, 200}};
        int[] pilGrey = {150, 1, 5, 148, 73, 226, 124, 203};
        SavedModel saved = SavedModel.read(runDir.resolve("model"), null);
        BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_INT_RGB);
        float[] x = new float[784];
        for (int y = 0; y < 28; y++) {
            for (int c = 0; c < 28; c++) {
                int k = (y / 4 + c / 7) % colours.length;   // stripes of every colour
                img.setRGB(c, y, colours[k][0] << 16 | colours[k][1] << 8 | colours[k][2]);
                x[y * 28 + c] = (pilGrey[k] / 255f - saved.mean()[0]) / saved.std()[0];
            }
        }
        Path png = tmp.resolve("colour.png");
        assertTrue(ImageIO.write(img, "png", png.toFile()));
        double[] p = softmax(logits(runDir.resolve("model"), x, 1), 0);
        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "10", "--threads", "2", png.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        JsonNode preds = JSON.readTree(r.out()).get(0).get("predictions");
        assertEquals(10, preds.size(), r.out());
        for (JsonNode q : preds) assertEquals(p[q.get("class").asInt()], q.get("probability").asDouble(), 1e-6, r.out());
    }

    /**
     * CIFAR-10's binary version in dir (data_batch_1..5.bin, test_batch.bin; records of a label byte, then 1024 R, G and
     * B bytes), each file of perRecord records with labels r % 10 and uniformly random pixels from seed.
     */
    static Path fakeCifar10(Path dir, int perFile, long seed) throws IOException {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
        for (String f : java.util.List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin")) {
            byte[] b = new byte[perFile * 3073];
            for (int r = 0; r < perFile; r++) {
                b[r * 3073] = (byte) (r % 10);
                for (int j = 1; j < 3073; j++) b[r * 3073 + j] = (byte) rnd.nextInt(256);
            }
            Files.write(dir.resolve(f), b);
        }
        return dir;
    }

    /** The first record of a (fake) CIFAR-10 directory's test_batch.bin written as a 32x32 RGB PNG at png. */
    private static Path firstTestRecordAsPng(Path data, Path png) throws IOException {
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        byte[] rec = java.util.Arrays.copyOfRange(Files.readAllBytes(data.resolve("test_batch.bin")), 1, 3073);
        for (int y = 0; y < 32; y++)
            for (int c = 0; c < 32; c++)
                img.setRGB(c, y, (rec[y * 32 + c] & 0xFF) << 16 | (rec[1024 + y * 32 + c] & 0xFF) << 8 | (rec[2048 + y * 32 + c] & 0xFF));
        assertTrue(ImageIO.write(img, "png", png.toFile()));
        return png;
    }

    /**
     * A cifar10 model's samples are (pixel / 255 - mean[c]) / std[c] with CIFAR-10's per-channel statistics, but
     * model.json recorded none, so predict fed pixel / 255: a 3-epoch mlp classified all 40 test images, exported as
     * PNGs by `datasets prepare`, as 'horse' (top-1 7.5%) where eval scored the same images 22.5%. The PNG of a test
     * record now gets the model's probabilities on the dataset's own sample (1e-6), from model/ and from a checkpoint.
     */
    @Test
    void predictNormalisesACifarModelsPicturesAsItsTrainingDid(@TempDir Path tmp) throws IOException {
        Path data = fakeCifar10(Files.createDirectories(tmp.resolve("cifar")), 8, 5);
        Path cifarRun = tmp.resolve("run");
        CliTest.Result t = run("--model", "mlp", "--data", "cifar10", "--data-dir", data.toString(), "--epochs", "1", "--batch-size", "8",
                "--threads", "2", "--progress", "none", "--out", cifarRun.toString(), "--checkpoint-every", "1e");
        assertEquals(0, t.code(), t.err() + t.out());
        float[] x = new float[3072];
        DatasetRegistry.get("cifar10").load(data).test().read(0, x, 0);
        Path png = firstTestRecordAsPng(data, tmp.resolve("test0.png"));
        float[] logits = logits(cifarRun.resolve("model"), new ModelSpec(3, 32, 32, 10), x, 1);
        double[] p = softmax(logits, 0);
        for (Path c : java.util.List.of(cifarRun, cifarRun.resolve("checkpoints").resolve("ckpt-5"))) {
            CliTest.Result r = run("predict", "--checkpoint", c.toString(), "--json", "--top-k", "10", "--threads", "2", png.toString());
            assertEquals(0, r.code(), r.err() + r.out());
            for (JsonNode q : JSON.readTree(r.out()).get(0).get("predictions"))
                assertEquals(p[q.get("class").asInt()], q.get("probability").asDouble(), 1e-6, c + ": " + r.out());
        }
    }

    /**
     * A cifar10 model saved by a dl-train before 2026-12-07 has a model.json without "mean" and "std" (only IDX datasets'
     * were recorded), though its training normalised every pixel with CIFAR-10's per-channel statistics. predict fed such
     * a model (pixel / 255) unnormalised, without a word: other probabilities than the model gives its own test sample.
     * A cifar10 or cifar100 model.json without them now gets the dataset's, which never changed; the PNG of a test record
     * gets the model's probabilities on the dataset's own sample (1e-6), as with today's model.json.
     */
    @Test
    void predictNormalisesACifarModelWhoseModelJsonHasNoMeanAndStd(@TempDir Path tmp) throws IOException {
        Path data = fakeCifar10(Files.createDirectories(tmp.resolve("cifar")), 8, 7);
        Path cifarRun = tmp.resolve("run");
        CliTest.Result t = run("--model", "mlp", "--data", "cifar10", "--data-dir", data.toString(), "--epochs", "1", "--batch-size", "8",
                "--threads", "2", "--progress", "none", "--out", cifarRun.toString(), "--checkpoint-every", "off");
        assertEquals(0, t.code(), t.err() + t.out());
        Path meta = cifarRun.resolve("model").resolve(SavedModel.META_FILE);
        com.fasterxml.jackson.databind.node.ObjectNode j = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(meta.toFile());
        assertTrue(j.has("mean") && j.has("std"), j.toString());
        j.remove(java.util.List.of("mean", "std")); // as an earlier dl-train wrote it
        Files.writeString(meta, JSON.writeValueAsString(j));
        float[] x = new float[3072];
        DatasetRegistry.get("cifar10").load(data).test().read(0, x, 0);
        Path png = firstTestRecordAsPng(data, tmp.resolve("test0.png"));
        double[] p = softmax(logits(cifarRun.resolve("model"), new ModelSpec(3, 32, 32, 10), x, 1), 0);
        CliTest.Result r = run("predict", "--checkpoint", cifarRun.toString(), "--json", "--top-k", "10", "--threads", "2", png.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        for (JsonNode q : JSON.readTree(r.out()).get(0).get("predictions"))
            assertEquals(p[q.get("class").asInt()], q.get("probability").asDouble(), 1e-6, r.out());
    }

    /**
     * A colour image for a model whose 3-channel input is not an image folder's (cifar10, on a fake copy of its files):
     * red, green and blue become channels 0, 1 and 2, each scaled to [0, 1] and normalised with the model's mean and
     * std. Same floats, same model: the probabilities agree to 1e-6. (It trained on synthetic:3x8x8, whose samples are
     * not images: predict now refuses files for such a model.)
     */
    @Test
    void predictFeedsAColourImagesRedGreenAndBlueAsChannelsZeroOneTwo(@TempDir Path tmp) throws IOException {
        Path rgbRun = tmp.resolve("rgb");
        Path cifar = fakeCifar10(Files.createDirectories(tmp.resolve("cifar")), 16, 5);
        CliTest.Result t = run("--model", "mlp", "--data", "cifar10", "--data-dir", cifar.toString(), "--epochs", "1", "--batch-size", "16",
                "--threads", "2", "--progress", "none", "--out", rgbRun.toString(), "--checkpoint-every", "off");
        assertEquals(0, t.code(), t.err() + t.out());
        SavedModel saved = SavedModel.read(rgbRun.resolve("model"), null);
        assertEquals(3, saved.mean().length);
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        float[] x = new float[3 * 1024];
        for (int y = 0; y < 32; y++) {
            for (int c = 0; c < 32; c++) {
                int[] rgb = {10 + 7 * c, 240 - 6 * y, (c * y * 37 + 5) % 256};   // three different planes
                img.setRGB(c, y, rgb[0] << 16 | rgb[1] << 8 | rgb[2]);
                for (int ch = 0; ch < 3; ch++) x[ch * 1024 + y * 32 + c] = (rgb[ch] / 255f - saved.mean()[ch]) / saved.std()[ch];
            }
        }
        Path png = tmp.resolve("colour.png");
        assertTrue(ImageIO.write(img, "png", png.toFile()));
        double[] p = softmax(logits(rgbRun.resolve("model"), new ModelSpec(3, 32, 32, 10), x, 1), 0);
        CliTest.Result r = run("predict", "--checkpoint", rgbRun.toString(), "--json", "--top-k", "10", "--threads", "2", png.toString());
        assertEquals(0, r.code(), r.err() + r.out());
        JsonNode preds = JSON.readTree(r.out()).get(0).get("predictions");
        assertEquals(10, preds.size(), r.out());
        for (JsonNode q : preds) assertEquals(p[q.get("class").asInt()], q.get("probability").asDouble(), 1e-6, r.out());
    }

    /**
     * predict on a PNG or an IDX file for a model trained on synthetic data (an lstm on synthetic:1xTxF, sequences of T
     * steps of F features; an mlp on synthetic:3x8x8 alike) resized the picture to the model's input and printed
     * classes: meaningless, as synthetic samples are generated class patterns with noise, not pictures nor anything a
     * file holds. A CSV file was refused saying the model "classifies images". Every file is refused, before any is read,
     * with a usage error naming what the model was trained on and how to score it (eval on that data).
     */
    @Test
    void predictRefusesFilesForAModelTrainedOnSyntheticData(@TempDir Path tmp) throws IOException {
        Path seq = tmp.resolve("seq run"); // a space: the eval command it suggests must paste into a shell as one word
        String data = "synthetic:1x20x3,classes=3,train=32,test=8";
        CliTest.Result t = run("--model", "lstm", "--data", data, "--epochs", "1", "--batch-size", "16", "--threads", "2",
                "--progress", "none", "--out", seq.toString(), "--checkpoint-every", "off");
        assertEquals(0, t.code(), t.err() + t.out());
        BufferedImage img = new BufferedImage(3, 20, BufferedImage.TYPE_BYTE_GRAY);
        Path png = tmp.resolve("wave.png");
        assertTrue(ImageIO.write(img, "png", png.toFile()));
        Path csv = Files.writeString(tmp.resolve("rows.csv"), "a,b,c\n1,2,3\n");
        for (Path f : java.util.List.of(png, subset.resolve("t10k-images-idx3-ubyte.gz"), csv, tmp))
            CliTest.usageError(null, new String[] {"predict", "--checkpoint", seq.toString(), f.toString()},
                    seq.resolve("model") + ": lstm was trained on " + data + ", generated data (samples of shape [1, 20, 3]), neither images nor CSV rows:",
                    "Score it on that data with `dl-train eval --checkpoint '" + seq + "' --data " + data + "`");
        // the model itself is fine: eval on its data scores it
        CliTest.Result e = run("eval", "--checkpoint", seq.toString(), "--data", data, "--threads", "2", "--progress", "none");
        assertEquals(0, e.code(), e.err() + e.out());
    }

    /**
     * An --out that cannot be made is refused before the evaluation (it used to run the whole test split, then fail
     * with exit 1 writing eval.json): a path under a file, and /proc, where even root cannot create a directory.
     */
    @Test
    void evalRefusesAnOutThatCannotBeMadeBeforeEvaluating(@TempDir Path tmp) throws IOException {
        Path aFile = Files.writeString(tmp.resolve("a-file"), "x");
        java.util.List<Path> bad = new java.util.ArrayList<>(java.util.List.of(aFile.resolve("x")));
        if (Files.isDirectory(Path.of("/proc/self"))) bad.add(Path.of("/proc/dl-train-eval-test"));
        for (Path out : bad) {
            CliTest.Result r = run("eval", "--checkpoint", runDir.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString(),
                    "--threads", "1", "--out", out.toString());
            assertEquals(2, r.code(), r.err() + r.out());
            assertTrue(r.err().contains("--out " + out + " cannot be created"), r.err());
            assertFalse(r.out().contains("test: loss"), "nothing is evaluated first: " + r.out());
            assertFalse(r.err().contains("Exception"), "words, not Java class names: " + r.err());
        }
    }

    /** A misspelt dataset for eval, and a model.json naming a model by another spelling, suggest the name meant (exit 2). */
    @Test
    void misspeltNamesSuggestTheOneMeant(@TempDir Path tmp) throws IOException {
        CliTest.usageError(null, new String[] {"eval", "--checkpoint", runDir.toString(), "--data", "fashion_mnist",
                "--data-dir", subset.toString(), "--out", tmp.resolve("e").toString()}, "unknown dataset 'fashion_mnist' (did you mean 'fashion-mnist'?)");
        Path renamed = Files.createDirectories(tmp.resolve("renamed/model"));
        Files.copy(runDir.resolve("model/model.safetensors"), renamed.resolve("model.safetensors"));
        Files.writeString(renamed.resolve("model.json"), Files.readString(runDir.resolve("model/model.json")).replace("\"mlp\"", "\"m-l-p2\""));
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", tmp.resolve("renamed").toString(), runDir.resolve("curves.png").toString()},
                renamed + ": unknown model 'm-l-p2' (did you mean 'mlp'?)");
    }

    /**
     * --top-k above the model's class count (a script's --top-k 20 on a 10-class model) shows every class, as asked,
     * and says so once on stderr: stdout stays the results alone, one line per class.
     */
    @Test
    void predictTopKAboveTheClassCountShowsEveryClassWithOneNotice() {
        String image = runDir.resolve("curves.png").toString();
        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--top-k", "20", "--threads", "2", image, image);
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("dl-train: notice: --top-k 20 is more than the model's 10 classes: each result shows all 10"),
                r.err().lines().filter(l -> l.contains("--top-k")).toList(), r.err());
        CliTest.Result ten = run("predict", "--checkpoint", runDir.toString(), "--top-k", "10", "--threads", "2", image, image);
        assertEquals(0, ten.code(), ten.err());
        assertEquals(ten.out(), r.out(), "--top-k 20 shows what --top-k 10 shows");
        assertFalse(ten.err().contains("--top-k"), ten.err());
    }

    @Test
    void predictOnAFolderPassesOverHiddenFilesAsImageFoldersDo(@TempDir Path tmp) throws IOException {
        // a folder copied from a Mac holds an AppleDouble "._NAME.jpg" beside each picture: image-folder datasets ignore
        // names starting with '.', and predict took them for pictures and stopped at the first (exit 2)
        Path folder = Files.createDirectories(tmp.resolve("from-a-mac"));
        Files.copy(runDir.resolve("curves.png"), folder.resolve("a.png"));
        Files.write(folder.resolve("._a.png"), new byte[] {0, 5, 22, 7, 0, 2, 0, 0, 'M', 'a', 'c', ' ', 'O', 'S', ' ', 'X'});
        Files.write(folder.resolve(".hidden.jpg"), new byte[] {1, 2, 3});
        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--threads", "2", folder.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.out().lines().count(), r.out());
        assertTrue(r.out().startsWith(folder.resolve("a.png") + ":"), r.out());
    }

    @Test
    void predictRefusesATruncatedJpegAsTrainingOnImageFilesDoes(@TempDir Path tmp) throws IOException {
        // ImageIO's JPEG reader only warns about a file cut short and fills the rest in grey: predict gave a
        // confident answer (exit 0) for half a picture, where an image-folder model (ImageCodec) refuses the file
        BufferedImage img = new BufferedImage(200, 200, BufferedImage.TYPE_INT_RGB);
        java.util.Random rnd = new java.util.Random(1);
        for (int y = 0; y < 200; y++)
            for (int x = 0; x < 200; x++) img.setRGB(x, y, rnd.nextInt());
        Path whole = tmp.resolve("whole.jpg");
        assertTrue(ImageIO.write(img, "jpg", whole.toFile()));
        byte[] bytes = Files.readAllBytes(whole);
        Path half = Files.write(tmp.resolve("half.jpg"), java.util.Arrays.copyOf(bytes, bytes.length / 2));
        CliTest.Result ok = run("predict", "--checkpoint", runDir.toString(), "--threads", "2", whole.toString());
        assertEquals(0, ok.code(), ok.err());
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", runDir.toString(), "--threads", "2", half.toString()},
                "half.jpg", "Missing EOI marker");
    }

    @Test
    void predictReadsACmykJpegAsPilConvertsIt(@TempDir Path tmp) throws IOException {
        // A CMYK JPEG (inks 40, 56, 50, 0; ImageIO's writer stores 4-channel rasters inverted): PIL converts it to RGB
        // (215, 199, 205) (ImageFolderDatasetTest.cmykJpegDecodesAsPilConvertsIt), hence grey 204. predict took it
        // through getRGB's CMYK colour space, lighter, and gave a grey model other probabilities than PIL's picture.
        java.awt.image.WritableRaster cmyk = java.awt.image.Raster.createInterleavedRaster(java.awt.image.DataBuffer.TYPE_BYTE, 28, 28, 4, null);
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++) cmyk.setPixel(x, y, new int[]{215, 199, 205, 255});
        Path jpeg = tmp.resolve("cmyk.jpg");
        javax.imageio.ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        try (javax.imageio.stream.ImageOutputStream o = ImageIO.createImageOutputStream(jpeg.toFile())) {
            javax.imageio.ImageWriteParam p = writer.getDefaultWriteParam();
            p.setCompressionMode(javax.imageio.ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(1f);
            writer.setOutput(o);
            writer.write(null, new javax.imageio.IIOImage(cmyk, null, null), p);
        } finally {
            writer.dispose();
        }
        BufferedImage grey = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++) grey.getRaster().setSample(x, y, 0, PredictCommand.luma(215, 199, 205));
        Path png = tmp.resolve("pil.png");
        assertTrue(ImageIO.write(grey, "png", png.toFile()));
        CliTest.Result r = run("predict", "--checkpoint", runDir.toString(), "--json", "--top-k", "10", "--threads", "2", jpeg.toString(), png.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode a = JSON.readTree(r.out());
        for (int k = 0; k < 10; k++) // a uniform picture: the JPEG's pixels decode to the very inks written
            assertEquals(a.get(1).get("predictions").get(k).get("probability").asDouble(), a.get(0).get("predictions").get(k).get("probability").asDouble(),
                    1e-6, "class rank " + k + ": " + r.out());
    }

    @Test
    void evalRefusesAnImageFolderTreeWhoseClassFoldersAreNotTheModels(@TempDir Path tmp) throws IOException {
        // an image folder numbers its classes by folder name: with other folders, its class k is not the model's class k,
        // and eval used to score the shifted labels silently, printing them under the model's class names
        Path tree = PredictImageFolderTest.tree(tmp.resolve("tree")), run = tmp.resolve("run");
        CliTest.Result t = run("--model", "mlp", "--data", "imagefolder:size=16", "--data-dir", tree.toString(), "--epochs", "1", "--threads", "2",
                "--batch-size", "4", "--progress", "none", "--out", run.toString(), "--checkpoint-every", "off");
        assertEquals(0, t.code(), t.err() + t.out());
        CliTest.Result same = run("eval", "--checkpoint", run.toString(), "--data", "imagefolder:size=16", "--data-dir", tree.toString(),
                "--threads", "2", "--out", tmp.resolve("e1").toString());
        assertEquals(0, same.code(), same.err());
        // class a renamed z: the tree's classes are [b, z], b is its class 0 but the model's class 1
        Path other = tmp.resolve("other");
        for (String split : new String[] {"train", "val"}) {
            Files.createDirectories(other.resolve(split));
            Files.move(tree.resolve(split).resolve("a"), other.resolve(split).resolve("z"));
            Files.move(tree.resolve(split).resolve("b"), other.resolve(split).resolve("b"));
        }
        Path e2 = tmp.resolve("e2");
        CliTest.usageError(e2, new String[] {"eval", "--checkpoint", run.toString(), "--data", "imagefolder:size=16", "--data-dir", other.toString(),
                "--threads", "2", "--out", e2.toString()}, "[b, z]", "[a, b]");
    }

    /**
     * An image too large for the heap given to a model not trained on an image folder (this fashion-mnist mlp; a child JVM
     * with 96 MiB, the PNG declaring 12000x12000 pixels): as for an image-folder model (e2439f8), predict names the file
     * and says to raise the heap, exit 1. It was a usage error (exit 2), "cannot decode the image (Caught exception during
     * read: ); is the file complete?": ImageIO wraps the OutOfMemoryError in an IIOException.
     */
    @Test
    void anImageTooLargeForTheHeapIsNamedWithTheHeapAdviceForAnyModel(@TempDir Path tmp) throws Exception {
        Path huge = Files.write(tmp.resolve("huge.png"), CliTest.pngHeader(12000, 12000));
        CliTest.Result r = CliTest.predictWithA96MiBHeap(runDir, huge, tmp);
        String err = r.err();
        assertEquals(1, r.code(), err);
        assertTrue(err.contains("dl-train: error: " + huge + ": out of memory decoding a 12000x12000 image (1,647 MiB as float RGB) (Java heap space)."
                + " To read it, give Java a larger heap than its "), err);
        assertTrue(err.contains("in place of its -Xmx96m") && !err.contains("is the file complete"), err);
    }

    @Test
    void evalRefusesAnImageFolderPipelineOtherThanTheModels(@TempDir Path tmp) throws IOException {
        // a model fine-tuned on imagefolder:size=16,norm=imagenet, evaluated on imagefolder:size=16 (norm= forgotten):
        // same shape and classes, but its inputs went unnormalised into the model (a resnet18 run: top-1 10% instead of
        // 46.67%) while predict, which takes model.json's pipeline, gave the right answers
        Path tree = PredictImageFolderTest.tree(tmp.resolve("tree")), run = tmp.resolve("run");
        CliTest.Result t = run("--model", "mlp", "--data", "imagefolder:size=16,norm=imagenet", "--data-dir", tree.toString(), "--epochs", "1",
                "--threads", "2", "--batch-size", "4", "--progress", "none", "--out", run.toString(), "--checkpoint-every", "off");
        assertEquals(0, t.code(), t.err() + t.out());
        Path e1 = tmp.resolve("e1");
        CliTest.usageError(e1, new String[] {"eval", "--checkpoint", run.toString(), "--data", "imagefolder:size=16", "--data-dir", tree.toString(),
                "--threads", "2", "--out", e1.toString()}, "imagefolder:size=16,norm=imagenet", "Normalize(");
        // options that leave the validation pipeline as it was (augmentation, skipbad) are fine
        CliTest.Result same = run("eval", "--checkpoint", run.toString(), "--data", "imagefolder:size=16,norm=imagenet,augment=flip,skipbad=true",
                "--data-dir", tree.toString(), "--threads", "2", "--out", tmp.resolve("e2").toString());
        assertEquals(0, same.code(), same.err());
        JsonNode summary = JSON.readTree(run.resolve("summary.json").toFile()), eval = JSON.readTree(tmp.resolve("e2").resolve("eval.json").toFile());
        assertEquals(summary.get("test_acc").asDouble(), eval.get("top1").asDouble(), 1e-9, eval.toString());
    }

    @Test
    void badInputIsAUsageError(@TempDir Path tmp) throws IOException {
        Path missing = tmp.resolve("no-such-run");
        CliTest.usageError(null, new String[] {"eval", "--checkpoint", missing.toString(), "--data", "fashion-mnist"}, "does not exist");
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", missing.toString(), "x.png"}, "does not exist");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        CliTest.usageError(null, new String[] {"eval", "--checkpoint", empty.toString(), "--data", "fashion-mnist"}, "holds no model");
        // a 5-class dataset of the right image size for a 10-class model
        CliTest.usageError(null, new String[] {"eval", "--checkpoint", runDir.toString(), "--data", "synthetic:1x28x28,classes=5",
                "--out", tmp.resolve("e").toString()}, "5 classes", "predicts 10");
        CliTest.usageError(null, new String[] {"eval", "--checkpoint", runDir.toString(), "--data", "fashion-mnist", "--data-dir",
                subset.toString(), "--batch-size", "99999999", "--out", tmp.resolve("e").toString()}, "--batch-size 99999999 is too large");
        Path aFile = Files.writeString(tmp.resolve("a-file"), "x");
        CliTest.usageError(null, new String[] {"eval", "--checkpoint", runDir.toString(), "--data", "fashion-mnist",
                "--data-dir", subset.toString(), "--out", aFile.toString()}, "not a directory");
        Path garbage = Files.write(tmp.resolve("broken.png"), "this is not a picture".getBytes());
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", runDir.toString(), garbage.toString()}, "broken.png");
        byte[] whole = Files.readAllBytes(runDir.resolve("curves.png"));
        Path truncated = Files.write(tmp.resolve("truncated.png"), java.util.Arrays.copyOf(whole, whole.length / 3));
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", runDir.toString(), truncated.toString()}, "truncated.png");
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", runDir.toString(), "--top-k", "0", truncated.toString()}, "--top-k");
        // as train, eval and bench (predict used to accept it silently)
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", runDir.toString(), "--threads", "-1", runDir.resolve("curves.png").toString()},
                "--threads must be >= 0 (0 uses every core), got -1");
        // weights of another model under a model.json that says mlp: the strict load refuses
        Path wrong = Files.createDirectories(tmp.resolve("wrong/model"));
        Files.copy(runDir.resolve("model/model.json"), wrong.resolve("model.json"));
        try (CpuBackend be = new CpuBackend(1);
             Module m = Scope.outside(() -> ModelRegistry.get("lenet5").build(new Context(be, 0), new ModelSpec(1, 28, 28, 10)))) {
            Checkpoint.saveModel(wrong.resolve("model.safetensors"), m);
        }
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", tmp.resolve("wrong").toString(), runDir.resolve("curves.png").toString()}, "does not match the model");
    }
    /**
     * Weights trained elsewhere (a PyTorch state_dict saved with safetensors, whose names dl-train's models share) in a
     * directory of their own: predict and eval said "DIR has model.safetensors but neither model.json nor state.json:
     * cannot tell which model it is" and stopped there, without saying what would do. They now say what model.json
     * is and where to get one; a model.json copied from a run of that model and data, as said, makes predict work.
     */
    @Test
    void weightsWithoutModelJsonSayHowToDescribeThem(@TempDir Path tmp) throws IOException {
        Path foreign = Files.createDirectories(tmp.resolve("from-pytorch"));
        Files.copy(runDir.resolve("model/model.safetensors"), foreign.resolve("model.safetensors"));
        Path idx = subset.resolve("t10k-images-idx3-ubyte.gz");
        for (String[] args : List.of(new String[] {"predict", "--checkpoint", foreign.toString(), idx.toString()},
                new String[] {"eval", "--checkpoint", foreign.toString(), "--data", "fashion-mnist", "--data-dir", subset.toString()})) {
            CliTest.Result r = run(args);
            assertEquals(2, r.code(), r.err());
            assertTrue(r.err().contains(foreign + " has model.safetensors but neither model.json nor state.json, so which model it is"
                    + " (architecture, input shape, classes, normalisation) is unknown. For weights from elsewhere (a PyTorch"
                    + " state_dict saved with safetensors), copy model.json from the model/ of a dl-train run of the same"
                    + " model on the same data into " + foreign), r.err());
        }
        Files.copy(runDir.resolve("model/model.json"), foreign.resolve("model.json"));
        CliTest.Result ok = run("predict", "--checkpoint", foreign.toString(), "--json", "--progress", "none", idx.toString());
        assertEquals(0, ok.code(), ok.err());
        assertEquals(TEST, JSON.readTree(ok.out()).size());
    }
}
