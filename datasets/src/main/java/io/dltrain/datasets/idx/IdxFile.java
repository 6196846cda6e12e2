package io.dltrain.datasets.idx;

import io.dltrain.datasets.DatasetException;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reader for IDX files, the format of MNIST and Fashion-MNIST: a big-endian header (magic {@code 0x0000TTNN}, TT the
 * element type, NN the number of dimensions, then NN 32-bit dimension sizes) followed by the elements in row-major
 * order. Only unsigned-byte data is supported (type 0x08): labels (magic {@code 0x00000801}, [N]) and images
 * ({@code 0x00000803}, [N, rows, cols]). Files may be gzip-compressed (detected from the content, not the name) or
 * plain.
 *
 * <p>Everything is validated before it is trusted: magic, type code, dimension count, that no dimension is 0, that
 * the declared size is below {@link #MAX_DATA_BYTES}, that the data is exactly as long as the header declares (no
 * truncation, no trailing bytes) and that gzip data is intact (CRC checked). Memory is never allocated from the
 * declared size alone: plain files are checked against their length first, and gzip data is read into a buffer
 * that grows only as real bytes arrive, so a tiny file claiming huge dimensions fails fast. Every failure is a
 * {@link DatasetException} whose message starts with the file's path.
 */
public final class IdxFile {
    /** Magic of a 1-D unsigned-byte IDX file (labels). */
    public static final int LABELS_U8 = 0x00000801;
    /** Magic of a 3-D unsigned-byte IDX file (images [N, rows, cols]). */
    public static final int IMAGES_U8 = 0x00000803;
    /** Largest data section accepted: 1 GiB (the full MNIST training images are 47 MB). */
    public static final long MAX_DATA_BYTES = 1L << 30;

    private static final int TYPE_U8 = 0x08;
    private static final int FIRST_CHUNK = 1 << 20;
    private static final String REDOWNLOAD = "re-download the file (or reinstall the package that provides it)";

    private final String source;
    private final int[] dims;
    private final byte[] data;

    private IdxFile(String source, int[] dims, byte[] data) {
        this.source = source;
        this.dims = dims;
        this.data = data;
    }

    /** Where the data came from (file path or classpath resource), for messages. */
    public String source() { return source; }

    /** The dimensions from the header, e.g. [60000, 28, 28]. */
    public int[] dims() { return dims.clone(); }

    public int dim(int i) { return dims[i]; }

    /** Number of samples: the first dimension. */
    public int count() { return dims[0]; }

    /** The raw unsigned bytes, row-major; the array itself (not a copy): do not modify it. */
    public byte[] data() { return data; }

    /** Reads a 3-D unsigned-byte image file ([N, rows, cols]). */
    public static IdxFile readImages(Path file) { return read(file, IMAGES_U8); }

    /** Reads a 1-D unsigned-byte label file and checks every label is in [0, numClasses). */
    public static IdxFile readLabels(Path file, int numClasses) {
        IdxFile f = read(file, LABELS_U8);
        f.checkLabels(numClasses);
        return f;
    }

    /** Reads an IDX file from disk, checking its magic is {@code expectedMagic}. */
    public static IdxFile read(Path file, int expectedMagic) {
        String source = file.toString();
        if (Files.isDirectory(file)) throw new DatasetException(source + ": is a directory, expected an IDX file");
        if (!Files.exists(file)) throw new DatasetException(source + ": file not found");
        try (InputStream in = Files.newInputStream(file)) {
            long length = Files.size(file);
            return read(source, in, length, file.getFileName().toString().endsWith(".gz"), expectedMagic);
        } catch (NoSuchFileException e) {
            throw new DatasetException(source + ": file not found", e);
        } catch (IOException e) {
            throw new DatasetException(source + ": cannot read the file: " + e, e);
        }
    }

    /**
     * Reads an IDX file from a stream of its raw bytes (gzip'd or plain); the caller closes {@code in}.
     *
     * @param source  the path or resource name, used in messages
     * @param length  the raw stream's length in bytes if known (enables the exact size check before reading a plain
     *                file), else -1
     * @param namedGz whether the name ends in .gz (only used to explain a non-gzip file with a .gz name)
     */
    public static IdxFile read(String source, InputStream in, long length, boolean namedGz, int expectedMagic) {
        long[] delivered = {0}; // data bytes read so far, for "broke off after N bytes" messages
        try {
            return parse(source, in, length, namedGz, expectedMagic, delivered);
        } catch (IOException e) {
            throw failure(source, e, delivered[0]);
        }
    }

    /** The error for an I/O failure while reading source's data, {@code delivered} bytes of it read. */
    private static DatasetException failure(String source, IOException e, long delivered) {
        if (e instanceof EOFException)
            return new DatasetException(source + ": the gzip stream ends early (after " + delivered
                    + " bytes of IDX data): the file is truncated, probably an interrupted download; " + REDOWNLOAD, e);
        if (e instanceof ZipException)
            return new DatasetException(source + ": corrupt gzip data (" + e.getMessage() + "); " + REDOWNLOAD, e);
        return new DatasetException(source + ": I/O error while reading: " + e, e);
    }

    /**
     * Opens an IDX file (gzip'd or plain) to read its records a few at a time ({@link Reader#next}), so that memory
     * holds those alone whatever the file's size: its header is read and checked here as {@link #read(Path, int)} checks
     * it (and, for a plain file, its length); a gzip stream that ends early, or bytes after the data, are found when the
     * reading gets there.
     */
    public static Reader open(Path file, int expectedMagic) {
        String source = file.toString();
        if (Files.isDirectory(file)) throw new DatasetException(source + ": is a directory, expected an IDX file");
        if (!Files.exists(file)) throw new DatasetException(source + ": file not found");
        InputStream raw;
        try {
            raw = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new DatasetException(source + ": file not found", e);
        } catch (IOException e) {
            throw new DatasetException(source + ": cannot read the file: " + e, e);
        }
        try {
            Header h = header(source, raw, Files.size(file), file.getFileName().toString().endsWith(".gz"), expectedMagic);
            return new Reader(source, h);
        } catch (IOException e) {
            close(raw);
            throw failure(source, e, 0);
        } catch (RuntimeException e) {
            close(raw);
            throw e;
        }
    }

    private static void close(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // read-only: nothing is lost
        }
    }

    /** An IDX file read a few records (first-dimension entries: images of an image file) at a time; see {@link #open}. */
    public static final class Reader implements AutoCloseable {
        private final String source;
        private final Header h;
        private final int recordBytes;
        private long delivered; // data bytes read so far
        private boolean checkedEnd;

        private Reader(String source, Header h) {
            this.source = source;
            this.h = h;
            this.recordBytes = (int) (h.declared() / h.dims()[0]);
        }

        public String source() { return source; }

        /** The dimensions from the header, e.g. [60000, 28, 28]. */
        public int[] dims() { return h.dims().clone(); }

        /** Number of records: the first dimension. */
        public int count() { return h.dims()[0]; }

        /** Bytes per record (rows x cols of an image). */
        public int recordBytes() { return recordBytes; }

        /**
         * Reads the next records, at most {@code max}, into dst from 0 ({@code max * recordBytes()} bytes at least) and
         * returns how many: fewer than max only at the end, where the rest of the stream is checked as {@link #read}
         * checks it (no bytes after the data; a gzip trailer's CRC), and 0 after it.
         *
         * @throws DatasetException naming the file where it is truncated, corrupt or longer than its header says
         */
        public int next(int max, byte[] dst) {
            long left = h.declared() - delivered;
            int want = (int) Math.min((long) max * recordBytes, left);
            try {
                // delivered counted read by read, not once for the batch: a stream that breaks off names the bytes before
                // the break, as read's message does (readNBytes would lose those of the batch that broke off)
                int got = 0;
                for (int n; got < want && (n = h.in().read(dst, got, want - got)) >= 0; ) {
                    got += n;
                    delivered += n;
                }
                if (got < want)
                    throw new DatasetException(source + ": truncated: header declares dims " + Arrays.toString(h.dims()) + " = " + h.declared()
                            + " bytes of data, but the " + (h.gzip() ? "decompressed " : "") + "stream has only " + delivered
                            + " bytes after the " + h.headerBytes() + "-byte header; " + REDOWNLOAD);
                if (delivered == h.declared() && !checkedEnd) {
                    checkedEnd = true;
                    checkEnd(source, h);
                }
            } catch (IOException e) {
                throw failure(source, e, delivered);
            }
            return want / recordBytes;
        }

        /** Closes the file and, for a gzip'd one, the decompressor (its Inflater's native memory is freed now, not by the GC). */
        @Override
        public void close() { IdxFile.close(h.in()); } // the gzip stream (or the buffer) over raw: it closes what it reads
    }

    /** What the header says, and the stream of the data after it (decompressed where the file is gzip'd). */
    private record Header(InputStream in, boolean gzip, int[] dims, long declared, int headerBytes) {}

    /** Checks every byte of this 1-D file is a label in [0, numClasses). */
    public void checkLabels(int numClasses) {
        if (dims.length != 1) throw new DatasetException(source + ": expected a 1-D label file, has dimensions " + Arrays.toString(dims));
        int bad = 0, first = -1;
        for (int i = 0; i < data.length; i++) {
            if ((data[i] & 0xFF) >= numClasses) {
                if (bad++ == 0) first = i;
            }
        }
        if (bad > 0)
            throw new DatasetException(source + ": label " + (data[first] & 0xFF) + " at index " + first + " is outside [0, "
                    + (numClasses - 1) + "] (" + bad + " such labels): the file is corrupt or belongs to another dataset");
    }

    // ----------------------------------------------------------------------------------------------------------

    private static IdxFile parse(String source, InputStream raw, long length, boolean namedGz, int expectedMagic,
                                 long[] delivered) throws IOException {
        Header h = header(source, raw, length, namedGz, expectedMagic);
        InputStream in = h.in();
        boolean gzip = h.gzip();
        int[] dims = h.dims();
        long declared = h.declared();
        int headerBytes = h.headerBytes();
        String dimsText = Arrays.toString(dims);

        // Grow the buffer only as real bytes arrive, so a lying header cannot make us allocate more than the stream holds.
        byte[] data = new byte[(int) Math.min(declared, FIRST_CHUNK)];
        int filled = 0;
        while (filled < declared) {
            if (filled == data.length) data = Arrays.copyOf(data, (int) Math.min(declared, 2L * data.length));
            int n = in.read(data, filled, data.length - filled);
            if (n < 0) break;
            filled += n;
            delivered[0] = filled;
        }
        if (filled < declared)
            throw new DatasetException(source + ": truncated: header declares dims " + dimsText + " = " + declared
                    + " bytes of data, but the " + (gzip ? "decompressed " : "") + "stream has only " + filled
                    + " bytes after the " + headerBytes + "-byte header; " + REDOWNLOAD);
        checkEnd(source, h);
        return new IdxFile(source, dims, data);
    }

    /** After the data: reading to the end also makes GZIPInputStream verify the CRC and length in the gzip trailer. */
    private static void checkEnd(String source, Header h) throws IOException {
        long extra = 0;
        byte[] skip = new byte[8192];
        for (int n; (n = h.in().read(skip)) > 0; ) {
            extra += n;
            if (extra > MAX_DATA_BYTES) break; // don't decompress a gzip bomb just to count it
        }
        if (extra > 0)
            throw new DatasetException(source + ": " + (extra > MAX_DATA_BYTES ? "more than " + MAX_DATA_BYTES : extra)
                    + " unexpected trailing bytes after the " + h.declared() + " bytes of data the header declares (dims "
                    + Arrays.toString(h.dims()) + "): the file is corrupt or not what its header says; " + REDOWNLOAD);
    }

    /** Reads and checks the header of raw (gzip'd or plain); a plain file of known length is checked against it too. */
    private static Header header(String source, InputStream raw, long length, boolean namedGz, int expectedMagic) throws IOException {
        BufferedInputStream buffered = new BufferedInputStream(raw, 1 << 16);
        buffered.mark(2);
        int b0 = buffered.read(), b1 = buffered.read();
        buffered.reset();
        if (b0 < 0) throw new DatasetException(source + ": the file is empty (0 bytes); " + REDOWNLOAD);
        boolean gzip = b0 == 0x1f && b1 == 0x8b;
        if (!gzip && namedGz && !(b0 == 0 && b1 == 0)) {
            // A plain IDX file (starting 00 00) with a .gz name is accepted: some download tools decompress
            // transparently but keep the name. Anything else under a .gz name is neither.
            throw new DatasetException(String.format("%s: not gzip data although the name ends in .gz (starts with bytes"
                    + " %02x %02x, gzip starts with 1f 8b) and not a plain IDX file either; %s", source, b0, Math.max(b1, 0), REDOWNLOAD));
        }
        InputStream in = gzip ? new GZIPInputStream(buffered, 1 << 16) : buffered;
        String what = expectedMagic == IMAGES_U8 ? "an IDX image file (unsigned bytes, [N, rows, cols])"
                : expectedMagic == LABELS_U8 ? "an IDX label file (unsigned bytes, [N])"
                : String.format("an IDX file with magic 0x%08X", expectedMagic);

        byte[] head = in.readNBytes(4);
        if (head.length < 4)
            throw new DatasetException(source + ": ends after " + head.length + " bytes, inside the 4-byte IDX header (truncated file); " + REDOWNLOAD);
        int magic = bigEndian(head, 0);
        if ((magic >>> 16) != 0) {
            String hint = Integer.reverseBytes(magic) == expectedMagic ? " (it is byte-swapped: IDX headers are big-endian)" : "";
            throw new DatasetException(String.format("%s: bad magic number 0x%08X, expected 0x%08X%s: this is not %s; check the"
                    + " file name, or %s", source, magic, expectedMagic, hint, what, REDOWNLOAD));
        }
        int type = (magic >>> 8) & 0xFF, ndim = magic & 0xFF;
        int wantNdim = expectedMagic & 0xFF;
        if (type != TYPE_U8)
            throw new DatasetException(String.format("%s: element type code 0x%02X (%s), expected 0x08 (unsigned byte) for %s",
                    source, type, typeName(type), what));
        if (ndim != wantNdim) {
            String hint = ndim == 1 ? " (this looks like a label file)" : ndim == 3 ? " (this looks like an image file)" : "";
            throw new DatasetException(String.format("%s: header declares %d dimensions, expected %d for %s%s; are the image and"
                    + " label files swapped?", source, ndim, wantNdim, what, hint));
        }

        int headerBytes = 4 + 4 * ndim;
        byte[] dimBytes = in.readNBytes(4 * ndim);
        if (dimBytes.length < 4 * ndim)
            throw new DatasetException(source + ": ends inside the " + headerBytes + "-byte IDX header (truncated file); " + REDOWNLOAD);
        long[] header = readAllDims(dimBytes, ndim);
        int[] dims = new int[ndim];
        long declared = 1;
        for (int i = 0; i < ndim; i++) {
            long d = header[i];
            if (d == 0)
                throw new DatasetException(source + ": dimension " + i + " is 0 in header dims " + Arrays.toString(header)
                        + ": an empty or corrupt file; " + REDOWNLOAD);
            if (d > MAX_DATA_BYTES || declared * d > MAX_DATA_BYTES) // declared <= 2^30 and d <= 2^30: no overflow
                throw new DatasetException(source + ": header declares absurd dimensions " + Arrays.toString(header)
                        + ", more than the " + MAX_DATA_BYTES + " bytes (1 GiB) this reader accepts: the header is corrupt; " + REDOWNLOAD);
            declared *= d;
            dims[i] = (int) d;
        }
        String dimsText = Arrays.toString(dims);

        if (!gzip && length >= 0) {
            // Plain file of known length: compare sizes before allocating anything.
            long actual = length - headerBytes;
            if (actual < declared)
                throw new DatasetException(source + ": truncated: header declares dims " + dimsText + " = " + declared
                        + " bytes of data, but only " + actual + " bytes follow the " + headerBytes + "-byte header; " + REDOWNLOAD);
            if (actual > declared)
                throw new DatasetException(source + ": " + (actual - declared) + " unexpected trailing bytes after the " + declared
                        + " bytes of data the header declares (dims " + dimsText + "): the file is corrupt or not what its header says; " + REDOWNLOAD);
        }

        return new Header(in, gzip, dims, declared, headerBytes);
    }

    private static long[] readAllDims(byte[] dimBytes, int ndim) {
        long[] d = new long[ndim];
        for (int i = 0; i < ndim; i++) d[i] = Integer.toUnsignedLong(bigEndian(dimBytes, 4 * i));
        return d;
    }

    private static int bigEndian(byte[] b, int off) {
        return (b[off] & 0xFF) << 24 | (b[off + 1] & 0xFF) << 16 | (b[off + 2] & 0xFF) << 8 | (b[off + 3] & 0xFF);
    }

    private static String typeName(int code) {
        return switch (code) {
            case 0x08 -> "unsigned byte";
            case 0x09 -> "signed byte";
            case 0x0B -> "int16";
            case 0x0C -> "int32";
            case 0x0D -> "float32";
            case 0x0E -> "float64";
            default -> "not an IDX type";
        };
    }
}
