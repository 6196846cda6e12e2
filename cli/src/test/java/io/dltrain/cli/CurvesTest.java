package io.dltrain.cli;

import io.dltrain.runtime.train.EpochMetrics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** curves.png: redrawn each epoch (with or without validation numbers); a failure to draw warns once and never throws. */
class CurvesTest {
    static EpochMetrics epoch(int e, double val) {
        return new EpochMetrics(e, 1.0 / e, 0.5 + 0.1 * e, val / e, val, 0.1, 1, 1, 100, 0);
    }

    @Test
    void redrawsEveryEpochAtomically(@TempDir Path tmp) throws IOException {
        List<String> warnings = new ArrayList<>();
        Curves c = new Curves(tmp, warnings::add);
        c.epochEnded(epoch(1, 0.6));
        BufferedImage one = ImageIO.read(tmp.resolve(Curves.FILE).toFile());
        assertNotNull(one);
        assertEquals(2 * Curves.WIDTH, one.getWidth());
        assertEquals(Curves.HEIGHT, one.getHeight());
        byte[] first = Files.readAllBytes(tmp.resolve(Curves.FILE));
        c.epochEnded(epoch(2, 0.7));
        assertFalse(java.util.Arrays.equals(first, Files.readAllBytes(tmp.resolve(Curves.FILE))), "not redrawn after epoch 2");
        assertFalse(Files.exists(tmp.resolve(Curves.FILE + ".tmp")));
        Path noVal = Files.createDirectories(tmp.resolve("noval"));
        new Curves(noVal, warnings::add).epochEnded(epoch(1, Double.NaN));
        assertNotNull(ImageIO.read(noVal.resolve(Curves.FILE).toFile()));
        assertTrue(warnings.isEmpty(), warnings.toString());
    }

    /**
     * A picture that cannot be written (a full disk: here curves.png.tmp is a link to /dev/full, which fails every write
     * with ENOSPC) leaves no part of it, which on a full disk holds space that the epoch's checkpoint needs, and the
     * warning names the cause. Before, ImageIO wrote the file itself: on a tmpfs filled under a live run, curves.png.tmp
     * (4 KiB) stayed and the warning said "I/O error writing PNG file!".
     */
    @Test
    void aFullDiskLeavesNoPartOfThePictureAndSaysSo(@TempDir Path tmp) throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(Path.of("/dev/full")), "no /dev/full here");
        Path part = tmp.resolve(Curves.FILE + ".tmp");
        Files.createSymbolicLink(part, Path.of("/dev/full"));
        List<String> warnings = new ArrayList<>();
        new Curves(tmp, warnings::add).epochEnded(epoch(1, 0.6));
        assertEquals(List.of("cannot write " + tmp.resolve(Curves.FILE) + ": no space left on device; training goes on without it"), warnings);
        assertFalse(Files.exists(part, java.nio.file.LinkOption.NOFOLLOW_LINKS), "a part of the picture is left");
        assertFalse(Files.exists(tmp.resolve(Curves.FILE)));
    }

    @Test
    void anUnwritableDirectoryWarnsOnceAndTrainingGoesOn(@TempDir Path tmp) {
        List<String> warnings = new ArrayList<>();
        Curves c = new Curves(tmp.resolve("absent/dir"), warnings::add);
        c.epochEnded(epoch(1, 0.6));
        c.epochEnded(epoch(2, 0.7));
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.getFirst().contains("curves.png"), warnings.getFirst());
    }
}
