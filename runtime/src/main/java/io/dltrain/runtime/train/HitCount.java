package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * A count of correct predictions ({@link Backend#countTopK}) kept on the device, so that a training step needs no
 * host synchronisation for it, and exact at any size: the device count is a one-element FP32 tensor, which stops
 * counting at 2^24 (adding 1 to 16,777,216 rounds back to it), so before a batch could take it past that, it is moved
 * into a host {@code long} (one read per 2^24 rows counted).
 */
final class HitCount implements AutoCloseable {
    /** Integers up to this are exact in FP32. */
    static final long EXACT_IN_FLOAT = 1L << 24;

    private final Backend be;
    private final Tensor device;
    private final long limit;
    private long host;
    /** Rows counted on the device since it was last emptied: a bound on its value. */
    private long pending;

    HitCount(Backend be) { this(be, EXACT_IN_FLOAT); }

    /** With a smaller limit than {@link #EXACT_IN_FLOAT}: tests. */
    HitCount(Backend be, long limit) {
        this.be = be;
        this.limit = limit;
        this.device = Scope.outside(() -> be.zeros(Shape.of(1)));
    }

    /** Starts the count at {@code value} (0, or a resumed run's count). */
    void reset(double value) {
        host = (long) value;
        pending = 0;
        be.fill(device, 0f);
    }

    /** Adds the rows of logits [N, C] whose label is among the k largest. */
    void add(Tensor logits, Tensor labels, int k) {
        long n = logits.dim(0);
        if (pending > 0 && pending + n > limit) {
            host += (long) device.item();
            be.fill(device, 0f);
            pending = 0;
        }
        be.countTopK(logits, labels, k, device);
        pending += n;
    }

    /** The count so far (reads the device). */
    double total() { return host + (pending == 0 ? 0 : (long) device.item()); }

    @Override
    public void close() { device.close(); }
}
