package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.javacpp.Pointer;

/**
 * What the pieces of the CUDA backend share: the device, its one compute stream, the cuBLAS and cuDNN handles
 * bound to that stream, the caching allocator (for workspaces) and the kernel launcher. Implemented by
 * the CUDA backend; its cuDNN and cuBLAS parts and the launcher are written against this.
 */
public interface CudaContext {
    /** The CUDA device ordinal. */
    int deviceIndex();

    /** The compute stream every op is queued on. */
    CUstream_st stream();

    cublasContext cublas();

    cudnnContext cudnn();

    /** A device block of at least {@code bytes} (cuDNN workspaces, scratch); close it when the op is queued. */
    DeviceBuffer allocate(long bytes, String purpose);

    KernelLauncher kernels();

    /** A JavaCPP pointer object for a raw device address (no ownership, no deallocator). */
    static Pointer pointer(long address) {
        // Not "this.address = address" inside the anonymous class: there the simple name "address" is Pointer's own
        // (inherited, zero) field, which shadows the parameter, and every pointer came out NULL.
        final long a = address;
        return new Pointer() { { this.address = a; } };
    }
}
