package io.dltrain.datasets;

import io.dltrain.datasets.transform.Image;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * JPEG and PNG decoding and encoding with {@code javax.imageio} (part of the JDK: no native dependency of ours).
 * Decoding mirrors torchvision's default loader {@code PIL.Image.open(f).convert("RGB")} followed by
 * {@code ToTensor()}: always 3 channels, values pixel / 255 in float32, CHW. Grayscale is replicated to R, G and B
 * from the raw samples (not through {@code BufferedImage.getRGB}, which would apply a linear-to-sRGB gamma to gray
 * images), an alpha channel is dropped (not composited, like PIL's convert), 16-bit samples keep their high byte
 * (as PIL's PNG decoder does for RGB, RGBA and grey + alpha: 0x10FF is 16, not round(0x10FF * 255 / 65535) = 17);
 * an embedded ICC profile is ignored, as PIL's convert does (ImageIO's JPEG reader would convert every pixel from it
 * to sRGB; {@link #withoutIccProfile}); palette and other colour models go through {@code getRGB}. One deliberate difference from PIL: a plain 16-bit grey
 * PNG (PIL's mode I;16), which PIL's convert("RGB") clips to 255 above 255 (nearly all white), gets its high byte
 * too. CMYK JPEGs are converted with PIL's
 * formula, not ImageIO's colour space. The decoder accepts what ImageIO's built-in readers accept: baseline and
 * progressive JPEG in YCbCr, grayscale or CMYK, all PNG variants.
 */
final class ImageCodec {
    private ImageCodec() {}

    private static final float[] U8 = new float[256];

    static {
        for (int v = 0; v < 256; v++) U8[v] = v / 255f; // as ToTensor: float32 division
    }

    /** The JPEG encoder's default quality when none is given (ImageIO's own default is 0.75). */
    static final float DEFAULT_JPEG_QUALITY = 0.95f;

    /**
     * Decodes a JPEG or PNG file into an RGB image in [0, 1].
     *
     * @throws DatasetException naming the file if it cannot be read or is not a decodable image
     */
    static Image decode(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new DatasetException(file + ": cannot read the file: " + e, e);
        }
        return decode(bytes, file.toString());
    }

    /**
     * Decodes encoded image bytes; {@code source} names them in messages. Like PIL (without LOAD_TRUNCATED_IMAGES),
     * a truncated or damaged image is an error, not a partly grey picture: ImageIO's JPEG reader only <i>warns</i>
     * about a missing end ("Truncated File - Missing EOI marker", "premature end of data segment"), so reader
     * warnings count as corruption, except the benign ones PIL also lets through: extraneous bytes before a marker
     * (a few ImageNet JPEGs have them and decode fine), and an unusable embedded ICC profile or thumbnail.
     */
    static Image decode(byte[] bytes, String source) {
        if (bytes.length == 0) throw new DatasetException(source + ": the file is empty (0 bytes): not an image");
        BufferedImage img;
        int width = -1, height = -1; // from the header, for a message about an image too large to decode
        // An in-memory stream: ImageIO.read(InputStream) would cache through a temporary file when
        // ImageIO.getUseCache() is on (the default), which is slow and needs a writable temp dir.
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(withoutIccProfile(bytes)))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext())
                throw new DatasetException(source + ": not a JPEG or PNG image (no ImageIO reader recognises its first bytes "
                        + hexHead(bytes) + "); re-create or remove the file");
            ImageReader r = readers.next();
            String format = r.getFormatName();
            List<String> warnings = new ArrayList<>();
            r.addIIOReadWarningListener((reader, warning) -> {
                if (!isBenign(warning)) warnings.add(warning);
            });
            try {
                r.setInput(in, true, true);
                width = r.getWidth(0);
                height = r.getHeight(0);
                img = r.read(0, r.getDefaultReadParam());
            } finally {
                r.dispose();
            }
            if (!warnings.isEmpty())
                throw new DatasetException(source + ": corrupt image (" + format + " decoder: " + String.join("; ", warnings)
                        + "); re-create or remove the file");
        } catch (IOException | RuntimeException e) {
            if (e instanceof DatasetException de) throw de;
            // ImageIO's readers wrap an OutOfMemoryError in an IIOException ("Caught exception during read: "): the
            // image is too large for the heap, not corrupt
            for (Throwable t = e.getCause(); t != null; t = t.getCause() == t ? null : t.getCause())
                if (t instanceof OutOfMemoryError oom) throw tooLarge(source, width, height, oom);
            // IIOException for corrupt data, and occasionally runtime exceptions from inside readers.
            throw new DatasetException(source + ": corrupt or unsupported image (" + e.getMessage() + "); re-create or remove the file", e);
        } catch (OutOfMemoryError e) {
            throw tooLarge(source, width, height, e);
        }
        try {
            return toImage(img);
        } catch (IllegalArgumentException e) {
            throw new DatasetException(source + ": " + e.getMessage(), e);
        } catch (OutOfMemoryError e) {
            throw tooLarge(source, img.getWidth(), img.getHeight(), e);
        }
    }

    /**
     * An image whose decoding ran out of memory: its size (width or height -1 where the header was not read) and the
     * error, which stays the cause (the command line's out-of-memory advice finds it there and adds how to raise the heap).
     */
    static DatasetException tooLarge(String source, int width, int height, OutOfMemoryError e) {
        String size = width > 0 && height > 0 ? String.format(Locale.ROOT, "a %dx%d image (%,d MiB as float RGB)", width, height,
                (long) width * height * 3 * Float.BYTES >> 20) : "the image";
        return new DatasetException(source + ": out of memory decoding " + size + " (" + e.getMessage() + ")", e);
    }

    /**
     * A JPEG without its embedded ICC profile (the APP2 "ICC_PROFILE" segments before the first scan), or the bytes
     * themselves when they hold none or are not a JPEG. ImageIO's JPEG reader converts every pixel from the profile to
     * sRGB (a linear-RGB profile: up to 73 levels lighter); PIL's convert("RGB"), and so torchvision's loader, ignores
     * the profile and keeps the decoded samples, which is what ImageIO gives for the file without it.
     */
    static byte[] withoutIccProfile(byte[] b) {
        if (b.length < 4 || (b[0] & 0xFF) != 0xFF || (b[1] & 0xFF) != 0xD8) return b;
        byte[] id = "ICC_PROFILE\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        java.io.ByteArrayOutputStream out = null;
        int pos = 2, kept = 0; // b[kept, pos) is still to be copied
        while (pos + 4 <= b.length && (b[pos] & 0xFF) == 0xFF) {
            int marker = b[pos + 1] & 0xFF;
            if (marker == 0xFF) { pos++; continue; } // fill byte
            if (marker == 0xDA || marker == 0xD9) break; // start of scan, end of image: the header is over
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { pos += 2; continue; } // no length
            int end = pos + 2 + ((b[pos + 2] & 0xFF) << 8 | (b[pos + 3] & 0xFF));
            if (end > b.length) break;
            if (marker == 0xE2 && end - pos - 4 >= id.length && Arrays.equals(b, pos + 4, pos + 4 + id.length, id, 0, id.length)) {
                if (out == null) out = new java.io.ByteArrayOutputStream(b.length);
                out.write(b, kept, pos - kept);
                kept = end;
            }
            pos = end;
        }
        if (out == null) return b;
        out.write(b, kept, b.length - kept);
        return out.toByteArray();
    }

    static boolean isBenign(String warning) {
        String w = warning.toLowerCase(Locale.ROOT);
        return w.contains("extraneous bytes before marker") || w.contains("icc") || w.contains("thumbnail");
    }

    /** {height, width} of an image file from its header, without decoding the pixels. */
    static int[] size(Path file) {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) throw new DatasetException(file + ": cannot open the file");
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) throw new DatasetException(file + ": not a JPEG or PNG image (no ImageIO reader recognises it)");
            ImageReader r = readers.next();
            try {
                r.setInput(in, true, true);
                return new int[]{r.getHeight(0), r.getWidth(0)};
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof DatasetException de) throw de;
            throw new DatasetException(file + ": corrupt or unsupported image header (" + e.getMessage() + ")", e);
        }
    }

    /** Converts a decoded image to RGB CHW floats in [0, 1]. */
    static Image toImage(BufferedImage img) {
        int H = img.getHeight(), W = img.getWidth();
        if (3L * H * W > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("image of " + W + "x" + H + " pixels is too large to hold as floats (over 2^31 values)");
        int plane = H * W;
        float[] o = new float[3 * plane];
        Raster r = img.getRaster();
        int type = img.getType();
        if ((type == BufferedImage.TYPE_3BYTE_BGR || type == BufferedImage.TYPE_4BYTE_ABGR)
                && r.getDataBuffer() instanceof DataBufferByte db && r.getParent() == null && db.getOffset() == 0
                && db.getSize() == plane * (type == BufferedImage.TYPE_3BYTE_BGR ? 3 : 4)) {
            // The JPEG reader's usual output: interleaved B, G, R (A first for 4-byte ABGR).
            byte[] px = db.getData();
            int step = type == BufferedImage.TYPE_3BYTE_BGR ? 3 : 4, first = step - 3;
            for (int j = 0, p = first; j < plane; j++, p += step) {
                o[j] = U8[px[p + 2] & 0xFF];
                o[plane + j] = U8[px[p + 1] & 0xFF];
                o[2 * plane + j] = U8[px[p] & 0xFF];
            }
            return new Image(3, H, W, o);
        }
        ColorSpace cs = img.getColorModel().getColorSpace();
        if (cs.getType() == ColorSpace.TYPE_GRAY && r.getNumBands() <= 2) {
            // Gray (+ alpha): replicate the raw gray samples, brought from their bit depth to 8 bits as PIL does:
            // 16-bit ones keep their high byte, 1-, 2- and 4-bit ones are scaled (x 255, 85, 17).
            int bits = img.getColorModel().getComponentSize(0);
            int[] row = new int[W];
            for (int y = 0; y < H; y++) {
                r.getSamples(0, y, W, 1, 0, row);
                for (int x = 0; x < W; x++) {
                    int v = bits == 8 ? row[x] : bits == 16 ? row[x] >>> 8 : (int) Math.round(row[x] * 255.0 / ((1 << bits) - 1));
                    float f = U8[Math.min(255, Math.max(0, v))];
                    int j = y * W + x;
                    o[j] = f;
                    o[plane + j] = f;
                    o[2 * plane + j] = f;
                }
            }
            return new Image(3, H, W, o);
        }
        if (cs.getType() == ColorSpace.TYPE_CMYK && r.getNumBands() == 4 && r.getSampleModel().getSampleSize(0) == 8) {
            // CMYK JPEG: PIL's convert("RGB") (Convert.c cmyk2rgb): R = (255 - K) - round(C * (255 - K) / 255), ...
            // getRGB would go through ImageIO's CMYK colour space, which takes the inks as linear light and applies
            // the sRGB curve: lighter than PIL (and torchvision) for the same file.
            int[] px = new int[4 * W];
            for (int y = 0; y < H; y++) {
                r.getPixels(0, y, W, 1, px);
                for (int x = 0; x < W; x++) {
                    int nk = 255 - px[4 * x + 3], j = y * W + x;
                    for (int c = 0; c < 3; c++) {
                        int t = px[4 * x + c] * nk + 128;
                        o[c * plane + j] = U8[Math.max(0, nk - (((t >> 8) + t) >> 8))];
                    }
                }
            }
            return new Image(3, H, W, o);
        }
        int transfer = r.getTransferType();
        if (cs.getType() == ColorSpace.TYPE_RGB && (r.getNumBands() == 3 || r.getNumBands() == 4)
                && (transfer == DataBuffer.TYPE_BYTE || transfer == DataBuffer.TYPE_USHORT) && img.getColorModel() instanceof ComponentColorModel) {
            // RGB(A) samples as decoded, whatever RGB colour space is attached (PIL ignores colour profiles). 16-bit
            // samples (PNG) keep their high byte, as PIL's decoder (rawmodes RGB;16B, RGBA;16B); getRGB rounds
            // (v * 255 / 65535), one level above PIL in about a third of them.
            int bands = r.getNumBands(), shift = transfer == DataBuffer.TYPE_USHORT ? 8 : 0;
            int[] px = new int[bands * W];
            for (int y = 0; y < H; y++) {
                r.getPixels(0, y, W, 1, px);
                for (int x = 0; x < W; x++)
                    for (int c = 0; c < 3; c++) o[c * plane + y * W + x] = U8[px[bands * x + c] >>> shift];
            }
            return new Image(3, H, W, o);
        }
        // Everything else (RGB ints, palette, ...): ImageIO's conversion to 8-bit sRGB.
        int[] argb = new int[W];
        for (int y = 0; y < H; y++) {
            img.getRGB(0, y, W, 1, argb, 0, W);
            for (int x = 0; x < W; x++) {
                int v = argb[x], j = y * W + x;
                o[j] = U8[(v >> 16) & 0xFF];
                o[plane + j] = U8[(v >> 8) & 0xFF];
                o[2 * plane + j] = U8[v & 0xFF];
            }
        }
        return new Image(3, H, W, o);
    }

    /** Writes 8-bit pixels (gray for C = 1, RGB for C = 3, planes CHW) as a PNG or JPEG file. */
    static void write(byte[] chw, int c, int h, int w, Path file, boolean jpeg, float jpegQuality) throws IOException {
        BufferedImage img = new BufferedImage(w, h, c == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_3BYTE_BGR);
        byte[] px = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
        int plane = h * w;
        if (c == 1) System.arraycopy(chw, 0, px, 0, plane);
        else for (int j = 0; j < plane; j++) {
            px[3 * j] = chw[2 * plane + j];
            px[3 * j + 1] = chw[plane + j];
            px[3 * j + 2] = chw[j];
        }
        if (!jpeg) {
            if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer in this JDK");
            return;
        }
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(file.toFile())) {
            ImageWriteParam p = writer.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(jpegQuality);
            writer.setOutput(out);
            writer.write(null, new IIOImage(img, null, null), p);
        } finally {
            writer.dispose();
        }
    }

    private static String hexHead(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.min(4, b.length); i++) s.append(i > 0 ? " " : "").append(String.format(Locale.ROOT, "%02x", b[i] & 0xFF));
        return s.toString();
    }
}
