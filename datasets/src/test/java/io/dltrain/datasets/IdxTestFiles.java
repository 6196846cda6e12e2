package io.dltrain.datasets;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Builds IDX files byte by byte for tests, including deliberately broken ones. */
public final class IdxTestFiles {
    private IdxTestFiles() {}

    /** Header (magic + dims, big-endian) followed by data. */
    public static byte[] idx(int magic, int[] dims, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + data.length); // big-endian by default
        b.putInt(magic);
        for (int d : dims) b.putInt(d);
        b.put(data);
        return b.array();
    }

    public static byte[] gzip(byte[] raw) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(raw);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    public static Path write(Path file, byte[] bytes) {
        try {
            return Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** n images of rows x cols with pixel (i, p) = (i * 31 + p * 7) & 0xFF. */
    public static byte[] pixels(int n, int rows, int cols) {
        byte[] p = new byte[n * rows * cols];
        for (int i = 0; i < n; i++) for (int j = 0; j < rows * cols; j++) p[i * rows * cols + j] = (byte) (i * 31 + j * 7);
        return p;
    }

    /** n labels, label i = i % classes. */
    public static byte[] labels(int n, int classes) {
        byte[] l = new byte[n];
        for (int i = 0; i < n; i++) l[i] = (byte) (i % classes);
        return l;
    }

    /** Writes a gzip'd image file [n, rows, cols]. */
    public static Path images(Path file, int n, int rows, int cols) {
        return write(file, gzip(idx(0x803, new int[]{n, rows, cols}, pixels(n, rows, cols))));
    }

    /** Writes a gzip'd label file [n]. */
    public static Path labelFile(Path file, byte[] labels) {
        return write(file, gzip(idx(0x801, new int[]{labels.length}, labels)));
    }
}
