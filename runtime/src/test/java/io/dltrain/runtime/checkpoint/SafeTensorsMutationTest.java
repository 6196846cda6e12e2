package io.dltrain.runtime.checkpoint;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A fuzz test that needs no fuzzer: 5,000 seeded random mutations of valid safetensors files (bit flips anywhere or
 * in the header, truncation, header-length edits, random byte runs, digit substitutions in the JSON, insertions and
 * deletions, appended bytes, pure noise) go through the reader, which must either succeed with a consistent result
 * or throw {@link CheckpointException}. Mutations confined to the data section of a file without I64 tensors must
 * succeed (every bit pattern is a valid float or int). Reproducible: the seed and mutation index are in every failure.
 */
class SafeTensorsMutationTest {
    static final int MUTATIONS = 5_000;
    static final long SEED = 0x5afe7e5L;

    /** A reader result must agree with itself: shapes match element counts, exactly one data array. */
    static void checkConsistent(SafeTensors.Contents c, int fileBytes) {
        long total = 0;
        for (Map.Entry<String, LoadedTensor> e : c.tensors().entrySet()) {
            LoadedTensor t = e.getValue();
            long numel = 1;
            for (int d : t.shape()) { assertTrue(d >= 0, e.getKey()); numel *= d; }
            assertEquals(numel, t.numel(), e.getKey() + ": shape " + Arrays.toString(t.shape()) + " vs element count");
            assertTrue((t.floats() == null) != (t.ints() == null), e.getKey());
            total += numel;
        }
        assertTrue(total <= fileBytes, "more elements (" + total + ") than bytes in the file (" + fileBytes + ")");
    }

    /** Writer output: F32 and I32 tensors with metadata. */
    static byte[] written() {
        try (CpuBackend be = new CpuBackend(1)) {
            Map<String, Tensor> ts = new LinkedHashMap<>();
            float[] w = new float[24];
            for (int i = 0; i < w.length; i++) w[i] = i * 0.5f - 3f;
            ts.put("conv.weight", be.fromHost(w, Shape.of(2, 3, 2, 2)));
            ts.put("conv.bias", be.fromHost(new float[] {0.5f, -0.5f}, Shape.of(2)));
            ts.put("bn.num_batches_tracked", be.fromHost(new int[] {12}, Shape.SCALAR));
            ts.put("labels", be.fromHost(new int[] {3, 1, 4, 1, 5}, Shape.of(5)));
            ts.put("empty", be.zeros(Shape.of(0)));
            byte[] b = SafeTensors.toBytes(ts, Map.of("format", "pt", "epoch", "3"));
            ts.values().forEach(Tensor::close);
            return b;
        }
    }

    /** Hand-built, unpadded: F16, BF16 and I64 tensors. */
    static byte[] handBuilt() {
        String h = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[6,8]},"
                + "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
        byte[] hb = h.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + hb.length + 16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(hb.length).put(hb).putShort((short) 0x3C00).putShort((short) 0x7E00).putShort((short) 0x0400)
                .putShort((short) 0x3F80).putLong(99);
        return b.array();
    }

    @Test @Timeout(120)
    void mutatedFilesOnlyEverThrowCheckpointException() {
        byte[][] bases = {written(), handBuilt()};
        for (byte[] base : bases) checkConsistent(SafeTensors.read(base, "base"), base.length);
        SplittableRandom rng = new SplittableRandom(SEED);
        int ok = 0, refused = 0, dataOnly = 0;
        int[] byKind = new int[9];
        for (int i = 0; i < MUTATIONS; i++) {
            int which = rng.nextInt(bases.length);
            byte[] base = bases[which];
            int headerEnd = 8 + (int) ByteBuffer.wrap(base).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            int kind = rng.nextInt(9);
            byKind[kind]++;
            byte[] m = mutate(base, headerEnd, kind, rng);
            boolean onlyData = m.length == base.length && Arrays.equals(m, 0, headerEnd, base, 0, headerEnd)
                    && !Arrays.equals(m, base);
            String what = "mutation " + i + " (seed " + SEED + ", kind " + kind + ", base " + which + ")";
            try {
                checkConsistent(SafeTensors.read(m, what), m.length);
                ok++;
            } catch (CheckpointException e) {
                assertTrue(e.getMessage().contains(what), "message names the source: " + e.getMessage());
                // flipped data bits are still valid floats and ints; only an I64 value may leave the int range
                if (onlyData && which == 0) fail(what + " changed only data bytes but was refused: " + e.getMessage());
                refused++;
            } catch (Throwable t) {
                throw new AssertionError(what + " escaped the reader as " + t, t);
            }
            if (onlyData) dataOnly++;
        }
        System.out.println("SafeTensorsMutationTest: " + MUTATIONS + " mutations, " + ok + " read, " + refused
                + " refused with CheckpointException, " + dataOnly + " touched only data; by kind " + Arrays.toString(byKind));
        // the mutations must exercise both outcomes, or the test proves little
        assertTrue(ok > 100 && refused > 1000 && dataOnly > 50,
                "ok " + ok + ", refused " + refused + ", data-only " + dataOnly + ", by kind " + Arrays.toString(byKind));
    }

    static final String JSON_CHARS = "0123456789-.e\"{}[],: ";

    static byte[] mutate(byte[] base, int headerEnd, int kind, SplittableRandom rng) {
        byte[] m = base.clone();
        switch (kind) {
            case 0 -> { // bit flips anywhere
                int n = 1 + rng.nextInt(4);
                for (int k = 0; k < n; k++) { int p = rng.nextInt(m.length); m[p] ^= (byte) (1 << rng.nextInt(8)); }
            }
            case 1 -> { // bit flips in the JSON header
                int n = 1 + rng.nextInt(3);
                for (int k = 0; k < n; k++) { int p = 8 + rng.nextInt(headerEnd - 8); m[p] ^= (byte) (1 << rng.nextInt(8)); }
            }
            case 2 -> m = Arrays.copyOf(m, rng.nextInt(m.length)); // truncation
            case 3 -> { // header length edits: small deltas, random values, huge and "negative" values
                long n = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                long v = switch (rng.nextInt(4)) {
                    case 0 -> n + rng.nextInt(-9, 10);
                    case 1 -> rng.nextLong(0, 2L * m.length);
                    case 2 -> rng.nextLong();
                    default -> 1L << rng.nextInt(64);
                };
                ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
            }
            case 4 -> { // a run of random bytes
                int p = rng.nextInt(m.length), len = 1 + rng.nextInt(Math.min(16, m.length - p));
                for (int k = 0; k < len; k++) m[p + k] = (byte) rng.nextInt(256);
            }
            case 5 -> { // replace digits in the header: shapes and offsets become inconsistent or huge
                int n = 1 + rng.nextInt(3);
                for (int k = 0; k < n; k++) {
                    int p = 8 + rng.nextInt(headerEnd - 8);
                    if (m[p] >= '0' && m[p] <= '9') m[p] = (byte) ('0' + rng.nextInt(10));
                    else if (rng.nextInt(4) == 0) m[p] = (byte) JSON_CHARS.charAt(rng.nextInt(JSON_CHARS.length()));
                }
            }
            case 6 -> { // insert or delete a few bytes inside the header (shifts everything after)
                int p = 8 + rng.nextInt(headerEnd - 8), len = 1 + rng.nextInt(4);
                if (rng.nextBoolean()) {
                    byte[] ins = new byte[len];
                    for (int k = 0; k < len; k++) ins[k] = (byte) JSON_CHARS.charAt(rng.nextInt(JSON_CHARS.length()));
                    m = concat(Arrays.copyOf(m, p), ins, Arrays.copyOfRange(m, p, m.length));
                } else {
                    m = concat(Arrays.copyOf(m, p), Arrays.copyOfRange(m, Math.min(m.length, p + len), m.length));
                }
            }
            case 7 -> { // random bytes appended, or data bit flips only
                if (rng.nextBoolean()) {
                    byte[] tail = new byte[1 + rng.nextInt(16)];
                    rng.nextBytes(tail);
                    m = concat(m, tail);
                } else if (m.length > headerEnd) {
                    int p = headerEnd + rng.nextInt(m.length - headerEnd);
                    m[p] ^= (byte) (1 << rng.nextInt(8));
                }
            }
            default -> { // pure noise, sometimes with a plausible length field
                m = new byte[rng.nextInt(64)];
                rng.nextBytes(m);
                if (m.length >= 8 && rng.nextBoolean())
                    ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).putLong(0, rng.nextInt(m.length - 7));
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
