package io.dltrain.datasets.bench;

import io.dltrain.datasets.ImageFolderDataset;
import io.dltrain.datasets.transform.Normalize;
import io.dltrain.datasets.transform.RandomHorizontalFlip;
import io.dltrain.datasets.transform.RandomResizedCrop;
import io.dltrain.datasets.transform.Transform;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Decode-speed micro-benchmark (a main, not a unit test): how many ImageNet-sized images per second one core turns
 * into training samples. Writes {@code --images} (default 64) 500x375 JPEGs at quality 0.9 with natural-ish content
 * (smooth colour gradients and blobs plus pixel noise, so the files are ~50-100 KB like real photos) into a temp
 * ImageFolder tree, then times, single-threaded and with {@code --threads} threads (default: all cores):
 * <ol>
 *   <li>ImageIO decode alone ({@code ImageIO.read}),</li>
 *   <li>the full {@link ImageFolderDataset#read}: file read + decode + RGB float conversion + RandomResizedCrop(224)
 *   + flip + ImageNet normalisation (the imagenet-subset training pipeline).</li>
 * </ol>
 * Each measurement runs for {@code --seconds} (default 3) after a warm-up of the same length. Timings on a shared
 * machine are noisy: report the median of a few runs.
 *
 * <pre>mvn -q -B test-compile -pl datasets -am
 * java -cp datasets/target/test-classes:datasets/target/classes:runtime/target/classes \
 *     io.dltrain.datasets.bench.JpegDecodeBench [--images 64] [--seconds 3] [--threads N]</pre>
 */
public final class JpegDecodeBench {
    private JpegDecodeBench() {}

    public static void main(String[] args) throws Exception {
        int images = 64, threads = Runtime.getRuntime().availableProcessors();
        double seconds = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--images" -> images = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i] + "; use --images N --seconds S --threads T");
            }
        }
        Path root = Files.createTempDirectory("jpeg-bench");
        try {
            long bytes = 0;
            for (int i = 0; i < images; i++) {
                Path f = root.resolve("c" + (i % 4)).resolve(String.format(Locale.ROOT, "%04d.jpg", i));
                Files.createDirectories(f.getParent());
                writeJpeg(naturalish(500, 375, i), f, 0.9f);
                bytes += Files.size(f);
            }
            System.out.printf(Locale.ROOT, "%d JPEGs of 500x375 at quality 0.9, mean %.1f KB; %s, %d cores%n", images,
                    bytes / 1024.0 / images, System.getProperty("java.vm.name") + " " + Runtime.version(),
                    Runtime.getRuntime().availableProcessors());

            Transform train = Transform.compose(new RandomResizedCrop(224), new RandomHorizontalFlip(), Normalize.IMAGENET);
            ImageFolderDataset ds = new ImageFolderDataset("bench", ImageFolderDataset.scan(root, null), train, 0, false);
            List<Path> files = filesOf(ds);
            byte[][] encoded = new byte[files.size()][];
            for (int i = 0; i < encoded.length; i++) encoded[i] = Files.readAllBytes(files.get(i));

            Work decodeOnly = (i, scratch) -> {
                BufferedImage img = ImageIO.read(new java.io.ByteArrayInputStream(encoded[i % encoded.length]));
                if (img.getWidth() != 500) throw new AssertionError();
            };
            Work full = (i, scratch) -> ds.read(i % ds.size(), scratch, 0);
            ImageIO.setUseCache(false); // decodeOnly's ImageIO.read(InputStream) would otherwise cache through temp files

            for (int t : threads == 1 ? new int[]{1} : new int[]{1, threads}) {
                double d = rate(decodeOnly, t, seconds), f = rate(full, t, seconds);
                System.out.printf(Locale.ROOT, "threads %2d: ImageIO decode %7.1f img/s (%6.1f per thread); decode + RandomResizedCrop 224"
                        + " + flip + normalise %7.1f img/s (%6.1f per thread, %.2f ms each)%n", t, d, d / t, f, f / t, 1000.0 * t / f);
            }
        } finally {
            try (Stream<Path> s = Files.walk(root)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
    }

    private static List<Path> filesOf(ImageFolderDataset ds) {
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < ds.size(); i++) out.add(ds.file(i));
        return out;
    }

    @FunctionalInterface
    private interface Work {
        void run(int index, float[] scratch) throws Exception;
    }

    /** Images per second over all threads: warm-up, then each thread works through indices for {@code seconds}. */
    private static double rate(Work w, int threads, double seconds) throws InterruptedException {
        for (int pass = 0; pass < 2; pass++) { // pass 0 warms up the JIT and the page cache
            AtomicLong done = new AtomicLong();
            long end = System.nanoTime() + (long) (seconds * 1e9);
            List<Thread> ts = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                final int id = t;
                Thread th = new Thread(() -> {
                    float[] scratch = new float[3 * 224 * 224];
                    int i = id * 7919;
                    try {
                        while (System.nanoTime() < end) {
                            w.run(i++, scratch);
                            done.incrementAndGet();
                        }
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                ts.add(th);
                th.start();
            }
            for (Thread th : ts) th.join();
            double elapsed = (System.nanoTime() - t0) * 1e-9;
            if (pass == 1) return done.get() / elapsed;
        }
        throw new AssertionError();
    }

    /** Smooth colour gradients and a few soft blobs, plus per-pixel noise: compresses like a photo, not like a test card. */
    static BufferedImage naturalish(int w, int h, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        double[][] base = new double[3][4];
        for (double[] b : base) for (int k = 0; k < 4; k++) b[k] = r.nextDouble();
        int blobs = 6;
        double[][] blob = new double[blobs][6]; // cx, cy, radius, r, g, b
        for (double[] b : blob) {
            b[0] = r.nextDouble() * w;
            b[1] = r.nextDouble() * h;
            b[2] = 20 + r.nextDouble() * 120;
            for (int c = 3; c < 6; c++) b[c] = r.nextDouble() * 2 - 1;
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double u = (double) x / w, v = (double) y / h;
                int rgb = 0;
                for (int c = 0; c < 3; c++) {
                    double[] b = base[c];
                    double val = b[0] * (1 - u) * (1 - v) + b[1] * u * (1 - v) + b[2] * (1 - u) * v + b[3] * u * v;
                    for (double[] bl : blob) {
                        double dx = x - bl[0], dy = y - bl[1];
                        val += 0.35 * bl[3 + c] * Math.exp(-(dx * dx + dy * dy) / (2 * bl[2] * bl[2]));
                    }
                    val += 0.04 * r.nextGaussian() + 0.05 * Math.sin(x * 0.21 + c) * Math.sin(y * 0.17); // sensor noise + texture
                    rgb = rgb << 8 | (int) Math.max(0, Math.min(255, Math.round(val * 255)));
                }
                img.setRGB(x, y, rgb);
            }
        return img;
    }

    static void writeJpeg(BufferedImage img, Path file, float quality) throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(file.toFile())) {
            ImageWriteParam p = writer.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(quality);
            writer.setOutput(out);
            writer.write(null, new IIOImage(img, null, null), p);
        } finally {
            writer.dispose();
        }
    }
}
