package io.dltrain.datasets.idx;

import io.dltrain.datasets.DatasetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import static io.dltrain.datasets.IdxTestFiles.gzip;
import static io.dltrain.datasets.IdxTestFiles.idx;
import static io.dltrain.datasets.IdxTestFiles.labels;
import static io.dltrain.datasets.IdxTestFiles.pixels;
import static io.dltrain.datasets.IdxTestFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** IdxFile: valid files read back exactly; every kind of broken file is a DatasetException naming the file. */
class IdxFileTest {
    @TempDir Path dir;

    /** Expects a DatasetException whose message names the file and contains every fragment. */
    static DatasetException fails(Path file, Executable read, String... fragments) {
        DatasetException e = assertThrows(DatasetException.class, read);
        String m = e.getMessage();
        assertTrue(m.contains(file.toString()), "message must name the file " + file + ": " + m);
        for (String f : fragments) assertTrue(m.contains(f), "message must mention '" + f + "': " + m);
        return e;
    }

    @Test
    void readsGzipAndPlainFilesExactly() {
        byte[] px = pixels(5, 4, 3);
        Path gz = write(dir.resolve("img.gz"), gzip(idx(0x803, new int[]{5, 4, 3}, px)));
        Path plain = write(dir.resolve("img"), idx(0x803, new int[]{5, 4, 3}, px));
        Path plainNamedGz = write(dir.resolve("decompressed-by-browser.gz"), idx(0x803, new int[]{5, 4, 3}, px));
        for (Path p : new Path[]{gz, plain, plainNamedGz}) {
            IdxFile f = IdxFile.readImages(p);
            assertArrayEquals(new int[]{5, 4, 3}, f.dims(), p.toString());
            assertEquals(5, f.count());
            assertArrayEquals(px, f.data(), p.toString());
            assertEquals(p.toString(), f.source());
        }
        byte[] lb = labels(7, 10);
        IdxFile l = IdxFile.readLabels(write(dir.resolve("lab.gz"), gzip(idx(0x801, new int[]{7}, lb))), 10);
        assertArrayEquals(new int[]{7}, l.dims());
        assertArrayEquals(lb, l.data());
    }

    @Test
    void truncatedImageFileSaysExpectedAndActualBytes() {
        byte[] full = idx(0x803, new int[]{10, 28, 28}, pixels(10, 28, 28));
        byte[] cut = Arrays.copyOf(full, 16 + 7 * 784); // 7 of the 10 images
        Path gz = write(dir.resolve("train-images-idx3-ubyte.gz"), gzip(cut));
        fails(gz, () -> IdxFile.readImages(gz), "truncated", "7840", "5488");
        Path plain = write(dir.resolve("train-images-idx3-ubyte"), cut);
        fails(plain, () -> IdxFile.readImages(plain), "truncated", "7840", "5488");
        // Header itself cut short.
        Path header = write(dir.resolve("header-only"), Arrays.copyOf(full, 10));
        fails(header, () -> IdxFile.readImages(header), "header");
    }

    @Test
    void truncatedGzipStreamIsReported() {
        byte[] gz = gzip(idx(0x803, new int[]{50, 28, 28}, pixels(50, 28, 28)));
        Path p = write(dir.resolve("cut.gz"), Arrays.copyOf(gz, gz.length / 2));
        fails(p, () -> IdxFile.readImages(p), "truncated");
    }

    @Test
    void corruptGzipDataIsReported() {
        byte[] gz = gzip(idx(0x803, new int[]{50, 28, 28}, pixels(50, 28, 28)));
        // Damage the deflate stream in the middle, or only the CRC in the trailer: both must be caught.
        byte[] mid = gz.clone();
        for (int i = gz.length / 3; i < gz.length / 3 + 16; i++) mid[i] ^= (byte) 0x5A;
        Path p1 = write(dir.resolve("damaged.gz"), mid);
        assertThrows(DatasetException.class, () -> IdxFile.readImages(p1));
        byte[] crc = gz.clone();
        crc[gz.length - 8] ^= 1;
        Path p2 = write(dir.resolve("badcrc.gz"), crc);
        fails(p2, () -> IdxFile.readImages(p2), "corrupt gzip");
    }

    @Test
    void nonGzipGarbageWithGzNameIsReported() {
        byte[] garbage = "<html><body>404 Not Found</body></html>".getBytes();
        Path p = write(dir.resolve("train-images-idx3-ubyte.gz"), garbage);
        fails(p, () -> IdxFile.readImages(p), "not gzip");
        Path empty = write(dir.resolve("empty.gz"), new byte[0]);
        fails(empty, () -> IdxFile.readImages(empty), "empty");
    }

    @Test
    void badMagicIsReported() {
        Path p = write(dir.resolve("magic.gz"), gzip(idx(0x12345678, new int[]{}, new byte[64])));
        fails(p, () -> IdxFile.readImages(p), "bad magic", "0x12345678", "0x00000803");
        // Written little-endian by mistake.
        Path swapped = write(dir.resolve("swapped"), idx(Integer.reverseBytes(0x803), new int[]{}, new byte[64]));
        fails(swapped, () -> IdxFile.readImages(swapped), "byte-swapped");
    }

    @Test
    void wrongTypeCodeAndDimensionCountAreReported() {
        Path f32 = write(dir.resolve("floats.gz"), gzip(idx(0x00000D03, new int[]{1, 2, 2}, new byte[16])));
        fails(f32, () -> IdxFile.readImages(f32), "0x0D", "float32", "unsigned byte");
        // A label file where images are expected, and the other way round.
        Path lab = write(dir.resolve("labels.gz"), gzip(idx(0x801, new int[]{4}, labels(4, 10))));
        fails(lab, () -> IdxFile.readImages(lab), "1 dimensions, expected 3", "label file");
        Path img = write(dir.resolve("images.gz"), gzip(idx(0x803, new int[]{1, 2, 2}, new byte[4])));
        fails(img, () -> IdxFile.readLabels(img, 10), "3 dimensions, expected 1", "image file");
    }

    @Test
    void zeroDimensionAndTrailingBytesAreReported() {
        Path zero = write(dir.resolve("zero.gz"), gzip(idx(0x803, new int[]{3, 0, 28}, new byte[0])));
        fails(zero, () -> IdxFile.readImages(zero), "dimension 1 is 0");
        byte[] extra = idx(0x801, new int[]{4}, new byte[]{1, 2, 3, 4, 9, 9, 9});
        Path plain = write(dir.resolve("extra"), extra);
        fails(plain, () -> IdxFile.readLabels(plain, 10), "3 unexpected trailing bytes");
        Path gz = write(dir.resolve("extra.gz"), gzip(extra));
        fails(gz, () -> IdxFile.readLabels(gz, 10), "3 unexpected trailing bytes");
    }

    @Test
    void hugeDeclaredDimensionsInTinyFileFailFastWithoutAllocating() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        // Over the cap (2^31 - 1 images), and under it (1,000,000 images = 784 MB) but backed by 100 bytes.
        int[][] lies = {{Integer.MAX_VALUE, 28, 28}, {-1, -1, -1}, {1_000_000, 28, 28}};
        for (int[] dims : lies) {
            for (boolean gz : new boolean[]{true, false}) {
                byte[] raw = idx(0x803, dims, new byte[100]);
                Path p = write(dir.resolve("huge-" + dims[0] + (gz ? ".gz" : "")), gz ? gzip(raw) : raw);
                assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
                    long before = threads.getCurrentThreadAllocatedBytes();
                    DatasetException e = fails(p, () -> IdxFile.readImages(p));
                    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
                    assertTrue(e.getMessage().contains("absurd") || e.getMessage().contains("truncated"), e.getMessage());
                    // Bounded by the real stream (plus a 1 MiB first chunk and I/O buffers), not the declared size.
                    assertTrue(allocated < 16L << 20, "reading " + p + " allocated " + allocated + " bytes");
                });
            }
        }
    }

    @Test
    void labelsOutsideClassRangeAreReported() {
        byte[] lb = labels(20, 10);
        lb[3] = 10;
        lb[17] = (byte) 255;
        Path p = write(dir.resolve("t10k-labels-idx1-ubyte.gz"), gzip(idx(0x801, new int[]{20}, lb)));
        fails(p, () -> IdxFile.readLabels(p, 10), "label 10 at index 3", "[0, 9]", "2 such labels");
    }

    @Test
    void missingFileAndDirectoryAreReported() throws Exception {
        Path missing = dir.resolve("nope/train-labels-idx1-ubyte.gz");
        fails(missing, () -> IdxFile.readLabels(missing, 10), "not found");
        Path sub = Files.createDirectory(dir.resolve("a-directory"));
        fails(sub, () -> IdxFile.readImages(sub), "directory");
    }
}
