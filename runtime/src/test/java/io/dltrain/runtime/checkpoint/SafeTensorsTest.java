package io.dltrain.runtime.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The safetensors writer and reader. The writer's bytes are checked against the format specification by an
 * independent decoding in this test (Jackson tree + ByteBuffer), hand-built files (I64, F16, BF16, as PyTorch
 * writes them) are read, and every malformation the reader must refuse is a CheckpointException naming the file.
 */
class SafeTensorsTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    @TempDir Path dir;

    // ------------------------------------------------------------------------------------------------ helpers

    /** A safetensors file from a header string (no padding added) and data bytes. */
    static byte[] raw(String header, byte[] data) {
        return raw(header.getBytes(StandardCharsets.UTF_8).length, header.getBytes(StandardCharsets.UTF_8), data);
    }

    /** Full control: the header length field n may lie about the header. */
    static byte[] raw(long n, byte[] header, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(n).put(header).put(data);
        return b.array();
    }

    static byte[] f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return b.array();
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }

    Path put(byte[] bytes) throws Exception {
        Path f = dir.resolve("bad.safetensors");
        Files.write(f, bytes);
        return f;
    }

    /** Reading must fail with a CheckpointException that names the file and contains every given phrase. */
    void rejects(byte[] bytes, String... phrases) throws Exception {
        Path f = put(bytes);
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.read(f));
        String m = e.getMessage();
        assertTrue(m.contains(f.toAbsolutePath().toString()), "message does not name the file: " + m);
        for (String p : phrases) assertTrue(m.contains(p), "message lacks '" + p + "': " + m);
    }

    static final String ONE = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    // ------------------------------------------------------------------------------------------------ writing

    @Test void writerFollowsTheSpecification() throws Exception {
        SplittableRandom rng = new SplittableRandom(3);
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) w[i] = (float) rng.nextDouble(-1, 1);
        w[0] = Float.intBitsToFloat(0x7fc00123); // a NaN with payload: the bytes must survive unchanged
        w[1] = -0f;
        int[] labels = {-7, 0, Integer.MAX_VALUE, Integer.MIN_VALUE};
        Map<String, Tensor> ts = new LinkedHashMap<>();
        ts.put("z.weight", be.fromHost(w, Shape.of(3, 4)));   // not alphabetical: order must be kept
        ts.put("a.count", be.fromHost(new int[] {42}, Shape.SCALAR));
        ts.put("a.labels", be.fromHost(labels, Shape.of(2, 2)));
        ts.put("empty", be.zeros(Shape.of(0, 5)));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("note", "ünïcode ✓");
        Path f = dir.resolve("out.safetensors");
        SafeTensors.write(f, ts, meta);
        byte[] bytes = Files.readAllBytes(f);

        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = b.getLong(0);
        assertEquals(0, n % 8, "header length is a multiple of 8");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        String json = header.stripTrailing();
        assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '), "padding is spaces");
        assertTrue(header.length() - json.length() < 8, "at most 7 bytes of padding");
        JsonNode root = new ObjectMapper().readTree(json);
        List<String> keys = new ArrayList<>();
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) keys.add(it.next());
        assertEquals(List.of("__metadata__", "z.weight", "a.count", "a.labels", "empty"), keys);
        assertEquals("ünïcode ✓", root.get("__metadata__").get("note").asText());
        assertEquals("pt", root.get("__metadata__").get("format").asText());

        long dataStart = 8 + n;
        assertEquals("F32", root.get("z.weight").get("dtype").asText());
        assertEquals("[3,4]", root.get("z.weight").get("shape").toString());
        assertEquals("[0,48]", root.get("z.weight").get("data_offsets").toString());
        for (int i = 0; i < w.length; i++)
            assertEquals(Float.floatToRawIntBits(w[i]), b.getInt((int) dataStart + 4 * i), "z.weight[" + i + "] bytes");
        assertEquals("I32", root.get("a.count").get("dtype").asText());
        assertEquals("[]", root.get("a.count").get("shape").toString());
        assertEquals("[48,52]", root.get("a.count").get("data_offsets").toString());
        assertEquals(42, b.getInt((int) dataStart + 48));
        assertEquals("[52,68]", root.get("a.labels").get("data_offsets").toString());
        for (int i = 0; i < 4; i++) assertEquals(labels[i], b.getInt((int) dataStart + 52 + 4 * i));
        assertEquals("[0,5]", root.get("empty").get("shape").toString());
        assertEquals("[68,68]", root.get("empty").get("data_offsets").toString());
        assertEquals(dataStart + 68, bytes.length, "nothing after the data");

        // and it reads back bit-exactly
        SafeTensors.Contents c = SafeTensors.read(f);
        assertEquals(meta, c.metadata());
        assertEquals(List.of("z.weight", "a.count", "a.labels", "empty"), new ArrayList<>(c.tensors().keySet()));
        float[] back = c.tensors().get("z.weight").floats();
        for (int i = 0; i < w.length; i++) assertEquals(Float.floatToRawIntBits(w[i]), Float.floatToRawIntBits(back[i]));
        assertArrayEquals(new int[] {3, 4}, c.tensors().get("z.weight").shape());
        assertArrayEquals(new int[] {42}, c.tensors().get("a.count").ints());
        assertArrayEquals(new int[0], c.tensors().get("a.count").shape());
        assertArrayEquals(labels, c.tensors().get("a.labels").ints());
        assertEquals(DType.INT32, c.tensors().get("a.labels").dtype());
        assertEquals(0, c.tensors().get("empty").numel());
        assertArrayEquals(bytes, SafeTensors.toBytes(ts, meta), "file and in-memory encodings agree");
        ts.values().forEach(Tensor::close);
    }

    @Test void writerOmitsEmptyMetadataAndHandlesNoTensors() throws Exception {
        byte[] bytes = SafeTensors.toBytes(Map.of(), Map.of());
        assertEquals(16, bytes.length, "8-byte length + '{}' padded to 8");
        assertEquals("{}      ", new String(bytes, 8, 8, StandardCharsets.UTF_8));
        SafeTensors.Contents c = SafeTensors.read(bytes, "empty");
        assertTrue(c.tensors().isEmpty());
        assertTrue(c.metadata().isEmpty());
    }

    @Test void writerRefusesWhatItCannotWrite() {
        Path f = dir.resolve("x.safetensors");
        try (Tensor t = be.zeros(Shape.of(2))) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.write(f, Map.of("__metadata__", t), Map.of()));
            assertTrue(e.getMessage().contains("reserved"), e.getMessage());
        }
        Tensor closed = be.zeros(Shape.of(2));
        closed.close();
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.write(f, Map.of("w", closed), Map.of()));
        assertTrue(e.getMessage().contains("closed") && e.getMessage().contains(f.toAbsolutePath().toString()), e.getMessage());
        assertFalse(Files.exists(f), "nothing written");
    }

    // ------------------------------------------------------------------------------------------------ reading files as PyTorch writes them

    /**
     * A file built by hand following the format: an I64 scalar (PyTorch's num_batches_tracked), F16 and BF16
     * tensors with bit patterns whose values the IEEE-754 binary16 and bfloat16 definitions fix, and an unknown
     * extra field in one entry (ignored, as the reference implementation does). Header not padded: allowed.
     */
    @Test void readsHandWrittenFileWithI64F16BF16() throws Exception {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[8,24],\"extra\":{\"ignored\":[1,2]}},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                + "\"l\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[30,46]}}";
        ByteBuffer d = ByteBuffer.allocate(46).order(ByteOrder.LITTLE_ENDIAN);
        d.putLong(123456789L);
        // binary16: 1.0, -2.0, 0.5, 65504 (max), 2^-24 (smallest subnormal), +inf, -0.0, 0.333251953125
        short[] h = {0x3C00, (short) 0xC000, 0x3800, 0x7BFF, 0x0001, 0x7C00, (short) 0x8000, 0x3555};
        for (short s : h) d.putShort(s);
        // bfloat16: 1.0, -3.0, 3.140625
        for (short s : new short[] {0x3F80, (short) 0xC040, 0x4049}) d.putShort(s);
        d.putLong(-5L).putLong(Integer.MAX_VALUE);
        SafeTensors.Contents c = SafeTensors.read(put(raw(header, d.array())));

        assertEquals(Map.of("format", "pt"), c.metadata());
        LoadedTensor nbt = c.tensors().get("bn.num_batches_tracked");
        assertEquals("I64", nbt.fileDtype());
        assertEquals(DType.INT32, nbt.dtype());
        assertArrayEquals(new int[] {123456789}, nbt.ints());
        LoadedTensor ht = c.tensors().get("h");
        assertArrayEquals(new int[] {2, 4}, ht.shape());
        float[] want = {1f, -2f, 0.5f, 65504f, (float) Math.scalb(1.0, -24), Float.POSITIVE_INFINITY, -0f, 0.333251953125f};
        for (int i = 0; i < want.length; i++)
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(ht.floats()[i]), "F16 element " + i);
        assertArrayEquals(new float[] {1f, -3f, 3.140625f}, c.tensors().get("b").floats());
        assertArrayEquals(new int[] {-5, Integer.MAX_VALUE}, c.tensors().get("l").ints());
        assertEquals(List.of("bn.num_batches_tracked", "h", "b", "l"), new ArrayList<>(c.tensors().keySet()), "header order");
    }

    /**
     * float64 tensors (numpy's and many PyTorch users' default) are read rounded to float32, as PyTorch's .float()
     * rounds them. The bytes are what the safetensors Python package (0.x, with torch 2.13) wrote for
     * save_file({"fc.weight": float64 [[0.1, 1/3, -2.5], [1e-300, -3e38, 123456789.123456789]],
     * "fc.bias": float32 [1.5, -0.25]}); the expected bits are torch's w.float().
     */
    @Test void readsFloat64AsWrittenByPythonSafetensorsRoundedToFloat32() throws Exception {
        byte[] file = java.util.Base64.getDecoder().decode("gAAAAAAAAAB7ImZjLndlaWdodCI6eyJkdHlwZSI6IkY2NCIsInNoYXBlIjpbMiwzXSwiZGF0YV9vZmZzZXRzIjpbMCw0OF19LCJmYy5iaWFzIjp7ImR0eXBlIjoiRjMyIiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbNDgsNTZdfX0gIJqZmZmZmbk/VVVVVVVV1T8AAAAAAAAEwFnz+MIfbqUBivIhvzw27Md1a35UNG+dQQAAwD8AAIC+");
        SafeTensors.Contents c = SafeTensors.read(put(file));
        LoadedTensor w = c.tensors().get("fc.weight");
        assertEquals("F64", w.fileDtype());
        assertEquals(DType.FP32, w.dtype());
        assertArrayEquals(new int[] {2, 3}, w.shape());
        long[] torchBits = {1036831949L, 1051372203L, 3223322624L, 0L, 4284592614L, 1290500515L}; // unsigned
        for (int i = 0; i < torchBits.length; i++)
            assertEquals(torchBits[i], Integer.toUnsignedLong(Float.floatToRawIntBits(w.floats()[i])), "fc.weight element " + i + " = " + w.floats()[i]);
        assertArrayEquals(new float[] {1.5f, -0.25f}, c.tensors().get("fc.bias").floats());
        assertEquals("F32", c.tensors().get("fc.bias").fileDtype());
    }

    /** A finite float64 beyond float32's range would become infinity: refused, naming the tensor, element and value. */
    @Test void rejectsFloat64OutsideTheFloat32Range() throws Exception {
        ByteBuffer d = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putDouble(1).putDouble(Double.NaN).putDouble(-1e39);
        rejects(raw("{\"w\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]}}", d.array()),
                "tensor 'w' (F64) holds -1.0E39 at element 2", "float32");
    }

    @Test void readsTensorsStoredOutOfHeaderOrderAndNullMetadata() throws Exception {
        // data_offsets need not follow the key order (the reference writer sorts by dtype alignment, then name)
        String header = "{\"__metadata__\":null,\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        SafeTensors.Contents c = SafeTensors.read(put(raw(header, f32(2f, 1f))));
        assertArrayEquals(new float[] {1f}, c.tensors().get("a").floats());
        assertArrayEquals(new float[] {2f}, c.tensors().get("b").floats());
        assertTrue(c.metadata().isEmpty());
    }

    @Test void readsLargeTensorAcrossChunks() throws Exception {
        // 600k floats = 2.4 MB: the reader converts through a 1 MiB buffer, so chunk boundaries are crossed
        int n = 600_000;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i * 0.25f - 7f;
        try (Tensor t = be.fromHost(v, Shape.of(n))) {
            Path f = dir.resolve("big.safetensors");
            SafeTensors.write(f, Map.of("v", t), Map.of());
            assertArrayEquals(v, SafeTensors.read(f).tensors().get("v").floats());
        }
    }

    // ------------------------------------------------------------------------------------------------ validation

    @Test void rejectsFilesShorterThanTheLengthField() throws Exception {
        rejects(new byte[0], "0 bytes", "shorter than the 8-byte");
        rejects(new byte[7], "7 bytes");
    }

    @Test void rejectsHeaderLengthBeyondFileOrCap() throws Exception {
        byte[] h = ONE.getBytes(StandardCharsets.UTF_8);
        rejects(raw(h.length + 9, h, f32(1, 2)), "only " + (h.length + 8) + " bytes follow");
        rejects(raw(1L << 40, h, f32(1, 2)), "more than the 100000000-byte limit");
        rejects(raw(-1L, h, f32(1, 2)), "18446744073709551615", "limit"); // u64 max
        rejects(raw(SafeTensors.MAX_HEADER_BYTES + 1, h, f32(1, 2)), "limit");
    }

    @Test void aPyTorchPickleIsNamedWithTheWayToConvertIt() throws Exception {
        // torch.save's files (a zip archive since PyTorch 1.6; a bare pickle before, or with
        // _use_new_zipfile_serialization=False): given to --init-from as resnet18.pt, they were called "corrupt,
        // truncated or not a safetensors file; write it again", which says neither what the file is nor how to convert it
        byte[] zip = concat(new byte[] {'P', 'K', 3, 4, 0, 0, 8, 8}, new byte[64]);
        byte[] legacy = concat(new byte[] {(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20}, new byte[64]);
        for (byte[] b : List.of(zip, legacy))
            rejects(b, "written by torch.save", "safetensors.torch.save_file(torch.load(");
    }

    @Test void aSafetensorsFileCutShortInItsHeaderIsNotCalledAPickle() throws Exception {
        // A header length of 640, 896, 1152 or 1408 bytes (0x0280 ... 0x0580, little-endian: 0x80 then 2 ... 5, as a
        // pickle's PROTO opcode and protocol) in a file cut short before the header's end was "a PyTorch file written by
        // torch.save (a pickle)". torch.save's pickles go on with its magic number (LONG1, 0x8a) or a FRAME (0x95).
        byte[] h = ONE.getBytes(StandardCharsets.UTF_8);
        for (long n : new long[] {640, 896, 1152, 1408})
            rejects(raw(n, h, f32(1, 2)), "bytes follow", "corrupt");
        byte[] protocol4 = concat(new byte[] {(byte) 0x80, 4, (byte) 0x95, 13, 0, 0, 0, 0}, new byte[64]);
        rejects(protocol4, "written by torch.save (a pickle)");
    }

    @Test void rejectsNonUtf8Header() throws Exception {
        byte[] h = "{\"w\u00ff\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}".getBytes(StandardCharsets.ISO_8859_1);
        rejects(raw(h.length, h, new byte[0]), "not valid UTF-8");
        byte[] overlong = {'{', '"', (byte) 0xC0, (byte) 0xAF, '"', ':', '1', '}'}; // overlong '/'
        rejects(raw(overlong.length, overlong, new byte[0]), "UTF-8");
    }

    @Test void rejectsMalformedJson() throws Exception {
        rejects(raw("{\"w\":{\"dtype\":\"F32\",", new byte[0]), "not valid JSON");
        rejects(raw("[1,2]", new byte[0]), "does not start with '{'");
        rejects(raw("", new byte[0]), "does not start with '{'");
        rejects(raw("{} {}", new byte[0]), "content after its JSON object");
        rejects(raw("{}x", new byte[0]), "not valid JSON");
        rejects(raw("{\"__metadata__\":{\"a\":\"b\",}}", new byte[0]), "not valid JSON"); // trailing comma
        rejects(raw("{}" + "\0".repeat(6), new byte[0]), "not valid JSON");  // NUL padding is not whitespace
        rejects(raw("[".repeat(3000), new byte[0]), "does not start with '{'");
        rejects(raw("{\"a\":{\"x\":" + "[".repeat(5000) + "]".repeat(5000) + "}}", new byte[0]), "not valid JSON"); // nesting limit, no stack overflow
    }

    @Test void rejectsDuplicateKeys() throws Exception {
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", f32(1, 2)), "Duplicate", "'w'");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f32(1)), "Duplicate", "dtype");
        rejects(raw("{\"__metadata__\":{},\"__metadata__\":{}}", new byte[0]), "Duplicate");
    }

    @Test void rejectsMissingOrWronglyTypedFields() throws Exception {
        rejects(raw("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", f32(1)), "tensor 'w' has no \"dtype\"");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", f32(1)), "tensor 'w' has no \"shape\"");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", f32(1)), "tensor 'w' has no \"data_offsets\"");
        rejects(raw("{\"w\":[1]}", f32(1)), "tensor 'w' must be an object");
        rejects(raw("{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", f32(1)), "\"dtype\" must be a string");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", f32(1)), "\"shape\" must be an array");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", f32(1)), "shape dimension 0 must be a non-negative integer");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", f32(1)), "negative");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", f32(1)), "shape dimension 0");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3000000000],\"data_offsets\":[0,4]}}", f32(1)), "above 2^31-1");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", f32(1)), "has 1 numbers");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", f32(1)), "more than two");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":0}}}", f32(1)), "must be an array [begin, end]");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", f32(1)), "data_offsets[1] must be a non-negative integer");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", f32(1)), "too large");
        rejects(raw("{\"__metadata__\":[1],\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f32(1)), "\"__metadata__\" must be an object");
        rejects(raw("{\"__metadata__\":{\"epoch\":3}}", new byte[0]), "metadata value for key 'epoch' must be a string");
    }

    @Test void rejectsUnknownDtype() throws Exception {
        rejects(raw("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[1]), "dtype 'U8'", "F32, F64, F16, BF16, I32 and I64");
        rejects(raw("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f32(1)), "dtype 'f32'");
    }

    @Test void rejectsShapeOffsetMismatch() throws Exception {
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", f32(1, 2)),
                "shape [3] and dtype F32 (3 elements of 4 bytes = 12 bytes) but data_offsets [0, 8] span 8 bytes");
        rejects(raw("{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", f32(1, 2)), "span 8 bytes");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", f32(1, 2)), "overflows");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647],\"data_offsets\":[0,8]}}", f32(1, 2)), "too many elements");
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", f32(1, 2)), "end before begin");
    }

    @Test void rejectsOffsetsOutOfRangeOverlappingOrWithHoles() throws Exception {
        rejects(raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", f32(1, 2)),
                "need 12 bytes", "only 8 bytes");
        rejects(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", f32(1, 2, 3)), "overlaps");
        rejects(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", f32(1, 2, 3)), "bytes [4, 8)", "hole");
        rejects(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", f32(1, 2)), "bytes [0, 4)");
        // the same data claimed twice
        rejects(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", f32(1, 2)), "overlaps");
        // offsets so large that begin + data start would overflow a long
        rejects(raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9223372036854775807,9223372036854775807]}}", new byte[0]), "belong to no tensor");
        // a tensor beyond 2^31-9 elements but with offsets that pretend to fit: caught before any allocation
        rejects(raw("{\"a\":{\"dtype\":\"F16\",\"shape\":[3000000000],\"data_offsets\":[0,6000000000]}}", new byte[0]), "above 2^31-1");
        rejects(raw("{\"a\":{\"dtype\":\"F16\",\"shape\":[2147483647],\"data_offsets\":[0,4294967294]}}", new byte[0]), "only 0 bytes");
    }

    @Test void rejectsDataSectionLengthMismatch() throws Exception {
        rejects(raw(ONE, f32(1, 2, 3)), "12 bytes but the tensors cover only 8", "4 unexplained trailing bytes");
        rejects(raw("{}", f32(1)), "4 bytes but the tensors cover only 0");
        rejects(raw(ONE, concat(f32(1), new byte[3])), "need 8 bytes", "only 7 bytes");
    }

    @Test void rejectsI64OutOfIntRange() throws Exception {
        ByteBuffer d = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1).putLong(1L << 31);
        rejects(raw("{\"n\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", d.array()),
                "tensor 'n' (I64) holds 2147483648 at element 1", "int32");
    }

    @Test void missingFileAndDirectoryAreClearErrors() throws Exception {
        Path missing = dir.resolve("nope.safetensors");
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.read(missing));
        assertTrue(e.getMessage().contains("does not exist") && e.getMessage().contains(missing.toString()), e.getMessage());
        e = assertThrows(CheckpointException.class, () -> SafeTensors.read(dir));
        assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
    }

    @Test void inMemoryReaderNamesItsSource() {
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.read(new byte[3], "upload #7"));
        assertTrue(e.getMessage().contains("upload #7"), e.getMessage());
    }
}
