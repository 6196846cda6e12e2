package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.BytePointer;

/**
 * Status checks for every CUDA call: runtime ({@code cudaError_t}), driver ({@code CUresult}), cuBLAS and cuDNN.
 * Each failure becomes a {@link CudaException} naming the call, the error's name and its description, so a person
 * reading a log sees "cudaMemcpyAsync(copyFromHost 4096 B): cudaErrorIllegalAddress (an illegal memory access ...)".
 * Only usable once {@link CudaLibraries#load()} succeeded.
 */
public final class Cuda {
    private Cuda() {}

    /** A failed CUDA, cuBLAS or cuDNN call. */
    public static final class CudaException extends RuntimeException {
        private final int status;

        public CudaException(String message, int status) {
            super(message);
            this.status = status;
        }

        public int status() { return status; }
    }

    /**
     * Throws unless a runtime-API call succeeded; the message is built only on failure (for per-op calls: copies,
     * launches, GEMMs, whose success path must not format strings).
     */
    public static void check(int status, java.util.function.Supplier<String> what) {
        if (status != cudart.cudaSuccess) check(status, what.get());
    }

    /** {@link #check(int, java.util.function.Supplier)} for driver-API calls. */
    public static void checkDriver(int result, java.util.function.Supplier<String> what) {
        if (result != cudart.CUDA_SUCCESS) checkDriver(result, what.get());
    }

    /** {@link #check(int, java.util.function.Supplier)} for cuBLAS calls. */
    public static void checkCublas(int status, java.util.function.Supplier<String> what) {
        if (status != cublas.CUBLAS_STATUS_SUCCESS) checkCublas(status, what.get());
    }

    /** Throws unless a runtime-API call succeeded. */
    public static void check(int status, String what) {
        if (status != cudart.cudaSuccess) {
            throw new CudaException(what + " failed: " + errorName(status) + " (" + errorString(status) + ")", status);
        }
    }

    /** Throws unless a driver-API call (cuModuleLoadData, cuLaunchKernel, ...) succeeded. */
    public static void checkDriver(int result, String what) {
        if (result != cudart.CUDA_SUCCESS) {
            String name = "CUresult " + result, desc = "";
            // const char** out-parameters: JavaCPP writes the C string's address into these pointers.
            BytePointer n = new BytePointer(), d = new BytePointer();
            if (cudart.cuGetErrorName(result, n) == cudart.CUDA_SUCCESS && !n.isNull()) name = n.getString();
            if (cudart.cuGetErrorString(result, d) == cudart.CUDA_SUCCESS && !d.isNull()) desc = " (" + d.getString() + ")";
            throw new CudaException(what + " failed: " + name + desc, result);
        }
    }

    /** Throws unless a cuBLAS call succeeded. */
    public static void checkCublas(int status, String what) {
        if (status != cublas.CUBLAS_STATUS_SUCCESS) {
            BytePointer s = cublas.cublasGetStatusString(status);
            throw new CudaException(what + " failed: cuBLAS status " + status + (s == null || s.isNull() ? "" : " (" + s.getString() + ")"), status);
        }
    }

    /** Throws unless a cuDNN call succeeded. */
    public static void checkCudnn(int status, String what) {
        if (status != cudnn.CUDNN_STATUS_SUCCESS) {
            BytePointer s = cudnn.cudnnGetErrorString(status);
            throw new CudaException(what + " failed: cuDNN status " + status + (s == null || s.isNull() ? "" : " (" + s.getString() + ")"), status);
        }
    }

    static String errorName(int status) {
        BytePointer p = cudart.cudaGetErrorName(status);
        return p == null || p.isNull() ? "cudaError " + status : p.getString();
    }

    static String errorString(int status) {
        BytePointer p = cudart.cudaGetErrorString(status);
        return p == null || p.isNull() ? "no description" : p.getString();
    }
}
