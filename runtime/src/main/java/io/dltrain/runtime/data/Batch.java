package io.dltrain.runtime.data;

/**
 * One mini-batch in host memory: {@code size} samples' features laid out contiguously in {@code x}
 * (size * sampleNumel floats, NCHW) and their labels in {@code y}, or for a regression dataset
 * ({@link Dataset#task()}) their real-valued targets in {@code t} ({@code y} then holds zeros). The arrays belong to a {@link DataLoader}
 * ring buffer and are reused: call {@link #release()} once they have been copied to the device.
 */
public final class Batch {
    public final float[] x;
    public final int[] y;
    /** The samples' regression targets ({@link Dataset#target}); null unless the dataset is for regression. */
    public final float[] t;
    int size;
    int index;
    private final Runnable onRelease;

    Batch(float[] x, int[] y, float[] t, Runnable onRelease) {
        this.x = x;
        this.y = y;
        this.t = t;
        this.onRelease = onRelease;
    }

    /** Samples in this batch (the last batch of an epoch may be smaller). */
    public int size() { return size; }

    /** Position of this batch in its epoch, from 0. */
    public int index() { return index; }

    /** Hands the buffers back to the loader for reuse. */
    public void release() { onRelease.run(); }
}
