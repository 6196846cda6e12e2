package io.dltrain.datasets.transform;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Transforms: geometry against torchvision's formulas worked out by hand or written out directly in the test,
 * resampling against a direct 2-D evaluation of Pillow's antialiased bilinear filter in double, and determinism of
 * the per-sample random streams.
 */
class TransformTest {
    /** Float32 accumulation against a double reference over at most ~20 taps of values in [0, 1]. */
    static final double RESAMPLE_TOL = 1e-5;

    /** An image whose values differ everywhere: v(c, y, x) = frac(0.37 c + 0.011 y + 0.0037 x + 0.13 sin(x y)). */
    static Image pattern(int c, int h, int w) {
        Image im = Image.zeros(c, h, w);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    double v = 0.37 * ch + 0.011 * y + 0.0037 * x + 0.13 * Math.sin(x * y);
                    im.data()[(ch * h + y) * w + x] = (float) (v - Math.floor(v));
                }
        return im;
    }

    /** Pillow's triangle-filter weights for output coordinate o of a resize in -> out, written out in double. */
    static double[] pilWeights(int in, int out, int o) {
        double scale = (double) in / out, fs = Math.max(scale, 1), support = fs, center = (o + 0.5) * scale;
        double[] w = new double[in];
        double sum = 0;
        for (int x = 0; x < in; x++) {
            // Pillow's tap window [int(center - support + 0.5), int(center + support + 0.5)), clamped to the image.
            if (x < Math.max(0, (int) (center - support + 0.5)) || x >= Math.min(in, (int) (center + support + 0.5))) continue;
            double t = Math.abs((x - center + 0.5) / fs);
            w[x] = Math.max(0, 1 - t);
            sum += w[x];
        }
        for (int x = 0; x < in; x++) w[x] /= sum;
        return w;
    }

    /** Direct 2-D (non-separable) reference of a resized crop, in double. */
    static double[] referenceResizedCrop(Image src, int top, int left, int ch, int cw, int oh, int ow) {
        double[] out = new double[src.c() * oh * ow];
        for (int c = 0; c < src.c(); c++)
            for (int yy = 0; yy < oh; yy++) {
                double[] wy = pilWeights(ch, oh, yy);
                for (int xx = 0; xx < ow; xx++) {
                    double[] wx = pilWeights(cw, ow, xx);
                    double acc = 0;
                    for (int y = 0; y < ch; y++)
                        for (int x = 0; x < cw; x++) acc += wy[y] * wx[x] * src.get(c, top + y, left + x);
                    out[(c * oh + yy) * ow + xx] = acc;
                }
            }
        return out;
    }

    static void assertClose(double[] want, Image got, double tol, String what) {
        assertEquals(want.length, got.numel(), what + ": size");
        for (int j = 0; j < want.length; j++)
            assertEquals(want[j], got.data()[j], tol, what + ": element " + j + " of " + got);
    }

    @Test
    void resampleMatchesDirectPillowReferenceForDownAndUpscaling() {
        Image src = pattern(3, 23, 31);
        int[][] cases = { // top, left, cropH, cropW, outH, outW
                {0, 0, 23, 31, 7, 9},     // downscale ~3.3x: wide filters
                {2, 3, 17, 20, 17, 9},    // horizontal only
                {1, 0, 20, 31, 8, 31},    // vertical only
                {4, 5, 6, 7, 19, 25},     // upscale ~3x: plain bilinear
                {0, 0, 23, 31, 11, 40},   // down in H, up in W
                {3, 2, 1, 1, 4, 4},       // a single pixel blown up: constant
        };
        for (int[] k : cases) {
            Image got = Resample.resizedCrop(src, k[0], k[1], k[2], k[3], k[4], k[5]);
            assertEquals(3, got.c());
            assertEquals(k[4], got.h());
            assertEquals(k[5], got.w());
            assertClose(referenceResizedCrop(src, k[0], k[1], k[2], k[3], k[4], k[5]), got, RESAMPLE_TOL, java.util.Arrays.toString(k));
        }
    }

    @Test
    void resizeMatchesPillowOnAFloatImage() {
        // Reference values from Pillow 12.3.0 itself, resizing a mode 'F' (float32) image, whose resampler
        // accumulates in double without 8-bit rounding:
        //   im = Image.new('F', (w, h)); im.putpixel((x, y), frac(0.011 y + 0.0037 x + 0.13 sin(x y))) for all x, y
        //   im.resize((ow, oh), Image.BILINEAR).getpixel((x, y))
        float[] down = {0.0291571f, 0.0503318f, 0.2973804f, 0.4204887f, 0.0889672f, 0.4728167f, 0.5856361f, 0.8656409f,
                0.2681557f, 0.3369868f, 0.4260584f, 0.5887617f}; // 5x7 -> 3x4
        float[] up = {0.0000000f, 0.0018500f, 0.0043167f, 0.0067833f, 0.0092500f, 0.0111000f, 0.0068750f, 0.0429098f,
                0.0804797f, 0.0866203f, 0.0587982f, 0.0294410f, 0.0151250f, 0.0733239f, 0.1820209f, 0.3840132f, 0.4167904f,
                0.3990695f, 0.0220000f, 0.0829543f, 0.2750932f, 0.7998312f, 0.9638958f, 0.9967760f}; // 3x4 -> 4x6
        Image d = Resample.resizedCrop(pattern(1, 5, 7), 0, 0, 5, 7, 3, 4), u = Resample.resizedCrop(pattern(1, 3, 4), 0, 0, 3, 4, 4, 6);
        for (int j = 0; j < down.length; j++) assertEquals(down[j], d.data()[j], 1e-6, "5x7 -> 3x4 element " + j); // 7 printed digits
        for (int j = 0; j < up.length; j++) assertEquals(up[j], u.data()[j], 1e-6, "3x4 -> 4x6 element " + j);
    }

    @Test
    void halvingUsesPillowsOneThreeThreeOneKernelAndUpscalingIsHalfPixelBilinear() {
        // Halving with the antialiased triangle: support 2 around centre 2x+1 gives weights 1/8, 3/8, 3/8, 1/8
        // on pixels 2x-1 .. 2x+2 (worked out by hand from Pillow's precompute_coeffs).
        Image row = Image.zeros(1, 1, 8);
        for (int x = 0; x < 8; x++) row.data()[x] = x * x; // a non-linear row, so the weights matter
        Image half = Resample.resizedCrop(row, 0, 0, 1, 8, 1, 4);
        for (int x = 1; x < 3; x++) { // interior outputs (the edges drop the taps outside and renormalise)
            double want = (1.0 * sq(2 * x - 1) + 3 * sq(2 * x) + 3 * sq(2 * x + 1) + 1 * sq(2 * x + 2)) / 8;
            assertEquals(want, half.data()[x], 1e-5, "output " + x);
        }
        assertEquals((3.0 * 0 + 3 * 1 + 1 * 4) / 7, half.data()[0], 1e-5, "left edge: tap -1 dropped, 3/7, 3/7, 1/7");

        // Doubling a linear ramp: output x samples input position (x + 0.5) / 2 - 0.5, linearly interpolated.
        Image ramp = Image.zeros(1, 1, 6);
        for (int x = 0; x < 6; x++) ramp.data()[x] = 10 * x;
        Image dbl = Resample.resizedCrop(ramp, 0, 0, 1, 6, 1, 12);
        for (int x = 1; x < 11; x++) assertEquals(10 * ((x + 0.5) / 2 - 0.5), dbl.data()[x], 1e-4, "output " + x);
        assertEquals(0, dbl.data()[0], 1e-6, "edge pixel replicated");
        assertEquals(50, dbl.data()[11], 1e-4, "edge pixel replicated");

        // A constant image stays constant at any scale (weights are normalised).
        Image flat = Image.zeros(2, 9, 13);
        java.util.Arrays.fill(flat.data(), 0.3f);
        for (float v : Resample.resizedCrop(flat, 1, 2, 7, 10, 3, 17).data()) assertEquals(0.3f, v, 1e-6);
    }

    private static double sq(int x) { return (double) x * x; }

    @Test
    void resizeFollowsTorchvisionShorterSideRule() {
        Resize r = new Resize(256);
        assertArrayEquals(new int[]{256, 341}, r.size(375, 500), "375x500 -> 256 x int(256 * 500 / 375) = 256x341");
        assertArrayEquals(new int[]{384, 256}, r.size(500, 333), "500x333 -> int(256 * 500 / 333) = 384 x 256");
        assertArrayEquals(new int[]{256, 256}, r.size(100, 100));
        assertArrayEquals(new int[]{3, 256, 341}, r.outputShape(new int[]{3, 375, 500}));
        assertArrayEquals(new int[]{3, -1, -1}, r.outputShape(new int[]{3, -1, -1}));
        Image src = pattern(3, 15, 20);
        Image out = new Resize(6).apply(src, null);
        assertEquals(6, out.h());
        assertEquals(8, out.w());
        assertClose(referenceResizedCrop(src, 0, 0, 15, 20, 6, 8), out, RESAMPLE_TOL, "Resize(6)");
        assertSame(src, new Resize(15).apply(src, null), "already the right size: unchanged");
        Image ex = Resize.exact(4, 9).apply(src, null);
        assertEquals(4, ex.h());
        assertEquals(9, ex.w());
    }

    @Test
    void centerCropUsesHalfToEvenOffsetsAndPadsSmallImages() {
        Image src = pattern(2, 5, 8);
        Image out = new CenterCrop(2, 3).apply(src, null);
        // top = round((5 - 2) / 2) = round(1.5) = 2; left = round((8 - 3) / 2) = round(2.5) = 2 (Python rounds half to even)
        for (int c = 0; c < 2; c++)
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 3; x++) assertEquals(src.get(c, 2 + y, 2 + x), out.get(c, y, x));
        // Crop larger than the image: zero padding left (5-2)//2 = 1, right 2, top (4-2)//2 = 1, bottom 1.
        Image small = pattern(1, 2, 2);
        Image padded = new CenterCrop(4, 5).apply(small, null);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++) {
                boolean inside = y >= 1 && y < 3 && x >= 1 && x < 3;
                assertEquals(inside ? small.get(0, y - 1, x - 1) : 0f, padded.get(0, y, x), "(" + y + ", " + x + ")");
            }
    }

    @Test
    void randomCropIsAWindowOfThePaddedImageAndCoversEveryPosition() {
        Image src = pattern(3, 4, 4);
        RandomCrop rc = new RandomCrop(4, 1);
        Set<Integer> seen = new HashSet<>();
        SplittableRandom rng = new SplittableRandom(5);
        for (int t = 0; t < 400; t++) {
            Image out = rc.apply(src, rng);
            int found = -1;
            for (int top = 0; top <= 2 && found < 0; top++)
                for (int left = 0; left <= 2 && found < 0; left++)
                    if (isWindow(src, out, top - 1, left - 1)) found = top * 3 + left;
            assertTrue(found >= 0, "output is not a window of the zero-padded input");
            seen.add(found);
        }
        assertEquals(9, seen.size(), "all 3x3 positions of a 4x4 crop from a 6x6 padded image occur");
        assertThrows(IllegalArgumentException.class, () -> new RandomCrop(8, 1).apply(src, new SplittableRandom(1)));
        assertThrows(IllegalArgumentException.class, () -> new RandomCrop(8, 1).outputShape(new int[]{3, 4, 4}));
    }

    /** Whether out equals src shifted by (dy, dx) with zeros outside src. */
    private static boolean isWindow(Image src, Image out, int dy, int dx) {
        for (int c = 0; c < src.c(); c++)
            for (int y = 0; y < out.h(); y++)
                for (int x = 0; x < out.w(); x++) {
                    int sy = y + dy, sx = x + dx;
                    float want = sy >= 0 && sy < src.h() && sx >= 0 && sx < src.w() ? src.get(c, sy, sx) : 0f;
                    if (out.get(c, y, x) != want) return false;
                }
        return true;
    }

    @Test
    void randomResizedCropParamsStayInRangeAndFallBackLikeTorchvision() {
        RandomResizedCrop rrc = new RandomResizedCrop(224);
        SplittableRandom rng = new SplittableRandom(11);
        int H = 375, W = 500;
        double minArea = 1, maxArea = 0;
        for (int t = 0; t < 2000; t++) {
            int[] p = rrc.params(H, W, rng);
            int top = p[0], left = p[1], h = p[2], w = p[3];
            assertTrue(top >= 0 && left >= 0 && h >= 1 && w >= 1 && top + h <= H && left + w <= W, java.util.Arrays.toString(p));
            double area = (double) h * w / (H * W), ratio = (double) w / h;
            minArea = Math.min(minArea, area);
            maxArea = Math.max(maxArea, area);
            // Rounding w and h to integers moves area and ratio slightly past the bounds (here by < 1%).
            assertTrue(area > 0.08 * 0.99 && area <= 1, "area fraction " + area);
            assertTrue(ratio > 0.75 * 0.99 && ratio < 4.0 / 3 * 1.01, "aspect ratio " + ratio);
        }
        assertTrue(minArea < 0.1 && maxArea > 0.7, "areas span the scale range: [" + minArea + ", " + maxArea + "]");

        // Nothing can fit (scale 1 at ratio 2 on a square): torchvision's fallback, worked out by hand:
        // in_ratio 1 < min ratio 2 -> w = 10, h = round(10 / 2) = 5, top = (10 - 5) // 2 = 2, left = 0.
        RandomResizedCrop never = new RandomResizedCrop(4, 4, 1.0, 1.0, 2.0, 2.0);
        assertArrayEquals(new int[]{2, 0, 5, 10}, never.params(10, 10, new SplittableRandom(3)));
        // ... and a very wide image with the default ratios: h = 10, w = round(10 * 4/3) = 13, left = (100 - 13) // 2 = 43.
        RandomResizedCrop full = new RandomResizedCrop(4, 4, 1.0, 1.0, 3.0 / 4, 4.0 / 3);
        assertArrayEquals(new int[]{0, 43, 10, 13}, full.params(10, 100, new SplittableRandom(3)));

        // apply() = resample of the crop that params() draws from the same stream.
        Image src = pattern(3, 30, 40);
        RandomResizedCrop small = new RandomResizedCrop(12);
        int[] p = small.params(30, 40, new SplittableRandom(99));
        Image out = small.apply(src, new SplittableRandom(99));
        assertEquals(12, out.h());
        assertEquals(12, out.w());
        assertClose(referenceResizedCrop(src, p[0], p[1], p[2], p[3], 12, 12), out, RESAMPLE_TOL, "RandomResizedCrop " + java.util.Arrays.toString(p));
    }

    @Test
    void horizontalFlipMirrorsAndAlwaysDrawsOneNumber() {
        Image src = pattern(3, 4, 5);
        Image f = RandomHorizontalFlip.flip(src);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 5; x++) assertEquals(src.get(c, y, 4 - x), f.get(c, y, x));
        SplittableRandom r = new SplittableRandom(1);
        assertSame(src, new RandomHorizontalFlip(0).apply(src, r));
        assertArrayEquals(f.data(), new RandomHorizontalFlip(1).apply(src, r).data());
        // One draw either way: the stream after the flip is the fresh stream's second number.
        SplittableRandom a = new SplittableRandom(42), b = new SplittableRandom(42);
        new RandomHorizontalFlip(0).apply(src, a);
        b.nextDouble();
        assertEquals(b.nextLong(), a.nextLong());
        // p = 0.5 flips about half the time.
        int flips = 0;
        SplittableRandom rng = new SplittableRandom(7);
        for (int t = 0; t < 1000; t++) if (new RandomHorizontalFlip().apply(src, rng) != src) flips++;
        assertTrue(flips > 430 && flips < 570, flips + " flips in 1000");
    }

    @Test
    void normalizeAndNoiseFollowTheirFormulas() {
        Image src = pattern(3, 6, 7);
        Image n = Normalize.IMAGENET.apply(src, null);
        double[] mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225};
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 42; j++)
                assertEquals((src.data()[c * 42 + j] - mean[c]) / std[c], n.data()[c * 42 + j], 1e-6, "channel " + c);
        assertThrows(IllegalArgumentException.class, () -> Normalize.IMAGENET.apply(pattern(1, 2, 2), null));
        assertThrows(IllegalArgumentException.class, () -> new Normalize(new float[]{0.5f}, new float[]{0f}));

        Image mid = Image.zeros(1, 100, 100);
        java.util.Arrays.fill(mid.data(), 0.5f);
        Image noisy = new AdditiveNoise(0.1f, false).apply(mid, new SplittableRandom(3));
        double s = 0, ss = 0;
        for (float v : noisy.data()) { s += v - 0.5; ss += (v - 0.5) * (v - 0.5); }
        assertEquals(0, s / 10000, 0.005, "noise mean");                 // 5 standard errors (0.1 / sqrt(10^4) = 0.001)
        assertEquals(0.1, Math.sqrt(ss / 10000), 0.005, "noise std");
        Image clipped = new AdditiveNoise(2f).apply(mid, new SplittableRandom(3));
        for (float v : clipped.data()) assertTrue(v >= 0 && v <= 1, "clip=True keeps [0, 1]: " + v);
    }

    @Test
    void pipelinesAreDeterministicPerSeedEpochAndIndex() {
        Transform t = Transform.compose(new RandomResizedCrop(16), new RandomHorizontalFlip(), new AdditiveNoise(0.05f), Normalize.IMAGENET);
        assertArrayEquals(new int[]{3, 16, 16}, t.outputShape(new int[]{3, -1, -1}));
        Image src = pattern(3, 40, 50);
        Image a = t.apply(src, Seeds.sample(7, 2, 123));
        Image b = t.apply(src, Seeds.sample(7, 2, 123));
        assertArrayEquals(a.data(), b.data(), "same (seed, epoch, index): bit-identical");
        assertNotEquals(java.util.Arrays.hashCode(a.data()), java.util.Arrays.hashCode(t.apply(src, Seeds.sample(7, 3, 123)).data()), "next epoch differs");
        assertNotEquals(java.util.Arrays.hashCode(a.data()), java.util.Arrays.hashCode(t.apply(src, Seeds.sample(7, 2, 124)).data()), "next index differs");
        assertNotEquals(java.util.Arrays.hashCode(a.data()), java.util.Arrays.hashCode(t.apply(src, Seeds.sample(8, 2, 123)).data()), "other seed differs");
        // Nearby tuples give unrelated streams (first draws differ).
        assertNotEquals(Seeds.sample(0, 0, 1).nextLong(), Seeds.sample(0, 1, 0).nextLong());
        // Composition flattens and keeps order; the identity returns its input.
        assertSame(src, Transform.identity().apply(src, null));
        assertEquals(t.outputShape(new int[]{3, 9, 9})[1], t.then(Transform.identity()).outputShape(new int[]{3, 9, 9})[1]);
    }
}
