package io.dltrain.datasets;

import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.data.SampleStream;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.train.Task;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.charset.MalformedInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Tabular data from CSV files: numeric feature columns and one label column (classification) or target column
 * (regression). The registry entry {@code csv} reads {@code train.csv} and {@code test.csv} from {@code --data-dir}.
 *
 * <p>Format: UTF-8, comma-separated, a header row naming the columns (required: a first row made only of numbers is
 * rejected as a missing header), then one row per sample with as many fields as the header. Fields may be quoted
 * ("a,b", with "" for a quote, and line breaks inside the quotes, as RFC 4180 and pandas allow); spaces around a field
 * are ignored (an unquoted " cat" is cat, which pandas' default skipinitialspace=False keeps apart; as this reader has
 * always done, so that a saved model's class names stay), and so are those inside the quotes of a number (" 2.0", as
 * pandas reads it), but not of a label or a header name; blank lines are skipped. Every feature value must be a finite number; there are no missing values.
 *
 * <p>Classification: the label column holds numbers or strings; the class set is the training split's labels in
 * sorted order (by value when they are all numbers, labels equal as numbers such as 2 and 2.0 being one class, named
 * as the training file first writes it; else as strings) and a label's index in that order is its class, so labels
 * 0..K-1 (or 0.0..K-1.0) keep their values. A test label not seen in training is an error, and so is a label that
 * pandas reads as missing (empty, NA, nan, NULL, ..., and '?'): it is no class.
 * Regression: the target column must be numeric; it is exposed through {@link #target} and not standardised.
 *
 * <p>Features are standardised with the training split's per-column mean and population standard deviation
 * (sklearn's StandardScaler: a constant column is only centred), applied to both splits. Samples are [F] vectors.
 *
 * <p>{@link #task()} says whether the data is for classification or regression (the trainer's {@link Task}): for a
 * regression dataset {@link #read} returns 0, {@link #numClasses()} is 1 and the value to predict is
 * {@link #target(int)}, which the trainer fits with the MSE loss.
 */
public final class CsvDataset implements Dataset {

    private final String name;
    private final Task task;
    private final List<String> featureNames;
    private final List<String> classNames;
    private final float[] features; // [size, F], as in the file: read() standardises them with mean and std
    private final int[] labels;
    private final float[] targets;
    private final int size, numFeatures;
    private final float[] mean, std;
    /** For a split whose rows stay in its file, read a batch at a time ({@link #rows()}): how to read them; else null. */
    private final Streamed streamed;

    /**
     * A split read from {@code file} a batch at a time: the training file's {@code header} (the file must have the same),
     * what to keep of each record, the training split's {@code classes} (null for regression) and its file, named when a
     * label is not one of them.
     */
    private record Streamed(Path file, java.util.function.Function<List<String>, Keep> keep, Classes classes, Path trainFile) {}

    private CsvDataset(String name, Task task, List<String> featureNames, List<String> classNames, float[] features,
                       int[] labels, float[] targets, int size, float[] mean, float[] std) {
        this(name, task, featureNames, classNames, features, labels, targets, size, mean, std, null);
    }

    private CsvDataset(String name, Task task, List<String> featureNames, List<String> classNames, float[] features,
                       int[] labels, float[] targets, int size, float[] mean, float[] std, Streamed streamed) {
        this.streamed = streamed;
        this.name = name;
        this.task = task;
        this.featureNames = List.copyOf(featureNames);
        this.classNames = List.copyOf(classNames);
        this.features = features;
        this.labels = labels;
        this.targets = targets;
        this.size = size;
        this.numFeatures = featureNames.size();
        this.mean = mean;
        this.std = std;
    }

    /**
     * Reads a train and a test file. Exactly one of labelColumn / targetColumn may be given; with neither, the last
     * column is the label (classification).
     *
     * @param ignore      columns that are neither features nor the label/target (ids, text), left out of the samples
     * @param standardize whether to standardise features with the training split's mean and std
     * @param keepNa      whether a label that pandas reads as missing ('NA', 'None', '?', ...; not an empty one) is a class
     *                    name (Namibia's code, a survey's answer), as with pandas' keep_default_na=False; else an error
     * @throws DatasetException naming the file, line and column of the first problem
     */
    public static DatasetRegistry.Splits load(String dsName, Path trainFile, Path testFile, String labelColumn, String targetColumn,
                                              List<String> ignore, boolean standardize, boolean keepNa) {
        return load(dsName, trainFile, testFile, labelColumn, targetColumn, ignore, standardize, keepNa, false);
    }

    /**
     * As {@link #load(String, Path, Path, String, String, List, boolean, boolean)}; where {@code streamTest}, the test
     * file's header is checked but its rows are not read: the test split keeps them in the file, and
     * {@link #rows()} reads them a batch at a time (an evaluation of a file larger than memory). Its labels are checked
     * as they are read.
     */
    public static DatasetRegistry.Splits load(String dsName, Path trainFile, Path testFile, String labelColumn, String targetColumn,
                                              List<String> ignore, boolean standardize, boolean keepNa, boolean streamTest) {
        if (labelColumn != null && targetColumn != null)
            throw new DatasetException("csv: give label=COLUMN (classification) or target=COLUMN (regression), not both");
        Task task = targetColumn != null ? Task.REGRESSION : Task.CLASSIFICATION;
        List<String> featureNames = new ArrayList<>();
        Keep[] keep = new Keep[1]; // the columns to keep, from the training file's header (checked before its rows are read)
        Table train = Table.read(trainFile, header -> {
            String y = targetColumn != null ? targetColumn : labelColumn != null ? labelColumn : header.getLast();
            String role = task == Task.REGRESSION ? "target" : "label";
            int yCol = column(header, y, "csv:" + role + "=" + y, trainFile);
            if (yCol < 0)
                throw new DatasetException(trainFile + ": no column '" + y + "' (" + role + "); the header has " + header);
            String yName = header.get(yCol);
            List<String> ignored = new ArrayList<>();
            for (String c : ignore) {
                int at = column(header, c, "csv:ignore=" + c, trainFile);
                if (at < 0)
                    throw new DatasetException(trainFile + ": no column '" + c + "' to ignore; the header has " + header);
                if (at == yCol)
                    throw new DatasetException(trainFile + ": '" + c + "' is the " + role + " column; it cannot be ignored too");
                ignored.add(header.get(at));
            }
            featureNames.addAll(header);
            featureNames.remove(yName);
            featureNames.removeAll(ignored);
            if (featureNames.isEmpty())
                throw new DatasetException(trainFile + ": no feature column besides '" + yName + "'" + (ignore.isEmpty() ? "" : " and the ignored " + ignored)
                        + ": a dataset needs at least one");
            String defaultLabel = labelColumn == null && targetColumn == null ? yName : null;
            Map<String, Integer> byName = positions(header);
            return keep[0] = new Keep(featureNames.stream().mapToInt(byName::get).toArray(),
                    task == Task.CLASSIFICATION ? yCol : -1, task == Task.REGRESSION ? yCol : -1, true, defaultLabel);
        });
        if (train.size() == 0) throw new DatasetException(trainFile + ": no data rows after the header");
        java.util.function.Function<List<String>, Keep> testKeep = header -> {
            if (!train.header.equals(header))
                throw new DatasetException(testFile + ": header " + header + " differs from " + trainFile + "'s " + train.header
                        + "; both files need the same columns in the same order");
            return keep[0];
        };
        Table test;
        if (streamTest) {
            new Table.Reader(testFile, testKeep, 1).close(); // its header, checked now; its rows when they are read
            test = null;
        } else {
            test = Table.read(testFile, testKeep);
        }
        String yName = train.header.get(Math.max(keep[0].label(), keep[0].target()));
        int yCol = train.header.indexOf(yName);
        int f = featureNames.size();
        float[] xTrain = train.x, xTest = test == null ? null : test.x;
        String refused = null; // what a new run may not take, but a model trained before 2026-12-07 did (NewRunRefusal)
        for (int j = 0; j < f && refused == null; j++) {
            String c = featureNames.get(j);
            if (!isUnnamed(c)) continue;
            boolean rowNumbers = true; // 0 to n-1, as to_csv writes a DataFrame's default index
            for (int i = 0; i < train.size() && rowNumbers; i++) rowNumbers = xTrain[i * f + j] == i;
            refused = trainFile + ": column '" + c + "' is how pandas names a column without a name, such as a DataFrame's"
                    + " index read from a file and written back by to_csv" + (rowNumbers
                    ? " (its values are the row numbers 0 to " + (train.size() - 1) + ": an index, not a feature): write the file"
                      + " with index=False, or leave the column out with csv:ignore=" + c
                    : ", or a column whose header cell was empty (its values are not row numbers): if it is a feature, give it a"
                      + " name in the header row; else leave it out with csv:ignore=" + c);
        }
        float[] mean = new float[f], std = new float[f];
        java.util.Arrays.fill(std, 1f);
        if (standardize) {
            int n = train.size();
            for (int j = 0; j < f; j++) {
                double s = 0;
                for (int i = 0; i < n; i++) s += xTrain[i * f + j];
                double m = s / n, ss = 0;
                for (int i = 0; i < n; i++) { double d = xTrain[i * f + j] - m; ss += d * d; }
                double sd = Math.sqrt(ss / n);
                mean[j] = (float) m;
                std[j] = sd > 0 ? (float) sd : 1f; // a constant column is only centred, as sklearn's StandardScaler does
            }
        }

        String trainName = dsName + "/train", testName = dsName + "/test";
        DatasetRegistry.Splits splits;
        if (task == Task.REGRESSION) {
            splits = new DatasetRegistry.Splits(
                    new CsvDataset(trainName, task, featureNames, List.of(yName), xTrain, null, train.y, train.size(), mean, std),
                    test == null ? new CsvDataset(testName, task, featureNames, List.of(yName), null, null, null, 0, mean, std,
                                           new Streamed(testFile, testKeep, null, trainFile))
                            : new CsvDataset(testName, task, featureNames, List.of(yName), xTest, null, test.y, test.size(), mean, std));
        } else {
            String[] yTrain = train.labels;
            Classes classes = train.classes(yTrain, yCol);
            if (refused == null && !keepNa) refused = train.missingLabel(yTrain, yCol);
            splits = new DatasetRegistry.Splits(
                    new CsvDataset(trainName, task, featureNames, classes.names(), xTrain, train.labels(yTrain, yCol, classes, trainFile), null, train.size(), mean, std),
                    test == null ? new CsvDataset(testName, task, featureNames, classes.names(), null, null, null, 0, mean, std,
                                           new Streamed(testFile, testKeep, classes, trainFile))
                            : new CsvDataset(testName, task, featureNames, classes.names(), xTest, test.labels(test.labels, yCol, classes, trainFile), null, test.size(), mean, std));
        }
        if (refused != null) throw new NewRunRefusal(refused, splits);
        return splits;
    }

    /**
     * The index of column {@code name} in {@code header}: as written, else the one column named so but for spaces around
     * either name (a quoted header cell keeps them, " id"; ignore=id + colour gives ' colour'); -1 if none. Two such
     * columns (" b" and "b ") are an error naming both and what asked for one ({@code what}: "csv:label=b").
     */
    static int column(List<String> header, String name, String what, Path file) {
        int at = header.indexOf(name);
        if (at >= 0) return at;
        String bare = name.strip();
        for (int j = 0; j < header.size(); j++) {
            if (!header.get(j).strip().equals(bare)) continue;
            if (at >= 0)
                throw new DatasetException(file + ":1: " + what + " matches columns '" + header.get(at) + "' and '" + header.get(j)
                        + "', which differ only in the spaces around them: rename one of them in the header row");
            at = j;
        }
        return at;
    }

    /**
     * Each column's index by name (a header names no column twice: {@link Table#read} refuses that), so that matching a
     * wide file's features to their columns is linear in the number of columns, not quadratic ({@code indexOf} per name:
     * most of the 19 s a file of 100,000 columns took to load).
     */
    static Map<String, Integer> positions(List<String> header) {
        Map<String, Integer> at = new HashMap<>(header.size() * 2);
        for (int j = 0; j < header.size(); j++) at.putIfAbsent(header.get(j), j);
        return at;
    }

    /** Whether a column's name is pandas' for a column without one ('Unnamed: 0', such as an index written back). */
    static boolean isUnnamed(String column) { return column.matches("Unnamed: \\d+"); }

    /**
     * The error for files a dl-train before 2026-12-07 trained on and a new run may not: a feature column named
     * 'Unnamed: N' ({@link #isUnnamed}) or a training label that pandas reads as missing ('NA', 'nan', '?', ...), taken
     * then as a class. It holds the splits as that dl-train read them, for a model trained on them that records that
     * column among its features and that label among its classes ({@link #acceptedBy}): eval, predict and --resume of
     * such a model go on with {@link #splits()}, where a new run is refused with the message.
     */
    public static final class NewRunRefusal extends DatasetException {
        private final transient DatasetRegistry.Splits splits;

        NewRunRefusal(String message, DatasetRegistry.Splits splits) {
            super(message);
            this.splits = splits;
        }

        /** The splits read as a dl-train before 2026-12-07 read them (the column a feature, the label a class). */
        public DatasetRegistry.Splits splits() { return splits; }

        /**
         * Whether a model with these feature columns (null: not recorded, as by a dl-train before 2026-11-23, which took
         * every column but the label) and classes was trained on what is refused here.
         */
        public boolean acceptedBy(List<String> features, List<String> classes) {
            CsvDataset train = (CsvDataset) splits.train();
            for (String c : train.featureNames)
                if (isUnnamed(c) && features != null && !features.contains(c)) return false;
            if (train.task == Task.CLASSIFICATION)
                for (String k : train.classNames)
                    if (Table.MISSING.contains(k) && !classes.contains(k)) return false;
            return true;
        }
    }

    /**
     * Feature rows of a CSV file to predict on, standardised as the training split was: {@code x} is [rows, F] in
     * the order of the model's feature names, {@code lines} each row's line number in the file (for messages).
     */
    public record Rows(Path file, float[] x, int[] lines) {
        public int size() { return lines.length; }
    }

    /**
     * A CSV file (same format as the dataset's files: UTF-8, a header row) read for prediction a batch of rows at a
     * time, so that memory holds one batch whatever the file's length, for a model trained on features
     * {@code featureNames}, standardised with the training split's {@code mean} / {@code std} (as
     * {@link #featureMean()} / {@link #featureStd()}; in the same float32 order of operations as training). Columns are
     * matched by name when it is opened; other columns (the label or target column, ids) are ignored. A bad value is
     * found when its batch is read.
     */
    public static final class FeatureReader implements AutoCloseable {
        private final Table.Reader reader;
        private final float[] mean, std;
        private int rows; // read so far

        private FeatureReader(Table.Reader reader, float[] mean, float[] std) {
            this.reader = reader;
            this.mean = mean;
            this.std = std;
        }

        /**
         * Opens file and matches its header to the features.
         *
         * @throws DatasetException naming the file and the missing feature column (or what is wrong with the header)
         */
        public static FeatureReader open(Path file, List<String> featureNames, float[] mean, float[] std) {
            int f = featureNames.size();
            if (mean.length != f || std.length != f)
                throw new IllegalArgumentException(f + " features but " + mean.length + " means and " + std.length + " standard deviations");
            // small first arrays, grown to a batch: a folder's files are opened a batch of files at a time
            return new FeatureReader(new Table.Reader(file, header -> {
                int[] cols = new int[f];
                Map<String, Integer> byName = positions(header);
                for (int j = 0; j < f; j++) {
                    Integer exact = byName.get(featureNames.get(j));
                    cols[j] = exact != null ? exact : column(header, featureNames.get(j), "the model's feature '" + featureNames.get(j) + "'", file);
                    if (cols[j] < 0)
                        throw new DatasetException(file + ": no column '" + featureNames.get(j) + "'; the model was trained on the features "
                                + featureNames + " (matched by name in the header " + header + ")");
                }
                return new Keep(cols, -1, -1, false, null);
            }, 16), mean.clone(), std.clone());
        }

        /**
         * The next rows, at most {@code max} (fewer only at the end of the file; none after it).
         *
         * @throws DatasetException naming the line and column of a bad value, or a file with no data rows at all
         */
        public Rows next(int max) {
            if (max < 1) throw new IllegalArgumentException("max must be >= 1, got " + max);
            Table t = reader.table;
            t.size = 0; // the table holds one batch at a time (its arrays grow to a batch, then are reused)
            while (t.size < max && reader.add()) { }
            int n = t.size, f = mean.length;
            if (n == 0 && rows == 0) throw new DatasetException(reader.file + ": no data rows after the header");
            rows += n;
            float[] x = java.util.Arrays.copyOf(t.x, n * f);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < f; j++) x[i * f + j] = (x[i * f + j] - mean[j]) / std[j];
            return new Rows(reader.file, x, java.util.Arrays.copyOf(t.lines, n));
        }

        /** The rows returned so far. */
        public int rowsRead() { return rows; }

        @Override
        public void close() { reader.close(); }
    }

    /**
     * Reads all of {@code file} for prediction (see {@link FeatureReader}, which reads it a batch at a time).
     *
     * @throws DatasetException naming the file and the missing feature column, or the line and column of a bad value
     */
    public static Rows readFeatures(Path file, List<String> featureNames, float[] mean, float[] std) {
        try (FeatureReader r = FeatureReader.open(file, featureNames, mean, std)) {
            return r.next(Integer.MAX_VALUE);
        }
    }

    /** What the non-feature column holds: class labels ({@link Task#CLASSIFICATION}) or targets ({@link Task#REGRESSION}). */
    @Override public Task task() { return task; }

    /** The feature columns' names, in order. */
    public List<String> featureNames() { return featureNames; }

    /**
     * This split with its features standardised by {@code mean} / {@code std} instead of its training split's: a model
     * evaluated on another directory's files must see them as its own training split's statistics made them (as
     * predict does with {@link #readFeatures}), not as that directory's train.csv would.
     */
    public CsvDataset standardisedWith(float[] mean, float[] std) {
        if (mean.length != numFeatures || std.length != numFeatures)
            throw new IllegalArgumentException(numFeatures + " features but " + mean.length + " means and " + std.length + " standard deviations");
        return new CsvDataset(name, task, featureNames, classNames, features, labels, targets, size, mean.clone(), std.clone(), streamed);
    }

    /**
     * The order a dl-train before 2026-12-07 gave this split's classes: by value when all are integers written as such
     * (0, 1, 10), else as text, so labels 0.0 ... 10.0 were numbered 0.0, 1.0, 10.0, 2.0, ... Equal to
     * {@link #classNames()} except for labels that are numbers but not all integers.
     */
    public List<String> earlierClassOrder() {
        List<String> order = new ArrayList<>(classNames);
        if (task != Task.CLASSIFICATION) return List.copyOf(order);
        if (order.stream().allMatch(s -> s.matches("[+-]?\\d{1,18}"))) order.sort(Comparator.comparingLong(Long::parseLong));
        else order.sort(Comparator.naturalOrder());
        return List.copyOf(order);
    }

    /**
     * This split with its classes numbered in {@code order}: the same classes (compared as {@link #sameClass}) in
     * another order, a saved model's, so that label k is the model's class k. Empty when order does not name each of
     * this split's classes once. A model whose labels are numbers but not all integers (0.0, 1.0, 10.0, 2.0, ...) was
     * saved so by a dl-train before 2026-12-07, which ordered such labels as text.
     */
    public java.util.Optional<CsvDataset> withClassOrder(List<String> order) {
        if (task != Task.CLASSIFICATION || order.size() != classNames.size()) return java.util.Optional.empty();
        int[] to = new int[classNames.size()];
        java.util.Arrays.fill(to, -1);
        for (int k = 0; k < order.size(); k++) {
            int here = -1;
            for (int c = 0; c < classNames.size(); c++)
                if (sameClass(classNames.get(c), order.get(k))) here = c;
            if (here < 0 || to[here] >= 0) return java.util.Optional.empty();
            to[here] = k;
        }
        if (streamed != null) { // its labels are matched to classes as they are read: by the model's order
            Map<String, Integer> index = new HashMap<>();
            for (int k = 0; k < order.size(); k++) index.put(streamed.classes().numeric() ? Classes.key(order.get(k)) : order.get(k), k);
            Classes reordered = new Classes(List.copyOf(order), index, streamed.classes().numeric());
            return java.util.Optional.of(new CsvDataset(name, task, featureNames, order, null, null, null, 0, mean, std,
                    new Streamed(streamed.file(), streamed.keep(), reordered, streamed.trainFile())));
        }
        int[] relabelled = new int[size];
        for (int i = 0; i < size; i++) relabelled[i] = to[labels[i]];
        return java.util.Optional.of(new CsvDataset(name, task, featureNames, order, features, relabelled, targets, size, mean, std));
    }

    /** Per-feature mean and standard deviation subtracted / divided (from the training split; 0 and 1 when not standardised). */
    public float[] featureMean() { return mean.clone(); }

    public float[] featureStd() { return std.clone(); }

    /** The regression target of sample index (raw, not standardised); for a classification dataset, an error. */
    @Override public float target(int index) {
        checkInMemory();
        if (task != Task.REGRESSION) throw new IllegalStateException(name + " is a classification dataset: use read()'s label");
        return targets[index];
    }

    @Override public String name() { return name; }

    /** The number of rows; 0 for a split whose rows stay in its file ({@link #streamed()}), which says so after reading them. */
    @Override public int size() { return size; }

    /** Whether this split's rows stay in its file, read a batch at a time by {@link #rows()} rather than by {@link #read}. */
    public boolean streamed() { return streamed != null; }

    private void checkInMemory() {
        if (streamed != null)
            throw new IllegalStateException(name + " keeps its rows in " + streamed.file() + ": read them a batch at a time with rows()");
    }

    /**
     * This split's rows, from its file a batch at a time (a split loaded with streamTest), as {@link #read} would give
     * them: the same columns, classes and standardisation, bit for bit. A bad value or an unknown label is an error
     * naming the file and line when its batch is read; a file with no data rows, at the first read.
     */
    public SampleStream rows() {
        if (streamed == null) throw new IllegalStateException(name + " is in memory: read it with read()");
        return new StreamedRows(this, new Table.Reader(streamed.file(), streamed.keep(), Table.firstRows(numFeatures)));
    }

    /** See {@link #rows()}. */
    private static final class StreamedRows implements SampleStream {
        private final CsvDataset ds;
        private final Table.Reader reader;
        private long read; // rows read before the current batch's, and the current batch's
        private long batchStart;

        StreamedRows(CsvDataset ds, Table.Reader reader) {
            this.ds = ds;
            this.reader = reader;
        }

        @Override public String name() { return ds.name; }

        @Override public Shape sampleShape() { return ds.sampleShape(); }

        @Override public int numClasses() { return ds.numClasses(); }

        @Override public List<String> classNames() { return ds.classNames; }

        @Override public Task task() { return ds.task; }

        @Override
        public int read(int max, float[] x, int[] y, float[] t) {
            Table tb = reader.table;
            tb.size = 0; // one batch at a time: the table's arrays grow to a batch, then are reused
            while (tb.size < max && reader.add()) { }
            int n = tb.size, f = ds.numFeatures;
            if (n == 0 && read == 0) throw new DatasetException(reader.file + ": no data rows after the header");
            for (int i = 0; i < n; i++)
                for (int j = 0; j < f; j++) x[i * f + j] = (tb.x[i * f + j] - ds.mean[j]) / ds.std[j];
            if (ds.task == Task.REGRESSION) {
                java.util.Arrays.fill(y, 0, n, 0);
                System.arraycopy(tb.y, 0, t, 0, n);
            } else {
                int yCol = reader.keep.label();
                System.arraycopy(tb.labels(java.util.Arrays.copyOf(tb.labels, n), yCol, ds.streamed.classes(), ds.streamed.trainFile()), 0, y, 0, n);
            }
            batchStart = read;
            read += n;
            return n;
        }

        /** "FILE:LINE" for a row of the batch last read, "row N of FILE" for another. */
        @Override
        public String describe(long index) {
            Table tb = reader.table;
            return index >= batchStart && index < read ? "row " + index + " (" + reader.file + ":" + tb.lines[(int) (index - batchStart)] + ")"
                    : "row " + index + " of " + reader.file;
        }

        @Override public void close() { reader.close(); }
    }

    @Override public Shape sampleShape() { return Shape.of(numFeatures); }

    /** The number of classes; 1 for a regression dataset (one value to predict). */
    @Override public int numClasses() { return classNames.size(); }

    /** The class names (the label column's values in sorted order); for regression, the target column's name. */
    @Override public List<String> classNames() { return classNames; }

    /** Copies sample index's standardised features and returns its class (0 for a regression dataset). */
    @Override public int read(int index, float[] dst, int dstOffset) {
        checkInMemory();
        for (int j = 0, at = index * numFeatures; j < numFeatures; j++) dst[dstOffset + j] = (features[at + j] - mean[j]) / std[j];
        return labels == null ? 0 : labels[index];
    }

    @Override public String toString() { return name + " (" + task.label() + ", " + size + " x " + numFeatures + ")"; }

    /**
     * Whether class names a and b name the same class as this reader matches labels: equal as text, or both numbers of
     * equal value (1, 1.0 and 1e0 are one class), as a saved model's class names are compared with a csv's.
     */
    public static boolean sameClass(String a, String b) {
        if (a.equals(b)) return true;
        String ka = Table.isDecimal(a) ? Classes.key(a) : null;
        return ka != null && Table.isDecimal(b) && ka.equals(Classes.key(b));
    }

    /**
     * The classes of a label column: their names in order, and each label's class. A column of numbers is ordered by
     * value, and labels equal as numbers (2 and 2.0, as pandas reads them) are one class, named as the training file
     * first writes it; other labels are ordered and matched as text.
     */
    private record Classes(List<String> names, Map<String, Integer> index, boolean numeric) {
        /** The class of label s, or null if it is none of them. */
        Integer of(String s) {
            if (!numeric) return index.get(s);
            String key = Table.isDecimal(s) ? key(s) : null;
            return key == null ? null : index.get(key);
        }

        /**
         * A number's value as a key: equal for 2, 2.0, +2 and 2e0; null for one whose exponent is beyond BigDecimal's
         * int scale (1e99999999999, or 100e2147483647 once its zeros are stripped).
         */
        static String key(String s) {
            try {
                return new java.math.BigDecimal(s).stripTrailingZeros().toString();
            } catch (NumberFormatException | ArithmeticException outOfRange) {
                return null;
            }
        }
    }

    /**
     * What {@link Table#read} keeps of each record: the numbers of the feature columns {@code features} (in that order),
     * the text of the label column {@code label} or the number of the target column {@code target} (-1: none). Where
     * {@code dataset}, a feature that is not a number is an error saying how to leave its column out, or, where the label
     * is the last column by default ({@code defaultLabel}, else null), how to make it the label.
     */
    private record Keep(int[] features, int label, int target, boolean dataset, String defaultLabel) {}

    /**
     * A checked file: its header, and of each record what {@link Keep} asks, parsed as the record is read (the records'
     * text is not kept: a file of a million rows took several times its numbers' memory so), with the line each record
     * starts on.
     */
    private static final class Table {
        final Path file;
        final List<String> header;
        int size;
        int[] lines;     // each record's first line (the array may be longer until read ends)
        float[] x;       // [size, features] (the array may be longer until read ends)
        float[] y;       // the target column, or null
        String[] labels; // the label column's text (one String per distinct label), or null

        private Table(Path file, List<String> header) {
            this.file = file;
            this.header = header;
        }

        int size() { return size; }

        /**
         * Reads file; {@code keep} gets the header and says what to keep of each record (its exception is thrown as it
         * is, before any record is read).
         */
        static Table read(Path file, java.util.function.Function<List<String>, Keep> keep) {
            try (Reader r = new Reader(file, keep, Integer.MAX_VALUE)) {
                while (r.add()) { }
                Table t = r.table;
                t.lines = java.util.Arrays.copyOf(t.lines, t.size);
                t.x = java.util.Arrays.copyOf(t.x, t.size * r.keep.features.length);
                if (t.y != null) t.y = java.util.Arrays.copyOf(t.y, t.size);
                if (t.labels != null) t.labels = java.util.Arrays.copyOf(t.labels, t.size);
                return t;
            }
        }

        /**
         * A file read a record at a time into {@link #table} (opened: the header read and checked, {@code keep} applied
         * to it): {@link Table#read} reads it whole, {@link FeatureReader} a batch at a time, emptying the table between.
         */
        static final class Reader implements AutoCloseable {
            final Path file;
            final Table table;
            final Keep keep;
            private final BufferedReader in;
            private final Map<String, String> distinct = new HashMap<>(); // one String per distinct label
            private int no; // the last line read

            /** Opens file, reads its header; the table's first arrays hold at most {@code firstRows} records (they grow as needed). */
            Reader(Path file, java.util.function.Function<List<String>, Keep> keep, int firstRows) {
                if (!Files.isRegularFile(file))
                    throw new DatasetException(file + ": " + (Files.exists(file) ? "is not a regular file" : "does not exist")
                            + ". The csv dataset reads train.csv and test.csv from its data directory (" + DatasetRegistry.GIVE_DIR
                            + ") or the files named by train=, test=");
                this.file = file;
                try {
                    in = Files.newBufferedReader(file, StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new DatasetException(file + ": cannot read: " + e, e);
                }
                try {
                    String[] fields = record();
                    if (fields == null) throw new DatasetException(file + ": empty file; expected a header row naming the columns, then data rows");
                    table = new Table(file, header(fields, file, first));
                    this.keep = keep.apply(table.header);
                    int cap = Math.min(firstRows, firstRows(this.keep.features.length));
                    table.lines = new int[cap];
                    table.x = new float[cap * this.keep.features.length];
                    if (this.keep.label >= 0) table.labels = new String[cap];
                    if (this.keep.target >= 0) table.y = new float[cap];
                } catch (RuntimeException e) {
                    close();
                    throw e;
                }
            }

            private int first; // the line the last record starts on

            /** Reads the next record into the table; false at the end of the file. */
            boolean add() {
                String[] fields = record();
                if (fields == null) return false;
                List<String> header = table.header;
                if (fields.length != header.size())
                    throw new DatasetException(file + ":" + first + ": " + fields.length + " field" + (fields.length == 1 ? "" : "s")
                            + ", but the header has " + header.size() + " columns; every row needs one value per column");
                if (fields.length > 0 && fields[0].replace("\uFEFF", "").equals(header.getFirst()) && repeatsHeader(fields, header))
                    throw new DatasetException(file + ":" + first + ": this line repeats the header row (were two files joined,"
                            + " each with its header?): remove it, so that every line after the first is a sample");
                table.add(fields, first, keep, distinct);
                return true;
            }

            /** The next record's fields (blank lines passed over), or null at the end of the file. */
            private String[] record() {
                try {
                    String line;
                    while ((line = in.readLine()) != null) {
                        no++;
                        if (no == 1 && line.startsWith("\uFEFF")) line = line.substring(1); // byte-order mark
                        if (line.isBlank()) continue;
                        first = no;
                        // a quoted field may hold line breaks (RFC 4180, as pandas reads it): its record goes on on the next line.
                        // Each joined line is scanned once (an unclosed quote would otherwise make the rest of the file one
                        // record split again per line: time quadratic in the file before the error)
                        if (endsInsideQuotes(line, false)) {
                            StringBuilder record = new StringBuilder(line);
                            for (boolean open = true; open; ) {
                                String next = in.readLine();
                                if (next == null)
                                    throw new DatasetException(file + ":" + first + ": a quoted field that opens on this line is not closed"
                                            + " by the end of the file (line " + no + "); a closing quote is missing");
                                no++;
                                record.append('\n').append(next);
                                open = endsInsideQuotes(next, true);
                            }
                            line = record.toString();
                        }
                        return split(line, file, first);
                    }
                    return null;
                } catch (MalformedInputException e) {
                    throw notUtf8(file, e);
                } catch (IOException e) {
                    throw new DatasetException(file + ": cannot read: " + e, e);
                } catch (UncheckedIOException e) {
                    throw new DatasetException(file + ": cannot read: " + e.getCause(), e);
                }
            }

            @Override
            public void close() {
                try {
                    in.close();
                } catch (IOException ignored) {
                    // read-only: nothing is lost
                }
            }
        }

        /**
         * The rows the first arrays hold for f features: 1,024, or fewer for a wide file, so that they hold at most 64 Ki
         * values (a file of 40,000 columns and 3 rows allocated room for 1,024 rows, 164 MB, before its first row).
         */
        static int firstRows(int f) {
            return Math.max(2, Math.min(1024, (1 << 16) / Math.max(1, f)));
        }

        /** Keeps what k asks of a record's fields (record number size, starting on line no), growing the arrays by half. */
        private void add(String[] fields, int no, Keep k, Map<String, String> distinct) {
            int i = size, f = k.features.length;
            if (i == lines.length) {
                int cap = Math.max(i + 1, i + (i >> 1));
                lines = java.util.Arrays.copyOf(lines, cap);
                x = java.util.Arrays.copyOf(x, cap * f);
                if (y != null) y = java.util.Arrays.copyOf(y, cap);
                if (labels != null) labels = java.util.Arrays.copyOf(labels, cap);
            }
            lines[i] = no;
            size++; // (number() names the record's line)
            for (int j = 0; j < f; j++) x[i * f + j] = k.dataset ? feature(fields[k.features[j]], i, k.features[j], k.defaultLabel)
                    : number(fields[k.features[j]], i, k.features[j]);
            if (y != null) y[i] = number(fields[k.target], i, k.target);
            if (labels != null) labels[i] = distinct.computeIfAbsent(fields[k.label], s -> s);
        }

        /**
         * The error for a file that is not UTF-8: the line of its first byte that is not (the reader decodes ahead of the
         * line it returns, so the line is found again here), and how to convert it. Excel's plain CSV on Windows is
         * Windows-1252; its "Unicode Text" is UTF-16.
         */
        private static DatasetException notUtf8(Path file, MalformedInputException e) {
            byte[] bytes;
            try {
                bytes = Files.readAllBytes(file);
            } catch (IOException | OutOfMemoryError again) {
                return new DatasetException(file + ": not UTF-8 text (is it a CSV file?)", e);
            }
            String save = "save it as \"CSV UTF-8\" (Excel) or convert it, e.g. iconv -f ";
            if (bytes.length >= 2 && ((bytes[0] == (byte) 0xFF && bytes[1] == (byte) 0xFE) || (bytes[0] == (byte) 0xFE && bytes[1] == (byte) 0xFF)))
                return new DatasetException(file + ": UTF-16 text (as Excel's \"Unicode Text\" writes), not UTF-8: " + save
                        + "UTF-16 -t UTF-8 FILE > NEW.csv", e);
            java.nio.charset.CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder();
            java.nio.ByteBuffer in = java.nio.ByteBuffer.wrap(bytes);
            java.nio.CharBuffer out = java.nio.CharBuffer.allocate(8192);
            while (true) {
                java.nio.charset.CoderResult r = decoder.decode(in, out, true);
                if (r.isError()) break;
                if (r.isUnderflow()) return new DatasetException(file + ": not UTF-8 text (is it a CSV file?)", e);
                out.clear();
            }
            int line = 1;
            for (int k = 0; k < in.position(); k++) if (bytes[k] == '\n') line++;
            return new DatasetException(file + ":" + line + ": not UTF-8 text (byte 0x" + String.format("%02X", bytes[in.position()] & 0xFF)
                    + "); the csv dataset reads UTF-8: a file from Excel's plain CSV on Windows is Windows-1252: " + save
                    + "WINDOWS-1252 -t UTF-8 FILE > NEW.csv", e);
        }

        /** Whether a record's fields are the header's names (the first maybe after a byte-order mark). */
        private static boolean repeatsHeader(String[] fields, List<String> header) {
            for (int j = 0; j < fields.length; j++)
                if (!fields[j].replace("\uFEFF", "").strip().equals(header.get(j))) return false;
            return true;
        }

        private static List<String> header(String[] fields, Path file, int no) {
            boolean allNumbers = true;
            for (String s : fields) allNumbers &= isNumber(s);
            if (allNumbers)
                throw new DatasetException(file + ":" + no + ": the first row is all numbers (" + String.join(",", fields)
                        + "); a header row naming the columns is required: add one, e.g. x1,x2,...,label");
            if (fields.length == 1)
                for (String sep : List.of(";", "\t", "|"))
                    if (fields[0].contains(sep))
                        throw new DatasetException(file + ":" + no + ": the header is one column, '" + fields[0] + "', which looks "
                                + (sep.equals("\t") ? "tab" : "'" + sep + "'") + "-separated; the csv dataset reads comma-separated files"
                                + " (with '.' as the decimal point): convert the file, e.g. by saving it as comma-separated CSV");
            LinkedHashSet<String> seen = new LinkedHashSet<>();
            for (int j = 0; j < fields.length; j++) {
                if (fields[j].isEmpty())
                    throw new DatasetException(file + ":" + no + ": header column " + (j + 1) + " has no name" + (j == 0 && fields.length > 1
                            ? " (pandas' DataFrame.to_csv writes its index so, as a first column without a name: write the file with"
                              + " index=False, or name the column, e.g. id, and leave it out with csv:ignore=id)"
                            : j == fields.length - 1 ? " (the header ends with a comma: remove the trailing comma of every line)" : ""));
                if (!seen.add(fields[j])) throw new DatasetException(file + ":" + no + ": header names column '" + fields[j] + "' twice");
            }
            return List.copyOf(seen);
        }

        /**
         * Whether a record whose text goes on with {@code text}, inside a quoted field where {@code insideQuotes} (else at
         * a field's start), is still inside one at its end: {@link #split}'s grammar in one pass, for a record whose
         * quoted field holds line breaks (split then returns null).
         */
        static boolean endsInsideQuotes(String text, boolean insideQuotes) {
            final int fieldStart = 0, unquoted = 1, inQuotes = 2, afterQuote = 3;
            int state = insideQuotes ? inQuotes : fieldStart;
            for (int k = 0, n = text.length(); k < n; k++) {
                char ch = text.charAt(k);
                switch (state) {
                    case fieldStart -> state = ch == '"' ? inQuotes : ch == ',' || Character.isWhitespace(ch) ? fieldStart : unquoted;
                    case unquoted, afterQuote -> { if (ch == ',') state = fieldStart; } // split refuses text after a closing quote
                    default -> { // in quotes: "" is a quote, a lone " closes
                        if (ch == '"') {
                            if (k + 1 < n && text.charAt(k + 1) == '"') k++;
                            else state = afterQuote;
                        }
                    }
                }
            }
            return state == inQuotes;
        }

        /**
         * One record's fields: commas separate, double quotes group ("" is a quote), spaces around fields are dropped.
         * Null when the text ends inside a quoted field, whose record then goes on on the next line.
         */
        static String[] split(String line, Path file, int no) {
            List<String> out = new ArrayList<>();
            int n = line.length();
            for (int i = 0; ; ) {
                int j = i;
                while (j < n && line.charAt(j) != ',' && line.charAt(j) != '"') j++;
                if (j < n && line.charAt(j) == '"' && line.substring(i, j).isBlank()) { // a quoted field
                    StringBuilder cur = new StringBuilder();
                    int k = j + 1;
                    boolean closed = false;
                    while (k < n) {
                        char ch = line.charAt(k++);
                        if (ch != '"') cur.append(ch);
                        else if (k < n && line.charAt(k) == '"') { cur.append('"'); k++; }
                        else { closed = true; break; }
                    }
                    if (!closed) return null;
                    for (; k < n && line.charAt(k) != ','; k++)
                        if (!Character.isWhitespace(line.charAt(k)))
                            throw new DatasetException(file + ":" + no + ": unexpected '" + line.charAt(k) + "' after a closing quote in field " + (out.size() + 1));
                    out.add(cur.toString());
                    j = k;
                } else { // up to the next comma (a quote inside is a character like another)
                    while (j < n && line.charAt(j) != ',') j++;
                    out.add(line.substring(i, j).strip());
                }
                if (j >= n) return out.toArray(new String[0]);
                i = j + 1;
            }
        }

        /**
         * A decimal number as CSV files write them, [+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)? with ASCII digits (not
         * Java's 1f, 2d or 0x1p3 forms, which Float.parseFloat takes too). By hand, not a regex: it is asked of every cell.
         */
        static boolean isDecimal(String s) {
            int n = s.length(), i = 0;
            if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
            int start = i;
            while (i < n && isDigit(s.charAt(i))) i++;
            boolean digits = i > start;
            if (i < n && s.charAt(i) == '.') {
                int frac = ++i;
                while (i < n && isDigit(s.charAt(i))) i++;
                digits |= i > frac;
            }
            if (!digits) return false;
            if (i < n && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
                i++;
                if (i < n && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
                int exp = i;
                while (i < n && isDigit(s.charAt(i))) i++;
                if (i == exp) return false;
            }
            return i == n;
        }

        /** A decimal number with one comma for its point, 1,5 or -0,25e3, as European-locale exports write them. */
        static boolean isDecimalComma(String s) {
            int comma = s.indexOf(',');
            return comma >= 0 && comma == s.lastIndexOf(',') && s.indexOf('.') < 0 && isDecimal(s.replace(',', '.'));
        }

        private static boolean isDigit(char c) { return c >= '0' && c <= '9'; }

        /** NaN and infinity as Java, numpy and pandas write them: numbers, but not finite ones. */
        private static final Pattern NON_FINITE = Pattern.compile("[+-]?(?:nan|inf|infinity)", Pattern.CASE_INSENSITIVE);

        static boolean isNumber(String s) {
            return isDecimal(s) || NON_FINITE.matcher(s).matches();
        }

        /**
         * Field s of record row, column col, as a number; spaces around it are no part of it (those of an unquoted field
         * are gone already; a quoted one, " 2.0", is read as pandas does).
         */
        float number(String s, int row, int col) {
            String n = isDecimal(s) ? s : s.strip();
            if (isDecimal(n)) {
                float v = Float.parseFloat(n);
                if (Float.isFinite(v)) return v;
            }
            String where = file + ":" + lines[row] + ": column '" + header.get(col) + "' holds '" + s + "'";
            if (MISSING.contains(s))
                throw new DatasetException(where + ", a missing value (as pandas reads it): missing values are not supported;"
                        + " fill them in (e.g. with the column's mean) or drop those rows");
            if (isDecimalComma(s))
                throw new DatasetException(where + ", a number with a decimal comma (or a thousands separator): the csv dataset"
                        + " reads '.' as the decimal point and no thousands separators; write the file so, e.g. with pandas'"
                        + " to_csv(decimal='.') or as CSV from a spreadsheet set to an English locale");
            if (!isDecimal(n))
                throw new DatasetException(where + ", which is not a finite number");
            throw new DatasetException(where + ", which is beyond the float32 range (about 3.4e38 in magnitude) that values are"
                    + " held in: rescale the column (e.g. take its logarithm) or leave it out with csv:ignore=" + header.get(col));
        }

        /**
         * Feature v of record row, column col, as a number; a text value is an error that says how to leave its column
         * out, or, where the label is the last column by default ({@code defaultLabel}, else null), how to make it the label.
         */
        private float feature(String v, int row, int col, String defaultLabel) {
            try {
                return number(v, row, col);
            } catch (DatasetException e) {
                if (MISSING.contains(v) || isNumber(v) || isDecimalComma(v)) throw e; // missing, Infinity, 1,5
                String name = header.get(col);
                throw new DatasetException(e.getMessage() + "; every column but the label (or target) is a numeric feature: "
                        + "leave out columns such as ids or text with csv:ignore=" + name + " (several: ignore=A+B)"
                        + (defaultLabel == null ? "" : "; if '" + name + "' is the label, give csv:label=" + name
                           + " (without label=, the last column, '" + defaultLabel + "', is the label)"));
            }
        }

        /**
         * The distinct labels c (column yCol's fields) as classes (see {@link Classes}): by value if all are numbers, else
         * as strings in sorted order.
         */
        Classes classes(String[] c, int yCol) {
            TreeSet<String> distinct = new TreeSet<>();
            for (int i = 0; i < c.length; i++) {
                if (c[i].isEmpty()) checkNotMissing(c[i], i, yCol); // the others, a class before 2026-12-07: see missingLabel
                distinct.add(c[i]);
            }
            Map<String, Integer> index = new HashMap<>();
            boolean numeric = distinct.stream().allMatch(Table::isDecimal);
            if (numeric) for (int i = 0; i < c.length; i++) checkKey(c[i], i, yCol);
            if (!numeric) {
                List<String> names = List.copyOf(distinct);
                for (int k = 0; k < names.size(); k++) index.put(names.get(k), k);
                return new Classes(names, index, false);
            }
            // one class per value, named by its first spelling in the file
            Map<String, String> firstSpelling = new HashMap<>();
            for (String label : c) firstSpelling.putIfAbsent(Classes.key(label), label);
            List<String> keys = new ArrayList<>(firstSpelling.keySet());
            keys.sort(Comparator.comparing(java.math.BigDecimal::new));
            List<String> names = new ArrayList<>();
            for (int k = 0; k < keys.size(); k++) {
                index.put(keys.get(k), k);
                names.add(firstSpelling.get(keys.get(k)));
            }
            return new Classes(names, index, true);
        }

        /**
         * What pandas' read_csv reads as a missing value by default (its na_values, as of pandas 2), and '?', as UCI's
         * files write one.
         */
        static final java.util.Set<String> MISSING = java.util.Set.of("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN",
                "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", "?");

        /** A label that is a missing value (see {@link #MISSING}) is an error naming its place: it is no class. */
        private void checkNotMissing(String s, int row, int col) {
            String missing = missing(s, row, col);
            if (missing != null) throw new DatasetException(missing);
        }

        /** The error for the first of the labels c (column col's) that is a missing value, or null if none is. */
        String missingLabel(String[] c, int col) {
            for (int i = 0; i < c.length; i++) if (MISSING.contains(c[i])) return missing(c[i], i, col);
            return null;
        }

        private String missing(String s, int row, int col) {
            return !MISSING.contains(s) ? null : file + ":" + lines[row] + ": column '" + header.get(col) + "' (label) holds '" + s
                    + "', a missing value (as pandas reads it), not a class: drop the rows whose label is missing"
                    + " (missing values are not supported)" + (s.isEmpty() ? "" // keepna takes no empty label as a class
                    : "; if '" + s + "' is a class's name, give csv:keepna=true (as pandas' keep_default_na=False)");
        }

        /** A numeric label's value as a class key; one whose exponent is out of range is an error naming its place. */
        private String checkKey(String s, int row, int col) {
            String key = Classes.key(s);
            if (key == null)
                throw new DatasetException(file + ":" + lines[row] + ": column '" + header.get(col) + "' (label) holds '" + s
                        + "', a number whose exponent is out of range for a class label: write the label as a plain number or a name");
            return key;
        }

        /** The class of each label c[i] (column yCol's fields); a label that is none of them is an error. */
        int[] labels(String[] c, int yCol, Classes classes, Path trainFile) {
            int[] y = new int[c.length];
            for (int i = 0; i < y.length; i++) {
                if (classes.numeric() && isDecimal(c[i])) checkKey(c[i], i, yCol);
                Integer k = classes.of(c[i]);
                if (k == null) {
                    checkNotMissing(c[i], i, yCol); // (a class only where a model trained before 2026-12-07 has it)
                    // the classes in their order, at most 20 (a column of measurements has as many classes as rows)
                    List<String> names = classes.names();
                    String shown = names.size() <= 20 ? String.join(", ", names)
                            : String.join(", ", names.subList(0, 20)) + ", ... (" + names.size() + " classes)";
                    String column = header.get(yCol);
                    boolean decimals = names.stream().anyMatch(name -> name.matches("[+-]?\\d*\\.\\d+([eE][+-]?\\d+)?"));
                    throw new DatasetException(file + ":" + lines[i] + ": label '" + c[i] + "' does not occur in "
                            + trainFile + " (its classes: " + shown + ")" + (decimals
                            ? "; column '" + column + "' holds decimal numbers: to predict its value, give csv:target=" + column
                              + " (regression); to classify by another column, csv:label=COLUMN (without either, the last column is the label)"
                            : ""));
                }
                y[i] = k;
            }
            return y;
        }
    }
}
