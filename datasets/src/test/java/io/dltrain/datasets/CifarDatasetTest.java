package io.dltrain.datasets;

import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CIFAR-10/100 binary readers on small synthetic files written byte by byte, including broken ones. */
class CifarDatasetTest {
    @TempDir Path dir;

    /** Pixel byte of record r of file f at channel c, row y, column x: a pattern that differs per file and record. */
    static int px(int f, int r, int c, int y, int x) { return (f * 53 + r * 31 + c * 101 + y * 7 + x * 3) & 0xFF; }

    /** A CIFAR file of {@code labels.length} records; labels[r] holds the label bytes of record r. */
    static Path cifarFile(Path file, int f, int[][] labels) {
        int lb = labels.length == 0 ? 1 : labels[0].length;
        byte[] b = new byte[labels.length * (lb + 3072)];
        int at = 0;
        for (int r = 0; r < labels.length; r++) {
            for (int l : labels[r]) b[at++] = (byte) l;
            for (int c = 0; c < 3; c++) for (int y = 0; y < 32; y++) for (int x = 0; x < 32; x++) b[at++] = (byte) px(f, r, c, y, x);
        }
        return IdxTestFiles.write(file, b);
    }

    /** Writes a complete CIFAR-10 directory: 5 train files of {@code perFile} records and a test file of 3. */
    static void cifar10Dir(Path d, int perFile) throws IOException {
        Files.createDirectories(d);
        for (int f = 0; f < 5; f++) {
            int[][] l = new int[perFile][];
            for (int r = 0; r < perFile; r++) l[r] = new int[]{(f * perFile + r) % 10};
            cifarFile(d.resolve("data_batch_" + (f + 1) + ".bin"), f, l);
        }
        cifarFile(d.resolve("test_batch.bin"), 9, new int[][]{{7}, {8}, {9}});
    }

    @Test
    void cifar10ReadsEveryRecordNormalisedPerChannel() throws IOException {
        cifar10Dir(dir, 4);
        DatasetRegistry.Splits s = DatasetRegistry.get("cifar10").load(dir);
        CifarDataset train = (CifarDataset) s.train(), test = (CifarDataset) s.test();
        assertEquals(20, train.size());
        assertEquals(3, test.size());
        assertEquals("cifar10/train", train.name());
        assertEquals(Shape.of(3, 32, 32), train.sampleShape());
        assertEquals(List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"), train.classNames());
        double[] mean = {0.4914, 0.4822, 0.4465}, std = {0.2470, 0.2435, 0.2616};
        float[] x = new float[5 + 3072];
        for (int i = 0; i < 20; i++) {
            int f = i / 4, r = i % 4;
            assertEquals(i % 10, train.read(i, x, 5), "label of record " + r + " of file " + f);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int xx = 0; xx < 32; xx++) {
                        double want = (px(f, r, c, y, xx) / 255.0 - mean[c]) / std[c]; // ToTensor + Normalize in double
                        assertEquals(want, x[5 + (c * 32 + y) * 32 + xx], 1e-5, "sample " + i + " (" + c + "," + y + "," + xx + ")");
                    }
        }
        assertEquals(9, test.read(2, x, 0));
        assertEquals((px(9, 2, 1, 3, 4) / 255.0 - mean[1]) / std[1], x[1024 + 3 * 32 + 4], 1e-5);
        assertEquals(px(9, 2, 2, 31, 31), test.pixel(2, 2, 31, 31));
        assertThrows(IndexOutOfBoundsException.class, () -> test.read(3, x, 0));
        assertThrows(UnsupportedOperationException.class, () -> test.coarseLabel(0));
    }

    @Test
    void cifar100UsesTheFineLabelAndKeepsTheCoarseOne() throws IOException {
        Path d = dir.resolve("cifar-100-binary"); // the folder the official tarball extracts to, inside --data-dir
        Files.createDirectories(d);
        cifarFile(d.resolve("train.bin"), 0, new int[][]{{3, 99}, {19, 0}, {0, 42}});
        cifarFile(d.resolve("test.bin"), 1, new int[][]{{5, 7}});
        DatasetRegistry.Splits s = DatasetRegistry.get("cifar100").load(dir);
        CifarDataset train = (CifarDataset) s.train();
        assertEquals(3, train.size());
        assertEquals(100, train.numClasses());
        float[] x = new float[3072];
        assertEquals(99, train.read(0, x, 0));
        assertEquals(0, train.read(1, x, 0));
        assertEquals(42, train.label(2));
        assertEquals(3, train.coarseLabel(0));
        assertEquals(19, train.coarseLabel(1));
        assertEquals(7, s.test().read(0, x, 0));
        assertEquals((px(1, 0, 0, 0, 0) / 255.0 - 0.5071) / 0.2673, x[0], 1e-5);
        // The standard fine names are CIFAR-100's: 100 distinct, in alphabetical order (the label order).
        List<String> names = train.classNames();
        assertEquals(100, new java.util.HashSet<>(names).size());
        List<String> sorted = new ArrayList<>(names);
        sorted.sort(null);
        assertEquals(sorted, names);
        assertEquals("worm", names.get(99));
    }

    @Test
    void classNamesComeFromTheMetaFileWhenPresent() throws IOException {
        cifar10Dir(dir, 1);
        Files.writeString(dir.resolve("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n\n"); // trailing blank lines as in the real file
        assertEquals(List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), DatasetRegistry.get("cifar10").load(dir).train().classNames());
        Files.writeString(dir.resolve("batches.meta.txt"), "a\nb\n");
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(dir));
        assertTrue(e.getMessage().contains("batches.meta.txt") && e.getMessage().contains("2 class names"), e.getMessage());
    }

    @Test
    void missingFilesSayWhereItLookedAndHowToGetThem() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(empty));
        String m = e.getMessage();
        assertTrue(m.contains("data_batch_1.bin") && m.contains("test_batch.bin") && m.contains(empty.toString())
                && m.contains(empty.resolve("cifar-10-batches-bin").toString())
                && m.contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz") && m.contains("--data-dir"), m);
        // The default directory, absent.
        Path home = dir.resolve("home/.dl-train/datasets/cifar100");
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar100").load(null, home));
        assertTrue(e.getMessage().contains(home.toString()) && e.getMessage().contains("train.bin")
                && e.getMessage().contains("cifar-100-binary.tar.gz"), e.getMessage());
        // One file missing: named alone.
        cifar10Dir(dir.resolve("c"), 1);
        Files.delete(dir.resolve("c/data_batch_3.bin"));
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(dir.resolve("c")));
        assertTrue(e.getMessage().startsWith("CIFAR-10 file data_batch_3.bin not found"), e.getMessage());
        // The Python (pickle) version is recognised.
        Path py = Files.createDirectories(dir.resolve("py"));
        Files.write(py.resolve("data_batch_1"), new byte[10]);
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(py));
        assertTrue(e.getMessage().contains("Python (pickle) version"), e.getMessage());
    }

    @Test
    void truncatedFilesAndBadLabelsNameTheFile() throws IOException {
        cifar10Dir(dir, 2);
        Path f = dir.resolve("data_batch_4.bin");
        byte[] full = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(full, full.length - 100)); // an interrupted download
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(dir));
        String m = e.getMessage();
        assertTrue(m.startsWith(f.toString()) && m.contains("3,073") && m.contains(String.format("%,d", full.length - 100))
                && m.contains("1 records and 2,973 bytes left over"), m);

        Files.write(f, new byte[0]);
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(dir));
        assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains("file size 0 bytes"), e.getMessage());

        // A CIFAR-100 file where a CIFAR-10 one belongs: 2 records of 3,074 bytes = 6,148, not a multiple of 3,073.
        cifarFile(f, 3, new int[][]{{1, 2}, {3, 4}});
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(dir));
        assertTrue(e.getMessage().contains("a CIFAR-100 file?"), e.getMessage());

        // Label byte 10 in record 1 of a CIFAR-10 file.
        cifarFile(f, 3, new int[][]{{1}, {10}});
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar10").load(dir));
        assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains("record 1") && e.getMessage().contains("label 10")
                && e.getMessage().contains("[0, 9]"), e.getMessage());

        // CIFAR-100: fine label 100 and coarse label 20 are both out of range.
        Path d = Files.createDirectories(dir.resolve("c100"));
        cifarFile(d.resolve("test.bin"), 0, new int[][]{{0, 0}});
        cifarFile(d.resolve("train.bin"), 0, new int[][]{{0, 0}, {1, 100}});
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar100").load(d));
        assertTrue(e.getMessage().contains("record 1") && e.getMessage().contains("fine label 100"), e.getMessage());
        cifarFile(d.resolve("train.bin"), 0, new int[][]{{20, 5}});
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("cifar100").load(d));
        assertTrue(e.getMessage().contains("record 0") && e.getMessage().contains("coarse label 20"), e.getMessage());
        assertFalse(DatasetRegistry.get("cifar100").classNames().isEmpty());
    }
}
