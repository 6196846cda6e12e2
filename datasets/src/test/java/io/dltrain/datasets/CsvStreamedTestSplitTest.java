package io.dltrain.datasets;

import io.dltrain.runtime.data.SampleStream;
import io.dltrain.runtime.train.Task;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The csv test split that eval reads a batch at a time ({@link DatasetRegistry.Entry#loadStreamingTest},
 * {@link CsvDataset#rows()}): the rows hold nothing in memory until read, and give what the split read whole gives,
 * bit for bit (features standardised with the training statistics, labels, targets), also with the model's
 * statistics and class order; a bad row is named by file and line when its batch is read.
 */
class CsvStreamedTestSplitTest {
    @TempDir Path dir;

    /** A file of n rows of 3 features (decimals, some large) and a label out of four numeric ones, two spelled alike. */
    private static String rows(int n, long seed) {
        Random r = new Random(seed);
        StringBuilder b = new StringBuilder("a,b,c,label\n");
        String[] labels = {"1", "2.5", "10", "1.0"};
        for (int i = 0; i < n; i++)
            b.append(r.nextGaussian() * 3).append(',').append(r.nextInt(1000) / 7.0).append(',').append(r.nextFloat() * 1e6f)
                    .append(',').append(labels[r.nextInt(labels.length)]).append('\n');
        return b.toString();
    }

    private CsvDataset[] both(String name) {
        DatasetRegistry.Entry e = DatasetRegistry.get(name);
        return new CsvDataset[] {(CsvDataset) e.load(dir).test(), (CsvDataset) e.loadStreamingTest(dir, "--data-dir").test()};
    }

    /** Every row of the stream read in batches of batchSize, compared with the split read whole, bit for bit. */
    private static void sameRows(CsvDataset whole, CsvDataset streamed, int batchSize) {
        int f = whole.sampleShape().numel() > 0 ? (int) whole.sampleShape().numel() : 0;
        assertEquals(whole.classNames(), streamed.classNames());
        float[] x = new float[batchSize * f], t = whole.task() == Task.REGRESSION ? new float[batchSize] : null, one = new float[f];
        int[] y = new int[batchSize];
        int i = 0;
        try (SampleStream s = streamed.rows()) {
            for (int n; (n = s.read(batchSize, x, y, t)) > 0; ) {
                assertTrue(n <= batchSize);
                for (int k = 0; k < n; k++, i++) {
                    int label = whole.read(i, one, 0);
                    for (int j = 0; j < f; j++)
                        assertEquals(Float.floatToRawIntBits(one[j]), Float.floatToRawIntBits(x[k * f + j]), "row " + i + ", feature " + j);
                    if (t == null) assertEquals(label, y[k], "label of row " + i);
                    else assertEquals(Float.floatToRawIntBits(whole.target(i)), Float.floatToRawIntBits(t[k]), "target of row " + i);
                }
            }
            assertEquals(0, s.read(batchSize, x, y, t), "nothing after the end");
        }
        assertEquals(whole.size(), i, "rows");
    }

    @Test
    void theRowsReadABatchAtATimeAreTheWholeSplitsBitForBit() throws IOException {
        Files.writeString(dir.resolve("train.csv"), rows(300, 1));
        Files.writeString(dir.resolve("test.csv"), rows(1000, 2));
        CsvDataset[] c = both("csv");
        assertFalse(c[0].streamed());
        assertTrue(c[1].streamed());
        assertEquals(0, c[1].size(), "no rows held");
        assertThrows(IllegalStateException.class, () -> c[1].read(0, new float[3], 0));
        assertEquals(3, c[1].numClasses(), "1 and 1.0 one class");
        sameRows(c[0], c[1], 128); // 1000 = 7 x 128 + 104
        sameRows(c[0], c[1], 1);
        // with the model's statistics and its class order (eval's paths for another directory and an earlier model)
        float[] mean = {1f, 2f, 3f}, std = {0.5f, 4f, 1e5f};
        sameRows(c[0].standardisedWith(mean, std), c[1].standardisedWith(mean, std), 100);
        List<String> order = List.of("1.0", "10", "2.5");
        sameRows(c[0].withClassOrder(order).orElseThrow(), c[1].withClassOrder(order).orElseThrow(), 256);
        sameRows(c[0].withClassOrder(order).orElseThrow().standardisedWith(mean, std),
                c[1].withClassOrder(order).orElseThrow().standardisedWith(mean, std), 33);
        // regression: the targets, raw
        CsvDataset[] r = both("csv:target=c");
        assertEquals(Task.REGRESSION, r[1].task());
        sameRows(r[0], r[1], 128);
    }

    @Test
    void aBadRowIsNamedByFileAndLineWhenItsBatchIsRead() throws IOException {
        Files.writeString(dir.resolve("train.csv"), rows(50, 1));
        String test = rows(300, 2);
        Path file = dir.resolve("test.csv");
        // line 202 (row 200, after the header): a label training never had
        String[] lines = test.split("\n", -1);
        lines[201] = "1,2,3,7";
        Files.writeString(file, String.join("\n", lines));
        CsvDataset streamed = (CsvDataset) DatasetRegistry.get("csv").loadStreamingTest(dir, "--data-dir").test();
        float[] x = new float[200 * 3];
        int[] y = new int[200];
        try (SampleStream s = streamed.rows()) {
            assertEquals(128, s.read(128, x, y, null), "the first batch is fine");
            DatasetException e = assertThrows(DatasetException.class, () -> s.read(128, x, y, null));
            assertTrue(e.getMessage().contains(file + ":202: label '7' does not occur in " + dir.resolve("train.csv")), e.getMessage());
        }
        lines[201] = "1,x,3,1";
        Files.writeString(file, String.join("\n", lines));
        try (SampleStream s = streamed.rows()) {
            assertEquals(200, s.read(200, x, y, null));
            DatasetException e = assertThrows(DatasetException.class, () -> s.read(200, x, y, null));
            assertTrue(e.getMessage().startsWith(file + ":202: "), e.getMessage());
            assertTrue(e.getMessage().contains("'x'"), e.getMessage());
        }
        // the header is checked when the split is loaded, before any row is read
        Files.writeString(file, "a,b,d,label\n1,2,3,1\n");
        DatasetException h = assertThrows(DatasetException.class, () -> DatasetRegistry.get("csv").loadStreamingTest(dir, "--data-dir"));
        assertTrue(h.getMessage().startsWith(file + ": header [a, b, d, label] differs"), h.getMessage());
        // a file of a header alone: found at the first read
        Files.writeString(file, "a,b,c,label\n");
        CsvDataset empty = (CsvDataset) DatasetRegistry.get("csv").loadStreamingTest(dir, "--data-dir").test();
        try (SampleStream s = empty.rows()) {
            DatasetException e = assertThrows(DatasetException.class, () -> s.read(10, new float[30], new int[10], null));
            assertEquals(file + ": no data rows after the header", e.getMessage());
        }
    }
}
