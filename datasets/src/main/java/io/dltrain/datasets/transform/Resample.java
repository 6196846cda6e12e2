package io.dltrain.datasets.transform;

/**
 * Crop-and-resize with antialiased bilinear interpolation: the algorithm of Pillow's {@code ImagingResample} with
 * the bilinear (triangle) filter, which torchvision uses for PIL images and ports to tensors as
 * {@code resize(..., interpolation=BILINEAR, antialias=True)} (the default since torchvision 0.17). Separable: a
 * horizontal pass, then a vertical one. Downscaling by a factor s widens the triangle to support s (so every input
 * pixel contributes: no aliasing); upscaling is plain bilinear with half-pixel centres. Taps that fall outside the
 * crop are dropped and the remaining weights renormalised, as Pillow does at the image border. Arithmetic is
 * float32 on float images (Pillow rounds to 8 bits after each pass for 8-bit images, so values differ from Pillow's
 * by up to about 1/255 there).
 */
final class Resample {
    private Resample() {}

    /** Per output coordinate: first input tap and normalised weights (ksize slots, unused ones 0). */
    record Coeffs(int ksize, int[] start, int[] len, float[] w) {}

    /** Pillow's {@code precompute_coeffs} for the bilinear filter (support 1) over [0, inSize) to outSize. */
    static Coeffs coeffs(int inSize, int outSize) {
        double scale = (double) inSize / outSize;
        double filterscale = Math.max(scale, 1.0);
        double support = filterscale; // bilinear filter support 1.0, widened when downscaling
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] start = new int[outSize], len = new int[outSize];
        float[] w = new float[outSize * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            // (int) truncates towards zero, like Pillow's C cast; negative values clamp to 0 next.
            int xmin = Math.max(0, (int) (center - support + 0.5));
            int xmax = Math.min(inSize, (int) (center + support + 0.5));
            int n = xmax - xmin;
            double sum = 0;
            for (int x = 0; x < n; x++) {
                double t = Math.abs((x + xmin - center + 0.5) / filterscale);
                k[x] = t < 1 ? 1 - t : 0;
                sum += k[x];
            }
            for (int x = 0; x < n; x++) w[xx * ksize + x] = (float) (sum != 0 ? k[x] / sum : 0);
            start[xx] = xmin;
            len[xx] = n;
        }
        return new Coeffs(ksize, start, len, w);
    }

    /**
     * The region rows [top, top + cropH) x columns [left, left + cropW) of {@code src}, resized to outH x outW.
     * The region must lie inside the image.
     */
    static Image resizedCrop(Image src, int top, int left, int cropH, int cropW, int outH, int outW) {
        if (top < 0 || left < 0 || cropH < 1 || cropW < 1 || top + cropH > src.h() || left + cropW > src.w())
            throw new IllegalArgumentException("crop rows [" + top + ", " + (top + cropH) + ") x columns [" + left + ", "
                    + (left + cropW) + ") is outside the " + src.h() + "x" + src.w() + " image");
        if (outH < 1 || outW < 1) throw new IllegalArgumentException("output size must be >= 1, got " + outH + "x" + outW);
        int C = src.c(), H = src.h(), W = src.w();
        float[] s = src.data();
        if (cropH == outH && cropW == outW) { // plain crop: no resampling at all
            if (top == 0 && left == 0 && cropH == H && cropW == W) return src;
            float[] o = new float[C * outH * outW];
            for (int c = 0; c < C; c++)
                for (int y = 0; y < outH; y++)
                    System.arraycopy(s, (c * H + top + y) * W + left, o, (c * outH + y) * outW, outW);
            return new Image(C, outH, outW, o);
        }
        // Horizontal pass: [C, cropH, cropW] -> [C, cropH, outW].
        float[] tmp;
        if (cropW == outW) {
            tmp = new float[C * cropH * outW];
            for (int c = 0; c < C; c++)
                for (int y = 0; y < cropH; y++)
                    System.arraycopy(s, (c * H + top + y) * W + left, tmp, (c * cropH + y) * outW, outW);
        } else {
            Coeffs h = coeffs(cropW, outW);
            tmp = new float[C * cropH * outW];
            int ks = h.ksize();
            for (int c = 0; c < C; c++) {
                for (int y = 0; y < cropH; y++) {
                    int row = (c * H + top + y) * W + left, dst = (c * cropH + y) * outW;
                    for (int xx = 0; xx < outW; xx++) {
                        int base = row + h.start()[xx], wi = xx * ks, n = h.len()[xx];
                        float acc = 0;
                        for (int k = 0; k < n; k++) acc += h.w()[wi + k] * s[base + k];
                        tmp[dst + xx] = acc;
                    }
                }
            }
        }
        if (cropH == outH) return new Image(C, outH, outW, tmp);
        // Vertical pass: [C, cropH, outW] -> [C, outH, outW], row by row (an axpy per tap: vectorisable).
        Coeffs v = coeffs(cropH, outH);
        int ks = v.ksize();
        float[] o = new float[C * outH * outW];
        for (int c = 0; c < C; c++) {
            for (int yy = 0; yy < outH; yy++) {
                int dst = (c * outH + yy) * outW;
                for (int k = 0, n = v.len()[yy]; k < n; k++) {
                    float wk = v.w()[yy * ks + k];
                    int srcRow = (c * cropH + v.start()[yy] + k) * outW;
                    for (int x = 0; x < outW; x++) o[dst + x] += wk * tmp[srcRow + x];
                }
            }
        }
        return new Image(C, outH, outW, o);
    }
}
