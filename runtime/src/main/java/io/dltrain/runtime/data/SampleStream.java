package io.dltrain.runtime.data;

import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.train.Task;

import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Labelled samples read in order, a batch at a time, from a source too large to hold (a CSV file of a million rows):
 * what an evaluation pass reads where a {@link Dataset} would hold every sample. Memory holds one batch; the number
 * of samples is known only where the source says so up front ({@link #size()}). Read from one thread.
 */
public interface SampleStream extends AutoCloseable {
    /** Registry name and split, for messages ("csv/test"). */
    String name();

    /** Shape of one sample's features. */
    Shape sampleShape();

    /** Number of classes (1 for regression), as {@link Dataset#numClasses()}. */
    int numClasses();

    /** One name per class, as {@link Dataset#classNames()}. */
    List<String> classNames();

    /** What the samples are labelled for, as {@link Dataset#task()}. */
    default Task task() { return Task.CLASSIFICATION; }

    /** The number of samples, or -1 where it is not known before the end (a CSV file's rows). */
    default long size() { return -1; }

    /**
     * Reads the next samples, at most {@code max}: sample i's features into {@code x} from i * sampleShape().numel(),
     * its class into {@code y[i]} (0 for regression) and, for a regression stream, its target into {@code t[i]}
     * ({@code t} is null otherwise). Returns how many were read: fewer than max only at the end, 0 after it.
     */
    int read(int max, float[] x, int[] y, float[] t);

    /** Sample {@code index} (from 0, in reading order) for people: "sample 9" by default, a file and line where known. */
    default String describe(long index) { return "sample " + index; }

    @Override default void close() {}

    /**
     * The stream's batches of {@code batchSize} (the last one smaller), read on the caller's thread as they are asked
     * for; the {@link Batch}'s arrays are reused from batch to batch, as a {@link DataLoader}'s are. The first sample
     * with a NaN or infinite feature is noted as it is read ({@link Batches#firstNonFinite()}).
     */
    static Batches batches(SampleStream s, int batchSize) { return new Batches(s, batchSize); }

    /** See {@link SampleStream#batches}. */
    final class Batches implements Iterator<Batch> {
        private final SampleStream s;
        private final int numel;
        private final Batch batch;
        private boolean read, ended;
        private long seen;
        private int index;
        private String firstNonFinite;

        private Batches(SampleStream s, int batchSize) {
            if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
            this.s = s;
            this.numel = Math.toIntExact(s.sampleShape().numel());
            this.batch = new Batch(new float[Math.multiplyExact(batchSize, numel)], new int[batchSize],
                    s.task() == Task.REGRESSION ? new float[batchSize] : null, () -> {});
        }

        @Override
        public boolean hasNext() {
            if (!read && !ended) {
                int n = s.read(batch.y.length, batch.x, batch.y, batch.t);
                if (n == 0) ended = true;
                else {
                    read = true;
                    batch.size = n;
                    batch.index = index++;
                    if (firstNonFinite == null)
                        for (int k = 0; k < n * numel; k++)
                            if (!Float.isFinite(batch.x[k])) {
                                firstNonFinite = s.describe(seen + k / numel) + " has a non-finite feature (element " + k % numel
                                        + " of " + numel + " is " + batch.x[k] + ")";
                                break;
                            }
                    seen += n;
                }
            }
            return read;
        }

        @Override
        public Batch next() {
            if (!hasNext()) throw new NoSuchElementException("no batches left in " + s.name());
            read = false;
            return batch;
        }

        /** Samples read so far. */
        public long samplesRead() { return seen; }

        /** The first sample read with a NaN or infinite feature, said as the evaluation's error says it; null if none. */
        public String firstNonFinite() { return firstNonFinite; }
    }
}
