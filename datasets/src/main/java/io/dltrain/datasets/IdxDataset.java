package io.dltrain.datasets;

import io.dltrain.datasets.idx.IdxFile;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.tensor.Shape;

import java.util.List;
import java.util.Objects;

/**
 * An MNIST-format image classification dataset (MNIST, Fashion-MNIST): grayscale u8 images [N, rows, cols] and u8
 * labels [N], held in memory as the raw bytes (60,000 x 784 bytes = 47 MB for a training set, a quarter of what
 * floats would take) and converted on read. A sample is [1, rows, cols] (C = 1) and mirrors torchvision's
 * {@code Compose([ToTensor(), Normalize((mean,), (std,))])}: pixel / 255, then (x - mean) / std, all in float32.
 * Immutable after construction, so safe to read from several loader threads.
 */
public final class IdxDataset implements Dataset {
    private final String name;
    private final int count;
    private final int rows;
    private final int cols;
    private final byte[] pixels;
    private final byte[] labels;
    private final List<String> classNames;
    private final float mean;
    private final float std;
    /** Normalised value of each of the 256 pixel values: conversion is one table lookup per pixel. */
    private final float[] lut = new float[256];

    /**
     * @param name       registry name and split, e.g. "fashion-mnist/train"
     * @param images     a 3-D u8 IDX file [N, rows, cols]
     * @param labels     a 1-D u8 IDX file [N] with labels in [0, classNames.size())
     * @param classNames one name per class
     * @param mean       mean of the pixel values scaled to [0, 1], subtracted after scaling
     * @param std        their standard deviation, divided by after subtracting the mean
     */
    public IdxDataset(String name, IdxFile images, IdxFile labels, List<String> classNames, float mean, float std) {
        this.name = Objects.requireNonNull(name, "name");
        if (images.dims().length != 3)
            throw new DatasetException(images.source() + ": expected images [N, rows, cols], header has dims " + java.util.Arrays.toString(images.dims()));
        if (classNames.isEmpty()) throw new IllegalArgumentException(name + ": no class names");
        if (!(std > 0) || !Float.isFinite(mean))
            throw new IllegalArgumentException(name + ": normalisation needs a finite mean and std > 0, got mean " + mean + ", std " + std);
        labels.checkLabels(classNames.size());
        if (images.count() != labels.count())
            throw new DatasetException(images.source() + " has " + images.count() + " images but " + labels.source() + " has "
                    + labels.count() + " labels: the two files must come from the same dataset split (train or t10k)");
        this.count = images.count();
        this.rows = images.dim(1);
        this.cols = images.dim(2);
        this.pixels = images.data();
        this.labels = labels.data();
        this.classNames = List.copyOf(classNames);
        this.mean = mean;
        this.std = std;
        for (int v = 0; v < 256; v++) lut[v] = (v / 255f - mean) / std; // float32 steps, as ToTensor + Normalize
    }

    @Override public String name() { return name; }

    @Override public int size() { return count; }

    @Override public Shape sampleShape() { return Shape.of(1, rows, cols); }

    @Override public int numClasses() { return classNames.size(); }

    @Override public List<String> classNames() { return classNames; }

    /** The normalisation mean (of pixels scaled to [0, 1]). */
    public float mean() { return mean; }

    /** The normalisation standard deviation. */
    public float std() { return std; }

    /** Label of sample {@code index}, without decoding its image. */
    public int label(int index) {
        Objects.checkIndex(index, count);
        return labels[index] & 0xFF;
    }

    @Override
    public int read(int index, float[] dst, int dstOffset) {
        if (index < 0 || index >= count)
            throw new IndexOutOfBoundsException(name + ": sample index " + index + " outside [0, " + count + ")");
        int numel = rows * cols;
        Objects.checkFromIndexSize(dstOffset, numel, dst.length);
        int src = index * numel; // < 2^30: IdxFile caps the data at 1 GiB
        for (int j = 0; j < numel; j++) dst[dstOffset + j] = lut[pixels[src + j] & 0xFF];
        return labels[index] & 0xFF;
    }

    @Override public String toString() { return name + " (" + count + " samples, " + sampleShape() + ")"; }
}
