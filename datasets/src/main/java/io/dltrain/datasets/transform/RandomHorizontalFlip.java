package io.dltrain.datasets.transform;

import java.util.random.RandomGenerator;

/**
 * Mirrors the image left-right with probability p: {@code torchvision.transforms.RandomHorizontalFlip(p=0.5)}.
 * Always draws exactly one number, flipped or not, so later transforms see the same stream either way.
 */
public final class RandomHorizontalFlip implements Transform {
    private final double p;

    public RandomHorizontalFlip() { this(0.5); }

    public RandomHorizontalFlip(double p) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("RandomHorizontalFlip p must be in [0, 1], got " + p);
        this.p = p;
    }

    @Override public Image apply(Image in, RandomGenerator rng) {
        if (!(rng.nextDouble() < p)) return in; // torch.rand(1) < p
        return flip(in);
    }

    /** The image mirrored left-right (column x becomes W - 1 - x). */
    public static Image flip(Image in) {
        int C = in.c(), H = in.h(), W = in.w();
        float[] s = in.data(), o = new float[s.length];
        for (int row = 0; row < C * H; row++) {
            int base = row * W;
            for (int x = 0; x < W; x++) o[base + x] = s[base + W - 1 - x];
        }
        return new Image(C, H, W, o);
    }

    @Override public int[] outputShape(int[] chw) { return chw.clone(); }

    @Override public String toString() { return "RandomHorizontalFlip(p=" + p + ")"; }
}
