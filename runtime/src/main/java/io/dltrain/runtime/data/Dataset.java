package io.dltrain.runtime.data;

import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.train.Task;

import java.util.List;

/**
 * A finite, indexable set of labelled samples, read into host memory on demand. Implementations must be safe to
 * read from several threads at once (the {@link DataLoader}'s workers do).
 *
 * <p>A dataset is for classification (its labels, from {@link #read}) unless {@link #task()} says
 * {@link Task#REGRESSION}: then each sample has one real-valued target, {@link #target(int)}, {@link #numClasses()}
 * is 1 (one value to predict) and read's label is ignored.
 */
public interface Dataset {
    /** Registry name and split, for messages ("fashion-mnist/train"). */
    String name();

    int size();

    /** Shape of one sample's features, e.g. [1, 28, 28]. */
    Shape sampleShape();

    /** Number of classes of a classification dataset. */
    int numClasses();

    /** Human-readable class names, numClasses() of them. */
    List<String> classNames();

    /**
     * Writes sample {@code index}'s features (sampleShape().numel() floats, already normalised as the dataset
     * defines) into dst starting at dstOffset, and returns its class label, in [0, numClasses()).
     *
     * <p>dst is a {@link DataLoader}'s batch buffer, reused from batch to batch: write every one of the sample's floats
     * (the loader refuses a read that leaves the last one unwritten, naming the sample), nothing outside them, and do not
     * keep dst. The loader's workers call read from several threads at once: a buffer of the dataset's own (a decode
     * scratch array) must be one per thread or per call, not one shared field.
     */
    int read(int index, float[] dst, int dstOffset);

    /**
     * {@link #read} of sample {@code index} as it is in epoch {@code epoch}: what a {@link DataLoader} calls, with its own
     * epoch, so that two loaders reading one dataset at once (two trainings on two threads, each with its loader) each
     * get their own epoch's augmentation, whichever of them called {@link #setEpoch} last. The default ignores the epoch
     * and calls {@code read(index, dst, dstOffset)}: right for a dataset whose samples do not depend on the epoch; one
     * that augments with per-epoch randomness overrides this too.
     */
    default int readInEpoch(int epoch, int index, float[] dst, int dstOffset) { return read(index, dst, dstOffset); }

    /** What the samples are labelled for: {@link Task#CLASSIFICATION} (the default) or {@link Task#REGRESSION}. */
    default Task task() { return Task.CLASSIFICATION; }

    /**
     * The real-valued target of sample {@code index}, for a {@link Task#REGRESSION} dataset (a scalar: one output per
     * sample); the default, for datasets without targets, throws.
     */
    default float target(int index) {
        throw new UnsupportedOperationException(name() + " is a " + task().label() + " dataset: it has labels, not real-valued targets");
    }

    /**
     * Called by {@link DataLoader#epoch} before an epoch's workers start, so datasets with random augmentation can
     * seed it from (seed, epoch, index) and stay reproducible whatever thread reads a sample. No-op by default. It is
     * one field for every reader: the loader reads through {@link #readInEpoch}, which a dataset that augments should
     * implement as well, since a setEpoch alone is changed by another loader's epoch over the same dataset.
     */
    default void setEpoch(int epoch) {}

    /**
     * True when reading a sample decodes a file (image folders: a JPEG or PNG each), so that loading takes real CPU
     * time; {@link DataLoader#autoWorkers} gives such a dataset more loader threads when a GPU computes. False by
     * default: an in-memory dataset copies a sample in microseconds.
     */
    default boolean decodesFiles() { return false; }

    /**
     * Sample {@code index} for people, in messages about it: "sample 9" by default; a dataset of files adds the file
     * ("sample 9 (/data/train/cat/009.jpg)"), so that a read that hangs can be traced to its file system. Called while
     * a read of that sample may hang: it must not read the sample, nor wait for a lock a read holds. Where it throws
     * (or returns null), the messages say "sample 9" ({@link DataLoader#described}).
     */
    default String describe(int index) { return "sample " + index; }
}
