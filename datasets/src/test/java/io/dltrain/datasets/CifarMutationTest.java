package io.dltrain.datasets;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A fuzz test that needs no fuzzer: 5,000 seeded random mutations of valid CIFAR-10 and CIFAR-100 batch files (bit
 * flips, label edits, truncation, random byte runs, insertions and deletions, appended bytes, pure noise, the other
 * dataset's kind) go through {@link CifarDataset#read}, which must either succeed with a consistent result or throw
 * {@link DatasetException} naming the file — never OutOfMemoryError, NegativeArraySizeException,
 * IndexOutOfBoundsException or anything else. Mutations confined to pixel bytes must succeed. Reproducible: the seed
 * and mutation index are in every failure.
 */
class CifarMutationTest {
    static final int MUTATIONS = 5_000;
    static final long SEED = 0xc1fa7L;

    @TempDir Path dir;

    /** A batch file of n records of kind: labels cycle through the classes, pixels from a fixed formula. */
    static byte[] batch(CifarDataset.Kind kind, int n) {
        int rec = kind.recordBytes(), lb = rec - CifarDataset.IMAGE_BYTES;
        byte[] b = new byte[n * rec];
        for (int r = 0; r < n; r++) {
            if (lb == 2) b[r * rec] = (byte) (r % 20);
            b[r * rec + lb - 1] = (byte) ((r * 7) % kind.numClasses());
            for (int p = 0; p < CifarDataset.IMAGE_BYTES; p++) b[r * rec + lb + p] = (byte) (r * 31 + p * 7);
        }
        return b;
    }

    /** Reads the files as kind and checks the result against the bytes: record count, labels and every pixel. */
    static CifarDataset readAndCheck(CifarDataset.Kind kind, String name, List<Path> files) throws IOException {
        CifarDataset ds = CifarDataset.read(kind, name, files, kind.standardClassNames());
        int rec = kind.recordBytes(), lb = rec - CifarDataset.IMAGE_BYTES, at = 0;
        for (Path f : files) {
            byte[] b = Files.readAllBytes(f);
            assertEquals(0, b.length % rec, f + ": read although not a whole number of records");
            for (int r = 0; r < b.length / rec; r++, at++) {
                assertEquals(b[r * rec + lb - 1] & 0xFF, ds.label(at), "label of record " + at);
                assertTrue(ds.label(at) < kind.numClasses(), "label in range");
                if (lb == 2) assertEquals(b[r * rec] & 0xFF, ds.coarseLabel(at), "coarse label of record " + at);
                for (int p = 0; p < CifarDataset.IMAGE_BYTES; p += 97) // a sample of the pixels, all channels
                    assertEquals(b[r * rec + lb + p] & 0xFF, ds.pixel(at, p / 1024, (p / 32) % 32, p % 32), "pixel " + p);
            }
        }
        assertEquals(at, ds.size(), "record count");
        return ds;
    }

    @Test @Timeout(60)
    void mutatedFilesOnlyEverThrowDatasetException() throws IOException {
        CifarDataset.Kind[] kinds = CifarDataset.Kind.values();
        byte[][] bases = new byte[kinds.length][];
        for (int k = 0; k < kinds.length; k++) {
            bases[k] = batch(kinds[k], 3);
            Path f = Files.write(dir.resolve("base" + k + ".bin"), bases[k]);
            readAndCheck(kinds[k], "base", List.of(f));
        }
        Path good = dir.resolve("good.bin");
        SplittableRandom rng = new SplittableRandom(SEED);
        int ok = 0, refused = 0, pixelsOnly = 0;
        int[] byKind = new int[8];
        for (int i = 0; i < MUTATIONS; i++) {
            int which = rng.nextInt(kinds.length);
            byte[] base = bases[which];
            int kind = rng.nextInt(8);
            byKind[kind]++;
            byte[] m = mutate(base, kinds[which], kind, rng);
            boolean onlyPixels = m.length == base.length && labelsEqual(m, base, kinds[which]);
            // now and then read as the other kind, or as the second of two files (record numbering continues)
            CifarDataset.Kind as = rng.nextInt(8) == 0 ? kinds[1 - which] : kinds[which];
            Path f = dir.resolve("m" + i + ".bin");
            Files.write(f, m);
            List<Path> files = rng.nextInt(4) == 0 ? List.of(Files.write(good, bases[as.ordinal()]), f) : List.of(f);
            String what = "mutation " + i + " (seed " + SEED + ", kind " + kind + ", base " + kinds[which] + ", read as " + as + ")";
            try {
                readAndCheck(as, "fuzz", files);
                ok++;
            } catch (DatasetException e) {
                assertTrue(e.getMessage().contains(f.toString()) || e.getMessage().startsWith("fuzz"),
                        what + ": the message names the file: " + e.getMessage());
                if (onlyPixels && as == kinds[which]) fail(what + " changed only pixel bytes but was refused: " + e.getMessage());
                refused++;
            } catch (Throwable t) {
                throw new AssertionError(what + " escaped the reader as " + t, t);
            } finally {
                Files.delete(f);
            }
            if (onlyPixels) pixelsOnly++;
        }
        System.out.println("CifarMutationTest: " + MUTATIONS + " mutations, " + ok + " read, " + refused
                + " refused with DatasetException, " + pixelsOnly + " touched only pixels; by kind " + Arrays.toString(byKind));
        assertTrue(ok > 100 && refused > 1000 && pixelsOnly > 50,
                "ok " + ok + ", refused " + refused + ", pixels-only " + pixelsOnly + ", by kind " + Arrays.toString(byKind));
    }

    static boolean labelsEqual(byte[] a, byte[] b, CifarDataset.Kind kind) {
        int rec = kind.recordBytes(), lb = rec - CifarDataset.IMAGE_BYTES;
        for (int r = 0; r < a.length / rec; r++)
            for (int j = 0; j < lb; j++) if (a[r * rec + j] != b[r * rec + j]) return false;
        return true;
    }

    static byte[] mutate(byte[] base, CifarDataset.Kind k, int kind, SplittableRandom rng) {
        byte[] m = base.clone();
        int rec = k.recordBytes(), lb = rec - CifarDataset.IMAGE_BYTES, records = base.length / rec;
        switch (kind) {
            case 0 -> { // bit flips anywhere
                int n = 1 + rng.nextInt(4);
                for (int j = 0; j < n; j++) { int p = rng.nextInt(m.length); m[p] ^= (byte) (1 << rng.nextInt(8)); }
            }
            case 1 -> { // label edits: small deltas, random bytes, 0xFF
                int p = rng.nextInt(records) * rec + rng.nextInt(lb);
                m[p] = switch (rng.nextInt(3)) {
                    case 0 -> (byte) (m[p] + rng.nextInt(-2, 3));
                    case 1 -> (byte) rng.nextInt(256);
                    default -> (byte) 0xFF;
                };
            }
            case 2 -> m = Arrays.copyOf(m, rng.nextBoolean() ? rng.nextInt(m.length) : rec * rng.nextInt(records)); // truncation
            case 3 -> { // a run of random bytes
                int p = rng.nextInt(m.length), len = 1 + rng.nextInt(Math.min(16, m.length - p));
                for (int j = 0; j < len; j++) m[p + j] = (byte) rng.nextInt(256);
            }
            case 4 -> { // insert or delete a few bytes, or a whole record's worth
                int p = rng.nextInt(m.length), len = rng.nextInt(4) == 0 ? rec : 1 + rng.nextInt(4);
                if (rng.nextBoolean()) {
                    byte[] ins = new byte[len];
                    rng.nextBytes(ins);
                    m = concat(Arrays.copyOf(m, p), ins, Arrays.copyOfRange(m, p, m.length));
                } else {
                    m = concat(Arrays.copyOf(m, p), Arrays.copyOfRange(m, Math.min(m.length, p + len), m.length));
                }
            }
            case 5 -> { // random bytes appended
                byte[] tail = new byte[1 + rng.nextInt(16)];
                rng.nextBytes(tail);
                m = concat(m, tail);
            }
            case 6 -> { // pixel bit flips only
                int n = 1 + rng.nextInt(8);
                for (int j = 0; j < n; j++) {
                    int p = rng.nextInt(records) * rec + lb + rng.nextInt(CifarDataset.IMAGE_BYTES);
                    m[p] ^= (byte) (1 << rng.nextInt(8));
                }
            }
            default -> { // pure noise, sometimes exactly one record long
                m = new byte[rng.nextBoolean() ? rec : rng.nextInt(64)];
                rng.nextBytes(m);
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
