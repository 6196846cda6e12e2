package io.dltrain.datasets;

import io.dltrain.datasets.transform.CenterCrop;
import io.dltrain.datasets.transform.Image;
import io.dltrain.datasets.transform.Normalize;
import io.dltrain.datasets.transform.Resize;
import io.dltrain.datasets.transform.Transform;
import io.dltrain.runtime.data.Batch;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

import static io.dltrain.datasets.ImageTestFiles.jpeg;
import static io.dltrain.datasets.ImageTestFiles.png;
import static io.dltrain.datasets.ImageTestFiles.rgb;
import static io.dltrain.datasets.ImageTestFiles.rgbImage;
import static io.dltrain.datasets.ImageTestFiles.rgbPng;
import static io.dltrain.datasets.ImageTestFiles.smooth;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ImageFolderDataset, ImageCodec and the image folder registry entries, on small trees written in a temp dir. */
class ImageFolderDatasetTest {
    @TempDir Path dir;

    /** Checks a decoded image against 0xRRGGBB pixels: exact, as pixel / 255 in float32. */
    static void assertRgb(Image im, int h, int w, java.util.function.IntBinaryOperator rgbAt, String what) {
        assertEquals(3, im.c());
        assertEquals(h, im.h());
        assertEquals(w, im.w());
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int v = rgbAt.applyAsInt(y, x);
                for (int c = 0; c < 3; c++)
                    assertEquals(((v >> (16 - 8 * c)) & 0xFF) / 255f, im.get(c, y, x), what + " channel " + c + " at (" + y + ", " + x + ")");
            }
    }

    @Test
    void pngDecodesExactlyInEveryColourModelAndJpegWithinTolerance() {
        // 8-bit RGB.
        Path p = rgbPng(dir.resolve("rgb.png"), 3, 7, 9);
        assertRgb(ImageCodec.decode(p), 7, 9, (y, x) -> rgb(3, y, x), "RGB PNG");
        // RGBA: alpha is dropped, not composited (PIL convert("RGB")).
        BufferedImage argb = new BufferedImage(5, 4, BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < 4; y++) for (int x = 0; x < 5; x++) argb.setRGB(x, y, (x * 60) << 24 | rgb(5, y, x));
        assertRgb(ImageCodec.decode(png(dir.resolve("rgba.png"), argb)), 4, 5, (y, x) -> rgb(5, y, x), "RGBA PNG");
        // 8-bit grey: the raw value in all three channels (no gamma conversion).
        BufferedImage grey = new BufferedImage(6, 3, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 3; y++) for (int x = 0; x < 6; x++) grey.getRaster().setSample(x, y, 0, y * 80 + x * 7);
        assertRgb(ImageCodec.decode(png(dir.resolve("grey.png"), grey)), 3, 6, (y, x) -> (y * 80 + x * 7) * 0x010101, "grey PNG");
        // 16-bit grey: the high byte of each sample (see sixteenBitPngKeepsTheHighByteAsPilDoes).
        BufferedImage grey16 = new BufferedImage(4, 2, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 2; y++) for (int x = 0; x < 4; x++) grey16.getRaster().setSample(x, y, 0, y * 30000 + x * 9000 + 77);
        assertRgb(ImageCodec.decode(png(dir.resolve("grey16.png"), grey16)), 2, 4,
                (y, x) -> ((y * 30000 + x * 9000 + 77) >> 8) * 0x010101, "16-bit grey PNG");
        // Palette.
        byte[] r = {0, (byte) 255, 10, 20}, g = {0, 0, (byte) 200, 30}, b = {0, 0, 40, (byte) 250};
        BufferedImage pal = new BufferedImage(4, 2, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(2, 4, r, g, b));
        for (int y = 0; y < 2; y++) for (int x = 0; x < 4; x++) pal.getRaster().setSample(x, y, 0, (x + y) % 4);
        assertRgb(ImageCodec.decode(png(dir.resolve("palette.png"), pal)), 2, 4, (y, x) -> {
            int i = (x + y) % 4;
            return (r[i] & 0xFF) << 16 | (g[i] & 0xFF) << 8 | (b[i] & 0xFF);
        }, "palette PNG");

        // JPEG (lossy) of a smooth image at quality 0.95: within a few grey levels. Tolerances: mean |error| <= 1.5/255
        // and max <= 12/255, generous for q = 0.95 with 4:2:0 chroma subsampling on gradients of a few levels per pixel.
        int h = 48, w = 64;
        Image j = ImageCodec.decode(jpeg(dir.resolve("smooth.jpg"), rgbImage(2, h, w, true), 0.95f));
        double sum = 0, max = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    double want = ((smooth(2, y, x, h, w) >> (16 - 8 * c)) & 0xFF) / 255.0, err = Math.abs(j.get(c, y, x) - want);
                    sum += err;
                    max = Math.max(max, err);
                }
        assertTrue(sum / (3 * h * w) <= 1.5 / 255, "JPEG mean abs error " + sum / (3 * h * w) * 255 + " grey levels");
        assertTrue(max <= 12.0 / 255, "JPEG max abs error " + max * 255 + " grey levels");
        int[] hw = ImageCodec.size(dir.resolve("smooth.jpg"));
        assertArrayEquals(new int[]{h, w}, hw, "size from the header");
    }

    /** A 16-bit PNG of one row of 8 pixels, samples big-endian, colour type 0 (grey), 4 (grey + alpha), 2 (RGB) or 6 (RGBA). */
    static byte[] png16(int colourType, int[] samples) throws IOException {
        int bands = switch (colourType) { case 0 -> 1; case 4 -> 2; case 2 -> 3; case 6 -> 4; default -> throw new IllegalArgumentException(); };
        java.io.ByteArrayOutputStream raw = new java.io.ByteArrayOutputStream();
        raw.write(0); // filter type None
        for (int v : samples) { raw.write(v >> 8); raw.write(v & 0xFF); }
        java.io.ByteArrayOutputStream z = new java.io.ByteArrayOutputStream();
        try (var d = new java.util.zip.DeflaterOutputStream(z)) { d.write(raw.toByteArray()); }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        java.nio.ByteBuffer ihdr = java.nio.ByteBuffer.allocate(13).putInt(samples.length / bands).putInt(1)
                .put((byte) 16).put((byte) colourType).put((byte) 0).put((byte) 0).put((byte) 0);
        for (Object[] c : new Object[][]{{"IHDR", ihdr.array()}, {"IDAT", z.toByteArray()}, {"IEND", new byte[0]}}) {
            byte[] type = ((String) c[0]).getBytes(java.nio.charset.StandardCharsets.US_ASCII), data = (byte[]) c[1];
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(type);
            crc.update(data);
            out.write(java.nio.ByteBuffer.allocate(4).putInt(data.length).array());
            out.write(type);
            out.write(data);
            out.write(java.nio.ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
        }
        return out.toByteArray();
    }

    /**
     * 16-bit PNGs: PIL keeps the high byte of each sample (its PNG decoder's rawmodes RGB;16B, RGBA;16B, LA;16B), so
     * torchvision's loader sees 0x10FF as 16, where scaling with rounding (round(v * 255 / 65535), what dl-train did)
     * gives 17: one level off in about a third of the samples. The expected values are Pillow 12.3's for these very
     * bytes (benchmarks-style generator: the same one-row PNG written by Python's struct/zlib), from
     * {@code np.asarray(Image.open(io.BytesIO(png(ctype, [row]))).convert('RGB')).reshape(-1, 3).T.tolist()} with
     * {@code S = [0x0000, 0x00ff, 0x10ff, 0x20f0, 0x7f80, 0x80ff, 0xfe80, 0xffff]} and
     * {@code row = [S[(i + 3 * b) % 8] for i in range(8) for b in range(bands)]}:
     * colour type 4 (LA) -> [0, 0, 16, 32, 127, 128, 254, 255] in every channel, colour type 2 and 6 -> R [0, 0, 16,
     * 32, 127, 128, 254, 255], G [32, 127, 128, 254, 255, 0, 0, 16], B [254, 255, 0, 0, 16, 32, 127, 128].
     * Plain 16-bit grey (colour type 0) is where dl-train differs on purpose: PIL opens it as mode I;16 and
     * convert("RGB") clips every sample above 255 to 255 (this row: [0, 255, 255, 255, 255, 255, 255, 255], an
     * all-white picture); dl-train takes the high byte there too, as PIL does for grey + alpha.
     */
    @Test
    void sixteenBitPngKeepsTheHighByteAsPilDoes() throws IOException {
        int[] s = {0x0000, 0x00ff, 0x10ff, 0x20f0, 0x7f80, 0x80ff, 0xfe80, 0xffff};
        int[] r = {0, 0, 16, 32, 127, 128, 254, 255}, g = {32, 127, 128, 254, 255, 0, 0, 16}, b = {254, 255, 0, 0, 16, 32, 127, 128};
        for (int type : new int[]{0, 4, 2, 6}) {
            int bands = type == 0 ? 1 : type == 4 ? 2 : type == 2 ? 3 : 4;
            int[] row = new int[8 * bands];
            for (int i = 0; i < 8; i++) for (int k = 0; k < bands; k++) row[i * bands + k] = s[(i + 3 * k) % 8];
            Image im = ImageCodec.decode(png16(type, row), "colour type " + type);
            boolean grey = type == 0 || type == 4;
            for (int x = 0; x < 8; x++) {
                int[] want = grey ? new int[]{r[x], r[x], r[x]} : new int[]{r[x], g[x], b[x]};
                for (int c = 0; c < 3; c++)
                    assertEquals(want[c] / 255f, im.get(c, 0, x), "16-bit PNG colour type " + type + ", pixel " + x + ", channel " + c
                            + ": " + Math.round(im.get(c, 0, x) * 255) + " where PIL gives " + want[c]);
            }
        }
    }

    /**
     * An embedded ICC profile does not change the pixels: PIL's convert("RGB") (torchvision's loader) ignores it, but
     * ImageIO's JPEG reader attaches it as the image's colour space, and getRGB converted every pixel through it (a
     * linear-RGB profile: up to 73 levels lighter on a random 16x16 picture). A JPEG with Java's linear-RGB profile
     * spliced in (an APP2 ICC_PROFILE segment after SOI) must decode as the same file without it. Checked with
     * Pillow 12.3 on the same construction: {@code np.asarray(Image.open(io.BytesIO(tagged)).convert('RGB'))} equals
     * the untagged file's array ({@code tagged = plain[:2] + b'\xff\xe2' + struct.pack('>H', len(seg) + 2) + seg +
     * plain[2:]}, {@code seg = b'ICC_PROFILE\0' + bytes([1, 1]) + icc}).
     */
    @Test
    void anEmbeddedIccProfileIsIgnoredAsPilDoes() throws IOException {
        byte[] plain = Files.readAllBytes(jpeg(dir.resolve("plain.jpg"), rgbImage(4, 16, 16, false), 0.95f));
        byte[] icc = java.awt.color.ICC_Profile.getInstance(java.awt.color.ColorSpace.CS_LINEAR_RGB).getData();
        java.io.ByteArrayOutputStream tagged = new java.io.ByteArrayOutputStream();
        tagged.write(plain, 0, 2); // SOI
        byte[] id = "ICC_PROFILE\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int len = 2 + id.length + 2 + icc.length;
        tagged.write(new byte[]{(byte) 0xFF, (byte) 0xE2, (byte) (len >> 8), (byte) len});
        tagged.write(id);
        tagged.write(new byte[]{1, 1}); // chunk 1 of 1
        tagged.write(icc);
        tagged.write(plain, 2, plain.length - 2);
        Image want = ImageCodec.decode(plain, "plain.jpg"), got = ImageCodec.decode(tagged.toByteArray(), "tagged.jpg");
        float worst = 0;
        for (int i = 0; i < want.numel(); i++) worst = Math.max(worst, Math.abs(got.data()[i] - want.data()[i]));
        assertEquals(0f, worst * 255, "largest difference in grey levels between the JPEG with and without the ICC profile");
    }

    @Test
    void corruptFilesAreErrorsNamingTheFile() throws IOException {
        Path garbage = Files.write(dir.resolve("garbage.jpg"), new byte[]{1, 2, 3, 4, 5, 6, 7, 8});
        DatasetException e = assertThrows(DatasetException.class, () -> ImageCodec.decode(garbage));
        assertTrue(e.getMessage().startsWith(garbage.toString()) && e.getMessage().contains("01 02 03 04"), e.getMessage());
        Path empty = Files.write(dir.resolve("empty.png"), new byte[0]);
        e = assertThrows(DatasetException.class, () -> ImageCodec.decode(empty));
        assertTrue(e.getMessage().startsWith(empty.toString()) && e.getMessage().contains("empty"), e.getMessage());
        for (String ext : new String[]{"png", "jpg"}) {
            Path full = ext.equals("png") ? rgbPng(dir.resolve("full.png"), 1, 40, 40) : jpeg(dir.resolve("full.jpg"), rgbImage(1, 40, 40, false), 0.9f);
            byte[] bytes = Files.readAllBytes(full);
            Path cut = Files.write(dir.resolve("cut." + ext), Arrays.copyOf(bytes, bytes.length / 2)); // an interrupted copy
            e = assertThrows(DatasetException.class, () -> ImageCodec.decode(cut), ext);
            assertTrue(e.getMessage().startsWith(cut.toString()) && e.getMessage().contains("corrupt"), e.getMessage());
        }
        // A JPEG missing only its 2-byte end marker is truncated too (ImageIO merely warns; PIL would refuse it).
        byte[] j = Files.readAllBytes(jpeg(dir.resolve("j.jpg"), rgbImage(1, 40, 40, false), 0.9f));
        Path noEoi = Files.write(dir.resolve("noeoi.jpg"), Arrays.copyOf(j, j.length - 2));
        e = assertThrows(DatasetException.class, () -> ImageCodec.decode(noEoi));
        assertTrue(e.getMessage().contains("Missing EOI"), e.getMessage());
        // Extraneous bytes before the end marker (found in a few real ImageNet files) are benign: same pixels.
        byte[] extra = Arrays.copyOf(j, j.length + 5);
        System.arraycopy(new byte[]{0x11, 0x22, 0x33, 0x44, 0x55, (byte) 0xFF, (byte) 0xD9}, 0, extra, j.length - 2, 7);
        Path extraneous = Files.write(dir.resolve("extraneous.jpg"), extra);
        assertArrayEquals(ImageCodec.decode(dir.resolve("j.jpg")).data(), ImageCodec.decode(extraneous).data());
    }

    @Test
    void cmykJpegDecodesAsPilConvertsIt() throws IOException {
        // A 4-channel JPEG: ImageIO reads it as CMYK, and getRGB's colour space took the inks for linear light and
        // lightened them with the sRGB curve ((40, 56, 50, 0) gave 237, 229, 232). PIL 12.3 gives, for this very file,
        // CMYK (40, 56, 50, 0) -> RGB (215, 199, 205) and (0, 128, 255, 100) -> (155, 77, 0).
        // ImageIO's writer stores 4-channel rasters inverted (as Adobe's CMYK JPEGs are), so 255 - v is what is read.
        java.awt.image.WritableRaster cmyk = java.awt.image.Raster.createInterleavedRaster(java.awt.image.DataBuffer.TYPE_BYTE, 16, 8, 4, null);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 16; x++) cmyk.setPixel(x, y, x < 8 ? new int[]{215, 199, 205, 255} : new int[]{255, 127, 0, 155});
        Path file = dir.resolve("cmyk.jpg");
        javax.imageio.ImageWriter writer = javax.imageio.ImageIO.getImageWritersByFormatName("jpeg").next();
        try (javax.imageio.stream.ImageOutputStream out = javax.imageio.ImageIO.createImageOutputStream(file.toFile())) {
            javax.imageio.ImageWriteParam p = writer.getDefaultWriteParam();
            p.setCompressionMode(javax.imageio.ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(1f);
            writer.setOutput(out);
            writer.write(null, new javax.imageio.IIOImage(cmyk, null, null), p);
        } finally {
            writer.dispose();
        }
        Image im = ImageCodec.decode(file);
        int[][] want = {{215, 199, 205}, {155, 77, 0}};
        for (int half = 0; half < 2; half++)
            for (int c = 0; c < 3; c++)   // away from the edge between the halves, where JPEG blurs
                assertEquals(want[half][c] / 255f, im.get(c, 4, 2 + 12 * half), 1.5f / 255, "channel " + c + " of half " + half);
    }

    /** root/<class>/<files> with RGB PNGs of the given ids. */
    private static void tree(Path root, String[] classes, int[][] ids, int h, int w) {
        for (int k = 0; k < classes.length; k++)
            for (int id : ids[k]) rgbPng(root.resolve(classes[k]).resolve(String.format("img%03d.png", id)), id, h, w);
    }

    @Test
    void classesAreSortedFolderNamesAndFilesFollowTorchvisionOrder() throws IOException {
        Path root = dir.resolve("data");
        tree(root, new String[]{"zebra", "ant", "Moose"}, new int[][]{{1, 2}, {3}, {4, 5}}, 6, 8);
        rgbPng(root.resolve("ant/sub/img000.png"), 6, 6, 8);              // nested: after ant/img003.png (folder order)
        jpeg(root.resolve("ant/IMG009.JPG"), rgbImage(7, 6, 8, false), 0.9f); // upper-case extension accepted
        Files.writeString(root.resolve("ant/.DS_Store"), "x");             // hidden: ignored
        Files.createDirectories(root.resolve(".cache/x"));                 // hidden folder: not a class
        Files.writeString(root.resolve("README.txt"), "loose files next to the class folders are ignored");
        ImageFolderDataset.Tree t = ImageFolderDataset.scan(root, null);
        assertEquals(List.of("Moose", "ant", "zebra"), t.classNames()); // code point order, like Python's sorted()
        assertEquals(List.of("Moose/img004.png", "Moose/img005.png", "ant/IMG009.JPG", "ant/img003.png", "ant/sub/img000.png",
                "zebra/img001.png", "zebra/img002.png"), t.files().stream().map(p -> root.relativize(p).toString()).toList());
        assertArrayEquals(new int[]{0, 0, 1, 1, 1, 2, 2}, t.labels());

        DatasetRegistry.Splits s = DatasetRegistry.get("imagefolder").load(root);
        assertTrue(s.notice().contains("no train/ and val/ folders") && s.notice().contains("test split is empty"), s.notice());
        Dataset train = s.train();
        assertEquals(0, s.test().size());
        assertEquals(7, train.size());
        assertEquals(Shape.of(3, 6, 8), train.sampleShape(), "size of the first image");
        float[] x = new float[3 * 48];
        assertEquals(2, train.read(5, x, 0));
        assertRgb(new Image(3, 6, 8, x), 6, 8, (y, xx) -> rgb(1, y, xx), "zebra/img001.png through the dataset");
    }

    /**
     * Windows Explorer writes Thumbs.db (and desktop.ini where a folder is customised) into picture folders by itself, as
     * a Mac writes .DS_Store, which is ignored as hidden: a tree copied from Windows was refused at the first one,
     * "train/cat/Thumbs.db: unsupported file type '.db'", one class folder per try. They are passed over now (any case);
     * another file type is still an error.
     */
    @Test
    void windowsFolderMetadataFilesArePassedOverLikeDsStore() throws IOException {
        Path root = dir.resolve("win");
        tree(root, new String[]{"cat", "dog"}, new int[][]{{1, 2}, {3}}, 4, 4);
        Files.write(root.resolve("cat/Thumbs.db"), new byte[]{(byte) 0xD0, (byte) 0xCF, 0x11, (byte) 0xE0});
        Files.writeString(root.resolve("cat/desktop.ini"), "[.ShellClassInfo]\r\n");
        Files.write(root.resolve("dog/thumbs.db"), new byte[]{1});
        Files.write(root.resolve("dog/ehthumbs.db"), new byte[]{1});
        ImageFolderDataset.Tree t = ImageFolderDataset.scan(root, null);
        assertEquals(List.of("cat/img001.png", "cat/img002.png", "dog/img003.png"),
                t.files().stream().map(p -> root.relativize(p).toString()).toList());
        assertArrayEquals(new int[]{0, 0, 1}, t.labels());
        Files.writeString(root.resolve("dog/notes.db"), "x");
        DatasetException e = assertThrows(DatasetException.class, () -> ImageFolderDataset.scan(root, null));
        assertTrue(e.getMessage().contains("notes.db") && e.getMessage().contains("unsupported file type"), e.getMessage());
    }

    @Test
    void trainAndValSplitsShareTheTrainingClassList() throws IOException {
        Path root = dir.resolve("r");
        tree(root.resolve("train"), new String[]{"cat", "dog", "eel"}, new int[][]{{1}, {2}, {3}}, 5, 5);
        tree(root.resolve("val"), new String[]{"dog", "eel"}, new int[][]{{4}, {5}}, 5, 5); // no cat in val: fine
        DatasetRegistry.Splits s = DatasetRegistry.get("imagefolder").load(root);
        assertFalse(s.hasNotice());
        assertEquals("imagefolder/val", s.test().name());
        assertEquals(List.of("cat", "dog", "eel"), s.test().classNames());
        assertEquals(1, ((ImageFolderDataset) s.test()).label(0), "val dog keeps the training index of dog");
        assertEquals(2, ((ImageFolderDataset) s.test()).label(1));

        rgbPng(root.resolve("val/fox/a.png"), 1, 5, 5);
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("imagefolder").load(root));
        assertTrue(e.getMessage().contains(root.resolve("val/fox").toString()) && e.getMessage().contains("not one of the 3 training classes"), e.getMessage());

        // train/ alone: the test split is empty, and the notice says so.
        Path onlyTrain = dir.resolve("t");
        tree(onlyTrain.resolve("train"), new String[]{"a", "b"}, new int[][]{{1}, {2}}, 4, 4);
        s = DatasetRegistry.get("imagefolder").load(onlyTrain);
        assertEquals(2, s.train().size());
        assertEquals(List.of("a", "b"), s.train().classNames());
        // in the library's terms too (a Java caller has no --val-fraction), the command's option named as such
        assertEquals(onlyTrain + " has no val/ folder: using " + onlyTrain.resolve("train") + " as the training split (2 images, 2 classes);"
                + " the test split is empty, so hold out a validation part (DataLoader.split; --val-fraction on the command line)", s.notice());
        // val/ alone is an error.
        Path onlyVal = dir.resolve("v");
        tree(onlyVal.resolve("val"), new String[]{"a"}, new int[][]{{1}}, 4, 4);
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("imagefolder").load(onlyVal));
        assertTrue(e.getMessage().contains("no train/ folder"), e.getMessage());
    }

    /**
     * A symbolic link back to a folder above it is named as such. It was followed until the OS refused the path
     * (40 levels of links: "a/sub/loop/sub/loop/.../loop") and then reported as a file of an "unsupported file type
     * (no extension)". torchvision's ImageFolder (os.walk with followlinks=True) lists the images again at every level
     * instead: 82 samples for this tree of 2 images (torchvision 0.28).
     */
    @Test
    void aSymbolicLinkLoopIsNamed() throws IOException {
        Path root = dir.resolve("looped");
        rgbPng(root.resolve("a/1.png"), 1, 4, 4);
        rgbPng(root.resolve("a/sub/2.png"), 2, 4, 4);
        try {
            Files.createSymbolicLink(root.resolve("a/sub/loop"), Path.of(".."));
        } catch (UnsupportedOperationException | IOException e) {
            org.junit.jupiter.api.Assumptions.abort("no symbolic links here: " + e);
        }
        DatasetException e = assertThrows(DatasetException.class, () -> ImageFolderDataset.scan(root, null));
        assertTrue(e.getMessage().startsWith(root.resolve("a/sub/loop") + ": a symbolic link loop"), e.getMessage());
        assertTrue(e.getMessage().contains(root.resolve("a").toRealPath().toString()), e.getMessage());
    }

    @Test
    void badTreesAreClearErrors() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("imagefolder").load(empty));
        assertTrue(e.getMessage().contains("no class folders"), e.getMessage());

        Path loose = dir.resolve("loose");
        rgbPng(loose.resolve("a.png"), 1, 4, 4);
        e = assertThrows(DatasetException.class, () -> ImageFolderDataset.scan(loose, null));
        assertTrue(e.getMessage().contains("found 1 images directly in") && e.getMessage().contains("one folder per class"), e.getMessage());

        Path emptyClass = dir.resolve("ec");
        tree(emptyClass, new String[]{"a"}, new int[][]{{1}}, 4, 4);
        Files.createDirectories(emptyClass.resolve("b/sub"));
        e = assertThrows(DatasetException.class, () -> ImageFolderDataset.scan(emptyClass, null));
        assertTrue(e.getMessage().startsWith(emptyClass.resolve("b").toString()) && e.getMessage().contains("has no images"), e.getMessage());

        Path unknown = dir.resolve("ux");
        tree(unknown, new String[]{"a"}, new int[][]{{1}}, 4, 4);
        Path gif = Files.write(unknown.resolve("a/picture.gif"), new byte[]{'G', 'I', 'F'});
        e = assertThrows(DatasetException.class, () -> ImageFolderDataset.scan(unknown, null));
        assertTrue(e.getMessage().startsWith(gif.toString()) && e.getMessage().contains("'.gif'") && e.getMessage().contains(".jpg, .jpeg, .png"),
                e.getMessage());

        Path nowhere = dir.resolve("nowhere");
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("imagenet-subset").load(nowhere));
        assertTrue(e.getMessage().contains(nowhere.toString()) && e.getMessage().contains("does not exist")
                && e.getMessage().contains("train/<class>/<image>"), e.getMessage());

        // A pipeline whose output size depends on the image cannot define a sample shape.
        Path ok = dir.resolve("ok");
        tree(ok, new String[]{"a"}, new int[][]{{1}}, 4, 4);
        e = assertThrows(DatasetException.class, () -> new ImageFolderDataset("x", ImageFolderDataset.scan(ok, null), new Resize(8), 0, false));
        assertTrue(e.getMessage().contains("fixed sample shape"), e.getMessage());
    }

    @Test
    void aCorruptImageFailsTheReadOrIsSkippedAndCounted() throws IOException {
        Path root = dir.resolve("c");
        tree(root, new String[]{"a", "b"}, new int[][]{{1, 2}, {3}}, 4, 4);
        Path bad = Files.write(root.resolve("a/img002.png"), "not a png".getBytes());
        ImageFolderDataset.Tree t = ImageFolderDataset.scan(root, null);
        Transform fit = Transform.compose(new Resize(4), new CenterCrop(4));
        ImageFolderDataset strict = new ImageFolderDataset("c/train", t, fit, 0, false);
        float[] x = new float[48];
        DatasetException e = assertThrows(DatasetException.class, () -> strict.read(1, x, 0));
        assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
        // Through a DataLoader, the error names the sample as well as the file.
        try (DataLoader dl = new DataLoader(strict, null, 3, false, false, 0, 1, 2)) {
            RuntimeException re = assertThrows(RuntimeException.class, () -> dl.epoch(0).next());
            assertTrue(re.getMessage().contains("sample 1") && re.getMessage().contains(bad.toString()), re.getMessage());
        }

        ImageFolderDataset lenient = new ImageFolderDataset("c/train", t, fit, 0, true);
        assertEquals(1, lenient.read(2, x, 0), "b/img003.png: label 1");
        float[] want = x.clone();
        assertEquals(1, lenient.read(1, x, 0), "bad a/img002.png replaced by the next index, b/img003.png");
        assertArrayEquals(want, x);
        assertEquals(1, lenient.skippedReads());
        assertEquals(List.of(bad), List.copyOf(lenient.badFiles().keySet()));
        assertTrue(lenient.badFiles().get(bad).contains("not a JPEG or PNG"));
        lenient.read(1, x, 0); // known bad: skipped again without decoding
        assertEquals(2, lenient.skippedReads());

        Path allBad = dir.resolve("allbad");
        Files.createDirectories(allBad.resolve("a"));
        Files.write(allBad.resolve("a/x.png"), new byte[]{1});
        Files.write(allBad.resolve("a/y.jpg"), new byte[]{2});
        ImageFolderDataset none = new ImageFolderDataset("n", ImageFolderDataset.scan(allBad, null), new CenterCrop(2), 0, true);
        e = assertThrows(DatasetException.class, () -> none.read(0, new float[12], 0));
        assertTrue(e.getMessage().contains("all 2 images"), e.getMessage());
    }

    @Test
    void imagenetSubsetAugmentsReproduciblyPerEpochAndEvaluatesDeterministically() throws IOException {
        Path root = dir.resolve("inet");
        tree(root.resolve("train"), new String[]{"n01", "n02"}, new int[][]{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}}, 30, 40);
        tree(root.resolve("val"), new String[]{"n01", "n02"}, new int[][]{{11, 12}, {13}}, 30, 40);
        DatasetRegistry.Splits s = DatasetRegistry.get("imagenet-subset:size=16,seed=5").load(root);
        ImageFolderDataset train = (ImageFolderDataset) s.train(), val = (ImageFolderDataset) s.test();
        assertEquals(Shape.of(3, 16, 16), train.sampleShape());
        assertEquals(Shape.of(3, 16, 16), val.sampleShape());
        assertEquals(List.of("n01", "n02"), train.classNames());
        assertTrue(train.decodesFiles() && val.decodesFiles(), "image files: DataLoader.autoWorkers gives them loader threads on a GPU");

        // Workers don't change anything: a pass with 0 workers equals one with 2, epoch by epoch.
        float[] e0 = pass(train, 0), e0w = pass(train, 2);
        assertArrayEquals(e0, e0w);
        float[] e1 = pass(train, 2, 1); // the DataLoader's epoch 1 sets the dataset's augmentation epoch
        assertEquals(1, train.epoch());
        assertFalse(Arrays.equals(e0, e1), "a new epoch draws new crops");
        assertArrayEquals(e0, pass(train, 1, 0), "back to epoch 0: the same crops again");

        // Validation: Resize(round(16 * 256 / 224) = 18) + CenterCrop(16) + ImageNet Normalize, same every epoch.
        Transform want = Transform.compose(new Resize(18), new CenterCrop(16), Normalize.IMAGENET);
        float[] x = new float[3 * 256];
        for (int i = 0; i < val.size(); i++) {
            int label = val.read(i, x, 0);
            assertEquals(i < 2 ? 0 : 1, label);
            assertArrayEquals(want.apply(ImageCodec.decode(val.file(i)), null).data(), x, "val sample " + i);
        }
        val.setEpoch(3);
        float[] again = new float[3 * 256];
        val.read(0, again, 0);
        val.setEpoch(0);
        val.read(0, x, 0);
        assertArrayEquals(x, again);
    }

    @Test
    void twoLoadersOverOneDatasetEachReadTheirOwnEpoch() throws IOException {
        // two trainings at once over one dataset object (two threads, or a validation pass beside training): each loader's
        // epoch decides its samples' augmentation, whatever epoch the other loader started since
        Path root = dir.resolve("two");
        tree(root.resolve("train"), new String[]{"n01", "n02"}, new int[][]{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}}, 30, 40);
        tree(root.resolve("val"), new String[]{"n01", "n02"}, new int[][]{{11}, {12}}, 30, 40);
        Dataset train = DatasetRegistry.get("imagenet-subset:size=16,seed=5").load(root).train();
        float[] e0 = pass(train, 0, 0), e1 = pass(train, 0, 1);
        assertFalse(Arrays.equals(e0, e1), "epochs 0 and 1 draw different crops");
        int numel = (int) train.sampleShape().numel();
        for (int workers : new int[]{0, 2}) {
            float[] a = new float[e0.length], b = new float[e1.length];
            try (DataLoader first = new DataLoader(train, null, 3, false, false, 0, workers, 2);
                 DataLoader second = new DataLoader(train, null, 3, false, false, 0, workers, 2)) {
                Iterator<Batch> ia = first.epoch(0);
                int at = take(ia.next(), a, 0, numel);        // epoch 0 has begun ...
                Iterator<Batch> ib = second.epoch(1);          // ... when the other loader starts epoch 1
                for (int bt = 0; ib.hasNext(); ) bt = take(ib.next(), b, bt, numel);
                while (ia.hasNext()) at = take(ia.next(), a, at, numel);
            }
            assertArrayEquals(e0, a, "the first loader's epoch 0, " + workers + " workers");
            assertArrayEquals(e1, b, "the second loader's epoch 1, " + workers + " workers");
        }
    }

    /** Copies b's samples into all from sample at on, releases b, and returns the next free sample. */
    private static int take(Batch b, float[] all, int at, int numel) {
        System.arraycopy(b.x, 0, all, at * numel, b.size() * numel);
        b.release();
        return at + b.size();
    }

    @Test
    void imagefolderOptionsPickSizeAugmentationAndNormalisation() throws IOException {
        Path root = dir.resolve("opt");
        tree(root.resolve("train"), new String[]{"a", "b"}, new int[][]{{1, 2}, {3}}, 12, 20);
        tree(root.resolve("val"), new String[]{"a", "b"}, new int[][]{{4}, {5}}, 12, 20);
        assertEquals(Shape.of(3, 12, 20), DatasetRegistry.get("imagefolder").load(root).train().sampleShape());
        assertEquals(Shape.of(3, 8, 8), DatasetRegistry.get("imagefolder:size=8").load(root).train().sampleShape());
        for (String aug : new String[]{"flip", "crop", "rrc"}) {
            DatasetRegistry.Splits s = DatasetRegistry.get("imagefolder:augment=" + aug + ",norm=imagenet").load(root);
            assertEquals(Shape.of(3, 12, 20), s.train().sampleShape(), aug);
            float[] x = new float[3 * 240];
            s.test().read(0, x, 0);
            // Val is the plain image, normalised: pixel (0, 0) of image 4.
            assertEquals(((rgb(4, 0, 0) >> 16 & 0xFF) / 255.0 - 0.485) / 0.229, x[0], 1e-5, aug);
        }
        // size=: a 3 x S x S sample must fit in one Java array; 99999 overflowed an int into a negative model input size
        assertTrue(3L * DatasetRegistry.MAX_IMAGE_SIZE * DatasetRegistry.MAX_IMAGE_SIZE <= Integer.MAX_VALUE - 8
                && 3L * (DatasetRegistry.MAX_IMAGE_SIZE + 1) * (DatasetRegistry.MAX_IMAGE_SIZE + 1) > Integer.MAX_VALUE - 8);
        for (String name : new String[]{"imagefolder:size=99999", "imagenet-subset:size=99999", "imagefolder:size=0"}) {
            DatasetException big = assertThrows(DatasetException.class, () -> DatasetRegistry.get(name).load(root), name);
            assertTrue(big.getMessage().contains("size must be from 1 to 26754 (a sample is 3 x size x size floats, one Java array,"
                    + " which holds at most 2,147,483,639), got " + name.substring(name.indexOf('=') + 1)), big.getMessage());
        }
        DatasetException e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("imagefolder:augment=mixup").load(root));
        assertTrue(e.getMessage().contains("augment must be"), e.getMessage());
        e = assertThrows(DatasetException.class, () -> DatasetRegistry.get("imagefolder:colour=1"));
        assertTrue(e.getMessage().contains("unknown option 'colour'") && e.getMessage().contains("size, augment, norm, seed, skipbad"), e.getMessage());
    }

    /** Every sample of one unshuffled epoch, concatenated. */
    static float[] pass(Dataset ds, int workers) { return pass(ds, workers, 0); }

    /** Every sample of one DataLoader epoch (which also sets the dataset's augmentation epoch), in index order. */
    static float[] pass(Dataset ds, int workers, int epoch) {
        int numel = (int) ds.sampleShape().numel();
        float[] all = new float[ds.size() * numel];
        try (DataLoader dl = new DataLoader(ds, null, 3, false, false, 0, workers, 2)) {
            int at = 0;
            for (Iterator<Batch> it = dl.epoch(epoch); it.hasNext(); ) {
                Batch b = it.next();
                System.arraycopy(b.x, 0, all, at * numel, b.size() * numel);
                at += b.size();
                b.release();
            }
        }
        return all;
    }
}
