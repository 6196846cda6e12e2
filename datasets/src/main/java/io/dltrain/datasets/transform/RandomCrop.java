package io.dltrain.datasets.transform;

import java.util.random.RandomGenerator;

/**
 * Pads every side with zeros, then crops a random h x w window: mirrors
 * {@code torchvision.transforms.RandomCrop(size, padding, pad_if_needed=False, fill=0, padding_mode="constant")}
 * (the CIFAR recipe is {@code RandomCrop(32, padding=4)}). The window's top-left corner is uniform over every
 * position that fits; draws 2 numbers. An image still smaller than the crop after padding is an error, as in
 * torchvision.
 */
public final class RandomCrop implements Transform {
    private final int outH, outW, padding;

    public RandomCrop(int size, int padding) { this(size, size, padding); }

    public RandomCrop(int h, int w, int padding) {
        if (h < 1 || w < 1) throw new IllegalArgumentException("RandomCrop size must be >= 1, got " + h + "x" + w);
        if (padding < 0) throw new IllegalArgumentException("RandomCrop padding must be >= 0, got " + padding);
        this.outH = h;
        this.outW = w;
        this.padding = padding;
    }

    @Override public Image apply(Image in, RandomGenerator rng) {
        Image x = padding > 0 ? pad(in, padding, padding, padding, padding) : in;
        if (x.h() < outH || x.w() < outW)
            throw new IllegalArgumentException("RandomCrop: required crop size " + outH + "x" + outW + " is larger than the"
                    + " padded image " + x.h() + "x" + x.w() + " (input " + in.h() + "x" + in.w() + ", padding " + padding + ")");
        int top = rng.nextInt(x.h() - outH + 1); // torch.randint(0, h - th + 1)
        int left = rng.nextInt(x.w() - outW + 1);
        return Resample.resizedCrop(x, top, left, outH, outW, outH, outW);
    }

    /** The image with zero rows/columns added on each side. */
    static Image pad(Image in, int top, int bottom, int left, int right) {
        int C = in.c(), H = in.h(), W = in.w(), h2 = H + top + bottom, w2 = W + left + right;
        Image out = Image.zeros(C, h2, w2);
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                System.arraycopy(in.data(), (c * H + y) * W, out.data(), (c * h2 + y + top) * w2 + left, W);
        return out;
    }

    @Override public int[] outputShape(int[] chw) {
        if (chw[1] >= 0 && chw[2] >= 0 && (chw[1] + 2 * padding < outH || chw[2] + 2 * padding < outW))
            throw new IllegalArgumentException("RandomCrop " + outH + "x" + outW + " with padding " + padding
                    + " cannot crop a " + chw[1] + "x" + chw[2] + " image");
        return new int[]{chw[0], outH, outW};
    }

    @Override public String toString() { return "RandomCrop((" + outH + ", " + outW + "), padding=" + padding + ")"; }
}
