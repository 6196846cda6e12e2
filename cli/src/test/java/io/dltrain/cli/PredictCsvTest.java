package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

import static io.dltrain.cli.CliTest.JSON;
import static io.dltrain.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code predict} on CSV rows for a model trained on the {@code csv} dataset: model.json records the feature
 * columns and the training split's standardisation (checked against the mean / population std computed here from the
 * file); predict on the test file with its columns in another order, an extra id column and the label present gives,
 * row by row, the softmax of the saved model's forward pass on the test sample the dataset itself produces; a missing
 * feature column and an image file are usage errors naming the problem.
 */
class PredictCsvTest {
    static final int TRAIN = 240, TEST = 30;
    static final List<String> CLASSES = List.of("cat", "dog", "emu"); // sorted: the dataset's class order

    /** Three features on different scales; the label is the arg-max of three linear scores. */
    static void write(Path dir) throws IOException {
        SplittableRandom r = new SplittableRandom(5);
        for (String split : List.of("train", "test")) {
            StringBuilder sb = new StringBuilder("x1,x2,x3,label\n");
            int n = split.equals("train") ? TRAIN : TEST;
            for (int i = 0; i < n; i++) {
                double x1 = r.nextGaussian(), x2 = 10 * r.nextGaussian() + 50, x3 = 0.1 * r.nextGaussian();
                double[] s = {x1, (x2 - 50) / 10, 10 * x3};
                int k = s[0] > s[1] ? (s[0] > s[2] ? 0 : 2) : (s[1] > s[2] ? 1 : 2);
                sb.append(String.format(Locale.ROOT, "%.5f,%.5f,%.5f,%s%n", x1, x2, x3, CLASSES.get(k)));
            }
            Files.writeString(dir.resolve(split + ".csv"), sb);
        }
    }

    /** Trains mlp on the csv files in {@code data} ({@code spec}: csv and its options) into {@code out}, without checkpoints. */
    static void train(Path data, String spec, Path out, int epochs) { train(data, spec, out, epochs, "off"); }

    static void train(Path data, String spec, Path out, int epochs, String checkpointEvery) {
        CliTest.Result t = run("--model", "mlp", "--data", spec, "--data-dir", data.toString(), "--epochs", String.valueOf(epochs),
                "--threads", "2", "--progress", "none", "--out", out.toString(), "--batch-size", "32", "--checkpoint-every", checkpointEvery);
        assertEquals(0, t.code(), t.err() + t.out());
    }

    /** Writes the csv files to tmp/data, trains a run on them into tmp/run with a checkpoint an epoch, returns that checkpoint. */
    static Path trainedCheckpoint(Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        write(data);
        train(data, "csv", out, 1, "1e");
        return io.dltrain.runtime.checkpoint.Checkpoint.latest(out.resolve("checkpoints")).orElseThrow();
    }

    /** A copy of {@code data}'s csv files in {@code to} with the first two columns swapped. */
    static Path swapped(Path data, Path to) throws IOException {
        Files.createDirectories(to);
        for (String split : List.of("train", "test")) {
            StringBuilder sb = new StringBuilder();
            for (String l : Files.readAllLines(data.resolve(split + ".csv"))) {
                String[] f = l.split(",");
                sb.append(f[1]).append(',').append(f[0]).append(',').append(f[2]).append(',').append(f[3]).append('\n');
            }
            Files.writeString(to.resolve(split + ".csv"), sb);
        }
        return to;
    }

    @Test
    void csvRowsGetTheModelsProbabilitiesOnTheDatasetsOwnSamples(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        write(data);
        train(data, "csv", out, 2);

        // model.json: feature names in order, and the training split's mean / population std per feature
        JsonNode meta = JSON.readTree(out.resolve("model/model.json").toFile());
        assertEquals(List.of("x1", "x2", "x3"), List.of(meta.get("features").get(0).asText(), meta.get("features").get(1).asText(),
                meta.get("features").get(2).asText()));
        List<String> lines = Files.readAllLines(data.resolve("train.csv"));
        for (int j = 0; j < 3; j++) {
            double s = 0, ss = 0;
            for (String l : lines.subList(1, lines.size())) s += Double.parseDouble(l.split(",")[j]);
            double m = s / TRAIN;
            for (String l : lines.subList(1, lines.size())) { double d = Double.parseDouble(l.split(",")[j]) - m; ss += d * d; }
            assertEquals(m, meta.get("feature_mean").get(j).asDouble(), 1e-5 * Math.max(1, Math.abs(m)), "mean of x" + (j + 1));
            assertEquals(Math.sqrt(ss / TRAIN), meta.get("feature_std").get(j).asDouble(), 1e-5 * Math.sqrt(ss / TRAIN), "std of x" + (j + 1));
        }

        // the test file with its columns reordered, an extra column and the label kept: matched by name
        List<String> test = Files.readAllLines(data.resolve("test.csv"));
        StringBuilder sb = new StringBuilder("id,x3,label,x1,x2\n");
        for (int i = 1; i < test.size(); i++) {
            String[] f = test.get(i).split(",");
            sb.append("row").append(i).append(',').append(f[2]).append(',').append(f[3]).append(',').append(f[0]).append(',').append(f[1]).append('\n');
        }
        Path rows = Files.writeString(tmp.resolve("rows.csv"), sb);
        CliTest.Result p = run("predict", "--checkpoint", out.toString(), "--json", "--top-k", "3", "--threads", "2", rows.toString());
        assertEquals(0, p.code(), p.err() + p.out());
        JsonNode a = JSON.readTree(p.out());
        assertEquals(TEST, a.size());

        // reference: the saved model's forward pass on the test samples as the csv dataset produces them
        Dataset ds = DatasetRegistry.get("csv").load(data).test();
        float[] x = new float[TEST * 3];
        for (int i = 0; i < TEST; i++) ds.read(i, x, i * 3);
        float[] logits;
        try (CpuBackend be = new CpuBackend(1);
             Module m = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 0), new ModelSpec(3, 1, 1, 3)));
             GradMode.Guard g = GradMode.noGrad()) {
            Checkpoint.loadInto(m, out.resolve("model").resolve(Checkpoint.MODEL_FILE), true);
            m.eval();
            try (Scope s = Scope.open()) {
                Tensor in = be.empty(Shape.of(TEST, 3));
                be.copyFromHost(x, 0, in);
                logits = m.forward(in).toFloatArray();
            }
        }
        for (int i = 0; i < TEST; i++) {
            JsonNode r = a.get(i);
            assertEquals(rows.toString(), r.get("file").asText());
            assertEquals(i, r.get("index").asInt());
            assertEquals(i + 2, r.get("line").asInt(), "line numbers count the header");
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < 3; j++) max = Math.max(max, logits[i * 3 + j]);
            double[] q = new double[3];
            for (int j = 0; j < 3; j++) sum += q[j] = Math.exp(logits[i * 3 + j] - max);
            JsonNode preds = r.get("predictions");
            assertEquals(3, preds.size());
            for (JsonNode c : preds) {
                int k = c.get("class").asInt();
                assertEquals(CLASSES.get(k), c.get("name").asText());
                assertEquals(q[k] / sum, c.get("probability").asDouble(), 1e-6, "row " + i + " class " + k);
            }
        }

        // text output names the file, row and line
        CliTest.Result text = run("predict", "--checkpoint", out.toString(), "--top-k", "1", "--threads", "2", rows.toString());
        assertEquals(0, text.code(), text.err());
        assertTrue(text.out().startsWith(rows + "[0] (line 2):  "), text.out());
        assertEquals(TEST, text.out().lines().count(), text.out());

        // a missing feature column, an image file, and a CSV for an image model are usage errors
        Path noX2 = Files.writeString(tmp.resolve("no-x2.csv"), "x1,x3\n1,2\n");
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", out.toString(), noX2.toString()}, "no-x2.csv", "no column 'x2'");
        Path png = tmp.resolve("a.png");
        Files.write(png, new byte[] {1, 2, 3});
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", out.toString(), png.toString()}, "a.png", "CSV rows");
        Path bad = Files.writeString(tmp.resolve("bad.csv"), "x1,x2,x3\n1,oops,2\n");
        CliTest.usageError(null, new String[] {"predict", "--checkpoint", out.toString(), bad.toString()}, "bad.csv:2", "x2");
    }

    /**
     * eval takes the csv's columns in the file's order: a copy of the data with two feature columns swapped fed each
     * to the other's weights (accuracy fell from about 90% to chance, exit 0), and a regression model was scored
     * against another target column. Both are usage errors naming the columns; predict matches columns by name. A csv
     * whose labels hold a class the model was not trained on ('fox' besides cat, dog, emu) said only "csv has 4 classes
     * but the model ... predicts 3", not which: like other class names, it names both lists.
     */
    @Test
    void evalRefusesACsvWhoseFeatureColumnsOrTargetAreNotTheModels(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run"), reg = tmp.resolve("reg");
        write(data);
        train(data, "csv", out, 1);
        train(data, "csv:target=x3,ignore=label", reg, 1);
        CliTest.Result same = run("eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", data.toString(), "--threads", "2",
                "--out", tmp.resolve("e0").toString());
        assertEquals(0, same.code(), same.err());
        Path swapped = swapped(data, tmp.resolve("swapped"));
        // the same features, the target column under another name
        Path renamed = Files.createDirectories(tmp.resolve("renamed"));
        for (String split : List.of("train", "test"))
            Files.writeString(renamed.resolve(split + ".csv"), Files.readString(data.resolve(split + ".csv")).replaceFirst("x3", "y"));
        Path e1 = tmp.resolve("e1"), e2 = tmp.resolve("e2");
        CliTest.usageError(e1, new String[] {"eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", swapped.toString(),
                "--threads", "2", "--out", e1.toString()}, "[x2, x1, x3]", "[x1, x2, x3]");
        CliTest.usageError(e2, new String[] {"eval", "--checkpoint", reg.toString(), "--data", "csv:target=y,ignore=label",
                "--data-dir", renamed.toString(), "--threads", "2", "--out", e2.toString()}, "'y'", "'x3'");
        // another number of feature columns (x3 left out) was refused by the sample-shape check first, naming shapes
        // ("samples are [2] but ... trained on [3, 1, 1]"), not the columns README says the error names
        Path fewer = Files.createDirectories(tmp.resolve("fewer")), e3 = tmp.resolve("e3");
        for (String split : List.of("train", "test"))
            Files.writeString(fewer.resolve(split + ".csv"), Files.readString(data.resolve(split + ".csv")).replaceAll("(?m)^([^,]*,[^,]*),[^,]*,", "$1,"));
        CliTest.usageError(e3, new String[] {"eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", fewer.toString(),
                "--threads", "2", "--out", e3.toString()}, "feature columns [x1, x2] are not the model's [x1, x2, x3]");
        Path more = Files.createDirectories(tmp.resolve("more")), e4 = tmp.resolve("e4");
        for (String split : List.of("train", "test"))
            Files.writeString(more.resolve(split + ".csv"), Files.readString(data.resolve(split + ".csv")) + "0.5,50,0.1,fox\n");
        CliTest.usageError(e4, new String[] {"eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", more.toString(),
                "--threads", "2", "--out", e4.toString()}, "[cat, dog, emu, fox]", "the model's [cat, dog, emu]");
        // the test file is read a batch at a time as it is evaluated: a bad value or a label train.csv lacks in its third
        // batch of 8 is still a usage error naming the file and line, nothing printed on stdout or written
        Path late = Files.createDirectories(tmp.resolve("late"));
        Files.copy(data.resolve("train.csv"), late.resolve("train.csv"));
        List<String> lines = new java.util.ArrayList<>(Files.readAllLines(data.resolve("test.csv")));
        for (String[] bad : List.of(new String[] {"0.5,x,0.1,cat", ":22: column 'x2' holds 'x'"},
                new String[] {"0.5,50,0.1,fox", ":22: label 'fox' does not occur in " + late.resolve("train.csv")})) {
            lines.set(21, bad[0]);
            Files.write(late.resolve("test.csv"), lines);
            Path e5 = tmp.resolve("e5");
            String[] args = {"eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", late.toString(), "--batch-size", "8",
                    "--threads", "2", "--out", e5.toString()};
            CliTest.usageError(e5, args, late.resolve("test.csv") + bad[1]);
            assertEquals("", run(args).out(), "nothing on stdout");
        }
    }

    /**
     * Since 2026-12-07 a new run refuses a feature column named 'Unnamed: 0' (pandas' name for an index written back)
     * and a label pandas reads as missing ('nan'); a dl-train before trained on both, recording the column in model.json's
     * features and 'nan' among its class names. Such a model's own files were then refused by eval and by --resume with
     * the new-run advice (exit 2: 'write the file with index=False'), though the model needs that column and class.
     * Where the model records them (features, class names) eval, predict and --resume take them as before; a new run on
     * the same files is still refused.
     */
    @Test
    void aModelTrainedBeforeTheUnnamedAndMissingLabelChecksStillEvaluatesAndResumes(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        write(data);
        train(data, "csv", out, 1, "1e");
        CliTest.Result before = run("eval", "--checkpoint", out.resolve("model").toString(), "--data", "csv", "--data-dir", data.toString(),
                "--threads", "2", "--out", tmp.resolve("e0").toString());
        assertEquals(0, before.code(), before.err());
        // what the earlier dl-train wrote for files whose first column is 'Unnamed: 0' and whose class 'emu' is 'nan'
        for (String split : List.of("train", "test")) {
            Path f = data.resolve(split + ".csv");
            Files.writeString(f, Files.readString(f).replaceFirst("x1", "Unnamed: 0").replace(",emu\n", ",nan\n"));
        }
        Path ckpt = Checkpoint.latest(out.resolve("checkpoints")).orElseThrow();
        for (Path json : List.of(out.resolve("model").resolve(SavedModel.META_FILE), ckpt.resolve(Checkpoint.STATE_FILE))) {
            String text = Files.readString(json);
            assertTrue(text.contains("\"x1\"") && text.contains("\"emu\""), text);
            Files.writeString(json, text.replace("\"x1\"", "\"Unnamed: 0\"").replace("\"emu\"", "\"nan\""));
        }
        CliTest.usageError(tmp.resolve("new"), new String[] {"--model", "mlp", "--data", "csv", "--data-dir", data.toString(), "--epochs", "1",
                "--threads", "2", "--progress", "none", "--out", tmp.resolve("new").toString()}, "'Unnamed: 0'", "csv:ignore=Unnamed: 0");
        CliTest.Result after = run("eval", "--checkpoint", out.resolve("model").toString(), "--data", "csv", "--data-dir", data.toString(),
                "--threads", "2", "--out", tmp.resolve("e1").toString());
        assertEquals(0, after.code(), after.err());
        JsonNode was = JSON.readTree(tmp.resolve("e0").resolve("eval.json").toFile()), is = JSON.readTree(tmp.resolve("e1").resolve("eval.json").toFile());
        assertEquals(was.get("top1"), is.get("top1"), "the same model on the same samples");
        assertEquals(was.get("loss"), is.get("loss"));
        CliTest.Result p = run("predict", "--checkpoint", out.resolve("model").toString(), "--threads", "2", data.resolve("test.csv").toString());
        assertEquals(0, p.code(), p.err());
        assertTrue(p.out().contains("nan"), p.out());
        // a checkpoint that does not record model.json's fields (before 2026-12-07): the run's data is read for them
        Path bare = Files.createDirectories(tmp.resolve("bare"));
        for (Path f : List.of(ckpt.resolve(Checkpoint.MODEL_FILE), ckpt.resolve(Checkpoint.STATE_FILE))) Files.copy(f, bare.resolve(f.getFileName()));
        com.fasterxml.jackson.databind.node.ObjectNode j = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(bare.resolve(Checkpoint.STATE_FILE).toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) j.get("config")).remove(List.of(SavedModel.STATE_KEY, "train_fingerprint"));
        Files.writeString(bare.resolve(Checkpoint.STATE_FILE), JSON.writeValueAsString(j));
        CliTest.Result pb = run("predict", "--checkpoint", bare.toString(), "--threads", "2", data.resolve("test.csv").toString());
        assertEquals(0, pb.code(), pb.err());
        assertTrue(pb.out().contains("nan"), pb.out());
        CliTest.Result eb = run("eval", "--checkpoint", bare.toString(), "--data", "csv", "--data-dir", data.toString(), "--threads", "2",
                "--out", tmp.resolve("e2").toString());
        assertEquals(0, eb.code(), eb.err());
        CliTest.Result r = run("--resume", out.toString(), "--epochs", "2", "--threads", "2", "--progress", "none");
        assertEquals(0, r.code(), r.err() + r.out());
        assertEquals(2, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "the resume trained its second epoch");
    }

    /**
     * A regression model's output that is not a finite number (a diverged model, or features near float32's limit that
     * its layers' sums overflow) was written by predict --json as the string "NaN" or "Infinity" where a number goes:
     * JSON has neither, and a pipeline reading "value" as a number broke on it. It is null, as a non-finite figure is
     * in summary.json and eval.json (the text output still says NaN or Infinity); so is a probability from NaN logits.
     */
    @Test
    void aNonFiniteValueOrProbabilityIsNullInJson() throws IOException {
        List<java.util.Map<String, Object>> results = List.of(
                PredictCommand.value(new PredictCommand.Input("rows.csv", 0, 2, new float[0]), Float.NaN, "y"),
                PredictCommand.value(new PredictCommand.Input("rows.csv", 1, 3, new float[0]), Float.NEGATIVE_INFINITY, "y"),
                PredictCommand.value(new PredictCommand.Input("rows.csv", 2, 4, new float[0]), 2.5f, "y"),
                PredictCommand.result(new PredictCommand.Input("a.png", 0, new float[0]), new float[]{Float.NaN, 1}, 0, 2, 2, List.of("a", "b")));
        JsonNode json = JSON.readTree(PredictCommand.json(results)); // Jackson's reader, as Python's, refuses a bare NaN
        assertTrue(json.get(0).get("value").isNull(), json.toString());
        assertTrue(json.get(1).get("value").isNull(), json.toString());
        assertEquals(2.5, json.get(2).get("value").doubleValue(), json.toString());
        for (JsonNode c : json.get(3).get("predictions")) assertTrue(c.get("probability").isNull(), json.toString());
    }

    /**
     * predict opened the CSV files of a batch (up to 256 of them) all at once when it began the batch, holding a file
     * descriptor for each until its rows were read: 300 files under {@code ulimit -n 256} (macOS's default) failed with
     * "Too many open files" (exit 2, naming a file that was fine; the JVM with the tests' class path holds about 150),
     * where the build before read each whole and closed it. And a later
     * file's bad header was named before an earlier file's bad row (b.csv's missing column for a.csv's line 3). A CSV
     * file is now opened when its rows are first asked for, so one is open at a time and the first bad file in order is
     * named.
     */
    @Test
    void csvFilesAreOpenedOneAtATimeInOrder(@TempDir Path tmp) throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        write(data);
        train(data, "csv", out, 1);
        Path a = Files.writeString(tmp.resolve("a.csv"), "x1,x2,x3\n1,2,3\n1,oops,3\n"), b = Files.writeString(tmp.resolve("b.csv"), "x1,x3\n1,2\n");
        CliTest.Result r = run("predict", "--checkpoint", out.toString(), "--threads", "1", a.toString(), b.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("a.csv:3: column 'x2' holds 'oops'"), r.err());
        assertEquals("", r.out()); // (its batch, rows of a.csv, is not predicted)

        Path many = Files.createDirectories(tmp.resolve("many"));
        for (int i = 0; i < 300; i++) Files.writeString(many.resolve(String.format(Locale.ROOT, "f%03d.csv", i)), "x1,x2,x3\n" + i + ",50,0\n");
        List<String> cmd = new java.util.ArrayList<>(List.of("bash", "-c", "ulimit -n 256 && exec \"$@\"", "-",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(),
                "predict", "--checkpoint", out.toString(), "--threads", "1", "--top-k", "1", many.toString()));
        Path o = tmp.resolve("many-out.txt"), e = tmp.resolve("many-err.txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(o.toFile()).redirectError(e.toFile()).start();
        assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "predict on 300 files did not end in 120 s");
        assertEquals(0, p.exitValue(), Files.readString(e));
        List<String> lines = Files.readAllLines(o);
        assertEquals(300, lines.size(), Files.readString(e));
        for (int i = 0; i < 300; i++)
            assertTrue(lines.get(i).startsWith(many.resolve(String.format(Locale.ROOT, "f%03d.csv", i)) + "[0] (line 2):  "), lines.get(i));
    }

    /**
     * predict --json writes its array a batch of elements at a time (a list of every result took 3.7 GB resident for a
     * million CSV rows): the text is the same as Jackson's indented array of them all, which predict printed before,
     * however the results are split into batches, and an array with nothing added is an empty one.
     */
    @Test
    void theJsonArrayWrittenABatchAtATimeIsTheWholeArraysText() throws IOException {
        List<java.util.Map<String, Object>> results = new java.util.ArrayList<>();
        for (int i = 0; i < 5; i++) {
            results.add(PredictCommand.value(new PredictCommand.Input("rows.csv", i, i + 2, new float[0]), i / 3f, "y"));
            results.add(PredictCommand.result(new PredictCommand.Input("a.idx", i, new float[0]), new float[]{i, 1, -i}, 0, 3, 2, List.of("a", "b", "c")));
        }
        String whole = new com.fasterxml.jackson.databind.ObjectMapper().enable(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                .writeValueAsString(results);
        assertEquals(whole, PredictCommand.json(results));
        for (int batch : new int[] {1, 3, 10}) {
            java.io.StringWriter w = new java.io.StringWriter();
            PredictCommand.JsonArray a = new PredictCommand.JsonArray(w);
            for (int i = 0; i < results.size(); i += batch) a.add(results.subList(i, Math.min(results.size(), i + batch)));
            a.end();
            assertEquals(whole, w.toString(), "batches of " + batch);
        }
        assertEquals(new com.fasterxml.jackson.databind.ObjectMapper().enable(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                .writeValueAsString(List.of()), PredictCommand.json(List.of()));
    }

    /**
     * A checkpoint directory (checkpoints/ckpt-N) has no model.json: eval took the model's feature columns, class names
     * and statistics from the evaluated data's own training split, so the checks above compared that data with itself
     * and the same swapped columns were scored silently (exit 0, 90% for 96.67% on this kind of data). They now come
     * from the run's own training split (state.json's dataset and data_dir), as predict reads a checkpoint.
     */
    @Test
    void evalOfACheckpointChecksTheColumnsAgainstTheRunsOwnData(@TempDir Path tmp) throws IOException {
        Path ckpt = trainedCheckpoint(tmp), data = tmp.resolve("data"), out = tmp.resolve("run");
        CliTest.Result same = run("eval", "--checkpoint", ckpt.toString(), "--data", "csv", "--data-dir", data.toString(), "--threads", "2",
                "--out", tmp.resolve("e0").toString());
        assertEquals(0, same.code(), same.err());
        Path swapped = swapped(data, tmp.resolve("swapped"));
        Path e1 = tmp.resolve("e1");
        CliTest.usageError(e1, new String[] {"eval", "--checkpoint", ckpt.toString(), "--data", "csv", "--data-dir", swapped.toString(),
                "--threads", "2", "--out", e1.toString()}, "[x2, x1, x3]", "[x1, x2, x3]");
    }

    /**
     * predict on a checkpoint directory (no model.json) rebuilds the model's input pipeline from the run's training split,
     * which it loaded from state.json's dataset with no data directory: for a run trained with --data-dir it looked in the
     * dataset's default directory and failed (exit 2, '~/.dl-train/datasets/csv/train.csv: does not exist'), or would
     * have read another copy. It now reads it where the run did (state.json's data_dir), and predicts as model/ does.
     */
    @Test
    void predictOnACheckpointReadsTheRunsDataWhereTheRunDid(@TempDir Path tmp) throws IOException {
        Path ckpt = trainedCheckpoint(tmp), data = tmp.resolve("data"), out = tmp.resolve("run");
        JsonNode[] got = new JsonNode[2];
        int i = 0;
        for (Path dir : List.of(out, ckpt)) {
            CliTest.Result p = run("predict", "--checkpoint", dir.toString(), "--json", "--threads", "2", data.resolve("test.csv").toString());
            assertEquals(0, p.code(), dir + ": " + p.err() + p.out());
            got[i++] = JSON.readTree(p.out());
        }
        assertEquals(got[0].size(), got[1].size());
        for (int r = 0; r < got[0].size(); r++)
            for (int k = 0; k < 3; k++)
                assertEquals(got[0].get(r).get("predictions").get(k).get("probability").asDouble(),
                        got[1].get(r).get("predictions").get(k).get("probability").asDouble(), 1e-6, "row " + r + ": the checkpoint predicts as model/");
    }

    /**
     * eval on another directory's csv standardises its features with the model's training statistics (model.json), as
     * predict does, not with that directory's train.csv: the same test rows beside another train.csv score the same.
     */
    @Test
    void evalStandardisesWithTheModelsStatisticsNotTheEvaluatedTrainFiles(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        write(data);
        train(data, "csv", out, 1);
        // the same test.csv; a train.csv of its first 120 rows, whose means and deviations differ from the full file's
        Path other = Files.createDirectories(tmp.resolve("other"));
        Files.copy(data.resolve("test.csv"), other.resolve("test.csv"));
        Files.write(other.resolve("train.csv"), Files.readAllLines(data.resolve("train.csv")).subList(0, 121));
        String[] loss = new String[2];
        for (int i = 0; i < 2; i++) {
            Path dir = i == 0 ? data : other, e = tmp.resolve("e" + i);
            CliTest.Result r = run("eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", dir.toString(), "--threads", "2",
                    "--out", e.toString());
            assertEquals(0, r.code(), r.err() + r.out());
            assertEquals(i == 1, r.err().contains("standardised with the model's training statistics"), r.err());
            loss[i] = new com.fasterxml.jackson.databind.ObjectMapper().readTree(e.resolve("eval.json").toFile()).get("loss").toString();
        }
        assertEquals(loss[0], loss[1], "the test loss on the same rows");
    }

    /**
     * The csv reader orders numeric labels by value and reads 1, 1.0 and 1e0 as one class, but eval compared the model's
     * class names as text: a model trained on labels written 1.0, 2.0, 10.0 was refused (exit 2) on the same rows
     * written 1, 2, 1e1. Numeric class names now match by value, and the rows score as the model's own data.
     */
    @Test
    void evalMatchesNumericClassNamesByValue(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        Path other = Files.createDirectories(tmp.resolve("other"));
        write(data);
        for (String split : List.of("train", "test")) {
            String text = Files.readString(data.resolve(split + ".csv"));
            Files.writeString(data.resolve(split + ".csv"), text.replace(",cat\n", ",1.0\n").replace(",dog\n", ",2.0\n").replace(",emu\n", ",10.0\n"));
            Files.writeString(other.resolve(split + ".csv"), text.replace(",cat\n", ",1\n").replace(",dog\n", ",2\n").replace(",emu\n", ",1e1\n"));
        }
        train(data, "csv", out, 1);
        String[] loss = new String[2];
        for (int i = 0; i < 2; i++) {
            Path e = tmp.resolve("e" + i);
            CliTest.Result r = run("eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", (i == 0 ? data : other).toString(),
                    "--threads", "2", "--out", e.toString());
            assertEquals(0, r.code(), r.err() + r.out());
            loss[i] = new com.fasterxml.jackson.databind.ObjectMapper().readTree(e.resolve("eval.json").toFile()).get("loss").toString();
        }
        assertEquals(loss[0], loss[1], "the test loss on the same rows, whatever way their labels are written");
        // another value is another class: still refused, naming it
        Path third = Files.createDirectories(tmp.resolve("third"));
        for (String split : List.of("train", "test"))
            Files.writeString(third.resolve(split + ".csv"), Files.readString(other.resolve(split + ".csv")).replace(",1e1\n", ",3\n"));
        CliTest.usageError(tmp.resolve("e2"), new String[] {"eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir",
                third.toString(), "--threads", "2", "--out", tmp.resolve("e2").toString()}, "class 2 is '3' here but '10.0' for the model");
    }

    /** Labels 1.0, 2.0 and 10.0 for cat, dog and emu: numbers but not all integers, which a dl-train before 2026-12-07 ordered as text. */
    static final List<String> DECIMAL_LABELS = List.of("1.0", "2.0", "10.0"), AS_TEXT = List.of("1.0", "10.0", "2.0");

    /** {@link #write}'s files with DECIMAL_LABELS for its classes. */
    static void writeDecimalLabels(Path dir) throws IOException {
        write(dir);
        for (String split : List.of("train", "test")) {
            String text = Files.readString(dir.resolve(split + ".csv"));
            Files.writeString(dir.resolve(split + ".csv"), text.replace(",cat\n", ",1.0\n").replace(",dog\n", ",2.0\n").replace(",emu\n", ",10.0\n"));
        }
    }

    /**
     * Makes the weights in {@code modelDir} (an mlp trained here on DECIMAL_LABELS) what a dl-train before 2026-12-07
     * wrote for the same training: its outputs in AS_TEXT order (the head's rows 0, 2, 1) and, where {@code modelJson},
     * model.json's class_names in that order.
     */
    static void asAnEarlierDlTrainOrderedTheClasses(Path modelDir, boolean modelJson) throws IOException {
        int[] row = new int[AS_TEXT.size()];
        for (int k = 0; k < row.length; k++) row[k] = DECIMAL_LABELS.indexOf(AS_TEXT.get(k));
        try (CpuBackend be = new CpuBackend(1);
             Module m = Scope.outside(() -> ModelRegistry.get("mlp").build(new Context(be, 0), new ModelSpec(3, 1, 1, 3)))) {
            Path weights = modelDir.resolve(Checkpoint.MODEL_FILE);
            Checkpoint.loadInto(m, weights, true);
            List<String> names = List.copyOf(m.stateDict().keySet());
            for (String name : names.subList(names.size() - 2, names.size())) { // the last Linear: weight [3, H], bias [3]
                Tensor t = m.stateDict().get(name);
                float[] v = t.toFloatArray(), p = new float[v.length];
                int per = v.length / row.length;
                for (int k = 0; k < row.length; k++) System.arraycopy(v, row[k] * per, p, k * per, per);
                be.copyFromHost(p, 0, t);
            }
            Checkpoint.saveModel(weights, m);
        }
        if (modelJson) {
            Path meta = modelDir.resolve(SavedModel.META_FILE);
            com.fasterxml.jackson.databind.node.ObjectNode j = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(meta.toFile());
            List<String> written = new java.util.ArrayList<>();
            j.get("class_names").forEach(n -> written.add(n.asText()));
            assertEquals(DECIMAL_LABELS, written, "model.json's classes, by value, as this version orders them");
            j.set("class_names", JSON.valueToTree(AS_TEXT));
            Files.writeString(meta, JSON.writeValueAsString(j));
        }
    }

    /**
     * A csv model of labels that are numbers but not all integers (1.0, 2.0, 10.0), saved by a dl-train before 2026-12-07:
     * its model.json names the classes as that version ordered them, as text (1.0, 10.0, 2.0), and its outputs follow that
     * order. This version orders the csv's labels by value, and eval refused the model on its own data ("class 1 is '2.0'
     * here but '10.0' for the model ...: evaluate it on data with the classes it was trained on", exit 2). The same classes
     * in another order are now matched by name: the earlier model scores exactly as the same model saved today.
     */
    @Test
    void evalMatchesTheClassesOfAModelThatOrderedDecimalLabelsAsText(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run"), earlier = tmp.resolve("earlier");
        writeDecimalLabels(data);
        train(data, "csv", out, 2);
        Files.createDirectories(earlier);
        Files.copy(out.resolve("model").resolve(Checkpoint.MODEL_FILE), earlier.resolve(Checkpoint.MODEL_FILE));
        Files.copy(out.resolve("model").resolve(SavedModel.META_FILE), earlier.resolve(SavedModel.META_FILE));
        asAnEarlierDlTrainOrderedTheClasses(earlier, true);
        JsonNode[] report = new JsonNode[2];
        for (int i = 0; i < 2; i++) {
            Path e = tmp.resolve("e" + i);
            CliTest.Result r = run("eval", "--checkpoint", (i == 0 ? out : earlier).toString(), "--data", "csv", "--data-dir", data.toString(),
                    "--threads", "2", "--out", e.toString());
            assertEquals(0, r.code(), r.err() + r.out());
            assertEquals(i == 1, r.err().contains("classes in another order"), r.err());
            report[i] = JSON.readTree(e.resolve("eval.json").toFile());
        }
        assertEquals(report[0].get("loss"), report[1].get("loss"), "the test loss");
        assertEquals(report[0].get("top1"), report[1].get("top1"), "the top-1 accuracy");
        assertTrue(report[0].get("top1").asDouble() > 0.5, "a model that learned something: " + report[0]);
    }

    /**
     * --init-from such an earlier model (its model.json names the classes as text, 1.0, 10.0, 2.0, and its head's rows
     * follow) into a new run on the same csv loaded every tensor without a word, though this version numbers the classes
     * by value: the run started with classes 2.0 and 10.0 swapped (found by the compat pass with a csv mlp trained by
     * d8b7275's jar). A notice now names both orders; the same model saved today gets none.
     */
    @Test
    void initFromAModelThatOrderedDecimalLabelsAsTextSaysTheClassesAreSwapped(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run"), earlier = tmp.resolve("earlier");
        writeDecimalLabels(data);
        train(data, "csv", out, 1);
        Files.createDirectories(earlier);
        Files.copy(out.resolve("model").resolve(Checkpoint.MODEL_FILE), earlier.resolve(Checkpoint.MODEL_FILE));
        Files.copy(out.resolve("model").resolve(SavedModel.META_FILE), earlier.resolve(SavedModel.META_FILE));
        asAnEarlierDlTrainOrderedTheClasses(earlier, true);
        for (Path from : List.of(out, earlier)) {
            CliTest.Result r = run("--model", "mlp", "--data", "csv", "--data-dir", data.toString(), "--epochs", "1", "--max-steps", "1",
                    "--threads", "2", "--progress", "none", "--batch-size", "32", "--checkpoint-every", "off",
                    "--init-from", from.toString(), "--out", tmp.resolve("ft-" + from.getFileName()).toString());
            assertEquals(0, r.code(), r.err() + r.out());
            assertTrue(r.err().contains("6 tensors loaded"), r.err());
            String notice = "dl-train: notice: --init-from " + from.resolve(from == out ? "model" : "").resolve(SavedModel.META_FILE).toAbsolutePath()
                    + " names this run's classes in another order ([1.0, 10.0, 2.0], here [1.0, 2.0, 10.0]; a dl-train before 2026-12-07"
                    + " ordered csv labels that are numbers but not all integers as text): the output layer's rows were trained for that"
                    + " order, so this run starts with those classes swapped and learns them again";
            assertEquals(from == earlier, r.err().contains(notice), r.err());
            assertEquals(from == earlier, r.err().contains("another order"), r.err());
        }
    }

    /**
     * A checkpoint of a csv run whose labels are numbers but not all integers, written by a dl-train before 2026-12-07:
     * its state.json does not record the classes (no model_meta), and such labels were numbered as text until
     * 2026-12-07 (1.0, 10.0, 2.0) and by value since (1.0, 2.0, 10.0), a change no field of state.json shows. eval read
     * the classes from the data in today's order and scored the old model on shuffled labels without a word (an old
     * 11-class checkpoint: top-1 31.00% where its own version printed 42.33%), predict named its outputs so, and a resume
     * trained it on shuffled labels. Each is now refused, naming state.json, both orders and the way on.
     */
    @Test
    void aCheckpointThatDoesNotRecordItsDecimalClassesOrderIsRefused(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        writeDecimalLabels(data);
        train(data, "csv", out, 1, "1e");
        Path ckpt = Checkpoint.latest(out.resolve("checkpoints")).orElseThrow();
        asAnEarlierDlTrainOrderedTheClasses(ckpt, false);
        Path state = ckpt.resolve(Checkpoint.STATE_FILE);
        com.fasterxml.jackson.databind.node.ObjectNode j = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(state.toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) j.get("config")).remove(List.of(SavedModel.STATE_KEY, "train_fingerprint"));
        Files.writeString(state, JSON.writeValueAsString(j)); // as a dl-train before 2026-12-07 wrote it
        String said = "does not record the order of the model's classes";
        CliTest.usageError(tmp.resolve("e"), new String[] {"eval", "--checkpoint", ckpt.toString(), "--data", "csv", "--data-dir", data.toString(),
                "--threads", "2", "--out", tmp.resolve("e").toString()}, said);
        CliTest.Result p = run("predict", "--checkpoint", ckpt.toString(), "--threads", "2", data.resolve("test.csv").toString());
        assertEquals(2, p.code(), p.err() + p.out());
        assertTrue(p.err().contains(said) && p.err().contains("[1.0, 10.0, 2.0]") && p.err().contains("[1.0, 2.0, 10.0]"), p.err());
        assertEquals("", p.out());
        CliTest.Result r = run("--resume", out.toString(), "--epochs", "2", "--threads", "2", "--progress", "none");
        assertEquals(2, r.code(), r.err() + r.out());
        assertTrue(r.err().contains(said) && r.err().contains("with the dl-train that wrote it"), r.err());
        assertEquals(1, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "the resume trained nothing");
    }

    /**
     * A csv model saved by a dl-train of 2026-11-23 before its model.json recorded the feature columns and their
     * standardisation (ed0c053): predict took it for an image model, so a PNG was resized to the model's 3 x 1 x 1 input
     * and classified (exit 0, 'dog (1) 51.37%' for an old model of this shape), and a CSV file was refused saying that the
     * model 'was trained on csv and classifies images'. Every file is now refused before any is read, saying what
     * model.json lacks and how to score the model (eval on the csv, which reads the columns itself); eval still works.
     */
    @Test
    void predictRefusesACsvModelWhoseModelJsonHasNoFeatures(@TempDir Path tmp) throws IOException {
        Path data = Files.createDirectories(tmp.resolve("data")), out = tmp.resolve("run");
        write(data);
        train(data, "csv", out, 1);
        Path meta = out.resolve("model").resolve(SavedModel.META_FILE);
        com.fasterxml.jackson.databind.node.ObjectNode j = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(meta.toFile());
        assertTrue(j.has("features"), j.toString());
        j.remove(List.of("features", "feature_mean", "feature_std")); // as a dl-train before ed0c053 wrote it
        Files.writeString(meta, JSON.writeValueAsString(j));
        Path png = tmp.resolve("red.png");
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(8, 8, java.awt.image.BufferedImage.TYPE_INT_RGB);
        assertTrue(javax.imageio.ImageIO.write(img, "png", png.toFile()));
        for (Path f : List.of(data.resolve("test.csv"), png)) {
            CliTest.Result r = run("predict", "--checkpoint", out.toString(), "--threads", "2", f.toString());
            assertEquals(2, r.code(), r.err() + r.out());
            assertEquals("", r.out());
            assertTrue(r.err().contains("does not record the feature columns") && r.err().contains("dl-train eval --checkpoint " + out)
                    && !r.err().contains("classifies images"), r.err());
        }
        CliTest.Result e = run("eval", "--checkpoint", out.toString(), "--data", "csv", "--data-dir", data.toString(), "--threads", "2",
                "--out", tmp.resolve("e").toString());
        assertEquals(0, e.code(), e.err() + e.out());
    }

    /**
     * A checkpoint written by a dl-train before 2026-12-06 (before state.json recorded data_dir and model_meta) of a run
     * trained with --data-dir: predict rebuilds its input pipeline from the run's training data, looks for it in the
     * dataset's default directory and failed with the dataset's own words, '.../csv/train.csv: does not exist. The csv
     * dataset reads train.csv and test.csv from --data-dir ...', an option predict does not have. It now says that
     * state.json does not record where the run's data was, and the ways on (the run's model/, or eval with --data-dir).
     */
    @Test
    void predictOnACheckpointThatDoesNotRecordItsDataDirSaysWhatToDo(@TempDir Path tmp) throws IOException {
        Path ckpt = trainedCheckpoint(tmp), data = tmp.resolve("data");
        Path state = ckpt.resolve(Checkpoint.STATE_FILE);
        com.fasterxml.jackson.databind.node.ObjectNode j = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(state.toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) j.get("config")).remove(List.of(SavedModel.STATE_KEY, "train_fingerprint", "data_dir"));
        Files.writeString(state, JSON.writeValueAsString(j)); // as a dl-train before 2026-12-06 wrote it
        CliTest.Result p = run("predict", "--checkpoint", ckpt.toString(), "--threads", "2", data.resolve("test.csv").toString());
        assertEquals(2, p.code(), p.err() + p.out());
        assertEquals("", p.out());
        assertTrue(p.err().contains(state + " does not record the directory of the run's training data")
                && p.err().contains("train.csv: does not exist") && p.err().contains("dl-train eval --checkpoint " + ckpt + " --data csv --data-dir DIR"), p.err());
    }
}
