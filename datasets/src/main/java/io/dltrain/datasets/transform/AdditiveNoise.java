package io.dltrain.datasets.transform;

import java.util.random.RandomGenerator;

/**
 * Adds independent Gaussian noise N(0, sigma^2) to every value: mirrors
 * {@code torchvision.transforms.v2.GaussianNoise(mean=0.0, sigma, clip)}, whose default {@code clip=True} clamps
 * the result to [0, 1] (so put it before {@link Normalize}, on [0, 1] images); with clip false any values are
 * accepted. Draws one Gaussian per value, in CHW order.
 */
public final class AdditiveNoise implements Transform {
    private final float sigma;
    private final boolean clip;

    /** sigma with clipping to [0, 1], as GaussianNoise's default. */
    public AdditiveNoise(float sigma) { this(sigma, true); }

    public AdditiveNoise(float sigma, boolean clip) {
        if (!(sigma >= 0) || !Float.isFinite(sigma)) throw new IllegalArgumentException("AdditiveNoise sigma must be finite and >= 0, got " + sigma);
        this.sigma = sigma;
        this.clip = clip;
    }

    @Override public Image apply(Image in, RandomGenerator rng) {
        float[] s = in.data(), o = new float[s.length];
        for (int j = 0; j < s.length; j++) {
            float v = s[j] + sigma * (float) rng.nextGaussian();
            o[j] = clip ? Math.min(1f, Math.max(0f, v)) : v;
        }
        return new Image(in.c(), in.h(), in.w(), o);
    }

    @Override public int[] outputShape(int[] chw) { return chw.clone(); }

    @Override public String toString() { return "AdditiveNoise(sigma=" + sigma + ", clip=" + clip + ")"; }
}
