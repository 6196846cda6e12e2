package io.dltrain.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.dltrain.datasets.CsvDataset;
import io.dltrain.datasets.DatasetException;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.datasets.ImageFolderDataset;
import io.dltrain.datasets.transform.Image;
import io.dltrain.datasets.transform.Seeds;
import io.dltrain.datasets.transform.Transform;
import io.dltrain.datasets.idx.IdxFile;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.BackendUnavailableException;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code dl-train predict}: the top-k classes, with softmax probabilities, of images under a saved model. Inputs
 * are PNG/JPEG files or IDX image files (every image in them). Each image goes through the model's input pipeline:
 * for a 1-channel model, grey (luma ITU-R 601-2, as PIL's {@code convert("L")}, for colour pictures), resized to
 * the model's H x W when needed as torchvision's {@code Resize((H, W))} resizes a PIL picture (Pillow's antialiased
 * bilinear, {@link #resize}), then pixel / 255 and (x - mean) / std with the
 * normalisation the training dataset used ({@link io.dltrain.datasets.IdxDataset}'s constants, stored in
 * model.json); for 3 channels, RGB the same way. A model trained on an image folder dataset ({@code imagefolder},
 * {@code imagenet-subset}; the dataset name with its options is in model.json) instead gets each file through that
 * dataset's own validation pipeline ({@link DatasetRegistry.Entry#evalTransform}, applied by
 * {@link ImageFolderDataset#sample}): e.g. resize 256, centre crop 224 and ImageNet mean/std.
 *
 * <p>A model trained on the {@code csv} dataset takes .csv files instead: a header row, then one sample per row.
 * The feature columns are matched by name (model.json's "features"; other columns, such as the label, are ignored)
 * and standardised with the training split's mean and std (model.json's "feature_mean" / "feature_std"), exactly as
 * {@link CsvDataset} did in training. Each row gets its top-k classes; for a regression model (csv:target=COLUMN),
 * its predicted target value. Results name the file, the row's 0-based index and its line number.
 */
@Command(name = "predict", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Classifies PNG/JPEG images, IDX image files or CSV rows with a trained model: top-k classes with probabilities"
                + " (a CSV regression model: the predicted value per row).")
public final class PredictCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = {"-c", "--checkpoint"}, required = true, paramLabel = "DIR",
            description = "A run directory (its model/ is used) or a model or checkpoint directory holding model.safetensors.")
    Path checkpoint;

    @Parameters(arity = "1..*", paramLabel = "FILE", description = "PNG or JPEG images, or IDX image files (.gz or not); for a model trained on csv, .csv files with a header row. "
            + "A directory stands for the images (for a csv model, the .csv files) directly in it, in name order.")
    List<Path> files;

    @Option(names = {"-k", "--top-k"}, defaultValue = "3", description = "How many classes to show per image; more than the model has shows them all, with a notice (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--json", description = "Print a JSON array instead of text.")
    boolean json;

    @Option(names = "--progress", defaultValue = "auto", paramLabel = "MODE",
            description = "The files done and inputs predicted so far, on stderr: auto (a bar when stderr is a terminal,"
                    + " plain lines otherwise; none when text results go to a terminal, being their own progress), bar, plain,"
                    + " or none (default: ${DEFAULT-VALUE}).")
    String progress;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", defaultValue = "0", description = "CPU compute threads; 0 uses every core (default: ${DEFAULT-VALUE}).")
    int threads;

    /**
     * One sample to classify: where it came from (file; index in an IDX or CSV file, else -1; a CSV row's line
     * number, else -1) and its model input (C*H*W floats, or F features).
     */
    record Input(String file, int index, int line, float[] x) {
        Input(String file, int index, float[] x) { this(file, index, -1, x); }
    }

    private Main.UsageError usage(String m) { return new Main.UsageError(spec.commandLine(), m); }

    @Override
    public Integer call() { return memory.run(this::predict); }

    /**
     * What predict does, for an out-of-memory error: loading the model, reading and predicting the inputs 256 at a time
     * (images, an IDX file's images, a CSV file's rows). predict has no --batch-size, which Main's general advice names.
     */
    private final OutOfMemoryContext memory = new OutOfMemoryContext();

    private int predict() {
        PrintWriter o = spec.commandLine().getOut();
        if (topK < 1) throw usage("--top-k must be >= 1, got " + topK);
        if (threads < 0) throw usage("--threads must be >= 0 (0 uses every core), got " + threads); // as train, eval and bench
        Progress.Mode progressMode;
        try {
            progressMode = Progress.parse(progress);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        Path located = Loaded.locate(spec.commandLine(), checkpoint, spec.commandLine().getErr()); // notices on stderr, as the device's
        SavedModel saved;
        try {
            saved = Loaded.read(spec.commandLine(), checkpoint, located, spec.commandLine().getErr(), found -> SavedModel.read(found, null));
        } catch (IllegalArgumentException | DatasetException e) {
            throw usage(e.getMessage());
        }
        Path dir = saved.dir();
        // synthetic samples are generated (class patterns and noise): no image or CSV row is one, whatever the shape
        // (an lstm's synthetic:1xTxF sequences alike), so predict has nothing to feed such a model
        if (saved.features() == null && saved.dataset().split(":", 2)[0].equals("synthetic")) {
            ModelSpec ss = saved.spec();
            throw usage(dir + ": " + saved.model() + " was trained on " + saved.dataset() + ", generated data (samples of shape ["
                    + ss.inChannels() + ", " + ss.height() + ", " + ss.width() + "]), neither images nor CSV rows: predict takes PNG/JPEG"
                    + " or IDX images for a model trained on images and CSV rows for one trained on csv. Score it on that data with"
                    + " `dl-train eval --checkpoint " + ShellWords.quote(checkpoint) + " --data " + ShellWords.quote(saved.dataset()) + "`");
        }
        // a csv model whose model.json predates "features" (2026-11-23, before ed0c053): no columns to match, no standardisation
        // to apply, and no picture is its input either
        if (saved.features() == null && saved.dataset().split(":", 2)[0].equals("csv"))
            throw usage(dir + ": " + saved.model() + " was trained on " + saved.dataset() + ", but its " + SavedModel.META_FILE + " does not"
                    + " record the feature columns and their standardisation (\"features\", \"feature_mean\", \"feature_std\": written by a"
                    + " dl-train of 2026-11-23), which predict needs to feed it CSV rows. Score it on that data with `dl-train eval --checkpoint "
                    + ShellWords.quote(checkpoint) + " --data " + ShellWords.quote(saved.dataset()) + " --data-dir DIR`, or train it again");
        files = expandDirectories(files, saved.features() != null);
        boolean regression = saved.task() == io.dltrain.runtime.train.Task.REGRESSION;
        // a regression model (CSV only) predicts a value per CSV row; anything else given to it is refused
        if (regression && (saved.features() == null || !files.stream().allMatch(PredictCommand::isCsv)))
            throw usage(dir + ": " + saved.model() + " was trained for regression (target " + String.join(",", saved.classNames()) + ") on "
                    + saved.dataset() + "; predict gives its values only for CSV rows (.csv files with its feature columns). Score it with `dl-train eval --checkpoint " + ShellWords.quote(checkpoint)
                    + " --data csv:target=COLUMN` (its test MSE is test_mse in the run's summary.json)");
        // image folder datasets: each file goes through the dataset's own validation pipeline (resize, crop, normalise)
        Transform folderEval;
        try {
            folderEval = DatasetRegistry.get(saved.dataset()).evalTransform(saved.spec().height(), saved.spec().width()).orElse(null);
        } catch (DatasetException e) {
            // a dataset this version does not know (renamed, or from elsewhere): the generic image pipeline, as before;
            // a known one with options it rejects is an error rather than a silently different pipeline
            String base = saved.dataset().split(":", 2)[0];
            if (DatasetRegistry.names().contains(base))
                throw usage(dir + ": the model's dataset " + saved.dataset() + ": " + e.getMessage());
            folderEval = null;
        }
        Transform eval = folderEval;
        java.util.function.Function<Path, Source> inputsOf = f -> eval != null ? Source.of(readThrough(f, saved, eval)) : read(f, saved);
        ModelSpec s = saved.spec();
        int k = Math.min(topK, s.numClasses()), numel = s.inChannels() * s.height() * s.width();
        // shown, not refused: a script may give one --top-k to models of any class count, and all classes is what it asks
        if (!regression && topK > s.numClasses())
            spec.commandLine().getErr().println("dl-train: notice: --top-k " + topK + " is more than the model's "
                    + Words.count(s.numClasses(), "class", "classes") + ": each result shows all " + s.numClasses());
        // the batch shape training used: [n, F] for tabular samples, [n, C, H, W] for images
        java.util.function.IntFunction<Shape> batchShape = saved.features() != null
                ? n -> Shape.of(n, saved.features().names().size()) : n -> Shape.of(n, s.inChannels(), s.height(), s.width());
        Backend be;
        try {
            be = Backends.create(device, threads, msg -> spec.commandLine().getErr().println("dl-train: notice: " + msg));
        } catch (BackendUnavailableException e) {
            throw new Main.Unusable(spec.commandLine(), e.commandLineMessage());
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        // Inputs are read a batch at a time (image files decoded in parallel; an IDX file's images and a CSV file's rows
        // taken a batch at a time), so memory holds about one batch of inputs whatever the number of files and their
        // length; results are printed batch by batch, text lines or the JSON array's elements.
        JsonArray array = json ? new JsonArray(o) : null;
        memory.doing("loading " + saved.model() + " from " + dir, "the model alone does not fit", null);
        try (be; Module model = Loaded.model(spec.commandLine(), be, saved, spec.commandLine().getErr(), null); GradMode.Guard g = GradMode.noGrad()) {
            memory.doing("predicting " + Words.count(files.size(), "file") + ", " + BATCH + " at a time", "the model and "
                    + BATCH + " inputs do not fit", null);
            model.eval();
            // the files done and the inputs predicted so far, on stderr; text results on a terminal are their own
            // progress, so --progress auto shows none there (a bar would be drawn among the lines)
            boolean ownProgress = !json && progress.equalsIgnoreCase("auto") && Progress.stdoutIsTerminal();
            Progress shown = new Progress(ownProgress ? Progress.Mode.NONE : progressMode, spec.commandLine().getErr());
            Progress.InputsProgress done = shown.inputs("predict");
            long predictedSoFar = 0;
            int filesDone = 0;
            List<Input> pending = new ArrayList<>();
            java.util.ArrayDeque<Source> opened = new java.util.ArrayDeque<>(); // files read or to read, in order, not yet to their end (a CSV file is opened at its first rows)
            int next = 0;
            try {
                while (true) {
                    while (pending.size() < BATCH) {
                        if (opened.isEmpty()) {
                            if (next == files.size()) break;
                            int m = Math.min(files.size() - next, BATCH - pending.size()); // each file gives at least one input
                            opened.addAll(readInParallel(files.subList(next, next + m), inputsOf));
                            next += m;
                        }
                        Source src = opened.getFirst();
                        List<Input> got = src.next(BATCH - pending.size());
                        if (got.isEmpty()) opened.removeFirst().close();
                        pending.addAll(got);
                    }
                    if (pending.isEmpty()) break;
                    int n = Math.min(BATCH, pending.size());
                    float[] x = new float[n * numel];
                    for (int i = 0; i < n; i++) System.arraycopy(pending.get(i).x(), 0, x, i * numel, numel);
                    float[] logits;
                    try (Scope sc = Scope.open()) {
                        Tensor t = be.empty(batchShape.apply(n));
                        be.copyFromHost(x, 0, t);
                        logits = model.forward(t).toFloatArray();
                    }
                    List<Map<String, Object>> predicted = new ArrayList<>(n);
                    for (int i = 0; i < n; i++)
                        predicted.add(regression ? value(pending.get(i), logits[i], saved.classNames().getFirst())
                                            : result(pending.get(i), logits, i * s.numClasses(), s.numClasses(), k, saved.classNames()));
                    pending.subList(0, n).clear();
                    if (json) array.add(predicted);
                    else print(o, predicted);
                    if (o.checkError()) break; // stdout failed (| head -1): Main says so; reading on would be for nobody
                    predictedSoFar += n;
                    filesDone = next - opened.size(); // a file is done once read to its end
                    if (done != null) done.batch(filesDone, files.size(), predictedSoFar);
                }
                // the last file is found at its end only when asked for more: said once it is
                if (done != null && filesDone < files.size() && !o.checkError() && opened.isEmpty() && next == files.size())
                    done.batch(next, files.size(), predictedSoFar);
            } finally {
                for (Source src : opened) src.close();
            }
            shown.endBar();
        }
        if (json && !o.checkError()) {
            array.end();
            o.println();
        }
        o.flush();
        return 0;
    }

    /** Samples predicted at a time, and read at a time. */
    static final int BATCH = 256;

    /**
     * The inputs of files, in file order, the files read in parallel (decoding dominates). A file that cannot be read
     * fails the command with its own message; when several cannot, the first in file order does, whatever thread met
     * it first.
     */
    private static List<Source> readInParallel(List<Path> files, java.util.function.Function<Path, Source> inputsOf) {
        List<Object> read = files.parallelStream().map(f -> {
            try {
                return (Object) inputsOf.apply(f);
            } catch (RuntimeException e) {
                return e;
            }
        }).toList();
        List<Source> out = new ArrayList<>();
        RuntimeException failed = null;
        for (Object r : read) {
            if (r instanceof RuntimeException e) { if (failed == null) failed = e; }
            else out.add((Source) r);
        }
        if (failed != null) {
            for (Source src : out) src.close();
            throw failed;
        }
        return out;
    }

    /**
     * The inputs of one file, taken a batch at a time: one image, an IDX file's images or a CSV file's rows, in order.
     * Closed once read to its end, or when the command stops.
     */
    interface Source extends AutoCloseable {
        /** The next inputs, at most {@code max}; none once all have been given. */
        List<Input> next(int max);

        @Override default void close() {}

        /** A file of one input, already read (a decoded image). */
        static Source of(Input in) {
            return new Source() {
                boolean given;

                @Override public List<Input> next(int max) {
                    if (given) return List.of();
                    given = true;
                    return List.of(in);
                }
            };
        }
    }

    /** Text results: "FILE[index] (line N):  name (class) p%  ..." or "FILE...:  target = value". */
    private static void print(PrintWriter o, List<Map<String, Object>> results) {
        for (Map<String, Object> r : results) {
            StringBuilder b = new StringBuilder(r.get("file").toString());
            if (r.containsKey("index")) b.append('[').append(r.get("index")).append(']');
            if (r.containsKey("line")) b.append(" (line ").append(r.get("line")).append(')');
            b.append(':');
            if (r.containsKey("value")) {
                o.println(b.append(String.format("  %s = %.6g", r.get("target"), (Double) r.get("value"))));
                continue;
            }
            @SuppressWarnings("unchecked") List<Map<String, Object>> p = (List<Map<String, Object>>) r.get("predictions");
            for (Map<String, Object> c : p)
                b.append(String.format("  %s (%d) %.2f%%", c.get("name"), (Integer) c.get("class"), 100 * (Double) c.get("probability")));
            o.println(b);
        }
        o.flush();
    }

    /** Softmax (in double, max-subtracted) of one row of logits, and its k most probable classes. */
    static Map<String, Object> result(Input in, float[] logits, int off, int classes, int k, List<String> names) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < classes; j++) max = Math.max(max, logits[off + j]);
        double[] p = new double[classes];
        double sum = 0;
        for (int j = 0; j < classes; j++) sum += p[j] = Math.exp(logits[off + j] - max);
        Integer[] order = new Integer[classes];
        for (int j = 0; j < classes; j++) { order[j] = j; p[j] /= sum; }
        // by descending probability, the lower class index first on ties (as arg-max)
        java.util.Arrays.sort(order, (a, b) -> logits[off + a] != logits[off + b] ? Float.compare(logits[off + b], logits[off + a]) : Integer.compare(a, b));
        List<Map<String, Object>> top = new ArrayList<>();
        for (int j = 0; j < k; j++) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("class", order[j]);
            c.put("name", names.get(order[j]));
            c.put("probability", p[order[j]]);
            top.add(c);
        }
        Map<String, Object> r = where(in);
        r.put("predictions", top);
        return r;
    }

    /**
     * The results as predict --json prints them: a JSON array, with a value or probability that is not a finite number
     * as null (Jackson writes it as the string "NaN" or "Infinity": JSON has no such numbers), as in summary.json.
     */
    static String json(List<Map<String, Object>> results) {
        java.io.StringWriter w = new java.io.StringWriter();
        JsonArray a = new JsonArray(w);
        a.add(results);
        a.end();
        return w.toString();
    }

    /**
     * predict --json's array written as results come, a batch at a time, so that memory holds one batch of results
     * whatever the number of inputs: the same text as Jackson's indented array of them all ({@link #json}). Begun at
     * the first results, so a command that fails before any writes nothing; one that fails later leaves the array
     * unfinished (and exits non-zero).
     */
    static final class JsonArray {
        private final ObjectMapper mapper;
        private final com.fasterxml.jackson.core.JsonGenerator g;
        private boolean begun;

        JsonArray(java.io.Writer w) {
            com.fasterxml.jackson.databind.module.SimpleModule nonFinite = new com.fasterxml.jackson.databind.module.SimpleModule()
                    .addSerializer(Double.class, new com.fasterxml.jackson.databind.ser.std.StdSerializer<>(Double.class) {
                        @Override
                        public void serialize(Double v, com.fasterxml.jackson.core.JsonGenerator g, com.fasterxml.jackson.databind.SerializerProvider p) throws IOException {
                            if (Double.isFinite(v)) g.writeNumber(v);
                            else g.writeNull();
                        }
                    });
            mapper = new ObjectMapper().registerModule(nonFinite).enable(SerializationFeature.INDENT_OUTPUT)
                    .disable(SerializationFeature.FLUSH_AFTER_WRITE_VALUE); // flushed a batch at a time
            try {
                g = mapper.getFactory().createGenerator(w).disable(com.fasterxml.jackson.core.JsonGenerator.Feature.AUTO_CLOSE_TARGET);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            g.setPrettyPrinter(mapper.getSerializationConfig().constructDefaultPrettyPrinter());
        }

        /** Writes results as the array's next elements, and flushes them. */
        void add(List<Map<String, Object>> results) {
            try {
                if (!begun) g.writeStartArray();
                begun = true;
                for (Map<String, Object> r : results) mapper.writeValue(g, r);
                g.flush();
            } catch (IOException e) { // a PrintWriter's failure is its checkError(), which the caller asks
                throw new java.io.UncheckedIOException(e);
            }
        }

        /** Ends the array (an empty one where nothing was added). */
        void end() {
            add(List.of());
            try {
                g.writeEndArray();
                g.flush();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    /** A regression model's output for one CSV row: the predicted value of the target column. */
    static Map<String, Object> value(Input in, float y, String target) {
        Map<String, Object> r = where(in);
        r.put("target", target);
        r.put("value", (double) y);
        return r;
    }

    /** The result's "file", and "index" (0-based, within an IDX or CSV file) and "line" (of a CSV row) when they apply. */
    private static Map<String, Object> where(Input in) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("file", in.file());
        if (in.index() >= 0) r.put("index", in.index());
        if (in.line() >= 0) r.put("line", in.line());
        return r;
    }

    /**
     * The files to predict: each directory replaced by the regular files directly in it that the model takes (.png,
     * .jpg and .jpeg images; for a csv model, .csv files; not hidden ones), in name order. A directory with none is a
     * usage error.
     */
    private List<Path> expandDirectories(List<Path> given, boolean csvModel) {
        List<Path> out = new ArrayList<>();
        for (Path f : given) {
            if (!Files.isDirectory(f)) { out.add(f); continue; }
            List<Path> inside;
            try (java.util.stream.Stream<Path> list = Files.list(f)) {
                // names starting with '.' are passed over, as image-folder datasets do (a Mac's "._NAME.jpg" beside each picture)
                inside = list.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("."))
                        .filter(p -> csvModel ? isCsv(p) : ImageFolderDataset.isImage(p)).sorted().toList();
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                throw usage(f + ": cannot list the directory (" + e.getMessage() + ")");
            }
            if (inside.isEmpty())
                throw usage(f + ": a directory with no " + (csvModel ? ".csv" : ".png, .jpg or .jpeg") + " files directly in it "
                        + "(subdirectories are not searched: give them, or their files, as arguments)");
            out.addAll(inside);
        }
        return out;
    }

    static boolean isCsv(Path f) { return f.getFileName() != null && f.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".csv"); }

    /**
     * The rows of a CSV file as the model's inputs, a batch at a time: feature columns matched by name when its first
     * rows are asked for, standardised as in training. The file is opened then, not when its Source is made: a batch of
     * up to 256 files gets its Sources at once, and opening them all would hold a descriptor per file (300 CSV files
     * failed with "Too many open files" under ulimit -n 200) and report a later file's bad header before an earlier
     * file's bad row. A bad value stops the command when its batch is read (the rows before it are predicted).
     */
    private Source readCsv(Path f, SavedModel.Features feat) {
        int nf = feat.names().size();
        return new Source() {
            CsvDataset.FeatureReader rows; // opened at the first next()

            @Override public List<Input> next(int max) {
                CsvDataset.Rows got;
                int first;
                try {
                    if (rows == null) rows = CsvDataset.FeatureReader.open(f, feat.names(), feat.mean(), feat.std());
                    first = rows.rowsRead();
                    got = rows.next(max);
                } catch (DatasetException e) {
                    throw usage(e.getMessage());
                }
                List<Input> out = new ArrayList<>(got.size());
                for (int i = 0; i < got.size(); i++)
                    out.add(new Input(f.toString(), first + i, got.lines()[i], java.util.Arrays.copyOfRange(got.x(), i * nf, (i + 1) * nf)));
                return out;
            }

            @Override public void close() { if (rows != null) rows.close(); }
        };
    }

    // ------------------------------------------------------------------------------------------------ inputs

    /** A PNG/JPEG file as the validation sample of the model's image folder dataset: decoded and transformed as the dataset does. */
    private Input readThrough(Path f, SavedModel saved, Transform eval) {
        if (!Files.isRegularFile(f)) throw usage(f + ": " + (Files.exists(f) ? "is not a regular file" : "no such file"));
        if (!Files.isReadable(f)) throw usage(f + ": not readable (check its permissions)");
        if (isCsv(f)) throw usage(f + ": a CSV file, but " + saved.model() + " was trained on " + saved.dataset() + " and classifies PNG/JPEG images");
        Image img;
        try {
            img = ImageFolderDataset.sample(f, eval, Seeds.sample(0, 0, 0)); // the validation pipeline draws nothing at random
        } catch (DatasetException e) {
            if (Main.outOfMemory(e) != null) throw e; // an image too large for the heap: a failure (exit 1) with the heap advice
            throw usage(f + ": " + saved.model() + " was trained on " + saved.dataset() + ", whose inputs are PNG/JPEG images: " + e.getMessage());
        }
        ModelSpec s = saved.spec();
        if (img.c() != s.inChannels() || img.h() != s.height() || img.w() != s.width())
            throw usage(f + ": the " + saved.dataset() + " validation pipeline " + eval + " gives " + img + ", but the model takes ["
                    + s.inChannels() + ", " + s.height() + ", " + s.width() + "]");
        return new Input(f.toString(), -1, img.data());
    }

    private Source read(Path f, SavedModel saved) {
        if (!Files.isRegularFile(f)) throw usage(f + ": " + (Files.exists(f) ? "is not a regular file" : "no such file"));
        if (!Files.isReadable(f)) throw usage(f + ": not readable (check its permissions)");
        ModelSpec s = saved.spec();
        if (saved.features() != null) {
            if (!isCsv(f))
                throw usage(f + ": " + saved.model() + " was trained on " + saved.dataset() + " and takes CSV rows with the columns "
                        + saved.features().names() + "; give a .csv file with a header row");
            return readCsv(f, saved.features());
        }
        if (isCsv(f))
            throw usage(f + ": a CSV file, but " + saved.model() + " was trained on " + saved.dataset() + " and classifies images"
                    + " (PNG/JPEG or IDX files)");
        BufferedImage img = null;
        boolean isImage = false;
        int[] size = {-1, -1}; // from the header, for an image too large for the heap
        List<String> warnings = new ArrayList<>();
        try (ImageInputStream in = ImageIO.createImageInputStream(f.toFile())) {
            Iterator<ImageReader> it = in == null ? null : ImageIO.getImageReaders(in);
            if (it != null && it.hasNext()) {
                isImage = true;
                ImageReader r = it.next();
                // the JPEG reader only warns about a file cut short ("Missing EOI marker") and fills the rest in grey:
                // such warnings are a corrupt file, as for the image-folder datasets' decoder
                r.addIIOReadWarningListener((reader, warning) -> {
                    if (!ImageFolderDataset.isBenignReadWarning(warning)) warnings.add(warning);
                });
                try {
                    if ("jpeg".equalsIgnoreCase(r.getFormatName())) {
                        // without an embedded ICC profile, which PIL ignores and the reader would convert every pixel through
                        try (ImageInputStream jpeg = new javax.imageio.stream.MemoryCacheImageInputStream(new java.io.ByteArrayInputStream(
                                ImageFolderDataset.withoutIccProfile(Files.readAllBytes(f))))) {
                            r.setInput(jpeg);
                            size[0] = r.getWidth(0);
                            size[1] = r.getHeight(0);
                            img = r.read(0);
                        }
                    } else {
                        r.setInput(in);
                        size[0] = r.getWidth(0);
                        size[1] = r.getHeight(0);
                        img = r.read(0);
                    }
                } finally {
                    r.dispose();
                }
            }
        } catch (IOException | RuntimeException e) {
            // ImageIO's readers wrap an OutOfMemoryError in an IIOException: not a corrupt file, and not a usage error
            OutOfMemoryError oom = Main.outOfMemory(e);
            if (oom != null) throw ImageFolderDataset.tooLarge(f.toString(), size[0], size[1], oom);
            if (isImage) throw usage(f + ": cannot decode the image (" + e.getMessage() + "); is the file complete?");
            throw usage(f + ": cannot read: " + e.getMessage());
        }
        if (isImage) {
            if (!warnings.isEmpty()) throw usage(f + ": corrupt image (" + String.join("; ", warnings) + "); is the file complete?");
            if (img == null) throw usage(f + ": cannot decode the image");
            int w = img.getWidth(), h = img.getHeight();
            float[] x = new float[s.inChannels() * s.height() * s.width()];
            Raster ras = img.getRaster();
            boolean grey = ras.getNumBands() <= 2 && img.getColorModel().getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY;
            int bits = img.getColorModel().getComponentSize(0);
            float[] rgb; // v / 255 as the image-folder datasets decode colour (a CMYK JPEG as PIL converts it)
            try {
                rgb = grey ? null : ImageFolderDataset.rgb(img).data();
            } catch (IllegalArgumentException e) {
                throw usage(f + ": " + e.getMessage());
            }
            for (int c = 0; c < s.inChannels(); c++) {
                float[] plane = new float[w * h];
                for (int yy = 0; yy < h; yy++) {
                    for (int xx = 0; xx < w; xx++) {
                        double v;
                        if (grey) {
                            int raw = ras.getSample(xx, yy, 0);
                            v = bits == 16 ? raw >>> 8 : raw; // 16-bit: the high byte, as PIL and the image-folder datasets
                        } else {
                            int j = yy * w + xx;
                            int r = Math.round(rgb[j] * 255), g = Math.round(rgb[w * h + j] * 255), b = Math.round(rgb[2 * w * h + j] * 255);
                            if (s.inChannels() == 1) v = luma(r, g, b);
                            else v = c == 0 ? r : c == 1 ? g : b;
                        }
                        plane[yy * w + xx] = (float) v;
                    }
                }
                normalise(resize(plane, h, w, s.height(), s.width()), x, c, saved);
            }
            return Source.of(new Input(f.toString(), -1, x));
        }
        int[] dims;
        // its header, checked now; its images are read a batch at a time, the file opened at the first (as a CSV file)
        try (IdxFile.Reader header = IdxFile.open(f, IdxFile.IMAGES_U8)) {
            dims = header.dims();
        } catch (DatasetException e) {
            throw usage(f + ": neither a PNG/JPEG image nor an IDX image file (" + e.getMessage() + ")");
        }
        if (dims.length != 3) throw usage(f + ": an IDX image file must be [N, rows, cols], got " + java.util.Arrays.toString(dims));
        if (s.inChannels() != 1) throw usage(f + ": IDX images are grey but the model takes " + s.inChannels() + " channels");
        int n = dims[0], h = dims[1], w = dims[2];
        return new Source() {
            IdxFile.Reader images; // opened at the first next()
            byte[] px; // one byte a pixel: a batch of images, which become floats as they are given
            int at;

            @Override public List<Input> next(int max) {
                int got;
                try {
                    if (images == null) images = IdxFile.open(f, IdxFile.IMAGES_U8);
                    int m = Math.min(max, n - at);
                    if (px == null || px.length < m * h * w) px = new byte[m * h * w];
                    got = images.next(m, px);
                } catch (DatasetException e) {
                    throw usage(e.getMessage());
                }
                List<Input> out = new ArrayList<>(got);
                for (int i = 0; i < got; i++, at++) {
                    float[] plane = new float[h * w];
                    for (int j = 0; j < h * w; j++) plane[j] = px[i * h * w + j] & 0xFF;
                    float[] x = new float[s.height() * s.width()];
                    normalise(resize(plane, h, w, s.height(), s.width()), x, 0, saved);
                    out.add(new Input(f.toString(), at, x));
                }
                return out;
            }

            @Override public void close() { if (images != null) images.close(); }
        };
    }

    /**
     * The grey level of an 8-bit RGB pixel as PIL's {@code convert("L")} computes it (Convert.c, {@code L24}): ITU-R
     * 601-2 weights in 16-bit fixed point, rounded, not truncated as {@code (r * 299 + g * 587 + b * 114) / 1000} would
     * be (which made about half the pixels of a colour picture one level darker: pure green is 150, not 149).
     */
    static int luma(int r, int g, int b) {
        return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }

    /** x[c] = (v / 255 - mean[c]) / std[c] in float32, the order of operations of IdxDataset's lookup table. */
    private static void normalise(float[] plane, float[] x, int c, SavedModel saved) {
        float mean = saved.mean() == null ? 0f : saved.mean()[Math.min(c, saved.mean().length - 1)];
        float std = saved.std() == null ? 1f : saved.std()[Math.min(c, saved.std().length - 1)];
        int off = c * plane.length;
        for (int j = 0; j < plane.length; j++) x[off + j] = (plane[j] / 255f - mean) / std;
    }

    /**
     * Resizes whole grey levels (0..255) to oh x ow as torchvision's {@code Resize((oh, ow))} does to an 8-bit PIL
     * picture, i.e. Pillow's {@code resize((ow, oh), BILINEAR)} (Resample.c): antialiased (downscaling by s widens the
     * triangle filter to s pixels, so every input pixel counts), a horizontal pass and then a vertical one, each in
     * Pillow's 22-bit fixed point and rounded to whole levels, a pass skipped when its size does not change. The
     * identity when the size matches. (Plain bilinear sampling of the four nearest pixels differed from torchvision by
     * up to 94 levels, 44 on average, on a 280 x 280 texture brought to 28 x 28.)
     */
    static float[] resize(float[] src, int h, int w, int oh, int ow) {
        if (h == oh && w == ow) return src;
        float[] t = src;
        if (w != ow) t = pass(t, h, w, ow, true);
        if (h != oh) t = pass(t, h, ow, oh, false);
        return t;
    }

    private static final int PRECISION_BITS = 32 - 8 - 2; // Pillow's, for 8-bit images

    /** One of Pillow's 8-bit resampling passes: along rows (horizontal) or columns, inSize -> outSize. */
    private static float[] pass(float[] src, int h, int w, int outSize, boolean horizontal) {
        int inSize = horizontal ? w : h;
        double scale = (double) inSize / outSize, filterscale = Math.max(scale, 1.0), support = filterscale, ss = 1.0 / filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] start = new int[outSize], len = new int[outSize], k = new int[outSize * ksize];
        double[] kd = new double[ksize];
        for (int o = 0; o < outSize; o++) { // precompute_coeffs, then normalize_coeffs_8bpc
            double center = (o + 0.5) * scale, ww = 0;
            int min = Math.max(0, (int) (center - support + 0.5)), n = Math.min(inSize, (int) (center + support + 0.5)) - min;
            for (int x = 0; x < n; x++) {
                double t = Math.abs((x + min - center + 0.5) * ss);
                kd[x] = t < 1 ? 1 - t : 0;
                ww += kd[x];
            }
            for (int x = 0; x < n; x++) {
                double v = ww != 0 ? kd[x] / ww : kd[x];
                k[o * ksize + x] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
            }
            start[o] = min;
            len[o] = n;
        }
        int oh = horizontal ? h : outSize, ow = horizontal ? outSize : w;
        float[] dst = new float[oh * ow];
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int o = horizontal ? x : y;
                long acc = 1L << (PRECISION_BITS - 1);
                for (int i = 0; i < len[o]; i++) {
                    int at = start[o] + i;
                    acc += (long) k[o * ksize + i] * (int) (horizontal ? src[y * w + at] : src[at * w + x]);
                }
                dst[y * ow + x] = (float) Math.max(0, Math.min(255, acc >> PRECISION_BITS));
            }
        return dst;
    }
}
