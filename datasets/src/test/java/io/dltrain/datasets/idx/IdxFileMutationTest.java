package io.dltrain.datasets.idx;

import io.dltrain.datasets.DatasetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.SplittableRandom;

import static io.dltrain.datasets.IdxTestFiles.gzip;
import static io.dltrain.datasets.IdxTestFiles.idx;
import static io.dltrain.datasets.IdxTestFiles.labels;
import static io.dltrain.datasets.IdxTestFiles.pixels;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A fuzz test that needs no fuzzer: 5,000 seeded random mutations of valid IDX files, plain and gzip'd (bit flips,
 * truncation, magic and dimension edits, random byte runs, insertions and deletions, appended bytes, gzip wrapping of
 * a mutated plain file, pure noise) go through {@link IdxFile#read(String, java.io.InputStream, long, boolean, int)},
 * which must either succeed with a consistent result or throw {@link DatasetException} naming the source — never
 * OutOfMemoryError, NegativeArraySizeException, IndexOutOfBoundsException or anything else. Mutations confined to
 * the data bytes of a plain file must succeed (every byte is a valid pixel). Reproducible: the seed and mutation
 * index are in every failure.
 */
class IdxFileMutationTest {
    static final int MUTATIONS = 5_000;
    static final long SEED = 0x1d8f11eL;

    /** A reader result must agree with itself: positive dims whose product is the data length. */
    static void checkConsistent(IdxFile f, int expectedMagic) {
        int[] dims = f.dims();
        assertEquals(expectedMagic & 0xFF, dims.length, "dimension count");
        long numel = 1;
        for (int d : dims) { assertTrue(d > 0, "dims " + Arrays.toString(dims)); numel *= d; }
        assertEquals(numel, f.data().length, "dims " + Arrays.toString(dims) + " vs data length");
        assertEquals(dims[0], f.count());
    }

    /** Reads m the way a caller would; label files also get the label-range check. */
    static IdxFile read(byte[] m, String what, boolean knownLength, boolean namedGz, int magic) {
        IdxFile f = IdxFile.read(what, new ByteArrayInputStream(m), knownLength ? m.length : -1, namedGz, magic);
        checkConsistent(f, magic);
        if (magic == IdxFile.LABELS_U8) f.checkLabels(10);
        return f;
    }

    static final int HEADER_IMAGES = 16, HEADER_LABELS = 8;

    @Test @Timeout(60)
    void mutatedFilesOnlyEverThrowDatasetException() {
        byte[][] plain = {
                idx(IdxFile.IMAGES_U8, new int[]{5, 4, 3}, pixels(5, 4, 3)),
                idx(IdxFile.LABELS_U8, new int[]{12}, labels(12, 10)),
        };
        int[] magics = {IdxFile.IMAGES_U8, IdxFile.LABELS_U8};
        int[] headers = {HEADER_IMAGES, HEADER_LABELS};
        for (int b = 0; b < 2; b++) {
            read(plain[b], "base", true, false, magics[b]);
            read(gzip(plain[b]), "base.gz", false, true, magics[b]);
        }
        SplittableRandom rng = new SplittableRandom(SEED);
        int ok = 0, refused = 0, dataOnly = 0;
        int[] byKind = new int[10];
        for (int i = 0; i < MUTATIONS; i++) {
            int which = rng.nextInt(2);
            boolean gz = rng.nextInt(3) == 0; // mutate the gzip'd bytes themselves
            byte[] base = gz ? gzip(plain[which]) : plain[which];
            int kind = rng.nextInt(10);
            byKind[kind]++;
            byte[] m = kind == 9 ? gzip(mutate(plain[which], headers[which], rng.nextInt(9), rng)) // gzip wrapping
                    : mutate(base, gz ? 10 : headers[which], kind, rng);
            boolean onlyData = !gz && kind != 9 && m.length == base.length
                    && Arrays.equals(m, 0, headers[which], base, 0, headers[which]);
            boolean knownLength = rng.nextBoolean(), namedGz = rng.nextBoolean();
            // now and then ask for the other kind of file: a swapped pair must be refused, not misread
            int magic = rng.nextInt(8) == 0 ? magics[1 - which] : magics[which];
            String what = "mutation " + i + " (seed " + SEED + ", kind " + kind + ", base " + which + (gz ? " gzip'd" : "") + ")";
            try {
                read(m, what, knownLength, namedGz, magic);
                ok++;
            } catch (DatasetException e) {
                assertTrue(e.getMessage().startsWith(what), "message names the source: " + e.getMessage());
                // every data byte is a valid pixel; only a label file's data can be refused (label out of range)
                if (onlyData && which == 0 && magic == magics[which])
                    fail(what + " changed only data bytes but was refused: " + e.getMessage());
                refused++;
            } catch (Throwable t) {
                throw new AssertionError(what + " escaped the reader as " + t, t);
            }
            if (onlyData) dataOnly++;
        }
        System.out.println("IdxFileMutationTest: " + MUTATIONS + " mutations, " + ok + " read, " + refused
                + " refused with DatasetException, " + dataOnly + " touched only data; by kind " + Arrays.toString(byKind));
        // the mutations must exercise both outcomes, or the test proves little
        assertTrue(ok > 100 && refused > 1000 && dataOnly > 50,
                "ok " + ok + ", refused " + refused + ", data-only " + dataOnly + ", by kind " + Arrays.toString(byKind));
    }

    /** One mutation of base; header is the length of its header (for gzip'd bytes: the 10-byte gzip header). */
    static byte[] mutate(byte[] base, int header, int kind, SplittableRandom rng) {
        byte[] m = base.clone();
        switch (kind) {
            case 0 -> { // bit flips anywhere
                int n = 1 + rng.nextInt(4);
                for (int k = 0; k < n; k++) { int p = rng.nextInt(m.length); m[p] ^= (byte) (1 << rng.nextInt(8)); }
            }
            case 1 -> { // bit flips in the header
                int n = 1 + rng.nextInt(3);
                for (int k = 0; k < n; k++) { int p = rng.nextInt(header); m[p] ^= (byte) (1 << rng.nextInt(8)); }
            }
            case 2 -> m = Arrays.copyOf(m, rng.nextInt(m.length)); // truncation
            case 3 -> { // magic or dimension edits: small deltas, random, huge, "negative", zero
                int slot = rng.nextInt(header / 4);
                int v = ByteBuffer.wrap(m).getInt(4 * slot);
                v = switch (rng.nextInt(5)) {
                    case 0 -> v + rng.nextInt(-3, 4);
                    case 1 -> rng.nextInt(2 * m.length);
                    case 2 -> rng.nextInt();
                    case 3 -> 1 << rng.nextInt(32);
                    default -> 0;
                };
                ByteBuffer.wrap(m).putInt(4 * slot, v);
            }
            case 4 -> { // a run of random bytes
                int p = rng.nextInt(m.length), len = 1 + rng.nextInt(Math.min(16, m.length - p));
                for (int k = 0; k < len; k++) m[p + k] = (byte) rng.nextInt(256);
            }
            case 5 -> { // insert or delete a few bytes (shifts everything after)
                int p = rng.nextInt(m.length), len = 1 + rng.nextInt(4);
                if (rng.nextBoolean()) {
                    byte[] ins = new byte[len];
                    rng.nextBytes(ins);
                    m = concat(Arrays.copyOf(m, p), ins, Arrays.copyOfRange(m, p, m.length));
                } else {
                    m = concat(Arrays.copyOf(m, p), Arrays.copyOfRange(m, Math.min(m.length, p + len), m.length));
                }
            }
            case 6 -> { // random bytes appended
                byte[] tail = new byte[1 + rng.nextInt(16)];
                rng.nextBytes(tail);
                m = concat(m, tail);
            }
            case 7 -> { // data bit flips only
                if (m.length > header) {
                    int n = 1 + rng.nextInt(4);
                    for (int k = 0; k < n; k++) { int p = header + rng.nextInt(m.length - header); m[p] ^= (byte) (1 << rng.nextInt(8)); }
                }
            }
            default -> { // pure noise, sometimes starting like a plain IDX file or a gzip stream
                m = new byte[rng.nextInt(64)];
                rng.nextBytes(m);
                if (m.length >= 4) switch (rng.nextInt(3)) {
                    case 0 -> ByteBuffer.wrap(m).putInt(0, rng.nextBoolean() ? IdxFile.IMAGES_U8 : IdxFile.LABELS_U8);
                    case 1 -> { m[0] = 0x1f; m[1] = (byte) 0x8b; m[2] = 8; }
                    default -> { }
                }
            }
        }
        return m;
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] out = new byte[n];
        int o = 0;
        for (byte[] p : parts) { System.arraycopy(p, 0, out, o, p.length); o += p.length; }
        return out;
    }
}
