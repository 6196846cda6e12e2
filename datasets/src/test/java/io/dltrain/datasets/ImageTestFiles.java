package io.dltrain.datasets;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes test images with ImageIO directly (not through the code under test): pixels set with
 * {@code BufferedImage.setRGB} (unambiguous 0xRRGGBB) or raster samples for grey, so a channel mix-up in the
 * decoder cannot cancel out against the same mix-up in an encoder.
 */
final class ImageTestFiles {
    private ImageTestFiles() {}

    /** 0xRRGGBB of pixel (y, x) of test image {@code id}: a different pattern per image and channel. */
    static int rgb(int id, int y, int x) {
        int r = (id * 41 + y * 9 + x * 5) & 0xFF, g = (id * 17 + y * 3 + x * 11 + 60) & 0xFF, b = (id * 89 + (y ^ x) * 7 + 130) & 0xFF;
        return r << 16 | g << 8 | b;
    }

    /** A smooth (JPEG-friendly) colour image: gentle gradients per channel. */
    static int smooth(int id, int y, int x, int h, int w) {
        int r = 40 + 150 * y / h + id, g = 200 - 120 * x / w, b = 60 + 80 * (x + y) / (h + w) + 3 * id;
        return (r & 0xFF) << 16 | (g & 0xFF) << 8 | (b & 0xFF);
    }

    static BufferedImage rgbImage(int id, int h, int w, boolean smooth) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, smooth ? smooth(id, y, x, h, w) : rgb(id, y, x));
        return img;
    }

    static Path png(Path file, BufferedImage img) {
        try {
            Files.createDirectories(file.getParent());
            if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer");
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path jpeg(Path file, BufferedImage img, float quality) {
        try {
            Files.createDirectories(file.getParent());
            ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
            try (ImageOutputStream out = ImageIO.createImageOutputStream(file.toFile())) {
                ImageWriteParam p = w.getDefaultWriteParam();
                p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                p.setCompressionQuality(quality);
                w.setOutput(out);
                w.write(null, new IIOImage(img, null, null), p);
            } finally {
                w.dispose();
            }
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An RGB PNG of test pattern {@code id}. */
    static Path rgbPng(Path file, int id, int h, int w) { return png(file, rgbImage(id, h, w, false)); }
}
