package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Page-locked (pinned) host buffers through which every host/device copy goes. A copy from pageable Java memory would
 * make cudaMemcpyAsync synchronous; from pinned memory it is a real DMA queued on a stream, so copyFromHost returns
 * as soon as the values are in the pinned buffer and the GPU keeps running.
 *
 * <p>A small ring of slots, each grown on demand (cudaMallocHost, never shrunk until close) and each with an event
 * recorded after the copy that reads it: before a slot is refilled, its event is waited for, so a queued copy never
 * sees its source overwritten. With several slots, consecutive host-to-device copies do not wait for each other.
 */
final class PinnedStaging implements AutoCloseable {
    static final int SLOTS = 4;
    private static final long MIN_BYTES = 1L << 20;

    final class Slot {
        private Pointer host;          // null until first use
        private long capacity;
        private final CUevent_st event = new CUevent_st();
        private boolean eventCreated, recorded;

        long address() { return host.address(); }

        Pointer pointer() { return host; }

        FloatPointer floats(long n) { return (FloatPointer) new FloatPointer(host).capacity(n).limit(n); }

        IntPointer ints(long n) { return (IntPointer) new IntPointer(host).capacity(n).limit(n); }

        LongPointer longs(long n) { return (LongPointer) new LongPointer(host).capacity(n).limit(n); }

        /** Marks the slot busy until the work queued so far on {@code stream} (the copy reading it) completes. */
        void recordOn(CUstream_st stream) {
            Cuda.check(cudart.cudaEventRecord(event, stream), "cudaEventRecord(pinned staging)");
            recorded = true;
        }
    }

    private final Slot[] slots = new Slot[SLOTS];
    private int next;
    private boolean closed;

    PinnedStaging() {
        for (int i = 0; i < SLOTS; i++) slots[i] = new Slot();
    }

    /** A slot of at least {@code bytes}, free to write (any copy still reading it has finished). */
    synchronized Slot acquire(long bytes) {
        if (closed) throw new IllegalStateException("pinned staging used after the CUDA backend was closed");
        Slot s = slots[next];
        next = (next + 1) % SLOTS;
        if (!s.eventCreated) {
            Cuda.check(cudart.cudaEventCreateWithFlags(s.event, cudart.cudaEventDisableTiming), "cudaEventCreateWithFlags(pinned staging)");
            s.eventCreated = true;
        }
        if (s.recorded) {
            Cuda.check(cudart.cudaEventSynchronize(s.event), "cudaEventSynchronize(pinned staging)");
            s.recorded = false;
        }
        if (s.capacity < bytes) {
            // Computed before the old buffer is dropped (which zeroes capacity), so a growing slot at least doubles.
            long cap = Math.max(MIN_BYTES, Math.max(bytes, 2 * s.capacity));
            if (s.host != null) {
                Cuda.check(cudart.cudaFreeHost(s.host), "cudaFreeHost(pinned staging)");
                s.host = null;
                s.capacity = 0;
            }
            Pointer p = new Pointer();
            Cuda.check(cudart.cudaMallocHost(p, cap), "cudaMallocHost(" + CudaLibraries.human(cap) + " pinned staging)");
            s.host = p;
            s.capacity = cap;
        }
        return s;
    }

    /** Total pinned bytes held. */
    synchronized long bytes() {
        long b = 0;
        for (Slot s : slots) b += s.capacity;
        return b;
    }

    /** Waits for pending copies and frees the pinned memory and events. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        for (Slot s : slots) {
            try {
                if (s.recorded) Cuda.check(cudart.cudaEventSynchronize(s.event), "cudaEventSynchronize(pinned staging)");
                if (s.host != null) Cuda.check(cudart.cudaFreeHost(s.host), "cudaFreeHost(pinned staging)");
                if (s.eventCreated) Cuda.check(cudart.cudaEventDestroy(s.event), "cudaEventDestroy(pinned staging)");
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
            s.host = null;
            s.capacity = 0;
        }
        if (first != null) throw first;
    }
}
