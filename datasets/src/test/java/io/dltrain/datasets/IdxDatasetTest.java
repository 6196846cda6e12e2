package io.dltrain.datasets;

import io.dltrain.datasets.idx.IdxFile;
import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static io.dltrain.datasets.IdxTestFiles.images;
import static io.dltrain.datasets.IdxTestFiles.labelFile;
import static io.dltrain.datasets.IdxTestFiles.labels;
import static io.dltrain.datasets.IdxTestFiles.pixels;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** IdxDataset: conversion matches ToTensor + Normalize computed directly; inconsistent files are rejected. */
class IdxDatasetTest {
    @TempDir Path dir;

    static final List<String> DIGITS = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    @Test
    void readScalesAndNormalisesEveryPixel() {
        int n = 6, rows = 5, cols = 7;
        IdxFile img = IdxFile.readImages(images(dir.resolve("i.gz"), n, rows, cols));
        IdxFile lab = IdxFile.readLabels(labelFile(dir.resolve("l.gz"), labels(n, 10)), 10);
        IdxDataset ds = new IdxDataset("test/train", img, lab, DIGITS, 0.1307f, 0.3081f);
        assertEquals(n, ds.size());
        assertEquals(Shape.of(1, rows, cols), ds.sampleShape());
        assertEquals(10, ds.numClasses());
        assertFalse(ds.decodesFiles(), "in memory: one loader thread is enough (DataLoader.autoWorkers)");
        byte[] px = pixels(n, rows, cols);
        float[] dst = new float[3 + rows * cols];
        for (int i = 0; i < n; i++) {
            int label = ds.read(i, dst, 3); // at an offset, as the loader writes into a batch
            assertEquals(i % 10, label);
            assertEquals(i % 10, ds.label(i));
            for (int j = 0; j < rows * cols; j++) {
                double want = ((px[i * rows * cols + j] & 0xFF) / 255.0 - 0.1307) / 0.3081; // reference in double
                assertEquals(want, dst[3 + j], 1e-6, "sample " + i + " pixel " + j); // float32 rounding only
            }
        }
        assertThrows(IndexOutOfBoundsException.class, () -> ds.read(n, dst, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> ds.read(0, new float[rows * cols - 1], 0));
    }

    @Test
    void imageAndLabelCountMismatchNamesBothFiles() {
        Path i = images(dir.resolve("train-images-idx3-ubyte.gz"), 5, 28, 28);
        Path l = labelFile(dir.resolve("train-labels-idx1-ubyte.gz"), labels(4, 10));
        DatasetException e = assertThrows(DatasetException.class, () ->
                new IdxDataset("x/train", IdxFile.readImages(i), IdxFile.readLabels(l, 10), DIGITS, 0.5f, 0.5f));
        assertTrue(e.getMessage().contains(i.toString()) && e.getMessage().contains(l.toString())
                && e.getMessage().contains("5 images") && e.getMessage().contains("4 labels"), e.getMessage());
    }

    @Test
    void labelOutsideClassesIsRejected() {
        Path i = images(dir.resolve("i.gz"), 3, 2, 2);
        Path l = labelFile(dir.resolve("l.gz"), new byte[]{0, 1, 3});
        DatasetException e = assertThrows(DatasetException.class, () ->
                new IdxDataset("x/train", IdxFile.readImages(i), IdxFile.read(l, IdxFile.LABELS_U8), List.of("a", "b", "c"), 0.5f, 0.5f));
        assertTrue(e.getMessage().contains(l.toString()) && e.getMessage().contains("label 3 at index 2"), e.getMessage());
    }
}
