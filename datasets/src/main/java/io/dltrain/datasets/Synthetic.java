package io.dltrain.datasets;

import io.dltrain.datasets.transform.Seeds;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Deterministic random classification data of any shape and class count, generated on read (nothing is stored),
 * for tests and benchmarks that need data without files. It is <i>learnable</i>: every class k has a fixed random
 * mean pattern {@code mu_k} and a sample of class k is {@code mu_k + noise * eps} with eps ~ N(0, 1) per value, so a
 * model (linear, MLP or CNN) can fit it and generalise to the test split, which is drawn from the same distribution.
 *
 * <p>The pattern of a class is {@code a[k, c] + f[k, c](y, x)}: a per-channel offset a ~ N(0, 0.5^2) plus a smooth
 * field f, N(0, 1) values on a coarse grid of at most 4x4 points bilinearly interpolated (corners aligned) over
 * H x W. The offsets give global-average-pooled CNN features something to separate, the fields give spatial
 * structure; both are far from the noise at the default noise 1.0 (the task is easy by design: it is for checking
 * that training works, not for comparing models).
 *
 * <p>Everything is a function of (seed, split, index): the label is the first draw of sample i's stream
 * ({@link Seeds#sample}) and the noise the next ones, so reads are reproducible in any order from any thread, and
 * the train and test splits are independent samples. Registry name {@code synthetic} with options, see
 * {@link #fromOptions}.
 */
public final class Synthetic implements Dataset {
    /** Defaults of the registry entry {@code synthetic}. */
    public static final int DEFAULT_C = 3, DEFAULT_H = 32, DEFAULT_W = 32, DEFAULT_CLASSES = 10, DEFAULT_TRAIN = 1024, DEFAULT_TEST = 256;
    public static final float DEFAULT_NOISE = 1.0f;
    private static final long PATTERN_STREAM = 0x7A77E54EL, TRAIN_STREAM = 0x7124A1L, TEST_STREAM = 0x7E57L;
    private static final int GRID = 4;

    private final String name;
    private final int c, h, w, classes, size;
    private final long seed, stream;
    private final float noise;
    private final List<String> classNames;

    private Synthetic(String name, int c, int h, int w, int classes, int size, long seed, long stream, float noise) {
        this.name = name;
        this.c = c;
        this.h = h;
        this.w = w;
        this.classes = classes;
        this.size = size;
        this.seed = seed;
        this.stream = stream;
        this.noise = noise;
        List<String> names = new ArrayList<>(classes);
        for (int k = 0; k < classes; k++) names.add("class" + k);
        this.classNames = List.copyOf(names);
    }

    /** Train and test splits of [c, h, w] samples in {@code classes} classes, with the default noise 1.0. */
    public static DatasetRegistry.Splits of(int c, int h, int w, int classes, int trainSize, int testSize, long seed) {
        return of(c, h, w, classes, trainSize, testSize, seed, DEFAULT_NOISE);
    }

    /**
     * Train and test splits of [c, h, w] samples in {@code classes} classes.
     *
     * @param noise standard deviation of the per-value Gaussian noise around the class pattern (0 gives the bare patterns)
     */
    public static DatasetRegistry.Splits of(int c, int h, int w, int classes, int trainSize, int testSize, long seed, float noise) {
        if (c < 1 || h < 1 || w < 1 || (long) c * h * w > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("synthetic: sample shape must be C x H x W with each >= 1 and at most 2^31 values, got "
                    + c + "x" + h + "x" + w);
        if (classes < 1) throw new IllegalArgumentException("synthetic: classes must be >= 1, got " + classes);
        if (trainSize < 1) throw new IllegalArgumentException("synthetic: train size must be >= 1, got " + trainSize);
        if (testSize < 0) throw new IllegalArgumentException("synthetic: test size must be >= 0, got " + testSize);
        if (!(noise >= 0) || !Float.isFinite(noise)) throw new IllegalArgumentException("synthetic: noise must be finite and >= 0, got " + noise);
        String base = "synthetic";
        return new DatasetRegistry.Splits(new Synthetic(base + "/train", c, h, w, classes, trainSize, seed, TRAIN_STREAM, noise),
                new Synthetic(base + "/test", c, h, w, classes, testSize, seed, TEST_STREAM, noise));
    }

    /** The registry spec's option keys, in the order the description lists them. */
    static final List<String> OPTION_KEYS = List.of("classes", "train", "test", "seed", "noise");

    /**
     * Builds the splits from registry options: an optional positional {@code CxHxW} (or {@code HxW} for one channel)
     * and {@code classes=, train=, test=, seed=, noise=}, e.g. {@code synthetic:1x28x28,classes=10,train=6000}.
     */
    static DatasetRegistry.Splits fromOptions(DatasetOptions o) {
        int[] shape = {DEFAULT_C, DEFAULT_H, DEFAULT_W};
        String dims = o.positional();
        if (dims != null) {
            String[] p = dims.toLowerCase(Locale.ROOT).split("x", -1);
            if (p.length < 2 || p.length > 3) throw o.error("'" + dims + "' is not a sample shape; write CxHxW, e.g. 3x32x32 (or HxW for 1 channel)");
            int[] v = new int[p.length];
            for (int i = 0; i < p.length; i++) v[i] = o.parseInt(p[i], "shape");
            shape = p.length == 3 ? v : new int[]{1, v[0], v[1]};
        }
        try {
            return of(shape[0], shape[1], shape[2], o.getInt("classes", DEFAULT_CLASSES), o.getInt("train", DEFAULT_TRAIN),
                    o.getInt("test", DEFAULT_TEST), o.getLong("seed", 0), o.getFloat("noise", DEFAULT_NOISE));
        } catch (IllegalArgumentException e) {
            throw o.error(e.getMessage());
        }
    }

    @Override public String name() { return name; }

    @Override public int size() { return size; }

    @Override public Shape sampleShape() { return Shape.of(c, h, w); }

    @Override public int numClasses() { return classes; }

    @Override public List<String> classNames() { return classNames; }

    public float noise() { return noise; }

    /** Label of sample index (the first draw of its stream), without generating its features. */
    public int label(int index) {
        Objects.checkIndex(index, size);
        return Seeds.sample(seed, stream, index).nextInt(classes);
    }

    /** Writes class k's mean pattern (c * h * w values, CHW) into dst at off. */
    public void pattern(int k, float[] dst, int off) {
        Objects.checkIndex(k, classes);
        Objects.checkFromIndexSize(off, c * h * w, dst.length);
        SplittableRandom rng = Seeds.sample(seed, PATTERN_STREAM, k);
        int gh = Math.min(GRID, h), gw = Math.min(GRID, w);
        float[] grid = new float[gh * gw];
        for (int ch = 0; ch < c; ch++) {
            float offset = 0.5f * (float) rng.nextGaussian();
            for (int j = 0; j < grid.length; j++) grid[j] = (float) rng.nextGaussian();
            for (int y = 0; y < h; y++) {
                // Bilinear with corners aligned: grid row gy sits at image row gy * (h - 1) / (gh - 1).
                float fy = gh == 1 ? 0 : (float) y * (gh - 1) / Math.max(1, h - 1);
                int y0 = Math.min((int) fy, gh - 1), y1 = Math.min(y0 + 1, gh - 1);
                float ty = fy - y0;
                for (int x = 0; x < w; x++) {
                    float fx = gw == 1 ? 0 : (float) x * (gw - 1) / Math.max(1, w - 1);
                    int x0 = Math.min((int) fx, gw - 1), x1 = Math.min(x0 + 1, gw - 1);
                    float tx = fx - x0;
                    float top = grid[y0 * gw + x0] * (1 - tx) + grid[y0 * gw + x1] * tx;
                    float bot = grid[y1 * gw + x0] * (1 - tx) + grid[y1 * gw + x1] * tx;
                    dst[off + (ch * h + y) * w + x] = offset + top * (1 - ty) + bot * ty;
                }
            }
        }
    }

    @Override
    public int read(int index, float[] dst, int dstOffset) {
        if (index < 0 || index >= size)
            throw new IndexOutOfBoundsException(name + ": sample index " + index + " outside [0, " + size + ")");
        int numel = c * h * w;
        Objects.checkFromIndexSize(dstOffset, numel, dst.length);
        SplittableRandom rng = Seeds.sample(seed, stream, index);
        int label = rng.nextInt(classes);
        pattern(label, dst, dstOffset);
        if (noise > 0) for (int j = 0; j < numel; j++) dst[dstOffset + j] += noise * (float) rng.nextGaussian();
        return label;
    }

    @Override public String toString() {
        return String.format(Locale.ROOT, "%s (%d samples, %s, %d classes, noise %s, seed %d)", name, size, sampleShape(), classes, noise, seed);
    }
}
