package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.BytePointer;

/**
 * Status checks for every CUDA call: runtime ({@code cudaError_t}), driver ({@code CUresult}), cuBLAS and cuDNN.
 * Each failure becomes a {@link CudaException} naming the call, the error's name and its description, so a person
 * reading a log sees "cudaMemcpyAsync(copyFromHost 4096 B): cudaErrorIllegalAddress (an illegal memory access ...)",
 * and, for such an error left by an earlier kernel, that the call named is only where it surfaced ({@link #stickyHint}).
 * Only usable once {@link CudaLibraries#load()} succeeded.
 */
public final class Cuda {
    private Cuda() {}

    /** A failed CUDA, cuBLAS or cuDNN call. */
    public static class CudaException extends RuntimeException {
        private final int status;

        public CudaException(String message, int status) {
            super(message);
            this.status = status;
        }

        public int status() { return status; }
    }

    /** A failed cuBLAS or cuBLASLt call; {@link #status()} is its {@code cublasStatus_t}. */
    public static final class CublasException extends CudaException {
        public CublasException(String message, int status) { super(message, status); }
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
            throw new CudaException(what + " failed: " + errorName(status) + " (" + errorString(status) + ")" + stickyHint(status), status);
        }
    }

    /**
     * For the errors a faulting kernel leaves behind (an illegal or misaligned address, a device-side assert, a launch
     * failure or timeout): the hint that the call named in the message is only where the error surfaced. These are
     * "sticky" (the CUDA runtime API's words: the process must be terminated and relaunched), and a call returns them
     * for "previous, asynchronous launches", so the kernel or copy at fault ran earlier. Runtime and driver API share
     * these numbers. Empty for every other status.
     */
    static String stickyHint(int status) {
        return switch (status) {
            case cudart.cudaErrorIllegalAddress, cudart.cudaErrorLaunchTimeout, cudart.cudaErrorAssert,
                 cudart.cudaErrorHardwareStackError, cudart.cudaErrorIllegalInstruction, cudart.cudaErrorMisalignedAddress,
                 cudart.cudaErrorInvalidAddressSpace, cudart.cudaErrorInvalidPc, cudart.cudaErrorLaunchFailure ->
                    ". This error comes from an EARLIER kernel or copy, queued asynchronously before this call, and the"
                    + " CUDA context is now unusable: rerun with CUDA_LAUNCH_BLOCKING=1 to have it reported by the call"
                    + " that caused it (slower), or under compute-sanitizer";
            default -> "";
        };
    }

    /**
     * After a cuDNN or cuBLAS call failed: ". the CUDA context reports cudaErrorIllegalAddress (...)" and {@link #stickyHint}
     * when the cause is an error an earlier kernel or copy left behind, else "". cuDNN and cuBLAS report such an error as
     * their own failure (an execution failure of the call that met it), which sends the reader to the wrong call, and
     * it is sticky: "any further CUDA work will return the same error" (CUDA runtime API, cudaErrorIllegalAddress), so
     * trying the call again another way cannot help. cudaStreamQuery does not block and "may also return error codes
     * from previous, asynchronous launches"; on a healthy context it answers cudaSuccess or cudaErrorNotReady.
     */
    public static String earlierFault(CUstream_st stream) {
        int status;
        try {
            status = cudart.cudaStreamQuery(stream);
        } catch (RuntimeException | LinkageError e) {
            return "";
        }
        String hint = stickyHint(status);
        return hint.isEmpty() ? "" : "; the CUDA context reports " + errorName(status) + " (" + errorString(status) + ")" + hint;
    }

    /** Throws unless a driver-API call (cuModuleLoadData, cuLaunchKernel, ...) succeeded. */
    public static void checkDriver(int result, String what) {
        if (result != cudart.CUDA_SUCCESS) {
            String name = "CUresult " + result, desc = "";
            // const char** out-parameters: JavaCPP writes the C string's address into these pointers.
            BytePointer n = new BytePointer(), d = new BytePointer();
            if (cudart.cuGetErrorName(result, n) == cudart.CUDA_SUCCESS && !n.isNull()) name = n.getString();
            if (cudart.cuGetErrorString(result, d) == cudart.CUDA_SUCCESS && !d.isNull()) desc = " (" + d.getString() + ")";
            throw new CudaException(what + " failed: " + name + desc + stickyHint(result), result);
        }
    }

    /** Throws unless a cuBLAS call succeeded. */
    public static void checkCublas(int status, String what) {
        if (status != cublas.CUBLAS_STATUS_SUCCESS) {
            BytePointer n = cublas.cublasGetStatusName(status), s = cublas.cublasGetStatusString(status);
            String name = n == null || n.isNull() ? "cuBLAS status " + status : n.getString() + " (cuBLAS status " + status + ")";
            throw new CublasException(what + " failed: " + name + (s == null || s.isNull() ? "" : ": " + s.getString()), status);
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
