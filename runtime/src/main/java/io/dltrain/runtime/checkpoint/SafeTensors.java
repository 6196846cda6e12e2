package io.dltrain.runtime.checkpoint;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the safetensors format (Hugging Face's; what {@code safetensors.torch.save_file} writes and
 * {@code load_file} reads), so model weights can be exchanged with PyTorch:
 * <pre>
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   UTF-8 JSON: {"__metadata__": {str: str}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
 *             padded with spaces to a multiple of 8 bytes (as the reference implementation does)
 *   the rest  the data section: each tensor's raw little-endian row-major bytes at [begin, end) of it
 * </pre>
 *
 * <p>Writing: FP32 tensors as F32 and INT32 as I32, keys and data in the order given, atomically ({@link AtomicFiles}).
 * Reading: F32, F16 and BF16 (widened to float, exactly), F64 (rounded to the nearest float, as PyTorch's .float();
 * a finite value beyond the float range is an error, not a silent infinity) and I32 and I64 (narrowed to int; a value
 * outside the int range is an error, not a silent wrap — PyTorch's num_batches_tracked is int64).
 *
 * <p>The reader trusts nothing in the file. It checks, before allocating anything sized by the file's claims: the
 * header length against the file and a 100 MB cap (the reference implementation's), strict UTF-8, well-formed JSON
 * without duplicate keys and without trailing content, every field's presence and type, the dtype, that
 * shape and offsets agree (numel * element size == end - begin), that the tensors tile the data section exactly
 * (no overlap, no hole, nothing after the last one) and that the tensors fit in Java arrays and the heap.
 * Every failure is a {@link CheckpointException} naming the file; nothing is returned partially. Unknown fields
 * inside a tensor entry are ignored, as in the reference implementation.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** The largest header accepted (the reference implementation's limit). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    static final String METADATA_KEY = "__metadata__";

    /** What {@link #read} returns: the tensors in header order, and the {@code __metadata__} map (empty if absent). */
    public record Contents(Map<String, LoadedTensor> tensors, Map<String, String> metadata) {}

    /** Duplicate keys are an error (a JSON object with two "weight" entries would otherwise keep the last silently). */
    private static final JsonFactory JSON = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION) // JsonParser.Feature.STRICT_DUPLICATE_DETECTION
            .build();

    private static final String CORRUPT = "the file is corrupt, truncated or not a safetensors file; write it again "
            + "(or re-export it with safetensors.torch.save_file)";

    /** Size of the staging buffer for data conversion (a multiple of every element size). */
    private static final int CHUNK = 1 << 20;

    // ------------------------------------------------------------------------------------------------ writing

    /**
     * Atomically writes {@code tensors} (FP32 or INT32, any backend) and {@code metadata} to {@code file}.
     * Throws a {@link CheckpointException} naming the file for an unsupported tensor or an I/O failure, leaving any
     * previous file in place.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        String what = file.toAbsolutePath().toString();
        byte[] header = header(tensors, metadata, what); // validates before the file is touched
        AtomicFiles.write(file, out -> writeBody(out, header, tensors));
    }

    /** The file's bytes in memory (for small files and tests). */
    public static byte[] toBytes(Map<String, Tensor> tensors, Map<String, String> metadata) {
        byte[] header = header(tensors, metadata, "safetensors bytes");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writeBody(out, header, tensors);
        } catch (IOException e) {
            throw new AssertionError("ByteArrayOutputStream does not throw", e);
        }
        return out.toByteArray();
    }

    /** The header length field and the padded JSON header; checks every tensor first. */
    private static byte[] header(Map<String, Tensor> tensors, Map<String, String> metadata, String what) {
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(json, JsonEncoding.UTF8)) {
            g.writeStartObject();
            // The reference implementation writes __metadata__ first and omits it when there is none.
            if (metadata != null && !metadata.isEmpty()) {
                g.writeObjectFieldStart(METADATA_KEY);
                for (Map.Entry<String, String> e : metadata.entrySet()) {
                    if (e.getKey() == null || e.getValue() == null)
                        throw new CheckpointException(what + ": metadata entry " + e.getKey() + "=" + e.getValue()
                                + " has a null key or value; safetensors metadata maps strings to strings");
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                String name = e.getKey();
                Tensor t = e.getValue();
                if (name == null || name.equals(METADATA_KEY))
                    throw new CheckpointException(what + ": a tensor cannot be named " + name + " (reserved by the format); rename it");
                if (t == null || t.isClosed())
                    throw new CheckpointException(what + ": tensor '" + name + "' is " + (t == null ? "null" : "closed")
                            + "; save before closing the module or optimiser");
                if (t.dtype() != DType.FP32 && t.dtype() != DType.INT32)
                    throw new CheckpointException(what + ": tensor '" + name + "' is " + t.dtype()
                            + "; only FP32 and INT32 tensors can be saved");
                long bytes = t.numel() * t.dtype().bytes();
                g.writeObjectFieldStart(name);
                g.writeStringField("dtype", t.dtype().safetensorsName());
                g.writeArrayFieldStart("shape");
                for (int d : t.shape().dims()) g.writeNumber(d);
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(offset + bytes);
                g.writeEndArray();
                g.writeEndObject();
                offset += bytes;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new AssertionError("writing JSON to memory does not fail", e);
        }
        int n = json.size();
        int padded = n + (8 - n % 8) % 8; // spaces up to a multiple of 8 so the data section starts 8-byte aligned
        ByteBuffer b = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded);
        b.put(json.toByteArray());
        while (b.hasRemaining()) b.put((byte) ' ');
        return b.array();
    }

    private static void writeBody(OutputStream out, byte[] header, Map<String, Tensor> tensors) throws IOException {
        out.write(header);
        ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        int per = CHUNK / 4;
        for (Tensor t : tensors.values()) {
            if (t.dtype() == DType.FP32) {
                float[] a = t.toFloatArray();
                for (int i = 0; i < a.length; i += per) {
                    int n = Math.min(per, a.length - i);
                    buf.clear();
                    buf.asFloatBuffer().put(a, i, n);
                    out.write(buf.array(), 0, n * 4);
                }
            } else {
                int[] a = t.toIntArray();
                for (int i = 0; i < a.length; i += per) {
                    int n = Math.min(per, a.length - i);
                    buf.clear();
                    buf.asIntBuffer().put(a, i, n);
                    out.write(buf.array(), 0, n * 4);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ reading

    /** Reads a safetensors file. See the class comment for what is checked. */
    public static Contents read(Path file) {
        String what = file.toAbsolutePath().toString();
        if (Files.isDirectory(file))
            throw new CheckpointException(what + " is a directory, not a safetensors file; pass the .safetensors file inside it");
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("safetensors file " + what + " does not exist; check the path", e);
        } catch (IOException e) {
            throw new CheckpointException("cannot open safetensors file " + what + ": " + AtomicFiles.describe(e)
                    + "; check that it is readable", e);
        }
        try (ch) {
            return parse(new FileSource(ch), what);
        } catch (IOException e) {
            throw new CheckpointException("could not read safetensors file " + what + ": " + AtomicFiles.describe(e)
                    + " (did it change while being read?); check the disk and read it again", e);
        }
    }

    /** Reads a safetensors file held in memory; {@code source} names it in error messages. */
    public static Contents read(byte[] bytes, String source) {
        try {
            return parse(new BytesSource(bytes), source);
        } catch (IOException e) {
            throw new CheckpointException("could not read safetensors data " + source + ": " + AtomicFiles.describe(e), e);
        }
    }

    /** Random access to the bytes being parsed. {@link #read} fills dst completely or throws EOFException. */
    private interface Source {
        long size() throws IOException;

        void read(long position, ByteBuffer dst) throws IOException;
    }

    private record FileSource(FileChannel ch) implements Source {
        @Override public long size() throws IOException { return ch.size(); }

        @Override public void read(long position, ByteBuffer dst) throws IOException {
            long p = position;
            while (dst.hasRemaining()) {
                int r = ch.read(dst, p);
                if (r < 0) throw new EOFException("file ended at byte " + p + " although it was " + ch.size() + " bytes when opened");
                p += r;
            }
        }
    }

    private record BytesSource(byte[] bytes) implements Source {
        @Override public long size() { return bytes.length; }

        @Override public void read(long position, ByteBuffer dst) throws IOException {
            if (position < 0 || position + dst.remaining() > bytes.length) throw new EOFException("read past the end");
            dst.put(bytes, (int) position, dst.remaining());
        }
    }

    /** One header entry, as parsed and checked. */
    private record Entry(String name, String dtype, int elemBytes, int[] shape, long numel, long begin, long end) {}

    private static Contents parse(Source src, String what) throws IOException {
        long size = src.size();
        if (size < 8)
            throw fail(what, "the file is " + size + " bytes long, shorter than the 8-byte header length field");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        src.read(0, lenBuf);
        long n = lenBuf.getLong(0); // unsigned in the format: a negative long is a length above 2^63
        if (n < 0 || n > size - 8) {
            String torch = torchSave(lenBuf);
            if (torch != null)
                throw new CheckpointException("safetensors file " + what + " is a PyTorch file written by torch.save (" + torch
                        + "), not a safetensors file; dl-train does not read pickles. Convert it in Python: "
                        + "safetensors.torch.save_file(torch.load(\"FILE\", weights_only=True), \"FILE.safetensors\") (for a checkpoint"
                        + " dict, save the entry holding the state_dict, e.g. [\"state_dict\"] or [\"model\"])");
        }
        if (n < 0 || n > MAX_HEADER_BYTES)
            throw fail(what, "the header length field says " + Long.toUnsignedString(n) + " bytes, more than the "
                    + MAX_HEADER_BYTES + "-byte limit");
        if (n > size - 8)
            throw fail(what, "the header length field says " + n + " bytes but only " + (size - 8)
                    + " bytes follow it");
        // The header bytes, their decoded string and the parsed entries take a few times n: refuse rather than OOM.
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        if (4 * n > free)
            throw new CheckpointException("safetensors file " + what + ": its " + (n >> 20) + " MiB header needs about "
                    + (4 * n >> 20) + " MiB of heap but only " + (free >> 20) + " MiB are free; raise the JVM heap (-Xmx)");
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        src.read(8, hb);
        String header;
        try {
            header = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(hb.flip()).toString();
        } catch (CharacterCodingException e) {
            throw fail(what, "the header is not valid UTF-8 (" + e + ")");
        }
        if (header.isEmpty() || header.charAt(0) != '{')
            throw fail(what, "the header does not start with '{' (a JSON object)");

        Map<String, String> metadata = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        parseHeader(header, what, metadata, entries);

        long dataStart = 8 + n, dataLength = size - dataStart;
        checkLayout(entries, dataLength, what);
        checkHeap(entries, what);

        // Data is read in file order (sequential I/O); results are returned in header order.
        Map<String, LoadedTensor> byName = new LinkedHashMap<>();
        for (Entry e : entries) byName.put(e.name, null);
        List<Entry> inFileOrder = new ArrayList<>(entries);
        inFileOrder.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        for (Entry e : inFileOrder) byName.put(e.name, readTensor(src, dataStart, e, buf, what));
        return new Contents(Collections.unmodifiableMap(byName), Collections.unmodifiableMap(metadata));
    }

    // ------------------------------------------------------------------------------------------------ header

    /** Streams the JSON (no tree: a 100 MB header of tiny arrays would otherwise need gigabytes of nodes). */
    private static void parseHeader(String header, String what, Map<String, String> metadata, List<Entry> entries) {
        try (JsonParser p = JSON.createParser(header)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw fail(what, "the header is not a JSON object");
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                t = p.nextToken();
                if (key.equals(METADATA_KEY)) parseMetadata(p, t, what, metadata);
                else entries.add(parseEntry(p, t, key, what));
            }
            if (t != JsonToken.END_OBJECT) throw fail(what, "the header object is not closed");
            if (p.nextToken() != null)
                throw fail(what, "the header has content after its JSON object (only space padding is allowed)");
        } catch (JacksonException e) {
            // Syntax errors, duplicate keys ("Duplicate field 'x'"), numbers or strings beyond Jackson's limits.
            throw fail(what, "the header is not valid JSON: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " at character " + e.getLocation().getCharOffset() : ""));
        } catch (IOException e) {
            throw fail(what, "the header could not be parsed: " + e.getMessage());
        }
    }

    private static void parseMetadata(JsonParser p, JsonToken t, String what, Map<String, String> out) throws IOException {
        if (t == JsonToken.VALUE_NULL) return;
        if (t != JsonToken.START_OBJECT)
            throw fail(what, "\"" + METADATA_KEY + "\" must be an object mapping strings to strings, found " + describe(p, t));
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
            String k = p.currentName();
            t = p.nextToken();
            if (t != JsonToken.VALUE_STRING)
                throw fail(what, "metadata value for key '" + k + "' must be a string, found " + describe(p, t));
            out.put(k, p.getText());
        }
    }

    private static Entry parseEntry(JsonParser p, JsonToken t, String name, String what) throws IOException {
        String tn = "tensor '" + name + "'";
        if (t != JsonToken.START_OBJECT)
            throw fail(what, tn + " must be an object with dtype, shape and data_offsets, found " + describe(p, t));
        String dtype = null;
        int[] shape = null;
        long[] offsets = null;
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            t = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (t != JsonToken.VALUE_STRING) throw fail(what, tn + ": \"dtype\" must be a string, found " + describe(p, t));
                    dtype = p.getText();
                }
                case "shape" -> shape = parseShape(p, t, tn, what);
                case "data_offsets" -> offsets = parseOffsets(p, t, tn, what);
                default -> p.skipChildren(); // ignored, as the reference implementation does
            }
        }
        if (dtype == null) throw fail(what, tn + " has no \"dtype\"");
        if (shape == null) throw fail(what, tn + " has no \"shape\"");
        if (offsets == null) throw fail(what, tn + " has no \"data_offsets\"");
        int elemBytes = switch (dtype) {
            case "F32", "I32" -> 4;
            case "F16", "BF16" -> 2;
            case "I64", "F64" -> 8;
            default -> throw new CheckpointException("safetensors file " + what + ": " + tn + " has dtype '" + dtype
                    + "', which dl-train cannot load (it reads F32, F64, F16, BF16, I32 and I64); convert the tensor "
                    + "(e.g. .float() or .int() in PyTorch) before saving");
        };
        long numel = 1;
        for (int d : shape) {
            try {
                numel = Math.multiplyExact(numel, d);
            } catch (ArithmeticException e) {
                throw fail(what, tn + " has shape " + Arrays.toString(shape) + ", whose element count overflows 64 bits");
            }
        }
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
            throw fail(what, tn + " has data_offsets [" + begin + ", " + end + "] with end before begin");
        long bytes;
        try {
            bytes = Math.multiplyExact(numel, elemBytes);
        } catch (ArithmeticException e) {
            throw fail(what, tn + " has shape " + Arrays.toString(shape) + ", too many elements");
        }
        if (bytes != end - begin)
            throw fail(what, tn + " has shape " + Arrays.toString(shape) + " and dtype " + dtype + " (" + numel
                    + " elements of " + elemBytes + " bytes = " + bytes + " bytes) but data_offsets [" + begin + ", "
                    + end + "] span " + (end - begin) + " bytes");
        return new Entry(name, dtype, elemBytes, shape, numel, begin, end);
    }

    private static int[] parseShape(JsonParser p, JsonToken t, String tn, String what) throws IOException {
        if (t != JsonToken.START_ARRAY) throw fail(what, tn + ": \"shape\" must be an array of integers, found " + describe(p, t));
        int[] dims = new int[4];
        int rank = 0;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            long d = nonNegative(p, t, tn + ": shape dimension " + rank, what);
            if (d > Integer.MAX_VALUE) throw fail(what, tn + ": shape dimension " + rank + " is " + d + ", above 2^31-1");
            if (rank == dims.length) dims = Arrays.copyOf(dims, rank * 2);
            dims[rank++] = (int) d;
        }
        return Arrays.copyOf(dims, rank);
    }

    private static long[] parseOffsets(JsonParser p, JsonToken t, String tn, String what) throws IOException {
        if (t != JsonToken.START_ARRAY)
            throw fail(what, tn + ": \"data_offsets\" must be an array [begin, end], found " + describe(p, t));
        long[] o = new long[2];
        int k = 0;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (k == 2) throw fail(what, tn + ": \"data_offsets\" has more than two numbers; it must be [begin, end]");
            o[k] = nonNegative(p, t, tn + ": data_offsets[" + k + "]", what);
            k++;
        }
        if (k != 2) throw fail(what, tn + ": \"data_offsets\" has " + k + " numbers; it must be [begin, end]");
        return o;
    }

    /** The current token as a non-negative integer that fits a long (floats, negatives and huge numbers fail). */
    private static long nonNegative(JsonParser p, JsonToken t, String field, String what) throws IOException {
        if (t != JsonToken.VALUE_NUMBER_INT) throw fail(what, field + " must be a non-negative integer, found " + describe(p, t));
        if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER)
            throw fail(what, field + " is " + p.getText() + ", too large");
        long v = p.getLongValue();
        if (v < 0) throw fail(what, field + " is " + v + ", negative");
        return v;
    }

    private static String describe(JsonParser p, JsonToken t) throws IOException {
        if (t == null) return "the end of the header";
        if (t.isScalarValue()) {
            String s = p.getText();
            return t.name().toLowerCase(java.util.Locale.ROOT).replace("value_", "") + " " + (s.length() > 40 ? s.substring(0, 40) + "..." : s);
        }
        return t == JsonToken.START_OBJECT ? "an object" : t == JsonToken.START_ARRAY ? "an array" : t.toString();
    }

    // ------------------------------------------------------------------------------------------------ layout and data

    /** The tensors must tile [0, dataLength) exactly, as the reference implementation requires. */
    private static void checkLayout(List<Entry> entries, long dataLength, String what) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        Entry prev = null;
        for (Entry e : sorted) {
            if (e.begin < expected)
                throw fail(what, "tensor '" + e.name + "' (data_offsets [" + e.begin + ", " + e.end + "]) overlaps tensor '"
                        + prev.name + "' (data_offsets [" + prev.begin + ", " + prev.end + "])");
            if (e.begin > expected)
                throw fail(what, "bytes [" + expected + ", " + e.begin + ") of the data section belong to no tensor (a hole "
                        + "before tensor '" + e.name + "')");
            expected = e.end;
            prev = e;
        }
        if (expected > dataLength)
            throw fail(what, "the tensors need " + expected + " bytes of data" + (prev != null ? " (tensor '" + prev.name
                    + "' ends at " + prev.end + ")" : "") + " but the data section has only " + dataLength + " bytes");
        if (expected < dataLength)
            throw fail(what, "the data section has " + dataLength + " bytes but the tensors cover only " + expected
                    + " (" + (dataLength - expected) + " unexplained trailing bytes)");
        for (Entry e : entries) {
            if (e.numel > Integer.MAX_VALUE - 8)
                throw new CheckpointException("safetensors file " + what + ": tensor '" + e.name + "' has " + e.numel
                        + " elements, more than dl-train's host arrays hold (2^31-9); split the tensor");
        }
    }

    /** Refuses, with advice, a file whose tensors cannot fit in the heap instead of dying with OutOfMemoryError. */
    private static void checkHeap(List<Entry> entries, String what) {
        long need = 0;
        for (Entry e : entries) need += 16 + e.numel * 4; // converted arrays hold 4-byte elements
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        if (need > free)
            throw new CheckpointException("safetensors file " + what + ": its tensors need " + (need >> 20) + " MiB of heap but only "
                    + (free >> 20) + " MiB are free; raise the JVM heap (-Xmx, or JAVA_OPTS for the dl-train launcher)");
    }

    private static LoadedTensor readTensor(Source src, long dataStart, Entry e, ByteBuffer buf, String what) throws IOException {
        int numel = (int) e.numel; // checked by checkLayout
        float[] f = null;
        int[] ints = null;
        if (e.dtype.startsWith("F") || e.dtype.equals("BF16")) f = new float[numel];
        else ints = new int[numel];
        int perChunk = CHUNK / e.elemBytes;
        long pos = dataStart + e.begin;
        for (int i = 0; i < numel; i += perChunk) {
            int cnt = Math.min(perChunk, numel - i);
            buf.clear().limit(cnt * e.elemBytes);
            src.read(pos, buf);
            pos += (long) cnt * e.elemBytes;
            buf.flip();
            switch (e.dtype) {
                case "F32" -> buf.asFloatBuffer().get(f, i, cnt);
                case "I32" -> buf.asIntBuffer().get(ints, i, cnt);
                case "F16" -> { for (int j = 0; j < cnt; j++) f[i + j] = Float.float16ToFloat(buf.getShort(2 * j)); }
                // bfloat16 is the top half of a float32: widening is exact.
                case "BF16" -> { for (int j = 0; j < cnt; j++) f[i + j] = Float.intBitsToFloat((buf.getShort(2 * j) & 0xFFFF) << 16); }
                case "F64" -> {
                    for (int j = 0; j < cnt; j++) {
                        double v = buf.getDouble(8 * j);
                        float r = (float) v; // round to nearest even, as torch's .float()
                        if (Float.isInfinite(r) && !Double.isInfinite(v))
                            throw new CheckpointException("safetensors file " + what + ": tensor '" + e.name + "' (F64) holds "
                                    + v + " at element " + (i + j) + ", beyond the float32 range (+-3.4e38) dl-train computes in;"
                                    + " scale or clamp the tensor, or drop it from the file");
                        f[i + j] = r;
                    }
                }
                case "I64" -> {
                    for (int j = 0; j < cnt; j++) {
                        long v = buf.getLong(8 * j);
                        if (v != (int) v)
                            throw new CheckpointException("safetensors file " + what + ": tensor '" + e.name + "' (I64) holds "
                                    + v + " at element " + (i + j) + ", outside the int32 range dl-train stores integers in; "
                                    + "convert the tensor or drop it from the file");
                        ints[i + j] = (int) v;
                    }
                }
                default -> throw new AssertionError(e.dtype);
            }
        }
        return new LoadedTensor(e.dtype, e.shape, f, ints);
    }

    /** What kind of torch.save file begins with these 8 bytes (a zip archive, a bare pickle), or null. */
    private static String torchSave(ByteBuffer first8) {
        byte b0 = first8.get(0), b1 = first8.get(1);
        if (b0 == 'P' && b1 == 'K' && first8.get(2) == 3 && first8.get(3) == 4) return "a zip archive, as since PyTorch 1.6";
        // PROTO 2 to 5, then torch.save's magic number (LONG1) or, from protocol 4, a FRAME: not just any header length
        // whose low bytes are 0x80 and 2 to 5 (640 bytes, say)
        int b2 = first8.get(2) & 0xFF;
        if ((b0 & 0xFF) == 0x80 && b1 >= 2 && b1 <= 5 && (b2 == 0x8a || b2 == 0x95)) return "a pickle";
        return null;
    }

    private static CheckpointException fail(String what, String problem) {
        return new CheckpointException("safetensors file " + what + ": " + problem + "; " + CORRUPT);
    }
}
