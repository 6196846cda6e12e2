package io.dltrain.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.dltrain.datasets.CsvDataset;
import io.dltrain.datasets.DatasetException;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.BackendUnavailableException;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.CheckpointException;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.data.SampleStream;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.nn.loss.MSELoss;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.train.EvalResult;
import io.dltrain.runtime.train.Task;
import io.dltrain.runtime.train.TrainConfig;
import io.dltrain.runtime.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code dl-train eval}: a saved model on a dataset's test split. Loss, top-1 and top-5 come from
 * {@link Trainer#evaluate} (the very numbers training reports), whose one pass also collects the predictions for
 * per-class accuracy and the confusion matrix (rows: true class, columns: predicted class), printed as a table and
 * written to {@code eval.json} and {@code confusion.png}. A regression model (csv:target=COLUMN) reports its mean
 * squared error instead, to {@code eval.json}.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Evaluates a trained model on a dataset's test split: loss, top-1/top-5, per-class accuracy, confusion matrix.")
public final class EvalCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = {"-c", "--checkpoint"}, required = true, paramLabel = "DIR",
            description = "A run directory (its model/ is used) or a model or checkpoint directory holding model.safetensors.")
    Path checkpoint;

    @Option(names = {"-d", "--data"}, required = true, paramLabel = "NAME", description = "Dataset from the registry to evaluate on (its test split).")
    String data;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Where the dataset's files are (default: its default directory).")
    Path dataDir;

    @Option(names = {"-b", "--batch-size"}, defaultValue = "128", description = "Samples per batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "DEVICE", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", defaultValue = "0", description = "CPU compute threads; 0 uses every core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = {"-o", "--out"}, paramLabel = "DIR", description = "Where eval.json and confusion.png go (default: the --checkpoint directory).")
    Path out;

    @Option(names = "--progress", defaultValue = "auto", paramLabel = "MODE",
            description = "auto (a bar when stderr, where it is drawn, is a terminal; plain lines otherwise), bar, plain, or none; on stderr (default: ${DEFAULT-VALUE}).")
    String progress;

    @Option(names = "--json", description = "Print eval.json's object on stdout (it is written too), and the text report and notices on stderr.")
    boolean json;

    private Main.UsageError usage(String m) { return new Main.UsageError(spec.commandLine(), m); }

    @Override
    public Integer call() { return memory.run(this::evaluate); }

    /** What eval does, for an out-of-memory error: reading the data, loading the model, making the loader, evaluating. */
    private final OutOfMemoryContext memory = new OutOfMemoryContext();

    /** The test split's loader, whose batch buffers are allocated here. */
    private DataLoader loader(Dataset test, Backend be) {
        memory.doing("making the data loader (--batch-size " + batchSize + ")", "its batch buffers do not fit", "Use a smaller --batch-size");
        return new DataLoader(test, null, batchSize, false, false, 0, DataWorkers.resolve(null, test, be, batchSize), 4);
    }

    private Integer evaluate() {
        PrintWriter o = json ? spec.commandLine().getErr() : spec.commandLine().getOut(); // the report; with --json, stdout has the JSON alone
        PrintWriter notices = spec.commandLine().getErr(); // notices, as the progress, on stderr: stdout has the result alone
        if (batchSize < 1) throw usage("--batch-size must be >= 1, got " + batchSize);
        if (threads < 0) throw usage("--threads must be >= 0 (0 uses every core), got " + threads);
        Progress.Mode progressMode;
        try {
            progressMode = Progress.parse(progress);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        Path located = Loaded.locate(spec.commandLine(), checkpoint, notices);
        // where eval.json and confusion.png go: checked (by a trial) before the evaluation, not after it
        Path outDir = out != null ? out : checkpoint;
        String unusable = out != null ? OutputDir.problem(out, "--out " + out, "choose another directory")
                : OutputDir.problem(checkpoint, "--checkpoint " + checkpoint + " (where eval.json goes without --out)",
                        "give --out DIR for eval.json and confusion.png");
        if (unusable != null) throw usage(unusable);
        DatasetRegistry.Splits splits;
        CsvDataset.NewRunRefusal refused = null; // files a new run may not take: the model's own, if trained on them before
        try {
            DatasetRegistry.Entry entry = DatasetRegistry.get(data);
            memory.doing("reading " + entry.name() + (dataDir != null ? " in " + dataDir : ""), TrainRun.DATA_DOES_NOT_FIT, null);
            splits = entry.loadStreamingTest(dataDir, "--data-dir"); // a csv's test rows are read a batch at a time, in the pass
        } catch (CsvDataset.NewRunRefusal e) {
            refused = e;
            splits = e.splits();
        } catch (DatasetException e) {
            throw usage(e.getMessage());
        }
        memory.doing(null, null, null);
        if (splits.hasNotice()) notices.println("dl-train: notice: " + splits.notice());
        Dataset test = splits.test();
        // a csv's test file is read in the pass, a batch at a time: one without rows is found there
        if (test.size() == 0 && !(test instanceof CsvDataset c && c.streamed())) throw usage(data + " has no test split to evaluate on");
        String tooLarge = BatchLimit.problem(batchSize, test.sampleShape().numel(), data + "'s " + test.sampleShape() + " samples");
        if (tooLarge != null) throw usage(tooLarge);
        SavedModel saved;
        Dataset train = splits.train();
        try {
            saved = Loaded.read(spec.commandLine(), checkpoint, located, notices, found -> SavedModel.read(found, runTrainSplit(found, notices, train)));
        } catch (IllegalArgumentException | DatasetException e) {
            throw usage(e.getMessage());
        }
        Path dir = saved.dir();
        // A column 'Unnamed: 0' or a label 'NA' a dl-train before 2026-12-07 trained on: taken where the model has them
        if (refused != null && !refused.acceptedBy(saved.features() != null ? saved.features().names()
                : baseName(saved.dataset()).equals("csv") ? null : List.of(), saved.classNames()))
            throw usage(refused.getMessage());
        // A csv's samples are its feature columns in the file's order: other columns, or the same in another order, would
        // feed each to another column's weights. Checked before the shape, so that another number of columns is named too.
        if (saved.features() != null && test instanceof CsvDataset columns && !columns.featureNames().equals(saved.features().names()))
            throw usage(data + "'s feature columns " + columns.featureNames() + " are not the model's " + saved.features().names()
                    + " (in that order: the model in " + dir + " takes them by position): evaluate it on a csv with those columns,"
                    + " or give the rows to `dl-train predict`, which matches columns by name");
        Shape shape = test.sampleShape();
        Shape expected = Shape.of(saved.spec().inChannels(), saved.spec().height(), saved.spec().width());
        if (!shape.equals(expected) && !(shape.rank() == 1 && shape.numel() == expected.numel()))
            throw usage(data + " samples are " + shape + " but the model " + saved.model() + " in " + dir + " was trained on "
                    + expected + " (" + saved.dataset() + "): evaluate it on data like its training set");
        boolean regression = saved.task() == Task.REGRESSION;
        if (regression != (test.task() == Task.REGRESSION))
            throw usage(regression
                    ? "the model in " + dir + " was trained for regression (target " + saved.classNames() + ") on " + saved.dataset()
                      + ", but " + data + " is a " + test.task().label() + " dataset: evaluate it on data with the same target, e.g. csv:target=COLUMN"
                    : data + " is a regression dataset (real-valued targets), but the model in " + dir + " is a classifier trained on "
                      + saved.dataset() + ": evaluate it on a classification dataset");
        // The model's own kind of dataset with other class names (an image folder with other class folders, a csv with
        // other labels): such a dataset numbers its classes by name, so its class k is not the model's class k and the
        // scores would count shifted labels.
        // A csv's numeric labels are one class when equal as numbers (1 and 1.0), as its reader matches them.
        java.util.function.BiPredicate<String, String> same = test instanceof CsvDataset ? CsvDataset::sameClass : String::equals;
        List<String> here = test.classNames(), own = saved.classNames();
        int k = 0;
        while (k < Math.min(here.size(), own.size()) && same.test(here.get(k), own.get(k))) k++;
        // The same csv classes in another order: a model whose labels are numbers but not all integers, saved by a dl-train
        // before 2026-12-07, which ordered them as text (0.0, 1.0, 10.0, 2.0, ...); its labels are matched by name.
        java.util.Optional<CsvDataset> reordered = !regression && (k < here.size() || k < own.size()) && test instanceof CsvDataset c
                ? c.withClassOrder(own) : java.util.Optional.empty();
        if (reordered.isPresent()) {
            notices.println("dl-train: notice: the model in " + dir + " has " + data + "'s classes in another order (" + own + ", where "
                    + data + " orders them " + here + ", as a dl-train before 2026-12-07 ordered labels that are numbers but not all"
                    + " integers: as text); each label is scored as the model's class of that name");
            test = reordered.get();
        } else if (!regression && baseName(data).equals(baseName(saved.dataset())) && (k < here.size() || k < own.size())) {
            throw usage(data + "'s classes " + here + " are not the model's " + own + " (" + (k < here.size() && k < own.size()
                    ? "class " + k + " is '" + here.get(k) + "' here but '" + own.get(k) + "'" : here.size() + " here but " + own.size())
                    + " for the model in " + dir + "): evaluate it on data with the classes it was trained on");
        }
        // (after the class names: the model's own kind of dataset with another number of classes names both lists there)
        if (test.numClasses() != saved.spec().numClasses())
            throw usage(data + " has " + Words.count(test.numClasses(), "class", "classes") + " but the model in " + dir + " predicts "
                    + saved.spec().numClasses() + " (it was trained on " + saved.dataset() + ")");
        // The model's own kind of image folder dataset with another validation pipeline (imagefolder without the
        // norm=imagenet it was trained with): same shape and classes, but inputs unlike its training's, and a score
        // that predict (which takes model.json's pipeline) does not share.
        if (baseName(data).equals(baseName(saved.dataset()))) {
            int h = saved.spec().height(), w = saved.spec().width();
            java.util.Optional<io.dltrain.datasets.transform.Transform> trained, given = DatasetRegistry.get(data).evalTransform(h, w);
            try {
                trained = DatasetRegistry.get(saved.dataset()).evalTransform(h, w);
            } catch (DatasetException e) { // options this version no longer takes: nothing to compare with
                trained = java.util.Optional.empty();
            }
            if (trained.isPresent() && given.isPresent() && !trained.get().toString().equals(given.get().toString()))
                throw usage(data + " feeds the model " + given.get() + ", but the model in " + dir + " was trained on " + saved.dataset()
                        + ", whose validation pipeline is " + trained.get() + ": evaluate it with --data " + saved.dataset());
        }
        // A csv's feature columns were checked above; a regression model is scored against its own target only.
        if (saved.features() != null && test instanceof CsvDataset csv) {
            if (regression && !test.classNames().equals(saved.classNames()))
                throw usage(data + "'s target '" + String.join(",", test.classNames()) + "' is not the model's '"
                        + String.join(",", saved.classNames()) + "' (the model in " + dir + " predicts that column): evaluate it with"
                        + " csv:target=" + String.join(",", saved.classNames()));
            // standardised as in training (model.json's feature_mean / feature_std), not by this directory's train.csv
            if (!Arrays.equals(csv.featureMean(), saved.features().mean()) || !Arrays.equals(csv.featureStd(), saved.features().std())) {
                notices.println("dl-train: notice: the features are standardised with the model's training statistics (model.json),"
                        + " not those of " + data + "'s own training file");
                test = csv.standardisedWith(saved.features().mean(), saved.features().std());
            }
        }
        // The same dataset with other options (synthetic's seed=, which draws other class patterns): same shape and
        // classes, and a score near chance without a word; the options that differ are named.
        if (baseName(data).equals(baseName(saved.dataset()))) {
            String differ;
            try {
                differ = DatasetRegistry.optionDifferences(saved.dataset(), data);
            } catch (DatasetException e) { // options this version no longer takes: nothing to compare with
                differ = null;
            }
            if (differ != null)
                notices.println("dl-train: notice: the model was trained on " + saved.dataset() + " and is evaluated on " + data
                        + ", whose options differ (" + differ + "): where they change the samples, these are not drawn as its training data were");
        }
        // Same shape and classes, another dataset (mnist for a fashion-mnist model): allowed, but its own input pipeline
        // (normalisation) and the model's class names apply, which is worth a line, not silence.
        if (!baseName(data).equals(baseName(saved.dataset())))
            notices.println("dl-train: notice: the model was trained on " + saved.dataset() + ", and is evaluated on " + data
                    + " with " + baseName(data) + "'s input pipeline (its normalisation) and the model's class names");
        // A checkpoint inside a run's checkpoints/ is deleted by the run's rotation (--keep) or replaced (best/) when
        // the run goes on, and what eval writes there with it: eval.json, and a classifier's confusion.png.
        if (out == null && insideCheckpoints(outDir))
            notices.println("dl-train: notice: " + (regression ? "eval.json goes" : "eval.json and confusion.png go") + " into " + outDir
                    + ", which the run deletes or replaces if it is resumed (checkpoint rotation); give --out DIR to keep "
                    + (regression ? "it" : "them") + " elsewhere");
        Backend be;
        try {
            be = Backends.create(device, threads, msg -> notices.println("dl-train: notice: " + msg));
        } catch (BackendUnavailableException e) {
            throw new Main.Unusable(spec.commandLine(), e.commandLineMessage());
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        Path[] from = {dir}; // the weights' directory: another checkpoint if the run rotated this one away meanwhile
        memory.doing(String.format(java.util.Locale.ROOT, "loading %s from %s", saved.model(), dir), "the model alone does not fit", null);
        // a csv's test rows stay in their file and are read a batch at a time; other test splits are in memory
        CsvDataset streamed = test instanceof CsvDataset c && c.streamed() ? c : null;
        try (be; Module model = Loaded.model(spec.commandLine(), be, saved, notices, newer -> from[0] = newer);
             DataLoader loader = streamed == null ? loader(test, be) : null;
             SampleStream rows = streamed != null ? rows(streamed) : null) {
            memory.doing("evaluating " + saved.model() + " at --batch-size " + batchSize, null, null);
            Trainer trainer = new Trainer(be, new TrainConfig(1, batchSize, 0.1, "sgd", 0, 0, "constant", 0f, 0f, 0, 0, 0, 0, 1));
            if (regression) trainer.task(Task.REGRESSION);
            Pass pass = (loss, progress, outputs) -> loader != null ? trainer.evaluate(model, loader, loss, progress, outputs)
                    : trainer.evaluate(model, rows, batchSize, loss, progress, outputs);
            // the passes' progress on stderr: stdout has the result alone
            Progress shown = new Progress(progressMode, spec.commandLine().getErr());
            if (regression) return regression(o, pass, saved, from[0], test, outDir, shown);
            long[][] cm = new long[test.numClasses()][test.numClasses()];
            EvalResult r;
            try {
                r = tally((loss, p, outputs) -> run(pass, loss, p, outputs), cm, shown.pass("eval"));
            } finally {
                shown.endBar(); // a pass that failed: its bar is not left drawn below the error
            }
            List<String> names = saved.classNames();
            o.printf("eval: %s (%s) from %s on %s (%,d %s)%n", saved.model(), saved.spec(), from[0], test.name(), r.samples(),
                    Words.noun(r.samples(), "sample"));
            String top5 = Double.isNaN(r.top5()) ? "n/a (fewer than 5 classes)" : String.format("%.2f%%", 100 * r.top5());
            o.printf("test: loss %.4f  top-1 %.2f%%  top-5 %s%n%n", r.loss(), 100 * r.top1(), top5);
            printTable(o, cm, names);
            Map<String, Object> json = Checkpoint.writtenBy(); // format_version, dl_train_version, dl_train_build first
            json.put("model", saved.model());
            json.put("trained_on", saved.dataset());
            json.put("dataset", data);
            json.put("checkpoint", from[0].toAbsolutePath().toString());
            json.put("samples", r.samples());
            json.put("loss", RunOutput.finiteOrNull(r.loss()));
            json.put("top1", RunOutput.finiteOrNull(r.top1()));
            json.put("top5", RunOutput.finiteOrNull(r.top5()));
            Map<String, Object> perClass = new LinkedHashMap<>();
            for (int c = 0; c < cm.length; c++) perClass.put(names.get(c), RunOutput.finiteOrNull(classAccuracy(cm, c)));
            json.put("per_class_accuracy", perClass);
            json.put("class_names", names);
            json.put("confusion_matrix", cm);
            evalJson(outDir, json);
            ConfusionPicture.write(outDir.resolve("confusion.png"), cm, names);
            o.println();
            o.println("dl-train: wrote " + outDir.resolve("eval.json") + " and " + outDir.resolve("confusion.png"));
            o.flush();
            return 0;
        }
    }

    /**
     * One evaluation pass over the test split ({@link Trainer#evaluate}): a DataLoader over a split in memory, or a csv
     * test file's rows read a batch at a time. A bad row of that file (a value that is not a number, a label not among
     * the classes) is found when its batch is read: a usage error naming the file and line, as when it was read whole.
     */
    @FunctionalInterface
    interface Pass {
        EvalResult run(io.dltrain.runtime.nn.loss.Loss loss, Trainer.BatchProgress progress, Trainer.BatchOutputs outputs);
    }

    /** The csv test file's rows, opened for the pass (a file removed or changed since its header was read: a usage error). */
    private SampleStream rows(CsvDataset test) {
        try {
            return test.rows();
        } catch (DatasetException e) {
            throw usage(e.getMessage());
        }
    }

    /** A regression model: the mean squared error on the test split (training's test_mse), to eval.json. No confusion matrix. */
    private int regression(PrintWriter o, Pass pass, SavedModel saved, Path dir, Dataset test, Path outDir, Progress shown) {
        EvalResult r;
        try {
            r = run(pass, new MSELoss(), shown.pass("eval"), null);
        } finally {
            shown.endBar();
        }
        o.printf("eval: %s (%s, regression of %s) from %s on %s (%,d %s)%n", saved.model(), saved.spec(),
                String.join(",", saved.classNames()), dir, test.name(), r.samples(), Words.noun(r.samples(), "sample"));
        o.printf("test: mse %.5f%n", r.loss());
        Map<String, Object> json = Checkpoint.writtenBy(); // format_version, dl_train_version, dl_train_build first
        json.put("model", saved.model());
        json.put("trained_on", saved.dataset());
        json.put("dataset", data);
        json.put("checkpoint", dir.toAbsolutePath().toString());
        json.put("task", Task.REGRESSION.label());
        json.put("samples", r.samples());
        json.put("loss", RunOutput.finiteOrNull(r.loss()));
        json.put("mse", RunOutput.finiteOrNull(r.loss()));
        evalJson(outDir, json);
        o.println("dl-train: wrote " + outDir.resolve("eval.json"));
        o.flush();
        return 0;
    }

    /**
     * Loss, top-1 and top-5 over one pass of the loader ({@link Trainer#evaluate}, the numbers training reports), and in
     * the same pass cm[true][predicted] counted into {@code cm}, the prediction being the arg-max logit (first on ties):
     * the test split is read once, not once for the scores and again for the matrix.
     */
    static EvalResult classify(Trainer trainer, Module model, DataLoader loader, long[][] cm, Trainer.BatchProgress progress) {
        return tally((loss, p, outputs) -> trainer.evaluate(model, loader, loss, p, outputs), cm, progress);
    }

    private EvalResult run(Pass pass, io.dltrain.runtime.nn.loss.Loss loss, Trainer.BatchProgress progress, Trainer.BatchOutputs outputs) {
        try {
            return pass.run(loss, progress, outputs);
        } catch (DatasetException e) { // a csv test file's row, read in the pass
            throw usage(e.getMessage());
        }
    }

    /** {@link #classify(Trainer, Module, DataLoader, long[][], Trainer.BatchProgress)} over any {@link Pass}. */
    static EvalResult tally(Pass pass, long[][] cm, Trainer.BatchProgress progress) {
        int classes = cm.length;
        return pass.run(new CrossEntropyLoss(0f), progress, (out, y, n) -> {
            float[] logits = out.toFloatArray();
            int[] labels = y.toIntArray();
            for (int i = 0; i < n; i++) cm[labels[i]][argmax(logits, i * classes, classes)]++;
        });
    }

    /**
     * The predicted class of the confusion matrix, ranked as the accuracy counts it (Backend.countTopK) and as
     * torch.argmax: NaN above every number, ties to the first index.
     */
    static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int j = 1; j < n; j++) {
            float v = a[off + j], b = a[off + best];
            if (!Float.isNaN(b) && (v > b || Float.isNaN(v))) best = j;
        }
        return best;
    }

    static double classAccuracy(long[][] cm, int c) {
        long total = 0;
        for (long v : cm[c]) total += v;
        return total == 0 ? Double.NaN : (double) cm[c][c] / total;
    }

    private static void printTable(PrintWriter o, long[][] cm, List<String> names) {
        int k = cm.length;
        int nameW = Math.max(5, names.stream().mapToInt(String::length).max().orElse(5));
        long max = 0;
        for (long[] row : cm) for (long v : row) max = Math.max(max, v);
        int cellW = Math.max(Long.toString(max).length(), Integer.toString(k - 1).length()) + 1;
        o.println("confusion matrix (rows: true class, columns: predicted class index)");
        StringBuilder h = new StringBuilder(String.format("%-" + (nameW + 5) + "s", "true \\ predicted"));
        for (int j = 0; j < k; j++) h.append(String.format("%" + cellW + "d", j));
        h.append("  accuracy");
        o.println(h);
        for (int i = 0; i < k; i++) {
            StringBuilder r = new StringBuilder(String.format("%3d %-" + (nameW + 1) + "s", i, names.get(i)));
            for (int j = 0; j < k; j++) r.append(String.format("%" + cellW + "d", cm[i][j]));
            double a = classAccuracy(cm, i);
            r.append(Double.isNaN(a) ? "       n/a" : String.format("  %7.2f%%", 100 * a));
            o.println(r);
        }
    }

    /** Writes eval.json into dir, and with --json prints the same object on stdout. */
    private void evalJson(Path dir, Map<String, Object> value) {
        writeAtomically(dir, "eval.json", value);
        if (!json) return;
        RunOutput.printJson(spec.commandLine().getOut(), value);
    }

    private static void writeAtomically(Path dir, String name, Object value) {
        Path target = dir.resolve(name), tmp = dir.resolve(name + ".tmp");
        try {
            Files.createDirectories(dir);
            Files.writeString(tmp, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(value) + "\n");
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + OutputDir.reason(e), e);
        }
    }

    /**
     * The training split the model's class names, feature columns and their statistics come from: model.json records
     * them, but a checkpoint directory (checkpoints/ckpt-N, best/) has none, and taking them from the evaluated data's
     * own training split would make the checks against the model's input shape, classes and columns compare that data
     * with itself (a checkpoint of a fashion-mnist mlp evaluated on cifar10 was rebuilt for 3x32x32 inputs, and its
     * weights then failed to load). So for a checkpoint of a run on other data, of the same kind or not, the run's own
     * training split (state.json's dataset and data_dir), as predict reads a checkpoint; {@code evaluated} where that is
     * the same data, where there is a model.json or the checkpoint records model.json's fields (SavedModel.STATE_KEY: then
     * nothing is read), or (with a notice) where the run's data cannot be read.
     */
    private Dataset runTrainSplit(Path dir, PrintWriter notices, Dataset evaluated) {
        if (Files.isRegularFile(dir.resolve(SavedModel.META_FILE)) || !Files.isRegularFile(dir.resolve(Checkpoint.STATE_FILE))) return evaluated;
        TrainingState s;
        try {
            s = Checkpoint.readState(dir);
        } catch (CheckpointException e) {
            return evaluated; // SavedModel.read says what is wrong with it
        }
        if (s.dataset() == null || s.config() != null && s.config().containsKey(SavedModel.STATE_KEY)) return evaluated; // recorded: not read
        Path runDataDir = s.config() != null && s.config().get("data_dir") instanceof String d ? Path.of(d) : null;
        Path evalDataDir = dataDir == null ? null : dataDir.toAbsolutePath().normalize();
        if (s.dataset().equals(data) && java.util.Objects.equals(runDataDir, evalDataDir)) return evaluated;
        try {
            return DatasetRegistry.get(s.dataset()).loadStreamingTest(runDataDir, "--data-dir").train(); // its test rows are not needed
        } catch (CsvDataset.NewRunRefusal e) { // the run's own data, which a dl-train before 2026-12-07 trained on
            return e.splits().train();
        } catch (DatasetException | IllegalArgumentException | UncheckedIOException e) {
            notices.println("dl-train: notice: the training data of the run " + dir + " belongs to (" + s.dataset()
                    + (runDataDir != null ? " in " + runDataDir : "") + ") cannot be read (" + e.getMessage() + "): its class names,"
                    + " feature columns and statistics are taken from " + data + "'s training split, unchecked");
            return evaluated;
        }
    }

    /** A dataset's registry name without its options ("imagefolder:size=64" -> "imagefolder"). */
    private static String baseName(String dataset) {
        int colon = dataset.indexOf(':');
        return colon < 0 ? dataset : dataset.substring(0, colon);
    }

    /** Whether dir is (in) a checkpoint a run rotates: checkpoints/ckpt-N or checkpoints/best/ckpt-N. */
    private static boolean insideCheckpoints(Path dir) {
        Path p = dir.toAbsolutePath().normalize().getParent();
        for (int up = 0; up < 2 && p != null && p.getFileName() != null; up++, p = p.getParent())
            if (p.getFileName().toString().equals(RunOutput.CHECKPOINTS)) return true;
        return false;
    }
}
