package io.dltrain.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * predict's resizing of a picture to a model's input size (models of IDX, CIFAR and other non-image-folder datasets):
 * the levels torchvision's {@code Resize((H, W))} gives on an 8-bit PIL picture, i.e. Pillow's antialiased bilinear
 * {@code resize}. It sampled the four nearest pixels (plain bilinear, as {@code F.interpolate(..., antialias=False)}),
 * which on a downscale ignores most of the picture: the first row below, 92, 130, 170, 139 in Pillow, was 93, 95,
 * 149, 165 (and up to 156 levels off on random 84 x 84 pictures brought to 28 x 28).
 */
class PredictResizeTest {
    /** The test picture's level at (y, x). */
    static int level(int y, int x) { return (y * 37 + x * 101 + (x * y) % 7 * 13) % 256; }

    static float[] picture(int h, int w) {
        float[] p = new float[h * w];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) p[y * w + x] = level(y, x);
        return p;
    }

    /**
     * Pillow 12.3's values, from {@code a = np.array([[(y*37 + x*101 + (x*y)%7*13) % 256 for x in range(w)] for y in
     * range(h)], dtype=np.uint8); np.asarray(Image.fromarray(a).resize((ow, oh), Image.BILINEAR)).flatten().tolist()}
     * for (h, w, oh, ow) = (7, 9, 3, 4): a downscale in both directions; (5, 3, 2, 7): down in one, up in the other;
     * (84, 84, 28, 28): the sum of the 784 levels, {@code int(r.astype(np.int64).sum())} for that result r.
     */
    @Test
    void resizesAsPillowsAntialiasedBilinearOnAnEightBitPicture() {
        assertArrayEquals(new float[]{92, 130, 170, 139, 138, 132, 115, 108, 150, 145, 152, 102},
                PredictCommand.resize(picture(7, 9), 7, 9, 3, 4));
        assertArrayEquals(new float[]{37, 53, 102, 151, 125, 99, 90, 111, 119, 145, 170, 142, 115, 106},
                PredictCommand.resize(picture(5, 3), 5, 3, 2, 7));
        double sum = 0;
        for (float v : PredictCommand.resize(picture(84, 84), 84, 84, 28, 28)) sum += v;
        assertArrayEquals(new double[]{99765}, new double[]{sum});
        float[] same = picture(4, 4);
        assertArrayEquals(same, PredictCommand.resize(same, 4, 4, 4, 4));
    }
}
