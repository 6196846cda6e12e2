package io.dltrain.datasets.transform;

import java.util.Objects;

/**
 * A decoded image as transforms see it: float32 values in channel-major CHW order (C channels of H rows of W
 * columns), element (c, y, x) at {@code data[(c * h + y) * w + x]}. Freshly decoded images hold values in [0, 1]
 * (pixel / 255, as torchvision's {@code ToTensor}); after {@link Normalize} they are standardised. Transforms never
 * modify their input image; they return a new one (or the input itself when they change nothing).
 *
 * @param c    channels (3 for RGB)
 * @param h    height in pixels
 * @param w    width in pixels
 * @param data c * h * w values, CHW
 */
public record Image(int c, int h, int w, float[] data) {
    public Image {
        Objects.requireNonNull(data, "data");
        if (c < 1 || h < 1 || w < 1)
            throw new IllegalArgumentException("image dimensions must be >= 1, got [C=" + c + ", H=" + h + ", W=" + w + "]");
        if ((long) c * h * w != data.length)
            throw new IllegalArgumentException("image [C=" + c + ", H=" + h + ", W=" + w + "] needs " + (long) c * h * w
                    + " values, data has " + data.length);
    }

    /** A zero-filled image. */
    public static Image zeros(int c, int h, int w) {
        long n = (long) c * h * w;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("image [C=" + c + ", H=" + h + ", W=" + w + "] has more than 2^31 values");
        return new Image(c, h, w, new float[(int) n]);
    }

    /** Value at channel ch, row y, column x. */
    public float get(int ch, int y, int x) { return data[(ch * h + y) * w + x]; }

    public int numel() { return data.length; }

    @Override public String toString() { return "Image[C=" + c + ", H=" + h + ", W=" + w + "]"; }
}
