package io.dltrain.datasets.transform;

import java.util.random.RandomGenerator;

/**
 * Resizes with antialiased bilinear interpolation ({@link Resample}): mirrors {@code torchvision.transforms.Resize}.
 * {@code new Resize(s)} is {@code Resize(s)}: the shorter side becomes s and the longer one
 * {@code int(s * long / short)} (truncated, as torchvision computes it), keeping the aspect ratio.
 * {@link #exact(int, int)} is {@code Resize((h, w))}. An image already of the target size is returned as is.
 */
public final class Resize implements Transform {
    private final int shorter; // > 0: shorter-side mode
    private final int outH, outW; // exact mode when shorter == 0

    /** Shorter side to {@code shorterSide}, aspect ratio kept. */
    public Resize(int shorterSide) {
        if (shorterSide < 1) throw new IllegalArgumentException("Resize size must be >= 1, got " + shorterSide);
        this.shorter = shorterSide;
        this.outH = -1;
        this.outW = -1;
    }

    private Resize(int h, int w) {
        if (h < 1 || w < 1) throw new IllegalArgumentException("Resize size must be >= 1, got " + h + "x" + w);
        this.shorter = 0;
        this.outH = h;
        this.outW = w;
    }

    /** Exactly h x w, aspect ratio not kept. */
    public static Resize exact(int h, int w) { return new Resize(h, w); }

    /** Output {height, width} for an input of {@code h x w}. */
    public int[] size(int h, int w) {
        if (shorter == 0) return new int[]{outH, outW};
        // torchvision _compute_resized_output_size: new_long = int(new_short * long / short)
        if (h <= w) return new int[]{shorter, (int) ((double) shorter * w / h)};
        return new int[]{(int) ((double) shorter * h / w), shorter};
    }

    @Override public Image apply(Image in, RandomGenerator rng) {
        int[] s = size(in.h(), in.w());
        return Resample.resizedCrop(in, 0, 0, in.h(), in.w(), s[0], s[1]);
    }

    @Override public int[] outputShape(int[] chw) {
        if (shorter == 0) return new int[]{chw[0], outH, outW};
        if (chw[1] < 0 || chw[2] < 0) return new int[]{chw[0], -1, -1};
        int[] s = size(chw[1], chw[2]);
        return new int[]{chw[0], s[0], s[1]};
    }

    @Override public String toString() { return shorter > 0 ? "Resize(" + shorter + ")" : "Resize((" + outH + ", " + outW + "))"; }
}
