package io.dltrain.cli;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * {@code confusion.png}: the confusion matrix as a heat map, each cell shaded by its share of its row (so rare
 * classes read as clearly as common ones) and labelled with its count; true classes down, predicted across.
 * Drawn with plain Java2D (headless), written atomically.
 */
final class ConfusionPicture {
    private ConfusionPicture() {}

    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    static void write(Path file, long[][] cm, List<String> names) {
        int k = cm.length;
        int cell = k <= 20 ? 48 : Math.max(4, 960 / k);
        boolean labels = k <= 30;
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
        int margin = labels ? 12 + 7 * names.stream().mapToInt(String::length).max().orElse(4) : 40;
        int top = 40, w = margin + k * cell + 20, h = top + margin + k * cell + 20;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setFont(font.deriveFont(Font.BOLD, 14f));
            g.setColor(Color.BLACK);
            g.drawString("Confusion matrix (rows: true, columns: predicted)", 10, 24);
            g.setFont(font);
            FontMetrics fm = g.getFontMetrics();
            int x0 = margin, y0 = top + margin;
            for (int i = 0; i < k; i++) {
                long total = 0;
                for (long v : cm[i]) total += v;
                for (int j = 0; j < k; j++) {
                    double share = total == 0 ? 0 : (double) cm[i][j] / total;
                    // white -> dark blue
                    Color c = new Color((int) (255 - 247 * share), (int) (255 - 207 * share), (int) (255 - 148 * share));
                    g.setColor(c);
                    g.fillRect(x0 + j * cell, y0 + i * cell, cell, cell);
                    if (cell >= 24) {
                        String s = Long.toString(cm[i][j]);
                        g.setColor(share > 0.5 ? Color.WHITE : Color.BLACK);
                        g.drawString(s, x0 + j * cell + (cell - fm.stringWidth(s)) / 2, y0 + i * cell + (cell + fm.getAscent()) / 2 - 2);
                    }
                }
            }
            g.setColor(Color.GRAY);
            g.drawRect(x0, y0, k * cell, k * cell);
            if (labels) {
                g.setColor(Color.BLACK);
                for (int i = 0; i < k; i++) {
                    String n = names.get(i);
                    g.drawString(n, x0 - 6 - fm.stringWidth(n), y0 + i * cell + (cell + fm.getAscent()) / 2 - 2);
                    AffineTransform saved = g.getTransform();
                    g.translate(x0 + i * cell + (cell + fm.getAscent()) / 2 - 2, y0 - 6);
                    g.rotate(-Math.PI / 2);
                    g.drawString(n, 0, 0);
                    g.setTransform(saved);
                }
            }
        } finally {
            g.dispose();
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            if (!ImageIO.write(img, "png", tmp.toFile())) throw new IOException("no PNG writer");
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

}
