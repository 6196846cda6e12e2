package io.dltrain.runtime.backend;

import io.dltrain.runtime.tensor.Tensor;

/**
 * An optional capability of a {@link Backend}: host-to-device copies that run while the device computes, so the
 * upload of the next batch hides behind the current step (the trainer's {@code BatchUploads} uses it when the backend
 * implements it; the CUDA backend does, on its copy stream). A backend without it is used through
 * {@link Backend#copyFromHost}, which is ordered with compute.
 *
 * <p>Contract of both methods:
 * <ul>
 *   <li>{@code src} is read before the call returns: the caller may overwrite or release it at once (the CUDA backend
 *       copies it into pinned staging memory inside the call).</li>
 *   <li>The copy is ordered after all work queued so far, so {@code dst} may be memory that queued work still uses
 *       (a caching allocator hands out blocks in the order of compute); it may overlap work queued after the call.</li>
 *   <li>{@code dst}'s contents are undefined to device work queued before {@link Pending#await()}; await before the
 *       first op that reads dst, and before closing dst (so that its memory is not reused while the copy writes it).</li>
 * </ul>
 */
public interface AsyncUpload {
    /** Starts copying dst.numel() values from src[srcOffset...] into the FP32 tensor dst. */
    Pending uploadAsync(float[] src, int srcOffset, Tensor dst);

    /** {@link #uploadAsync(float[], int, Tensor)} for INT32 tensors (labels). */
    Pending uploadAsync(int[] src, int srcOffset, Tensor dst);

    /** One copy in flight. */
    interface Pending {
        /** Orders all device work queued from now on after the copy (does not wait on the host). Idempotent. */
        void await();
    }
}
