package io.dltrain.datasets.transform;

import java.util.random.RandomGenerator;

/**
 * Crops the centre: mirrors {@code torchvision.transforms.CenterCrop(size)}. The offset is
 * {@code int(round((H - h) / 2))} with Python's half-to-even rounding, as torchvision's {@code center_crop}; an image
 * smaller than the crop is first padded with zeros on all sides (as torchvision does) so the output is always
 * h x w.
 */
public final class CenterCrop implements Transform {
    private final int outH, outW;

    public CenterCrop(int size) { this(size, size); }

    public CenterCrop(int h, int w) {
        if (h < 1 || w < 1) throw new IllegalArgumentException("CenterCrop size must be >= 1, got " + h + "x" + w);
        this.outH = h;
        this.outW = w;
    }

    @Override public Image apply(Image in, RandomGenerator rng) {
        Image x = in;
        if (x.h() < outH || x.w() < outW) {
            // torchvision: pad [left, top, right, bottom] = [(cw - w) // 2, (ch - h) // 2, (cw - w + 1) // 2, (ch - h + 1) // 2]
            int padTop = outH > x.h() ? (outH - x.h()) / 2 : 0, padBottom = outH > x.h() ? (outH - x.h() + 1) / 2 : 0;
            int padLeft = outW > x.w() ? (outW - x.w()) / 2 : 0, padRight = outW > x.w() ? (outW - x.w() + 1) / 2 : 0;
            x = RandomCrop.pad(x, padTop, padBottom, padLeft, padRight);
        }
        int top = (int) Math.rint((x.h() - outH) / 2.0), left = (int) Math.rint((x.w() - outW) / 2.0);
        return Resample.resizedCrop(x, top, left, outH, outW, outH, outW);
    }

    @Override public int[] outputShape(int[] chw) { return new int[]{chw[0], outH, outW}; }

    @Override public String toString() { return "CenterCrop((" + outH + ", " + outW + "))"; }
}
