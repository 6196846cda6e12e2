package io.dltrain.datasets.transform;

import java.util.random.RandomGenerator;

/**
 * Crops a random region of random area and aspect ratio and resizes it to a fixed size: mirrors
 * {@code torchvision.transforms.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3/4, 4/3),
 * interpolation=BILINEAR, antialias=True)}, including {@code get_params}: up to 10 attempts at an area fraction drawn
 * uniformly from {@code scale} and an aspect ratio (width / height) drawn log-uniformly from {@code ratio}, width and
 * height rounded half-to-even as Python's {@code round}; the first that fits is placed uniformly at random; if none
 * fits, the largest centred crop whose ratio is clamped into {@code ratio}. Resampling: see {@link Resample}.
 * Draws 2 numbers per attempt plus 2 for the position.
 */
public final class RandomResizedCrop implements Transform {
    private final int outH, outW;
    private final double scaleMin, scaleMax, logRatioMin, logRatioMax, ratioMin, ratioMax;

    /** A size x size output with torchvision's defaults: scale (0.08, 1.0), ratio (3/4, 4/3). */
    public RandomResizedCrop(int size) { this(size, size, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0); }

    public RandomResizedCrop(int outH, int outW, double scaleMin, double scaleMax, double ratioMin, double ratioMax) {
        if (outH < 1 || outW < 1) throw new IllegalArgumentException("RandomResizedCrop size must be >= 1, got " + outH + "x" + outW);
        if (!(scaleMin > 0 && scaleMin <= scaleMax && scaleMax <= 1))
            throw new IllegalArgumentException("RandomResizedCrop scale must satisfy 0 < min <= max <= 1, got (" + scaleMin + ", " + scaleMax + ")");
        if (!(ratioMin > 0 && ratioMin <= ratioMax && Double.isFinite(ratioMax)))
            throw new IllegalArgumentException("RandomResizedCrop ratio must satisfy 0 < min <= max, got (" + ratioMin + ", " + ratioMax + ")");
        this.outH = outH;
        this.outW = outW;
        this.scaleMin = scaleMin;
        this.scaleMax = scaleMax;
        this.ratioMin = ratioMin;
        this.ratioMax = ratioMax;
        this.logRatioMin = Math.log(ratioMin);
        this.logRatioMax = Math.log(ratioMax);
    }

    /** torchvision's {@code RandomResizedCrop.get_params}: {top, left, height, width} of the crop. */
    public int[] params(int height, int width, RandomGenerator rng) {
        double area = (double) height * width;
        for (int attempt = 0; attempt < 10; attempt++) {
            double targetArea = area * uniform(rng, scaleMin, scaleMax);
            double aspect = Math.exp(uniform(rng, logRatioMin, logRatioMax));
            int w = (int) Math.rint(Math.sqrt(targetArea * aspect));
            int h = (int) Math.rint(Math.sqrt(targetArea / aspect));
            if (0 < w && w <= width && 0 < h && h <= height) {
                int top = rng.nextInt(height - h + 1);
                int left = rng.nextInt(width - w + 1);
                return new int[]{top, left, h, w};
            }
        }
        double inRatio = (double) width / height;
        int w, h;
        if (inRatio < ratioMin) {
            w = width;
            h = (int) Math.rint(w / ratioMin);
        } else if (inRatio > ratioMax) {
            h = height;
            w = (int) Math.rint(h * ratioMax);
        } else {
            w = width;
            h = height;
        }
        return new int[]{(height - h) / 2, (width - w) / 2, h, w};
    }

    private static double uniform(RandomGenerator rng, double lo, double hi) {
        return lo == hi ? lo : lo + (hi - lo) * rng.nextDouble(); // torch.empty(1).uniform_(lo, hi)
    }

    @Override public Image apply(Image in, RandomGenerator rng) { return apply(in, params(in.h(), in.w(), rng)); }

    /** The crop {top, left, height, width} of in (as {@link #params} draws it), resized to the output size. */
    public Image apply(Image in, int[] box) {
        return Resample.resizedCrop(in, box[0], box[1], box[2], box[3], outH, outW);
    }

    @Override public int[] outputShape(int[] chw) { return new int[]{chw[0], outH, outW}; }

    @Override public String toString() {
        return "RandomResizedCrop(size=(" + outH + ", " + outW + "), scale=(" + scaleMin + ", " + scaleMax + "), ratio=("
                + ratioMin + ", " + ratioMax + "))";
    }
}
