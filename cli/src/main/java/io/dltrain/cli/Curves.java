package io.dltrain.cli;

import io.dltrain.runtime.train.EpochMetrics;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

import javax.imageio.ImageIO;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The training curves of a run, {@code curves.png}: loss (left) and accuracy (right; none for reconstruction and regression) per epoch, for the training
 * and validation sets, drawn with XChart. Redrawn after every epoch and replaced atomically (temporary file +
 * rename), so a viewer never sees a half-written picture.
 */
final class Curves {
    static final String FILE = "curves.png";
    static final int WIDTH = 600, HEIGHT = 400;

    static {
        // XChart draws with Java2D; without a display it must run headless (set before AWT first loads).
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private final Path file;
    private final Consumer<String> warn;
    private final List<EpochMetrics> epochs = new ArrayList<>();
    private boolean failed;

    /** @param warn told, once, if the picture cannot be drawn (a plot is not worth stopping a training run for) */
    Curves(Path dir, Consumer<String> warn) {
        this.file = dir.resolve(FILE);
        this.warn = warn;
    }

    /** The epochs a resumed run did before (drawn with the next epoch's picture, so that it shows the whole run). */
    void resumedAfter(List<EpochMetrics> earlier) { epochs.addAll(earlier); }

    /** Adds an epoch and redraws the picture; a failure is reported once through warn and drawing stops. */
    void epochEnded(EpochMetrics m) {
        epochs.add(m);
        if (failed) return;
        try {
            draw();
        } catch (UncheckedIOException e) {
            failed = true;
            warn.accept(e.getMessage() + "; training goes on without it");
        } catch (RuntimeException | LinkageError | java.awt.AWTError e) {
            failed = true;
            warn.accept("cannot draw " + file + " (" + e + "); training goes on without it");
        }
    }

    /** Draws every epoch so far: tests call it to see failures. */
    void draw() {
        double[] x = new double[epochs.size()];
        double[] tl = new double[x.length], vl = new double[x.length], ta = new double[x.length], va = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            EpochMetrics e = epochs.get(i);
            x[i] = e.epoch();
            tl[i] = e.trainLoss();
            vl[i] = e.valLoss();
            ta[i] = 100 * e.trainAcc();
            va[i] = 100 * e.valAcc();
        }
        boolean hasVal = epochs.stream().anyMatch(e -> Double.isFinite(e.valLoss()));
        XYChart loss = chart("Loss", "loss", x, tl, hasVal ? vl : null);
        // a reconstruction or regression run has no accuracy (NaN): its picture is the loss panel alone
        boolean hasAcc = epochs.stream().anyMatch(e -> Double.isFinite(e.trainAcc()));
        XYChart acc = hasAcc ? chart("Accuracy", "accuracy (%)", x, ta, hasVal ? va : null) : null;
        BufferedImage img = new BufferedImage(hasAcc ? 2 * WIDTH : WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.drawImage(BitmapEncoder.getBufferedImage(loss), 0, 0, null);
            if (acc != null) g.drawImage(BitmapEncoder.getBufferedImage(acc), WIDTH, 0, null);
        } finally {
            g.dispose();
        }
        // Encoded in memory, then written: ImageIO writing to a file reports a full disk as "I/O error writing PNG file!"
        // and leaves the part it wrote. Not fsynced, unlike the run's other files: a picture drawn from metrics.jsonl,
        // redrawn every epoch, which no later step reads.
        ByteArrayOutputStream png = new ByteArrayOutputStream(1 << 16);
        try (ImageOutputStream ios = new MemoryCacheImageOutputStream(png)) { // in memory: no cache file in java.io.tmpdir
            if (!ImageIO.write(img, "png", ios)) throw new IOException("no PNG writer");
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode " + file + ": " + e.getMessage(), e);
        }
        Path tmp = file.resolveSibling(FILE + ".tmp");
        try {
            Files.write(tmp, png.toByteArray());
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // a part written to a full disk would hold space that the epoch's checkpoint needs
            try { Files.deleteIfExists(tmp); } catch (IOException ignored) { /* the next epoch's picture replaces it */ }
            throw new UncheckedIOException("cannot write " + file + ": " + OutputDir.reason(e), e);
        }
    }

    private static XYChart chart(String title, String yLabel, double[] x, double[] train, double[] val) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle("epoch").yAxisTitle(yLabel).build();
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setXAxisDecimalPattern("0");
        c.getStyler().setXAxisMaxLabelCount(Math.min(x.length, 10) + 1);
        XYSeries t = c.addSeries("train", x, train);
        t.setMarker(SeriesMarkers.CIRCLE);
        t.setLineColor(new Color(31, 119, 180));
        t.setMarkerColor(new Color(31, 119, 180));
        if (val != null) {
            XYSeries v = c.addSeries("validation", x, val);
            v.setMarker(SeriesMarkers.SQUARE);
            v.setLineColor(new Color(255, 127, 14));
            v.setMarkerColor(new Color(255, 127, 14));
        }
        return c;
    }
}
