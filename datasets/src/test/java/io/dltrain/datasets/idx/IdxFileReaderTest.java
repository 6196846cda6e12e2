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
}
