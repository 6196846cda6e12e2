package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.AsyncUpload;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.data.Batch;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Turns the host batches of one pass over a {@link io.dltrain.runtime.data.DataLoader} into device tensors
 * {x, target} for the {@link Trainer}, and on a backend that can copy while it computes ({@link AsyncUpload}: CUDA)
 * uploads one batch ahead: {@link #next()} hands out batch k and, before returning, queues the upload of batch k+1,
 * so the copy runs while the caller's step k computes. On any other backend (the CPU) each batch is copied
 * synchronously when asked for, exactly as {@link Backend#copyFromHost} always did.
 *
 * <p>Ownership: a {@link DeviceBatch} returned by {@link #next()} belongs to the caller, who closes it when the step
 * is done (its tensors are made outside any {@link Scope}, so the step's scope does not free the batch uploaded
 * ahead). The batch uploaded ahead belongs to this object until {@link #next()} hands it out; {@link #close()} (or
 * {@link #start} of another pass) frees it when a pass ends early (a stop request, --max-steps, an exception). Each
 * host {@link Batch} is released as soon as its arrays have been read: {@link AsyncUpload} reads its source before
 * returning.
 *
 * <p>Targets, by {@link Task}: classification, the INT32 labels [n]; reconstruction, the input itself, or the input
 * with the dataset's normalisation undone per channel (target[c] = x[c] * std[c] + mean[c], computed on the host) when
 * a scale is given; regression, the real-valued targets as [n, 1] FP32 (the shape of a one-output model's result).
 */
final class BatchUploads implements AutoCloseable {
    /** One batch on the device; {@code y} is {@code x} itself for unscaled reconstruction. Closing frees both. */
    record DeviceBatch(Tensor x, Tensor y, int size) implements AutoCloseable {
        @Override
        public void close() {
            y.close(); // the target first, then the input: the order the step's scope closed them in when it made them
            x.close();
        }
    }

    private final Backend be;
    /** The backend's async copies, or null: synchronous uploads, no look-ahead. */
    private final AsyncUpload async;
    private final Shape sample;
    private final Task task;
    private final float[] reconMean, reconStd;
    /** Host buffer for the rescaled reconstruction target, reused (uploads read it before returning). */
    private float[] targetHost;

    private Iterator<Batch> batches;
    /** The batch uploaded ahead (async only), not yet handed out; null if none. */
    private DeviceBatch ahead;
    /** Copies into {@link #ahead} (or into the batch being uploaded) not yet awaited. */
    private final List<AsyncUpload.Pending> pending = new ArrayList<>();

    /**
     * @param sample    the dataset's sample shape (x is [n, sample...])
     * @param reconMean per-channel mean for {@link Task#RECONSTRUCTION} targets, or null (target = x)
     */
    BatchUploads(Backend be, Shape sample, Task task, float[] reconMean, float[] reconStd) {
        this.be = be;
        this.async = be instanceof AsyncUpload a ? a : null;
        this.sample = sample;
        this.task = task;
        this.reconMean = reconMean;
        this.reconStd = reconStd;
    }

    /**
     * Starts handing out {@code pass}'s remaining batches (a resume releases the ones it skips before calling this, so
     * they are never uploaded). A batch uploaded ahead from a previous pass is freed.
     */
    void start(Iterator<Batch> pass) {
        dropAhead();
        this.batches = pass;
    }

    boolean hasNext() { return ahead != null || (batches != null && batches.hasNext()); }

    /**
     * The next batch on the device, ready for the ops queued after this call; with {@link AsyncUpload}, the upload of
     * the batch after it has been queued by the time this returns. The caller closes the result.
     */
    DeviceBatch next() {
        if (!hasNext()) throw new NoSuchElementException("no batches left in this pass");
        DeviceBatch current = ahead != null ? ahead : upload(batches.next());
        ahead = null;
        try {
            awaitCopies(); // device work queued from here on (the caller's step) sees current's values
        } catch (RuntimeException e) {
            current.close();
            throw e;
        }
        if (async != null && batches.hasNext()) {
            try {
                ahead = upload(batches.next());
            } catch (RuntimeException e) {
                current.close();
                throw e;
            }
        }
        return current;
    }

    /** Frees a batch uploaded ahead and not handed out. The iterator is the caller's (the DataLoader cancels it). */
    @Override
    public void close() {
        dropAhead();
        batches = null;
    }

    private void dropAhead() {
        awaitCopies(); // its memory must not be reused while a copy may still write it
        if (ahead != null) {
            ahead.close();
            ahead = null;
        }
    }

    /** Awaits every pending copy, even after one fails (the first failure is thrown afterwards, the rest suppressed). */
    private void awaitCopies() {
        RuntimeException first = null;
        for (AsyncUpload.Pending p : pending) {
            try {
                p.await();
            } catch (RuntimeException e) {
                if (first == null) first = e; else first.addSuppressed(e);
            }
        }
        pending.clear();
        if (first != null) throw first;
    }

    /** Copies a host batch into new device tensors {x [n, sample...], target} and hands the host buffers back. */
    private DeviceBatch upload(Batch batch) {
        return Scope.outside(() -> {
            List<Tensor> made = new ArrayList<>(2);
            try {
                int n = batch.size();
                int[] dims = new int[sample.rank() + 1];
                dims[0] = n;
                for (int i = 0; i < sample.rank(); i++) dims[i + 1] = sample.dim(i);
                Tensor x = be.empty(Shape.of(dims));
                made.add(x);
                copy(batch.x, x);
                Tensor y;
                if (task == Task.RECONSTRUCTION) {
                    if (reconMean == null) y = x;
                    else {
                        y = be.empty(x.shape());
                        made.add(y);
                        copy(reconstructionTarget(batch.x, n), y);
                    }
                } else if (task == Task.REGRESSION) {
                    y = be.empty(Shape.of(n, 1));
                    made.add(y);
                    copy(batch.t, y);
                } else {
                    y = be.empty(Shape.of(n), DType.INT32);
                    made.add(y);
                    copy(batch.y, y);
                }
                return new DeviceBatch(x, y, n);
            } catch (RuntimeException e) {
                try { awaitCopies(); } catch (RuntimeException also) { e.addSuppressed(also); }
                for (Tensor t : made) t.close();
                throw e;
            } finally {
                batch.release();
            }
        });
    }

    private void copy(float[] src, Tensor dst) {
        if (async != null) pending.add(async.uploadAsync(src, 0, dst));
        else be.copyFromHost(src, 0, dst);
    }

    private void copy(int[] src, Tensor dst) {
        if (async != null) pending.add(async.uploadAsync(src, 0, dst));
        else be.copyFromHost(src, 0, dst);
    }

    /** x * std[c] + mean[c] over the batch's first n samples, channel c = dimension 0 of a sample. */
    private float[] reconstructionTarget(float[] hostX, int n) {
        int channels = sample.rank() > 1 ? sample.dim(0) : 1, per = sample.size() / channels;
        if (reconMean.length != 1 && reconMean.length != channels)
            throw new IllegalArgumentException("reconstruction scale has " + reconMean.length + " channels but the samples "
                    + sample + " have " + channels);
        int size = n * sample.size();
        if (targetHost == null || targetHost.length < size) targetHost = new float[size];
        float[] t = targetHost;
        for (int i = 0; i < size; i++) {
            int c = reconMean.length == 1 ? 0 : (i / per) % channels;
            t[i] = hostX[i] * reconStd[c] + reconMean[c];
        }
        return t;
    }
}
