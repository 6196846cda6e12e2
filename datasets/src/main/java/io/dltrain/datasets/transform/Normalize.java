package io.dltrain.datasets.transform;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Standardises each channel: {@code (x - mean[c]) / std[c]}, in float32, mirroring
 * {@code torchvision.transforms.Normalize(mean, std)}. {@link #IMAGENET} holds the usual ImageNet statistics.
 */
public final class Normalize implements Transform {
    /** ImageNet mean and std per RGB channel, as in the torchvision model zoo recipes. */
    public static final Normalize IMAGENET = new Normalize(new float[]{0.485f, 0.456f, 0.406f}, new float[]{0.229f, 0.224f, 0.225f});

    private final float[] mean, std;

    public Normalize(float[] mean, float[] std) {
        if (mean.length == 0 || mean.length != std.length)
            throw new IllegalArgumentException("Normalize needs one mean and one std per channel, got " + mean.length
                    + " means and " + std.length + " stds");
        for (int c = 0; c < mean.length; c++)
            if (!(std[c] > 0) || !Float.isFinite(mean[c]) || !Float.isFinite(std[c]))
                throw new IllegalArgumentException("Normalize channel " + c + ": need a finite mean and 0 < std < inf, got mean "
                        + mean[c] + ", std " + std[c]);
        this.mean = mean.clone();
        this.std = std.clone();
    }

    public float[] mean() { return mean.clone(); }

    public float[] std() { return std.clone(); }

    @Override public Image apply(Image in, RandomGenerator rng) {
        check(in.c());
        int plane = in.h() * in.w();
        float[] s = in.data(), o = new float[s.length];
        for (int c = 0; c < in.c(); c++) {
            float m = mean[c], sd = std[c];
            for (int j = c * plane, e = j + plane; j < e; j++) o[j] = (s[j] - m) / sd;
        }
        return new Image(in.c(), in.h(), in.w(), o);
    }

    private void check(int channels) {
        if (channels != mean.length)
            throw new IllegalArgumentException("Normalize has statistics for " + mean.length + " channels, the image has " + channels);
    }

    @Override public int[] outputShape(int[] chw) {
        if (chw[0] >= 0) check(chw[0]);
        return chw.clone();
    }

    @Override public String toString() { return "Normalize(mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + ")"; }
}
