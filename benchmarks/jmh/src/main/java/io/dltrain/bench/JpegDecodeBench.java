package io.dltrain.bench;

import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.datasets.ImageFolderDataset;
import io.dltrain.datasets.transform.Image;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.geom.RoundRectangle2D;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * JPEG decoding and the image sample paths of the data loader, on one thread, so ops/s = images/s per core: the
 * figure the model-zoo issue asks for ("JPEG decoding must keep up"). A loader with k worker threads delivers at most
 * about k times this (less where the cores are shared with training).
 *
 * <p>Inputs: {@value #IMAGES} ImageNet-like JPEGs of {@value #WIDTH}x{@value #HEIGHT} (a typical ImageNet size),
 * generated in {@link #setup} and written with ImageIO at quality 0.9 (4:2:0 chroma, ImageIO's default), as an
 * image-folder tree {@code train/<class>/} + {@code val/<class>/} in a temporary directory. Decoding cost depends on
 * the content (the entropy-coded size), so the pictures are not flat: gradients, a few hundred anti-aliased shapes,
 * multi-scale texture and grain, which makes files of about 110 KiB, like ImageNet's (the mean is printed). The
 * files stay in the page cache, so the figures are decode + transform cost, not disk reads.
 *
 * <p>Each benchmark goes through the production code, cycling over the images:
 * <ul>
 *   <li>{@code imageioOnly}: ImageIO's JPEG reader alone, from bytes in memory to a {@code BufferedImage} (the part of
 *       decoding that is the JDK's libjpeg; for the breakdown).</li>
 *   <li>{@code decode}: {@code ImageFolderDataset.image(i)} of the {@code imagefolder} dataset on this tree: file read
 *       + ImageIO decode + conversion to CHW float32 in [0, 1] (its fit-to-first-image pipeline is a no-op here).</li>
 *   <li>{@code trainSample}: {@code read(i, dst, 0)} of {@code imagenet-subset}'s training split: decode +
 *       RandomResizedCrop 224 + horizontal flip + ImageNet normalisation into a float buffer, exactly what a loader
 *       worker does per training sample. The epoch advances after each pass over the images, so crops vary.</li>
 *   <li>{@code valSample}: the same for the validation split: decode + Resize 256 + CenterCrop 224 + normalisation.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Djava.awt.headless=true", "--enable-native-access=ALL-UNNAMED"})
public class JpegDecodeBench {
    static final int IMAGES = 32, WIDTH = 500, HEIGHT = 375, CLASSES = 2;
    static final float QUALITY = 0.9f;

    Path dir;
    byte[][] jpegs;
    ImageFolderDataset decoder, train, val;
    float[] sample;
    int next, epoch;

    @Setup(Level.Trial)
    public void setup() throws IOException {
        System.setProperty("java.awt.headless", "true");
        dir = Files.createTempDirectory("dltrain-jpeg-bench");
        SplittableRandom rng = new SplittableRandom(2024);
        jpegs = new byte[IMAGES][];
        long total = 0;
        for (int i = 0; i < IMAGES; i++) {
            jpegs[i] = naturalJpeg(rng, WIDTH, HEIGHT);
            total += jpegs[i].length;
            String cls = "class" + (i % CLASSES), file = String.format(Locale.ROOT, "img%03d.jpg", i);
            for (String split : new String[]{"train", "val"}) {
                Path f = dir.resolve(split).resolve(cls).resolve(file);
                Files.createDirectories(f.getParent());
                Files.write(f, jpegs[i]);
            }
        }
        System.out.printf(Locale.ROOT, "%n# %d JPEGs of %dx%d, quality %.2f: mean file size %.1f KiB (%d bytes) in %s%n",
                IMAGES, WIDTH, HEIGHT, QUALITY, total / (double) IMAGES / 1024, total / IMAGES, dir);
        decoder = (ImageFolderDataset) DatasetRegistry.get("imagefolder").load(dir).train();
        DatasetRegistry.Splits imagenet = DatasetRegistry.get("imagenet-subset").load(dir);
        train = (ImageFolderDataset) imagenet.train();
        val = (ImageFolderDataset) imagenet.test();
        if (decoder.size() != IMAGES || train.size() != IMAGES || val.size() != IMAGES)
            throw new IllegalStateException("expected " + IMAGES + " images per split, got " + decoder + ", " + train + ", " + val);
        if (decoder.sampleShape().size() != 3L * HEIGHT * WIDTH || train.sampleShape().size() != 3 * 224 * 224
                || val.sampleShape().size() != 3 * 224 * 224)
            throw new IllegalStateException("unexpected sample shapes: " + decoder + ", " + train + ", " + val);
        sample = new float[3 * 224 * 224];
    }

    /** The next image index, cycling; after each full pass the training split moves to the next epoch (new crops). */
    private int nextIndex() {
        int i = next;
        if (++next == IMAGES) {
            next = 0;
            train.setEpoch(++epoch);
        }
        return i;
    }

    @Benchmark
    public BufferedImage imageioOnly() throws IOException {
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(jpegs[nextIndex()]))) {
            ImageReader r = ImageIO.getImageReaders(in).next();
            try {
                r.setInput(in, true, true);
                return r.read(0, r.getDefaultReadParam());
            } finally {
                r.dispose();
            }
        }
    }

    @Benchmark
    public Image decode() {
        return decoder.image(nextIndex());
    }

    @Benchmark
    public float trainSample() {
        train.read(nextIndex(), sample, 0);
        return sample[0];
    }

    @Benchmark
    public float valSample() {
        val.read(nextIndex(), sample, 0);
        return sample[0];
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (dir == null) return;
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot remove the benchmark's temporary file " + p, e);
                }
            });
        }
    }

    /**
     * A photo-like picture encoded as JPEG: a diagonal gradient, 40 large and 200 small translucent anti-aliased
     * shapes with gradient fills (edges at every scale), multi-octave value noise (texture: cells of 64 down to 2
     * pixels, finer octaves slightly stronger, which is what gives real photos their entropy-coded size) and a little
     * per-pixel grain. Tuned so that quality 0.9 gives about 110 KiB at 500x375, the size of a typical ImageNet JPEG.
     */
    static byte[] naturalJpeg(SplittableRandom r, int w, int h) throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setPaint(new GradientPaint(0, 0, color(r, 255), w, h, color(r, 255)));
        g.fillRect(0, 0, w, h);
        for (int k = 0; k < 240; k++) {
            double big = k < 40 ? 220 : 40;
            float x = (float) r.nextDouble(-50, w), y = (float) r.nextDouble(-50, h);
            float sw = (float) r.nextDouble(4, big), sh = (float) r.nextDouble(4, big);
            g.setPaint(new GradientPaint(x, y, color(r, 120 + r.nextInt(136)), x + sw, y + sh, color(r, 120 + r.nextInt(136))));
            Shape s = switch (r.nextInt(3)) {
                case 0 -> new Ellipse2D.Float(x, y, sw, sh);
                case 1 -> new RoundRectangle2D.Float(x, y, sw, sh, 20, 20);
                default -> {
                    Path2D.Float p = new Path2D.Float();
                    p.moveTo(x, y);
                    for (int v = 0; v < 4; v++) p.lineTo(x + r.nextDouble(-sw, sw), y + r.nextDouble(-sh, sh));
                    p.closePath();
                    yield p;
                }
            };
            g.fill(s);
        }
        g.dispose();

        float[] texture = new float[w * h];
        for (int cell = 64; cell >= 2; cell /= 2) {
            int gw = w / cell + 2, gh = h / cell + 2;
            float[] grid = new float[gw * gh];
            for (int i = 0; i < grid.length; i++) grid[i] = (float) r.nextGaussian();
            float amp = (float) Math.pow(64.0 / cell, 0.3);
            for (int y = 0; y < h; y++) {
                float fy = (float) y / cell, ty = fy - (int) fy;
                int y0 = (int) fy;
                for (int x = 0; x < w; x++) {
                    float fx = (float) x / cell, tx = fx - (int) fx;
                    int c0 = y0 * gw + (int) fx, c1 = c0 + gw;
                    float top = grid[c0] * (1 - tx) + grid[c0 + 1] * tx, bottom = grid[c1] * (1 - tx) + grid[c1 + 1] * tx;
                    texture[y * w + x] += amp * (top * (1 - ty) + bottom * ty);
                }
            }
        }
        byte[] px = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
        for (int j = 0, i = 0; j < w * h; j++) {
            float t = texture[j] * 16;
            for (int c = 0; c < 3; c++, i++) {
                int v = (px[i] & 0xFF) + Math.round(t * (0.8f + 0.2f * c) + (float) (r.nextGaussian() * 3));
                px[i] = (byte) Math.max(0, Math.min(255, v));
            }
        }

        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(1 << 18);
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            ImageWriteParam p = writer.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(QUALITY);
            writer.setOutput(out);
            writer.write(null, new IIOImage(img, null, null), p);
        } finally {
            writer.dispose();
        }
        return bytes.toByteArray();
    }

    private static Color color(SplittableRandom r, int alpha) {
        return new Color(r.nextInt(256), r.nextInt(256), r.nextInt(256), alpha);
    }
}
