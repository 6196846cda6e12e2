package io.dltrain.datasets.idx;

import io.dltrain.datasets.DatasetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.Arrays;

import static io.dltrain.datasets.IdxTestFiles.gzip;
import static io.dltrain.datasets.IdxTestFiles.idx;
import static io.dltrain.datasets.IdxTestFiles.pixels;
import static io.dltrain.datasets.IdxTestFiles.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link IdxFile#open}: an IDX file's records read a few at a time (predict on a file larger than the heap) are the
 * bytes {@link IdxFile#read} gives, gzip'd or not; the header's errors come at open, as read's do, and a stream that
 * breaks off or runs on is found when the reading gets there, with read's message.
 */
class IdxFileReaderTest {
    @TempDir Path dir;

    private static byte[] all(IdxFile.Reader r, int batch) {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[batch * r.recordBytes()];
        for (int n; (n = r.next(batch, buf)) > 0; ) {
            assertTrue(n <= batch);
            got.write(buf, 0, n * r.recordBytes());
        }
        assertEquals(0, r.next(batch, buf), "nothing after the end");
        return got.toByteArray();
    }

    @Test
    void recordsReadAFewAtATimeAreTheWholeFilesBytes() {
        byte[] px = pixels(1000, 7, 5);
        byte[] file = idx(IdxFile.IMAGES_U8, new int[] {1000, 7, 5}, px);
        for (Path f : new Path[] {write(dir.resolve("a-idx3-ubyte"), file), write(dir.resolve("a-idx3-ubyte.gz"), gzip(file))}) {
            byte[] whole = IdxFile.read(f, IdxFile.IMAGES_U8).data();
            assertArrayEquals(px, whole);
            for (int batch : new int[] {1, 256, 1000, 4096})
                try (IdxFile.Reader r = IdxFile.open(f, IdxFile.IMAGES_U8)) {
                    assertArrayEquals(new int[] {1000, 7, 5}, r.dims());
                    assertEquals(35, r.recordBytes());
                    assertArrayEquals(whole, all(r, batch), f + " in batches of " + batch);
                }
        }
    }

    @Test
    void errorsAreReadsAtOpenForTheHeaderAndWhereTheReadingGetsToThem() {
        byte[] file = idx(IdxFile.IMAGES_U8, new int[] {100, 4, 4}, pixels(100, 4, 4));
        // a header that is not an image file's: at open, with read's message
        Path labels = write(dir.resolve("l-idx1-ubyte"), idx(IdxFile.LABELS_U8, new int[] {100}, new byte[100]));
        DatasetException h = assertThrows(DatasetException.class, () -> IdxFile.open(labels, IdxFile.IMAGES_U8));
        assertEquals(assertThrows(DatasetException.class, () -> IdxFile.read(labels, IdxFile.IMAGES_U8)).getMessage(), h.getMessage());
        // a plain file shorter than its header says: at open (its length is known)
        Path cut = write(dir.resolve("cut-idx3-ubyte"), Arrays.copyOf(file, file.length - 16));
        assertEquals(assertThrows(DatasetException.class, () -> IdxFile.read(cut, IdxFile.IMAGES_U8)).getMessage(),
                assertThrows(DatasetException.class, () -> IdxFile.open(cut, IdxFile.IMAGES_U8)).getMessage());
        // a gzip stream that breaks off in the middle: the records before it are read, then the error names the file
        byte[] gz = gzip(file);
        Path broken = write(dir.resolve("broken-idx3-ubyte.gz"), Arrays.copyOf(gz, gz.length / 2));
        try (IdxFile.Reader r = IdxFile.open(broken, IdxFile.IMAGES_U8)) {
            DatasetException e = assertThrows(DatasetException.class, () -> all(r, 10));
            assertTrue(e.getMessage().startsWith(broken + ": the gzip stream ends early (after "), e.getMessage());
        }
        // bytes after the data in a gzip'd file: found by the read that reaches the end of the data
        byte[] longer = Arrays.copyOf(file, file.length + 3);
        Path runsOn = write(dir.resolve("long-idx3-ubyte.gz"), gzip(longer));
        try (IdxFile.Reader r = IdxFile.open(runsOn, IdxFile.IMAGES_U8)) {
            byte[] buf = new byte[60 * 16];
            assertEquals(60, r.next(60, buf));
            DatasetException e = assertThrows(DatasetException.class, () -> r.next(60, buf));
            assertEquals(assertThrows(DatasetException.class, () -> IdxFile.read(runsOn, IdxFile.IMAGES_U8)).getMessage(), e.getMessage());
        }
    }

    /**
     * A gzip stream that breaks off: the error says how many bytes of IDX data came before the break, as read's does,
     * however many records a next() asks for (it said "after 0 bytes" for a file cut inside the first batch, and a
     * batch's start for one cut later: the bytes of the batch that broke off were not counted).
     */
    @Test
    void aBrokenGzipStreamIsNamedAfterTheBytesItGaveAsReadsIs() {
        byte[] gz = gzip(idx(IdxFile.IMAGES_U8, new int[] {300, 8, 8}, pixels(300, 8, 8)));
        for (int cut : new int[] {gz.length / 3, gz.length / 2, gz.length - 12, gz.length - 4}) {
            Path f = write(dir.resolve("cut" + cut + "-idx3-ubyte.gz"), Arrays.copyOf(gz, cut));
            String read = assertThrows(DatasetException.class, () -> IdxFile.read(f, IdxFile.IMAGES_U8)).getMessage();
            assertTrue(read.contains("the gzip stream ends early (after ") && !read.contains("(after 0 bytes"), read);
            for (int batch : new int[] {1, 7, 256, 300})
                try (IdxFile.Reader r = IdxFile.open(f, IdxFile.IMAGES_U8)) {
                    assertEquals(read, assertThrows(DatasetException.class, () -> all(r, batch)).getMessage(), "cut at " + cut + ", batches of " + batch);
                }
        }
    }

    /** The descriptors of this process open on file (its /proc/self/fd links); empty where /proc is not there. */
    private static java.util.List<Path> openOn(Path file) throws java.io.IOException {
        Path fds = Path.of("/proc/self/fd"), real = file.toRealPath();
        java.util.List<Path> on = new java.util.ArrayList<>();
        if (!java.nio.file.Files.isDirectory(fds)) return on;
        try (var list = java.nio.file.Files.list(fds)) {
            for (Path fd : list.toList())
                try {
                    if (java.nio.file.Files.readSymbolicLink(fd).equals(real)) on.add(fd);
                } catch (java.io.IOException gone) { // the listing's own descriptor, closed since
                }
        }
        return on;
    }

    /** No descriptor stays open on a file whose header open refuses, nor on one whose reading failed once closed. */
    @Test
    void noDescriptorStaysOpenAfterAnError() throws java.io.IOException {
        byte[] file = idx(IdxFile.IMAGES_U8, new int[] {100, 4, 4}, pixels(100, 4, 4));
        Path[] refused = {
                write(dir.resolve("l-idx1-ubyte.gz"), gzip(idx(IdxFile.LABELS_U8, new int[] {100}, new byte[100]))),
                write(dir.resolve("cut-idx3-ubyte"), Arrays.copyOf(file, file.length - 16)),
                write(dir.resolve("zero-idx3-ubyte"), idx(IdxFile.IMAGES_U8, new int[] {0, 4, 4}, new byte[0])),
                write(dir.resolve("empty-idx3-ubyte.gz"), new byte[0]),
                write(dir.resolve("head-idx3-ubyte.gz"), gzip(Arrays.copyOf(file, 10))),
                write(dir.resolve("text-idx3-ubyte.gz"), "not gzip".getBytes(java.nio.charset.StandardCharsets.US_ASCII))};
        for (Path f : refused) {
            assertThrows(DatasetException.class, () -> IdxFile.open(f, IdxFile.IMAGES_U8), f.toString());
            assertEquals(java.util.List.of(), openOn(f), f + " after open refused it");
        }
        byte[] gz = gzip(file);
        Path broken = write(dir.resolve("broken-idx3-ubyte.gz"), Arrays.copyOf(gz, gz.length / 2));
        IdxFile.Reader r = IdxFile.open(broken, IdxFile.IMAGES_U8);
        assertThrows(DatasetException.class, () -> all(r, 10));
        r.close();
        assertEquals(java.util.List.of(), openOn(broken), broken + " after its reader was closed");
    }

    /**
     * close() closes the gzip stream, not only the file under it: the Inflater's native memory is freed then, not left to
     * the GC (with the file alone closed, a next() after close() still gave records from the 64 KiB buffer already read).
     */
    @Test
    void closeEndsTheGzipStreamNotOnlyTheFile() {
        Path f = write(dir.resolve("a-idx3-ubyte.gz"), gzip(idx(IdxFile.IMAGES_U8, new int[] {100, 4, 4}, pixels(100, 4, 4))));
        IdxFile.Reader r = IdxFile.open(f, IdxFile.IMAGES_U8);
        byte[] buf = new byte[10 * 16];
        assertEquals(10, r.next(10, buf));
        r.close();
        DatasetException e = assertThrows(DatasetException.class, () -> r.next(10, buf));
        assertTrue(e.getMessage().startsWith(f + ": I/O error while reading: java.io.IOException: Stream closed"), e.getMessage());
    }
}
