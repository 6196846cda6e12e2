package io.dltrain.datasets;

import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The csv dataset on small files written here: standardisation with the training split's statistics (checked against
 * values computed by hand), label mapping in sorted order, regression targets, and the errors for bad files.
 */
class CsvDatasetTest {
    @TempDir Path dir;

    private DatasetRegistry.Splits load(String name, String train, String test) throws IOException {
        Files.writeString(dir.resolve("train.csv"), train);
        Files.writeString(dir.resolve("test.csv"), test);
        return DatasetRegistry.get(name).load(dir);
    }

    private static float[] row(Dataset d, int i) {
        float[] x = new float[d.sampleShape().size()];
        d.read(i, x, 0);
        return x;
    }

    @Test
    void classificationStandardisesWithTrainingStatistics() throws IOException {
        // a: 1, 2, 3, 6 -> mean 3, population std sqrt((4 + 1 + 0 + 9) / 4) = sqrt(3.5); b: constant 5 -> centred only
        DatasetRegistry.Splits s = load("csv", """
                a,b,species
                1,5,setosa
                2,5,virginica
                3 , 5, versicolor
                6,5,setosa
                """, """
                a,b,species
                10,7,virginica
                """);
        Dataset train = s.train(), test = s.test();
        assertEquals(Shape.of(2), train.sampleShape());
        assertEquals(4, train.size());
        assertEquals(1, test.size());
        assertEquals(List.of("setosa", "versicolor", "virginica"), train.classNames());
        assertEquals(3, train.numClasses());
        assertEquals(io.dltrain.runtime.train.Task.CLASSIFICATION, ((CsvDataset) train).task());
        double sd = Math.sqrt(3.5);
        float[] x = new float[2];
        int[] labels = {0, 2, 1, 0};
        double[] a = {1, 2, 3, 6};
        for (int i = 0; i < 4; i++) {
            assertEquals(labels[i], train.read(i, x, 0), "label of row " + i);
            assertEquals((a[i] - 3) / sd, x[0], 1e-6);
            assertEquals(0f, x[1], 0f);
        }
        assertEquals(2, test.read(0, x, 0));
        // the test split uses the training statistics, not its own
        assertArrayEquals(new float[] {(float) ((10 - 3) / sd), 2f}, row(test, 0), 1e-6f);
    }

    @Test
    void integerLabelsSortNumericallyAndLabelColumnIsSelectable() throws IOException {
        DatasetRegistry.Splits s = load("csv:label=y,standardize=false", """
                y,f
                10,1.5
                9,2.5
                2,-1
                """, """
                y,f
                9,0
                """);
        assertEquals(List.of("2", "9", "10"), s.train().classNames());
        float[] x = new float[1];
        assertEquals(2, s.train().read(0, x, 0));
        assertEquals(1.5f, x[0]);
        assertEquals(1, s.train().read(1, x, 0));
        assertEquals(0, s.train().read(2, x, 0));
        assertEquals(1, s.test().read(0, x, 0));
    }

    @Test
    void regressionExposesRawTargets() throws IOException {
        DatasetRegistry.Splits s = load("csv:target=price", """
                rooms,"area, m2",price
                2,50,100.5
                4,90,210
                """, """
                rooms,"area, m2",price
                3,70,150
                """);
        CsvDataset train = (CsvDataset) s.train(), test = (CsvDataset) s.test();
        assertEquals(io.dltrain.runtime.train.Task.REGRESSION, train.task());
        assertEquals(List.of("rooms", "area, m2"), train.featureNames());
        assertEquals(100.5f, train.target(0));
        assertEquals(210f, train.target(1));
        assertEquals(150f, test.target(0));
        assertEquals(1, train.numClasses());
        // two rows: mean 3 / 70, std 1 / 20
        assertArrayEquals(new float[] {-1f, -1f}, row(train, 0), 1e-6f);
        assertArrayEquals(new float[] {0f, 0f}, row(test, 0), 1e-6f);
        assertArrayEquals(new float[] {3f, 70f}, train.featureMean(), 1e-6f);
        assertArrayEquals(new float[] {1f, 20f}, train.featureStd(), 1e-6f);
    }

    private DatasetException error(String name, String train, String test) {
        return assertThrows(DatasetException.class, () -> load(name, train, test));
    }

    private static void mentions(Exception e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + p + "' missing from: " + e.getMessage());
    }

    @Test
    void errorsNameFileLineAndValue() {
        String ok = "a,label\n1,x\n";
        mentions(error("csv", "a,label\n1,x\n2,oops,3\n", ok), "train.csv:3", "3 fields", "2 columns");
        mentions(error("csv", ok, "a,label\n\n1,x\nabc,x\n"), "test.csv:4", "'a'", "'abc'", "not a finite number");
        mentions(error("csv", "a,label\n1,x\n,x\n", ok), "train.csv:3", "missing values");
        mentions(error("csv", "1,0\n2,1\n", ok), "train.csv:1", "header row", "required");
        mentions(error("csv", "", ok), "train.csv", "empty file");
        mentions(error("csv", "a,a\n1,2\n", ok), "train.csv:1", "'a' twice");
        mentions(error("csv", ok, "a,label\n1,y\n"), "test.csv:2", "label 'y'", "x");
        mentions(error("csv", ok, "b,label\n1,x\n"), "test.csv", "header");
        mentions(error("csv:target=nope", ok, ok), "no column 'nope'");
        mentions(error("csv:target=label", ok, ok), "train.csv:2", "'label'", "'x'");
        mentions(error("csv:label=a,target=a", ok, ok), "not both");
        mentions(error("csv", "a,label\n\"1,x\n", ok), "train.csv:2", "quoted");
        mentions(error("csv", "a,label\n", ok), "no data rows");
        mentions(error("csv", "a,label\nInfinity,x\n", ok), "not a finite number");
    }

    /**
     * A label unseen in training is named with the training classes in their order, at most 20 of them; a label column
     * of decimal numbers (a measurement taken for the label because it is the last column) says how to predict it.
     */
    @Test
    void anUnseenLabelListsTheClassesShortAndADecimalColumnPointsToTarget() {
        StringBuilder train = new StringBuilder("a,price\n");
        for (int i = 0; i < 30; i++) train.append(i).append(',').append(i * 2).append(".5\n");
        DatasetException e = error("csv", train.toString(), "a,price\n1,7.25\n");
        // (numbers: the classes are in order of value, as the dataset numbers them)
        mentions(e, "test.csv:2", "label '7.25'", "(its classes: 0.5, 2.5, 4.5,", "36.5, 38.5, ... (30 classes)", "csv:target=price", "csv:label=COLUMN");
        assertTrue(!e.getMessage().contains("40.5"), e.getMessage());
        // integer labels, in numeric order, and no regression hint
        e = error("csv", "a,label\n1,10\n2,9\n", "a,label\n1,3\n");
        mentions(e, "label '3'", "(its classes: 9, 10)");
        assertTrue(!e.getMessage().contains("target="), e.getMessage());
    }

    /**
     * pandas writes an integer label column that once held a NaN (or was cast to float) as 0.0, 1.0, ..., 10.0. Such labels
     * were ordered as strings, so class 2 was '10.0' and '2.0' was class 3 (predict's and eval's class indices, the
     * confusion matrix's order), and a test file writing the same values as 0, 1, 2 had "label '2' does not occur in
     * train.csv". A column of numbers is now ordered by value, and values equal as numbers (as pandas reads them: 2 and
     * 2.0) are one class, named as the training file first writes it.
     */
    @Test
    void numericLabelsAreOrderedAndMatchedByValue() throws IOException {
        StringBuilder train = new StringBuilder("a,label\n"), test = new StringBuilder("a,label\n");
        for (int k = 10; k >= 0; k--) train.append(k).append(',').append(k).append(".0\n");
        for (int k = 0; k <= 10; k++) test.append(k).append(',').append(k).append('\n');
        DatasetRegistry.Splits s = load("csv", train.toString(), test.toString());
        assertEquals(List.of("0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0", "8.0", "9.0", "10.0"), s.train().classNames());
        float[] x = new float[1];
        for (int i = 0; i < 11; i++) {
            assertEquals(10 - i, s.train().read(i, x, 0), "train row " + i);
            assertEquals(i, s.test().read(i, x, 0), "test row " + i);
        }
        // 1e1 and 10 are one value too; negative and fractional values in order; text labels keep string order
        s = load("csv", "a,label\n1,1e1\n2,-0.5\n3,10\n4,2.5\n", "a,label\n1,10.00\n");
        assertEquals(List.of("-0.5", "2.5", "1e1"), s.train().classNames());
        assertEquals(2, s.test().read(0, x, 0));
        s = load("csv", "a,label\n1,b10\n2,b9\n", "a,label\n1,b9\n");
        assertEquals(List.of("b10", "b9"), s.train().classNames());
        mentions(error("csv", "a,label\n1,1\n2,2\n", "a,label\n1,one\n"), "test.csv:2", "label 'one'", "(its classes: 1, 2)");
    }

    /**
     * A numeric label with an exponent beyond what BigDecimal takes (1e99999999999, 1e-99999999999, or 100e2147483647,
     * whose zeros stripped overflow the scale) threw a raw NumberFormatException or ArithmeticException naming no file;
     * it is now an error naming the file, line, column and value. A feature so written was already one (beyond float32).
     */
    @Test
    void aLabelWithAHugeExponentIsAnErrorNamingFileLineAndColumn() {
        String ok = "a,label\n1,1\n2,2\n";
        for (String huge : List.of("1e99999999999", "1e-99999999999", "100e2147483647")) {
            mentions(error("csv", "a,label\n1,1\n2," + huge + "\n", ok), "train.csv:3", "column 'label'", "'" + huge + "'", "exponent");
            mentions(error("csv", ok, "a,label\n1,1\n2," + huge + "\n"), "test.csv:3", "column 'label'", "'" + huge + "'", "exponent");
        }
        mentions(error("csv", "a,label\n1e99999999999,1\n2,2\n", ok), "train.csv:2", "'a'", "beyond the float32 range");
        assertTrue(!CsvDataset.sameClass("1", "1e99999999999"));
        assertTrue(CsvDataset.sameClass("1e99999999999", "1e99999999999"));
    }

    /** Loads the csv dataset from args[0] and prints its training size and the label and first feature of its last row. */
    public static final class LoadWide {
        public static void main(String[] args) {
            DatasetRegistry.Splits s = DatasetRegistry.get("csv:label=label,standardize=false").load(Path.of(args[0]));
            float[] x = new float[s.train().sampleShape().size()];
            int y = s.train().read(s.train().size() - 1, x, 0);
            System.out.println(s.train().size() + " " + y + " " + x[0]);
        }
    }

    /**
     * A wide file such as Kaggle's Fashion-MNIST CSV (label,pixel1..pixel784; 60,000 rows, 133 MB) was held as one String
     * per cell until its numbers were parsed: 3 GB of heap and 85 s to load it (on a machine with 8 GB of memory, the
     * default heap is 2 GB: an OutOfMemoryError). Here 2,000 such rows (5.5 MB) must load in a child JVM with a 48 MiB heap,
     * which the String-per-cell tables (about 80 MB) do not fit.
     */
    @Test
    void aWideFileLoadsInLittleMoreMemoryThanItsNumbers() throws Exception {
        StringBuilder header = new StringBuilder("label");
        for (int j = 1; j <= 784; j++) header.append(",pixel").append(j);
        header.append('\n');
        try (var w = Files.newBufferedWriter(dir.resolve("train.csv"))) {
            w.write(header.toString());
            for (int i = 0; i < 2000; i++) {
                StringBuilder row = new StringBuilder().append(i % 10);
                for (int j = 0; j < 784; j++) row.append(',').append((i * 7 + j * 13) % 256);
                w.write(row.append('\n').toString());
            }
        }
        Files.writeString(dir.resolve("test.csv"), header + "3" + ",1".repeat(784) + "\n");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx48m",
                "-cp", System.getProperty("java.class.path"), LoadWide.class.getName(), dir.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("out.txt").toFile()).start();
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the load did not end in 60 s");
        String out = Files.readString(dir.resolve("out.txt"));
        assertEquals(0, p.exitValue(), out);
        assertEquals("2000 9 " + (float) (1999 * 7 % 256), out.strip());
    }

    /**
     * A long file kept each record's text until the end of the load (and split it three times: to count its fields, for
     * the features, for the label): a file of 1,000,000 rows x 30 numbers with 6 decimals (287 MB) needed between 512
     * and 800 MiB of heap for 120 MB of floats, and 4.3 GB resident with the default heap. Records are now parsed as they
     * are read, into the feature columns and the label's text. Here 24,000 rows of 30 values written with 23 digits (about
     * 17 MB of text, 2.9 MB of floats) must load in a child JVM with a 16 MiB heap, which the text alone does not fit.
     */
    @Test
    void aLongFileLoadsInLessHeapThanItsText() throws Exception {
        StringBuilder header = new StringBuilder();
        for (int j = 0; j < 30; j++) header.append('x').append(j).append(',');
        header.append("label\n");
        try (var w = Files.newBufferedWriter(dir.resolve("train.csv"))) {
            w.write(header.toString());
            for (int i = 0; i < 24_000; i++) {
                StringBuilder row = new StringBuilder();
                for (int j = 0; j < 30; j++) row.append(i % 1000).append('.').append(1_000_000_000_000_000_000L + i * 31L + j).append(',');
                w.write(row.append(i % 3 == 0 ? "cat" : "dog").append('\n').toString());
            }
        }
        assertTrue(Files.size(dir.resolve("train.csv")) > 17_000_000, "the file is smaller than the heap");
        Files.writeString(dir.resolve("test.csv"), header + "1,".repeat(30) + "dog\n");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx16m",
                "-cp", System.getProperty("java.class.path"), LoadWide.class.getName(), dir.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("out.txt").toFile()).start();
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "the load did not end in 60 s");
        String out = Files.readString(dir.resolve("out.txt"));
        assertEquals(0, p.exitValue(), out);
        assertEquals("24000 1 " + Float.parseFloat("999.1000000000000743969"), out.strip()); // row 23999: dog, class 1
    }

    /**
     * A wide, short file (gene expressions, word counts) allocated room for 1,024 rows of floats per file before its
     * first row: 82 MB each for train.csv and test.csv of 20,000 columns and 4 rows (320 KB of values); with -Xmx128m a
     * 20-row file of 100,000 columns (4.7 MB) ran out of heap, which the reader before streaming loaded. The first arrays
     * now hold a budget of values, not a fixed number of rows. Measured as this thread's allocation, which the cells'
     * Strings (garbage as soon as parsed) make about 50 MB (210 MB before): under one file's 1,024 rows (82 MB).
     */
    @Test
    void aWideShortFileAllocatesForItsRowsNotForAThousand() throws IOException {
        int f = 20_000;
        StringBuilder header = new StringBuilder(), row = new StringBuilder();
        for (int j = 0; j < f; j++) {
            header.append('g').append(j).append(',');
            row.append(j % 10).append(',');
        }
        String h = header.append("label\n").toString(), r = row.toString();
        Files.writeString(dir.resolve("train.csv"), h + r + "a\n" + r + "b\n" + r + "a\n" + r.replace("7,", "8,") + "b\n"); // 3 rows fit the first arrays
        Files.writeString(dir.resolve("test.csv"), h + r + "b\n");
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        DatasetRegistry.Splits s = DatasetRegistry.get("csv:standardize=false").load(dir);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertEquals(4, s.train().size());
        assertEquals(8f, row(s.train(), 3)[12_347]);
        assertEquals(1, s.test().size());
        assertEquals(List.of("a", "b"), s.train().classNames());
        float[] x = row(s.test(), 0);
        assertEquals(f, x.length);
        assertEquals(7f, x[12_347]);
        assertTrue(allocated < 1024L * f * Float.BYTES, "loading 5 rows x " + f + " values allocated " + allocated + " bytes");
    }

    @Test
    void numbersAreDecimalAndTooLargeOnesSaySo() throws IOException {
        String ok = "a,label\n1,x\n";
        // Float.parseFloat's Java forms were taken as numbers: '3d' as 3, '1f' as 1, '0x1p3' as 8
        for (String javaForm : List.of("3d", "1f", "0x1p3"))
            mentions(error("csv", "a,label\n" + javaForm + ",x\n", ok), "train.csv:2", "'" + javaForm + "'", "not a finite number", "csv:ignore=a");
        // numpy's 'nan' (a missing value, as pandas reads it) / 'inf' are not text: no advice to ignore the column
        DatasetException nan = error("csv", "a,label\nnan,x\n", ok);
        mentions(nan, "train.csv:2", "'nan'", "a missing value");
        assertTrue(!nan.getMessage().contains("ignore="), nan.getMessage());
        // a finite decimal beyond float32 was called 'not a finite number'
        mentions(error("csv", "a,label\n1e300,x\n", ok), "train.csv:2", "'1e300'", "beyond the float32 range");
        mentions(error("csv:target=y", "a,y\n1,-4e38\n", "a,y\n1,2\n"), "train.csv:2", "'y'", "beyond the float32 range");
        // what is valid stays valid
        DatasetRegistry.Splits s = load("csv:standardize=false", "a,b,label\n-1.5e2,.5,x\n+3.,7E-1,y\n", ok.replace("a,", "a,b,").replace("1,", "1,2,"));
        assertArrayEquals(new float[] {3f, 0.7f}, row(s.train(), 1), 1e-6f);
    }

    /**
     * Spaces around a value: unquoted ones are dropped (1.5, 2.0, cat as written by hand), and so, now, are those inside
     * the quotes of a number (" 2.0", "1.5 ", as some exporters pad them), which pandas' C parser reads as numbers
     * too: such a feature, target or predict value was "not a finite number". A quoted label keeps its spaces (as pandas
     * keeps them): "cat " stays another class than cat, which the unseen-label error shows in quotes.
     */
    @Test
    void spacesAroundNumbersAreNotPartOfThem() throws IOException {
        DatasetRegistry.Splits s = load("csv:standardize=false", """
                a, b, label
                1.5, 2.0, cat
                " 2.5", "3 ",dog
                "	-4e1 ", 7, cat
                """, "a,b,label\n\" 1\",2, dog\n");
        assertArrayEquals(new float[] {2.5f, 3f}, row(s.train(), 1), 0f);
        assertArrayEquals(new float[] {-40f, 7f}, row(s.train(), 2), 0f);
        assertArrayEquals(new float[] {1f, 2f}, row(s.test(), 0), 0f);
        assertEquals(List.of("cat", "dog"), s.train().classNames());
        assertEquals(1, s.test().read(0, new float[2], 0));
        DatasetRegistry.Splits r = load("csv:target=y", "a,y\n1,\" 2.5 \"\n2,3\n", "a,y\n1,2\n");
        assertEquals(2.5f, r.train().target(0));
        Path rows = Files.writeString(dir.resolve("rows.csv"), "a,b\n\" 5 \",6\n");
        assertArrayEquals(new float[] {5f, 6f}, CsvDataset.readFeatures(rows, List.of("a", "b"), new float[2], new float[] {1, 1}).x(), 0f);
        // still not numbers: spaces inside, a missing value padded
        mentions(error("csv", "a,label\n\"1 5\",x\n", "a,label\n1,x\n"), "train.csv:2", "'1 5'", "not a finite number");
        mentions(error("csv", "a,label\n1,cat\n2,dog\n", "a,label\n1,\"dog \"\n"), "test.csv:2", "label 'dog '", "cat, dog");
    }

    /**
     * A column named in the options matches a header name with spaces around it: a quoted header cell keeps them
     * ("a", " id", as pandas keeps them), and ignore=id + colour is split at '+' into 'id ' and ' colour'. Each was
     * "no column 'id' to ignore" next to a header that has it. Predict's rows match the model's features so too.
     */
    @Test
    void optionsNameColumnsWithOrWithoutTheSpacesAroundThem() throws IOException {
        DatasetRegistry.Splits s = load("csv:label=kind,ignore=id + colour", """
                a," id", "colour ",b," kind"
                1,7,red,2,x
                3,8,blue,4,y
                """, """
                a," id", "colour ",b," kind"
                5,9,red,6,y
                """);
        assertEquals(List.of("a", "b"), ((CsvDataset) s.train()).featureNames());
        assertEquals(List.of("x", "y"), s.train().classNames());
        assertEquals(1, s.test().read(0, new float[2], 0));
        assertEquals(" kind", load("csv:target=kind,ignore=id+colour", "a, \" id\",colour,\" kind\"\n1,2,red,3\n", "a,\" id\",colour,\" kind\"\n1,2,red,3\n")
                .train().classNames().getFirst());
        Path rows = Files.writeString(dir.resolve("rows.csv"), "\" a \",b\n5,6\n");
        assertArrayEquals(new float[] {5f, 6f}, CsvDataset.readFeatures(rows, List.of("a", "b"), new float[2], new float[] {1, 1}).x(), 0f);
        // two columns that differ only so are not guessed between
        mentions(error("csv:label=b", "a,\" b\",\"b \",c\n1,2,3,x\n", "a,\" b\",\"b \",c\n1,2,3,x\n"), "train.csv:1", "csv:label=b matches", "' b'", "'b '", "rename");
        assertEquals(List.of("a", " b"), ((CsvDataset) load("csv:label=b", "a,\" b\",b\n1,2,x\n", "a,\" b\",b\n1,2,x\n").train()).featureNames());
    }

    @Test
    void aSemicolonOrTabSeparatedFileSaysSo() {
        // such a file was one column, and the error was "no feature column besides 'a;b;label'"
        String ok = "a,b,label\n1,2,x\n";
        mentions(error("csv", "a;b;label\n1;2;x\n", ok), "train.csv:1", "'a;b;label'", "';'-separated", "comma-separated");
        mentions(error("csv", ok, "a\tb\tlabel\n1\t2\tx\n"), "test.csv:1", "tab-separated");
        mentions(error("csv", "\uFEFFa;b;label\r\n1,5;2;x\r\n", ok), "train.csv:1", "';'-separated");
    }

    /**
     * A quoted field may hold line breaks (RFC 4180; pandas.read_csv reads them, and spreadsheets write them for text
     * with several lines). Such a file was refused at its first such record, "train.csv:2: a quoted field is not closed
     * (field 1)", though the quote closes on the next line, so a text column could not even be left out with ignore=.
     * Line numbers in later messages stay those of the file, and a quote that is never closed names the line it opens.
     */
    @Test
    void aQuotedFieldMayHoldLineBreaks() throws IOException {
        String train = "note,a,label\r\n\"first line\r\nsecond line\",1,x\r\n\"one, two\",3,y\r\n\"a \"\"quoted\"\"\n\nword\",5,x\r\n";
        DatasetRegistry.Splits s = load("csv:ignore=note,standardize=false", train, "note,a,label\n\"new\nline\",7,y\n");
        assertEquals(3, s.train().size());
        assertEquals(List.of("x", "y"), s.train().classNames());
        float[] x = new float[1];
        int[] labels = {0, 1, 0};
        float[] a = {1, 3, 5};
        for (int i = 0; i < 3; i++) {
            assertEquals(labels[i], s.train().read(i, x, 0));
            assertEquals(a[i], x[0]);
        }
        assertEquals(1, s.test().size());
        assertEquals(1, s.test().read(0, x, 0));
        assertEquals(7f, x[0]);
        // the bad value of the record after the two-line and four-line ones is on line 8 of the file
        mentions(error("csv:ignore=note", train + "z,oops,y\n", train), "train.csv:8", "'oops'");
        mentions(error("csv:ignore=note", train + "\"never closed,9,x\n1,2,y\n", train), "train.csv:8", "quote", "not closed");
    }

    /**
     * A quote that opens a field and is never closed (a typo in a large file) makes the rest of the file one record: the
     * reader split the whole record again for each line it joined, so the error came after time quadratic in the file
     * (this 20,000-line, 1.6 MB file: more than 10 s; a 133 MB one: hours). It is found in one pass (here 0.2 s).
     */
    @Test
    void anUnclosedQuoteInALargeFileIsFoundInOnePass() {
        StringBuilder b = new StringBuilder("label");
        for (int j = 0; j < 30; j++) b.append(",p").append(j);
        b.append("\n1,\"oops");
        for (int j = 1; j < 30; j++) b.append(',').append(j);
        for (int i = 0; i < 20_000; i++) {
            b.append('\n').append(i % 3);
            for (int j = 0; j < 30; j++) b.append(',').append(j);
        }
        String train = b.append('\n').toString();
        DatasetException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10),
                () -> error("csv:label=label", train, "label,p0\n1,2\n"));
        mentions(e, "train.csv:2", "quoted field", "not closed by the end of the file (line 20002)");
    }

    /**
     * pandas' DataFrame.to_csv writes its index as a first column without a name unless given index=False, and some
     * spreadsheets end every line with a comma: both were refused with "header column 1 has no name" alone, which does
     * not say where such a column comes from or what to do about it.
     */
    @Test
    void aHeaderColumnWithoutANameSaysWhereSuchColumnsComeFrom() {
        String ok = "a,label\n1,x\n";
        mentions(error("csv", ",a,label\n0,1,x\n1,2,y\n", ok), "train.csv:1", "header column 1 has no name",
                "DataFrame.to_csv", "index=False", "csv:ignore=");
        mentions(error("csv", ok, "a,label,\n1,x,\n"), "test.csv:1", "header column 3 has no name", "ends with a comma");
        DatasetException middle = error("csv", "a,,label\n1,2,x\n", ok);
        mentions(middle, "train.csv:1", "header column 2 has no name");
        assertTrue(!middle.getMessage().contains("to_csv") && !middle.getMessage().contains("ends with"), middle.getMessage());
    }

    @Test
    void aHeaderMismatchShowsEachFilesOwnHeader() {
        // the message once gave test.csv the training file's header and the other way round
        DatasetException e = error("csv", "a,b,label\n1,2,x\n", "a,b\n1,2\n");
        mentions(e, "test.csv: header [a, b] differs from", "train.csv's [a, b, label]");
    }

    @Test
    void ignoredColumnsAreLeftOutAndATextColumnSaysHow() throws IOException {
        String train = """
                id,a,colour,b,label
                17,1,red,4,x
                18,3,blue,8,y
                """, test = """
                id,a,colour,b,label
                19,2,green,6,x
                """;
        DatasetRegistry.Splits s = load("csv:ignore=id+colour", train, test);
        CsvDataset t = (CsvDataset) s.train();
        assertEquals(List.of("a", "b"), t.featureNames());
        assertEquals(Shape.of(2), t.sampleShape());
        assertArrayEquals(new float[] {-1f, -1f}, row(t, 0), 1e-6f);  // a: mean 2, std 1; b: mean 6, std 2
        assertArrayEquals(new float[] {0f, 0f}, row(s.test(), 0), 1e-6f);
        // without it, the text column's error says how to leave it out
        mentions(error("csv", train, test), "train.csv:2", "column 'colour' holds 'red'", "csv:ignore=colour");
        mentions(error("csv:ignore=nope", train, test), "no column 'nope' to ignore", "[id, a, colour, b, label]");
        DatasetException inf = error("csv", "a,label\nInfinity,x\n", "a,label\n1,x\n");
        assertTrue(!inf.getMessage().contains("ignore="), "a non-finite number is not a text column: " + inf.getMessage());
        mentions(error("csv:ignore=label", train, test), "'label' is the label column");
        mentions(error("csv:ignore=id+a+colour+b", train, test), "no feature column besides 'label'");
    }

    /**
     * A label pandas reads as missing (NA, nan, NULL, ?, as UCI's files write it, ...) was taken as one more class: a
     * column 0, 1, 2 with one NA trained a 4-class model whose classes were the text '0', '1', '2', 'NA', and a
     * column setosa, virginica with a '?' had a class '?'. It is an error naming the file, line, column and value.
     */
    @Test
    void aMissingLabelIsAnErrorNotAClass() {
        String ok = "a,label\n1,0\n2,1\n";
        for (String missing : List.of("NA", "nan", "NaN", "NULL", "null", "None", "N/A", "#N/A", "?", "<NA>")) {
            DatasetException e = error("csv", "a,label\n1,0\n2," + missing + "\n3,1\n", ok);
            mentions(e, "train.csv:3", "column 'label' (label) holds '" + missing + "'", "missing value", "drop");
            mentions(error("csv", ok, "a,label\n1,1\n2," + missing + "\n"), "test.csv:3", "'" + missing + "'", "missing value");
        }
        mentions(error("csv", "a,species\n1,setosa\n2,?\n3,virginica\n", "a,species\n1,setosa\n"), "train.csv:3", "'?'", "missing value");
        mentions(error("csv", "a,label\n1,0\n2,\n", ok), "train.csv:3", "missing value");
    }

    /**
     * A class really named as pandas reads a missing value (Namibia's code 'NA' among country codes, a survey's 'None'
     * answer) was refused with only "a class really named so needs another name": rename the class in the file, and in
     * the model's class names with it. csv:keepna=true takes such labels as class names, as pandas' keep_default_na=False
     * does, and the error says so. An empty label is still an error, and so is a feature 'NA'.
     */
    @Test
    void aClassNamedLikeAMissingValueIsKeptWithKeepna() throws IOException {
        String train = "a,country\n1,US\n2,NA\n3,DE\n4,None\n", test = "a,country\n1,NA\n2,DE\n3,None\n";
        mentions(error("csv", train, test), "train.csv:3", "'NA'", "missing value", "csv:keepna=true");
        DatasetRegistry.Splits s = load("csv:keepna=true", train, test);
        assertEquals(List.of("DE", "NA", "None", "US"), s.train().classNames());
        float[] x = new float[1];
        assertEquals(List.of(1, 0, 2), List.of(s.test().read(0, x, 0), s.test().read(1, x, 0), s.test().read(2, x, 0)));
        for (String spec : List.of("csv", "csv:keepna=true")) { // an empty label: keepna, which takes none, is not advised
            DatasetException empty = error(spec, "a,country\n1,US\n2,\n", test);
            mentions(empty, "train.csv:3", "missing value");
            assertTrue(!empty.getMessage().contains("keepna"), spec + ": " + empty.getMessage());
        }
        mentions(error("csv:keepna=true", "a,b,country\n1,NA,US\n", "a,b,country\n1,2,US\n"), "column 'b' holds 'NA'", "missing value");
    }

    /**
     * A feature or target that pandas reads as missing (NA, ?, null, None, #N/A) was said to be text, with the advice
     * to leave its whole column out with csv:ignore=, and NaN was only "not a finite number": each now says it is a
     * missing value, and what to do with the rows, naming the file, line and column; predict's rows say the same.
     */
    @Test
    void aMissingFeatureOrTargetSaysItIsMissing() throws IOException {
        String ok = "a,b,label\n1,2,x\n";
        for (String missing : List.of("NA", "?", "null", "None", "#N/A", "NaN", "nan", "")) {
            DatasetException e = error("csv", "a,b,label\n1,2,x\n3," + missing + ",y\n", ok);
            mentions(e, "train.csv:3", "column 'b' holds '" + missing + "'", "a missing value", "drop");
            assertTrue(!e.getMessage().contains("ignore="), "a missing value is not a text column: " + e.getMessage());
            mentions(error("csv:target=b,ignore=label", "a,b,label\n1,2,x\n3," + missing + ",y\n", ok), "train.csv:3", "'b'", "a missing value");
            Path rows = dir.resolve("rows.csv");
            Files.writeString(rows, "b,a\n1,2\n" + missing + ",3\n");
            mentions(assertThrows(DatasetException.class, () -> CsvDataset.readFeatures(rows, List.of("a", "b"), new float[2], new float[] {1, 1})),
                    "rows.csv:3", "column 'b' holds '" + missing + "'", "a missing value");
        }
    }

    /**
     * A file whose label is not the last column (species,a,b, as many exports put it first) was told to leave the label
     * out with csv:ignore=species, since without label= the last column is the label: the error now also says to give
     * csv:label=species, and which column was taken as the label. With label= or target= given, it does not.
     */
    @Test
    void aTextColumnBeforeTheDefaultLabelSaysHowToChooseTheLabel() {
        String train = "species,a,b\nsetosa,1,2\nvirginica,3,4\n", test = "species,a,b\nsetosa,1,2\n";
        DatasetException e = error("csv", train, test);
        mentions(e, "train.csv:2", "column 'species' holds 'setosa'", "csv:ignore=species", "csv:label=species", "the last column, 'b'");
        DatasetException given = error("csv:label=a", "species,a,b\nsetosa,1,2\nvirginica,3,4\n", test);
        mentions(given, "column 'species' holds 'setosa'", "csv:ignore=species");
        assertTrue(!given.getMessage().contains("label=species"), given.getMessage());
    }

    /**
     * A number written with a decimal comma ("1,5", quoted in a comma-separated file, as a European-locale export or
     * pandas' to_csv(decimal=',') writes it) was called text, with the advice to leave its column out: it now says the
     * reader takes '.' as the decimal point, in training files, targets and predict's rows alike.
     */
    @Test
    void aDecimalCommaSaysSo() {
        String ok = "a,b,label\n1,2,x\n";
        DatasetException e = error("csv", "a,b,label\n1,\"-0,25\",x\n", ok);
        mentions(e, "train.csv:2", "column 'b' holds '-0,25'", "decimal comma", "'.' as the decimal point");
        assertTrue(!e.getMessage().contains("ignore="), "a decimal comma is not a text column: " + e.getMessage());
        mentions(error("csv:target=b,ignore=label", "a,b,label\n1,\"1,5\",x\n", ok), "train.csv:2", "'1,5'", "decimal comma");
        Path rows = dir.resolve("rows.csv");
        mentions(assertThrows(DatasetException.class, () -> {
            Files.writeString(rows, "a\n\"2,5e3\"\n");
            CsvDataset.readFeatures(rows, List.of("a"), new float[1], new float[] {1});
        }), "rows.csv:2", "'2,5e3'", "decimal comma");
        // text with a comma stays text
        mentions(error("csv", "a,b,label\n1,\"red, blue\",x\n", ok), "'red, blue'", "csv:ignore=b");
    }

    /**
     * Excel's plain "CSV (Comma delimited)" on Windows writes Windows-1252, not UTF-8: a label 'café' made the error
     * "not UTF-8 text (is it a CSV file?)", with no line and nothing to do. It now names the line that is not UTF-8 and
     * says how to save or convert the file; a UTF-16 file (Excel's "Unicode Text") is named as such.
     */
    @Test
    void aFileNotInUtf8NamesTheLineAndHowToConvertIt() throws IOException {
        Files.writeString(dir.resolve("train.csv"), "a,label\n1,tea\n2,caf\u00e9\n3,tea\n", java.nio.charset.Charset.forName("windows-1252"));
        Files.writeString(dir.resolve("test.csv"), "a,label\n1,tea\n");
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("csv").load(dir));
        mentions(e, "train.csv:3", "not UTF-8", "Windows-1252", "CSV UTF-8", "iconv");
        Files.writeString(dir.resolve("train.csv"), "\uFEFFa,label\n1,tea\n", java.nio.charset.StandardCharsets.UTF_16LE);
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("csv").load(dir));
        mentions(e, "train.csv", "UTF-16", "CSV UTF-8");
    }

    /**
     * A file pandas read with its index as an unnamed first column and wrote back (to_csv's default index=True) has a
     * column 'Unnamed: 0' holding the row numbers, which was taken as a feature without a word: on rows sorted by class
     * it gives the label away. Like a column without a name, it is an error saying where it comes from and how to leave
     * it out; csv:ignore=Unnamed: 0 trains on the other columns.
     */
    @Test
    void aPandasUnnamedIndexColumnIsNotTakenAsAFeature() throws IOException {
        String train = "Unnamed: 0,a,label\n0,1,x\n1,3,y\n", test = "Unnamed: 0,a,label\n0,2,x\n";
        mentions(error("csv", train, test), "train.csv", "'Unnamed: 0'", "index=False", "csv:ignore=Unnamed: 0");
        DatasetRegistry.Splits s = load("csv:ignore=Unnamed: 0", train, test);
        assertEquals(List.of("a"), ((CsvDataset) s.train()).featureNames());
        // predict takes its columns by name: there, such a column is one more column it does not use
        Path rows = dir.resolve("rows.csv");
        Files.writeString(rows, "Unnamed: 0,a\n0,5\n");
        assertArrayEquals(new float[] {5f}, CsvDataset.readFeatures(rows, List.of("a"), new float[1], new float[] {1}).x());
    }

    /**
     * A column 'Unnamed: 1' is also what pandas writes for a column whose header cell was empty (a spreadsheet's
     * measurements without a title): its values are no row numbers, but the error said "(its row numbers, not a
     * feature)" and offered only index=False or leaving the column out, though the column may be a feature. The error
     * now says the values are the row numbers where they are (0 to n-1, as to_csv writes an index), and otherwise that
     * a feature needs its name in the header.
     */
    @Test
    void anUnnamedColumnThatIsNotAnIndexSaysToNameIt() {
        String test = "a,Unnamed: 1,label\n2,0.5,x\n";
        DatasetException e = error("csv", "a,Unnamed: 1,label\n1,0.5,x\n3,0.25,y\n4,7,x\n", test);
        mentions(e, "'Unnamed: 1'", "not row numbers", "if it is a feature, give it a name in the header row", "csv:ignore=Unnamed: 1");
        assertTrue(!e.getMessage().contains("index=False"), e.getMessage());
        mentions(error("csv", "a,Unnamed: 1,label\n1,0,x\n3,1,y\n4,2,x\n", test), "the row numbers 0 to 2", "index=False");
    }

    /**
     * Two exports joined into one file (cat a.csv b.csv, each with its header, the second maybe with its own byte-order
     * mark) have the header again as a data row: it was called text in the first column, with the advice to leave that
     * column out with csv:ignore=. It is now an error saying the line repeats the header and to remove it.
     */
    @Test
    void aRepeatedHeaderRowSaysSo() {
        String ok = "a,b,label\n1,2,x\n";
        for (String again : List.of("a,b,label", "\uFEFFa,b,label", "\"a\",\"b\",\"label\"")) {
            DatasetException e = error("csv", "a,b,label\n1,2,x\n" + again + "\n3,4,y\n", ok);
            mentions(e, "train.csv:3", "repeats the header", "remove");
            assertTrue(!e.getMessage().contains("ignore="), e.getMessage());
        }
    }

    @Test
    void missingFilesAndBadOptions() throws IOException {
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("csv").load(dir));
        mentions(e, "train.csv", "does not exist");
        Files.writeString(dir.resolve("mine.csv"), "a,label\n1,x\n");
        Files.writeString(dir.resolve("held.csv"), "a,label\n2,x\n");
        DatasetRegistry.Splits s = DatasetRegistry.get("csv:train=mine.csv,test=held.csv,standardize=false").load(dir);
        assertArrayEquals(new float[] {2f}, row(s.test(), 0));
        mentions(assertThrows(DatasetException.class, () -> DatasetRegistry.get("csv:labels=y")), "unknown option 'labels'", "label, target, ignore");
    }
}
