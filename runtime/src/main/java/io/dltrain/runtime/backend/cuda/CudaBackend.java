package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.AsyncUpload;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.BackendUnavailableException;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.DropoutRng;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.backend.MemoryStats;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Tensor;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.dltrain.runtime.backend.cuda.CudaLibraries.human;

/**
 * The CUDA backend: every {@link Backend} op on one GPU, queued on one non-blocking compute stream.
 * <ul>
 *   <li>Memory: {@link CachingAllocator} over cudaMalloc (stream-ordered reuse on the compute stream).</li>
 *   <li>Copies: cudaMemcpyAsync through {@link PinnedStaging} (so they are truly asynchronous); {@link #toHost} and
 *       {@link #item} synchronise the stream; {@link #copyBlocks} is cudaMemcpy2DAsync.</li>
 *   <li>GEMM: cuBLAS sgemm on row-major data through the transpose identity C^T = B^T A^T; FP32 math unless the
 *       {@code tf32} switch is on (CUBLAS_TF32_TENSOR_OP_MATH). {@link #gemmBias} (Linear's forward) is one cuBLASLt
 *       matmul with the bias epilogue ({@link CublasLt}), {@link #gemmBiasRelu} (Linear + ReLU) that and cuDNN's
 *       NaN-keeping ReLU (the RELU_BIAS epilogue only with {@code -Ddltrain.cublasLt.reluEpilogue=true}), each falling
 *       back to sgemm + add_bias_f32 (+ ReLU) per shape when cuBLASLt refuses, and always with
 *       {@code -Ddltrain.cublasLt=false}.</li>
 *   <li>Convolution, pooling, batch norm, softmax, and the activations cuDNN implements with our semantics:
 *       {@link CudnnOps} (ReLU's and ELU's backward excepted: {@link CudnnShapes#backwardOnCudnn}). Everything else: our PTX kernels (kernels/src/main/cuda) through {@link PtxKernels}, with
 *       host scalars computed as the CPU backend computes them ({@link CudaOptim}).</li>
 *   <li>A second stream for copies: {@link #prefetchFromHost} overlaps the next batch's upload with compute (the
 *       {@link AsyncUpload} capability, which the trainer's batch uploads use).</li>
 * </ul>
 * Every op first makes the CPU backend's argument checks ({@link Checks}, the same messages), before it allocates
 * or queues anything, cuDNN ops included. Label ranges are NOT checked on the device (that would need a host
 * synchronisation per step); the CPU backend checks them.
 *
 * <p>The device must be current on the calling thread for CUDA calls; every entry point makes it so
 * ({@link #enter()}, a thread-local compare in the common case).
 */
public final class CudaBackend implements Backend, CudaContext, AsyncUpload {
    private static final ThreadLocal<int[]> CURRENT_DEVICE = ThreadLocal.withInitial(() -> new int[] {-1});

    private final int index;
    private final Device device;
    private final String name;
    private final boolean tf32;
    /** Convolution algorithms by cudnnFind*AlgorithmEx instead of heuristics ({@link CudnnOps#SEARCH_SWITCH}). */
    private final boolean measuredSearch;
    private final CudaLibraries.DeviceInfo info;
    private final CudaLibraries.Probe probe;

    private CUstream_st stream, copyStream;
    private cublasContext cublasHandle;
    private cudnnContext cudnnHandle;
    private CachingAllocator allocator;
    private PinnedStaging staging;
    /** The PTX launcher; a recording fake in {@link #forTesting}. */
    private KernelLauncher kernels;
    private CudnnOps cudnnOps;
    /** Linear's fused GEMM + bias; null when switched off, unavailable, or in the test double ({@link #gemmBiasPath}). */
    private CublasLt lt;
    /** Linear + ReLU as one matmul with cuBLASLt's RELU_BIAS epilogue ({@link CublasLt#RELU_SWITCH}; off by default). */
    private final boolean reluEpilogue = CublasLt.reluEpilogueEnabled();
    /** Why {@link #lt} is null, or null. */
    private String ltOff;
    private final FloatPointer alphaBeta = new FloatPointer(2);
    private boolean closed;
    /** True only for {@link #forTesting}: no CUDA calls at all (no context, streams, handles). */
    private final boolean fake;

    /** The backend on device {@code index}, FP32 GEMM math. */
    public CudaBackend(int index) { this(index, false); }

    /**
     * The backend on device {@code index}; convolution algorithms chosen as {@value CudnnOps#SEARCH_SWITCH} says
     * (cuDNN's heuristics unless it is {@code measured}).
     *
     * @param index CUDA device ordinal
     * @param tf32  let cuBLAS use TF32 tensor cores for FP32 GEMM (faster on Ampere and later, ~10 bits of mantissa)
     * @throws BackendUnavailableException when CUDA cannot be used or the device does not exist
     * @throws IllegalArgumentException when {@value CudnnOps#SEARCH_SWITCH} holds neither heuristic nor measured
     */
    public CudaBackend(int index, boolean tf32) { this(index, tf32, CudnnOps.measuredSearchRequested()); }

    /**
     * @param index CUDA device ordinal
     * @param tf32  let cuBLAS use TF32 tensor cores for FP32 GEMM (faster on Ampere and later, ~10 bits of mantissa)
     * @param measuredSearch choose each convolution shape's algorithm by timing cuDNN's algorithms on its first call
     *                       (cudnnFind*AlgorithmEx, as torch.backends.cudnn.benchmark) instead of by cuDNN's heuristics
     * @throws BackendUnavailableException when CUDA cannot be used or the device does not exist
     */
    public CudaBackend(int index, boolean tf32, boolean measuredSearch) {
        this.probe = CudaLibraries.probe();
        if (!probe.usable()) throw new BackendUnavailableException("CUDA cannot be used: " + probe.reason());
        int count = probe.devices().size();
        if (index < 0 || index >= count) {
            throw new BackendUnavailableException("cuda:" + index + " does not exist: this machine has " + count + " CUDA device"
                    + (count == 1 ? " (cuda:0)" : "s (cuda:0 .. cuda:" + (count - 1) + ")"));
        }
        this.index = index;
        this.device = Device.cuda(index);
        this.name = "cuda:" + index;
        this.tf32 = tf32;
        this.measuredSearch = measuredSearch;
        this.info = probe.devices().get(index);
        this.fake = false;
        try {
            Cuda.check(cudart.cudaSetDevice(index), "cudaSetDevice(" + index + ")");
            CURRENT_DEVICE.get()[0] = index;
            Cuda.check(cudart.cudaFree((Pointer) null), "creating the CUDA context on " + name);   // cudaFree(0) initialises the context
            stream = new CUstream_st();
            Cuda.check(cudart.cudaStreamCreateWithFlags(stream, cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags(compute)");
            copyStream = new CUstream_st();
            Cuda.check(cudart.cudaStreamCreateWithFlags(copyStream, cudart.cudaStreamNonBlocking), "cudaStreamCreateWithFlags(copy)");
            cublasContext h = new cublasContext();
            Cuda.checkCublas(cublas.cublasCreate_v2(h), "cublasCreate");
            cublasHandle = h;
            Cuda.checkCublas(cublas.cublasSetStream_v2(h, stream), "cublasSetStream");
            Cuda.checkCublas(cublas.cublasSetMathMode(h, tf32 ? cublas.CUBLAS_TF32_TENSOR_OP_MATH : cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            if (CublasLt.enabled()) {
                try {
                    lt = new CublasLt(this, tf32);
                } catch (RuntimeException | LinkageError e) {
                    // Not fatal: Linear's bias then runs as its own kernel after sgemm.
                    ltOff = "cuBLASLt unavailable: " + e.getMessage();
                    System.err.println(name + ": " + ltOff + "; Linear layers run cuBLAS sgemm + add_bias_f32");
                }
            } else {
                ltOff = "-D" + CublasLt.SWITCH + "=false";
            }
            cudnnContext d = new cudnnContext();
            Cuda.checkCudnn(cudnn.cudnnCreate(d), "cudnnCreate");
            cudnnHandle = d;
            Cuda.checkCudnn(cudnn.cudnnSetStream(d, stream), "cudnnSetStream");
            allocator = new CachingAllocator(new CudaMemory(), name);
            staging = new PinnedStaging();
            kernels = new PtxKernels(this, info.multiprocessors());
            cudnnOps = new CudnnOps(this, tf32, measuredSearch); // TF32 convolutions only when the switch allows them
        } catch (RuntimeException e) {
            try { close(); } catch (RuntimeException suppressed) { e.addSuppressed(suppressed); }
            throw e;
        }
    }

    /**
     * A backend that makes no CUDA call: memory comes from {@code memory} and launches go to {@code launcher}, so the
     * routing of every kernel-backed op (kernel names, argument lists, scratch buffers) is tested on the CPU.
     * Copies, GEMM and cuDNN ops are unavailable.
     */
    static CudaBackend forTesting(KernelLauncher launcher, DeviceMemoryApi memory, int multiprocessors) {
        return new CudaBackend(launcher, memory, multiprocessors);
    }

    private CudaBackend(KernelLauncher launcher, DeviceMemoryApi memory, int multiprocessors) {
        this.index = 0;
        this.device = Device.cuda(0);
        this.name = "cuda:0";
        this.tf32 = false;
        this.measuredSearch = false;
        this.info = new CudaLibraries.DeviceInfo(0, "test double (no GPU)", 0, 0, multiprocessors, memory.memInfo()[1], -1);
        this.probe = new CudaLibraries.Probe(true, null, "", "", "", "", java.util.List.of(info));
        this.fake = true;
        this.allocator = new CachingAllocator(memory, name);
        this.kernels = launcher;
        this.ltOff = "test double (no cuBLASLt)";
    }

    /** cudaMalloc / cudaFree / cudaMemGetInfo for the allocator. */
    private final class CudaMemory implements DeviceMemoryApi {
        @Override
        public long malloc(long bytes) {
            Pointer p = new Pointer();
            int st = cudart.cudaMalloc(p, bytes);
            if (st == cudart.cudaErrorMemoryAllocation) {
                cudart.cudaGetLastError();   // clear it, so the next check does not report this one
                return 0;
            }
            Cuda.check(st, "cudaMalloc(" + human(bytes) + ") on " + name);
            return p.address();
        }

        @Override
        public void free(long ptr) {
            Cuda.check(cudart.cudaFree(CudaContext.pointer(ptr)), "cudaFree on " + name);
        }

        @Override
        public void synchronize() {
            Cuda.check(cudart.cudaDeviceSynchronize(), "cudaDeviceSynchronize (before returning cached blocks) on " + name);
        }

        @Override
        public long[] memInfo() {
            try (SizeTPointer f = new SizeTPointer(1); SizeTPointer t = new SizeTPointer(1)) {
                Cuda.check(cudart.cudaMemGetInfo(f, t), "cudaMemGetInfo on " + name);
                return new long[] {f.get(), t.get()};
            }
        }
    }

    /** Makes this backend's device current on the calling thread (CUDA's current device is per thread). */
    private void enter() {
        if (closed) throw new IllegalStateException(name + " backend used after close()");
        if (fake) return;
        int[] cur = CURRENT_DEVICE.get();
        if (cur[0] != index) {
            Cuda.check(cudart.cudaSetDevice(index), "cudaSetDevice(" + index + ")");
            cur[0] = index;
        }
    }

    // ------------------------------------------------------------ CudaContext

    @Override public int deviceIndex() { return index; }
    @Override public CUstream_st stream() { return stream; }
    @Override public cublasContext cublas() { return cublasHandle; }
    @Override public cudnnContext cudnn() { return cudnnHandle; }
    @Override public KernelLauncher kernels() { enter(); return kernels; }

    @Override
    public DeviceBuffer allocate(long bytes, String purpose) {
        enter();
        return allocator.allocate(bytes, purpose);
    }

    /** The cuDNN ops (null in the test double); tests call the ones this backend routes elsewhere directly. */
    CudnnOps cudnnOps() { return cudnnOps; }

    /** Whether cuBLAS may use TF32 tensor cores for FP32 GEMM. */
    public boolean tf32() { return tf32; }

    /** Whether convolution algorithms are chosen by timing them (cudnnFind*AlgorithmEx) rather than by cuDNN's heuristics. */
    public boolean measuredSearch() { return measuredSearch; }

    /**
     * An explicit-shape launch. Passing the arguments as one Object[] selects
     * {@link KernelLauncher#launch(String, int, int, int, Object...)}: with loose int arguments the call would also
     * match {@code launch(String, long, Object...)} and not compile (ambiguous).
     */
    private void grid(String kernel, int gridX, int blockX, Object... args) {
        kernels.launch(kernel, gridX, blockX, 0, args);
    }

    // ------------------------------------------------------------ checks

    /** Device address of t's first element, checking that t lives on this device. */
    private long a(Tensor t, String op) {
        if (t == null) throw new IllegalArgumentException(op + ": a required tensor is null");
        Checks.on(op, device, t);
        return CudaStorage.address(t);
    }

    /** Address of an FP32 tensor ({@link Checks#fp32}: the CPU backend's message for a wrong dtype or device). */
    private long f(Tensor t, String op) {
        Checks.fp32(op, device, t);
        return a(t, op);
    }

    private long i(Tensor t, String op) {
        Checks.int32(op, device, t);
        return a(t, op);
    }

    // ------------------------------------------------------------ identity and memory

    @Override public String name() { return name; }

    @Override public Device device() { return device; }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("device", name);
        m.put("name", info.name());
        m.put("compute_capability", info.computeCapability());
        m.put("multiprocessors", info.multiprocessors());
        m.put("memory_total_bytes", info.totalBytes());
        m.put("driver_cuda", probe.driverVersion());
        m.put("runtime_cuda", probe.runtimeVersion());
        m.put("cublas", probe.cublasVersion());
        m.put("cudnn", probe.cudnnVersion());
        m.put("gemm", "cuBLAS sgemm" + (tf32 ? " (TF32 tensor cores)" : " (FP32)"));
        m.put("gemm_bias", gemmBiasPath());
        m.put("conv_algorithms", measuredSearch ? "measured (cudnnFind*AlgorithmEx, once per shape)" : "cuDNN heuristics");
        MemoryStats s = memoryStats();
        m.put("memory_in_use_bytes", s.inUseBytes());
        m.put("memory_reserved_bytes", s.reservedBytes());
        m.put("memory_peak_bytes", s.peakBytes());
        return m;
    }

    @Override
    public MemoryStats memoryStats() { return allocator == null ? MemoryStats.NONE : allocator.stats(); }

    /** Returns the allocator's cached free blocks to the driver. */
    public void emptyCache() {
        enter();
        allocator.emptyCache();
    }

    @Override
    public Tensor empty(Shape shape, DType dtype) {
        enter();
        if (dtype != DType.FP32 && dtype != DType.INT32)
            throw new UnsupportedOperationException("the CUDA backend stores FP32 and INT32 tensors; " + dtype + " is not supported yet");
        long n = shape.numel();
        DeviceBuffer b = allocator.allocate(n * dtype.bytes(), "tensor " + shape + " " + dtype);
        return new Tensor(this, new CudaStorage(b, n, dtype), shape);
    }

    @Override
    public void fill(Tensor t, float value) {
        enter();
        long n = t.numel();
        if (t.dtype() == DType.INT32) kernels.launch("fill_i32", n, i(t, "fill"), (int) value, n);
        else kernels.launch("fill_f32", n, f(t, "fill"), value, n);
    }

    @Override
    public void copyFromHost(float[] src, int srcOffset, Tensor dst) {
        enter();
        long d = f(dst, "copyFromHost"), n = dst.numel();
        Checks.hostSource(src.length, srcOffset, n, "copyFromHost");
        if (n == 0) return;
        synchronized (staging) {
            PinnedStaging.Slot s = staging.acquire(4 * n);
            s.floats(n).put(src, srcOffset, (int) n);
            upload(s, d, 4 * n, stream, "copyFromHost " + dst.shape());
        }
    }

    @Override
    public void copyFromHost(int[] src, int srcOffset, Tensor dst) {
        enter();
        long d = i(dst, "copyFromHost"), n = dst.numel();
        Checks.hostSource(src.length, srcOffset, n, "copyFromHost");
        if (n == 0) return;
        synchronized (staging) {
            PinnedStaging.Slot s = staging.acquire(4 * n);
            s.ints(n).put(src, srcOffset, (int) n);
            upload(s, d, 4 * n, stream, "copyFromHost " + dst.shape());
        }
    }

    private void upload(PinnedStaging.Slot s, long dst, long bytes, CUstream_st on, String what) {
        Cuda.check(cudart.cudaMemcpyAsync(CudaContext.pointer(dst), s.pointer(), bytes, cudart.cudaMemcpyHostToDevice, on),
                () -> "cudaMemcpyAsync(" + what + ", " + human(bytes) + ")");
        s.recordOn(on);
    }

    /** Queues a device-to-host copy into a staging slot and waits for the stream. */
    private PinnedStaging.Slot download(long src, long bytes, String what) {
        PinnedStaging.Slot s = staging.acquire(bytes);
        Cuda.check(cudart.cudaMemcpyAsync(s.pointer(), CudaContext.pointer(src), bytes, cudart.cudaMemcpyDeviceToHost, stream),
                () -> "cudaMemcpyAsync(" + what + ", " + human(bytes) + ")");
        Cuda.check(cudart.cudaStreamSynchronize(stream), () -> "cudaStreamSynchronize after " + what
                + " (an error here usually comes from an earlier kernel)");
        return s;
    }

    @Override
    public void toHost(Tensor src, float[] dst) {
        enter();
        long a = f(src, "toHost"), n = src.numel();
        Checks.hostDestination(dst.length, src);
        if (n == 0) return;
        synchronized (staging) { download(a, 4 * n, "toHost " + src.shape()).floats(n).get(dst, 0, (int) n); }
    }

    @Override
    public void toHost(Tensor src, int[] dst) {
        enter();
        long a = i(src, "toHost"), n = src.numel();
        Checks.hostDestination(dst.length, src);
        if (n == 0) return;
        synchronized (staging) { download(a, 4 * n, "toHost " + src.shape()).ints(n).get(dst, 0, (int) n); }
    }

    @Override
    public float item(Tensor scalar) {
        enter();
        Checks.scalar(scalar, "item", device);
        long a = f(scalar, "item");
        synchronized (staging) { return download(a, 4, "item").floats(1).get(0); }
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        enter();
        Checks.copy(src, dst);
        long bytes = src.numel() * src.dtype().bytes();
        if (bytes == 0) return;
        Cuda.check(cudart.cudaMemcpyAsync(CudaContext.pointer(a(dst, "copy")), CudaContext.pointer(a(src, "copy")), bytes,
                cudart.cudaMemcpyDeviceToDevice, stream), () -> "cudaMemcpyAsync(copy " + src.shape() + ")");
    }

    @Override
    public void copyBlocks(Tensor src, long srcOffset, long srcStride, Tensor dst, long dstOffset, long dstStride, long blockLen, int count) {
        enter();
        if (!Checks.copyBlocks(device, src, srcOffset, srcStride, dst, dstOffset, dstStride, blockLen, count)) return;
        long s = f(src, "copyBlocks"), d = f(dst, "copyBlocks");
        long width = 4 * blockLen;
        Pointer sp = CudaContext.pointer(s + 4 * srcOffset), dp = CudaContext.pointer(d + 4 * dstOffset);
        if (count == 1) {
            Cuda.check(cudart.cudaMemcpyAsync(dp, sp, width, cudart.cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync(copyBlocks)");
        } else if (srcStride >= blockLen && dstStride >= blockLen) {
            Cuda.check(cudart.cudaMemcpy2DAsync(dp, 4 * dstStride, sp, 4 * srcStride, width, count, cudart.cudaMemcpyDeviceToDevice, stream),
                    () -> "cudaMemcpy2DAsync(copyBlocks " + count + " x " + blockLen + " from " + src.shape() + " to " + dst.shape() + ")");
        } else {
            // Overlapping rows (stride < block): cudaMemcpy2D rejects a pitch below the width; copy row by row in order, as the CPU does.
            for (int b = 0; b < count; b++) {
                int row = b;
                Cuda.check(cudart.cudaMemcpyAsync(CudaContext.pointer(d + 4 * (dstOffset + b * dstStride)),
                        CudaContext.pointer(s + 4 * (srcOffset + b * srcStride)), width, cudart.cudaMemcpyDeviceToDevice, stream),
                        () -> "cudaMemcpyAsync(copyBlocks row " + row + ")");
            }
        }
    }

    @Override
    public void synchronize() {
        enter();
        Cuda.check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize(" + name + ")");
        // All queued work: uploads queued ahead on the copy stream too.
        Cuda.check(cudart.cudaStreamSynchronize(copyStream), "cudaStreamSynchronize(" + name + " copy stream)");
    }

    // ------------------------------------------------------------ prefetch on the copy stream

    /**
     * A host-to-device copy queued on the copy stream; {@link #await()} makes the compute stream wait for it. Until
     * then, compute queued on the compute stream runs concurrently with the copy.
     */
    public final class Prefetch implements AsyncUpload.Pending {
        private CUevent_st done;

        private Prefetch(CUevent_st done) { this.done = done; }

        /** Orders all compute queued from now on after the copy. Idempotent. */
        @Override
        public void await() {
            if (done == null) return;
            enter();
            CUevent_st e = done;
            done = null;
            RuntimeException failure = null;
            try {
                Cuda.check(cudart.cudaStreamWaitEvent(stream, e, 0), "cudaStreamWaitEvent(prefetch)");
            } catch (RuntimeException ex) {
                failure = ex;
            }
            // The event is destroyed either way; a failure to destroy it does not hide the wait's own failure.
            int destroyed = cudart.cudaEventDestroy(e);
            if (failure != null) {
                try { Cuda.check(destroyed, "cudaEventDestroy(prefetch)"); } catch (RuntimeException ex) { failure.addSuppressed(ex); }
                throw failure;
            }
            Cuda.check(destroyed, "cudaEventDestroy(prefetch)");
        }
    }

    /**
     * Copies {@code dst.numel()} floats from {@code src[srcOffset...]} into dst on the copy stream, so the upload
     * overlaps compute. Safe for any dst: the copy first waits for the compute already queued (which may still be
     * using dst's memory, as the allocator reuses blocks in stream order), so it overlaps the compute queued AFTER
     * this call; call it for batch k+1 before queuing the work of batch k, then {@link Prefetch#await()} before
     * using dst.
     */
    public Prefetch prefetchFromHost(float[] src, int srcOffset, Tensor dst) {
        enter();
        long d = f(dst, "prefetchFromHost"), n = dst.numel();
        Checks.hostSource(src.length, srcOffset, n, "prefetchFromHost");
        return prefetch(d, n, dst.shape(), slot -> slot.floats(n).put(src, srcOffset, (int) n));
    }

    /** {@link #prefetchFromHost(float[], int, Tensor)} for INT32 tensors (labels). */
    public Prefetch prefetchFromHost(int[] src, int srcOffset, Tensor dst) {
        enter();
        long d = i(dst, "prefetchFromHost"), n = dst.numel();
        Checks.hostSource(src.length, srcOffset, n, "prefetchFromHost");
        return prefetch(d, n, dst.shape(), slot -> slot.ints(n).put(src, srcOffset, (int) n));
    }

    /** {@link AsyncUpload}: {@link #prefetchFromHost(float[], int, Tensor)} (src is in pinned staging when it returns). */
    @Override
    public Prefetch uploadAsync(float[] src, int srcOffset, Tensor dst) { return prefetchFromHost(src, srcOffset, dst); }

    /** {@link AsyncUpload}: {@link #prefetchFromHost(int[], int, Tensor)}. */
    @Override
    public Prefetch uploadAsync(int[] src, int srcOffset, Tensor dst) { return prefetchFromHost(src, srcOffset, dst); }

    private Prefetch prefetch(long dst, long n, Shape shape, java.util.function.Consumer<PinnedStaging.Slot> fill) {
        CUevent_st before = event(), done = null;
        try {
            done = event();
            Cuda.check(cudart.cudaEventRecord(before, stream), "cudaEventRecord(prefetch: compute so far)");
            Cuda.check(cudart.cudaStreamWaitEvent(copyStream, before, 0), "cudaStreamWaitEvent(copy stream)");
            if (n > 0) {
                synchronized (staging) {
                    PinnedStaging.Slot s = staging.acquire(4 * n);
                    fill.accept(s);
                    upload(s, dst, 4 * n, copyStream, "prefetchFromHost " + shape);
                }
            }
            Cuda.check(cudart.cudaEventRecord(done, copyStream), "cudaEventRecord(prefetch done)");
        } catch (RuntimeException e) {
            // A copy may already be queued: let it finish before the caller frees dst (best effort; the context may be gone).
            cudart.cudaStreamSynchronize(copyStream);
            if (done != null) cudart.cudaEventDestroy(done);
            throw e;
        } finally {
            cudart.cudaEventDestroy(before);   // CUDA releases it once the wait on it has completed
        }
        return new Prefetch(done);
    }

    private static CUevent_st event() {
        CUevent_st e = new CUevent_st();
        Cuda.check(cudart.cudaEventCreateWithFlags(e, cudart.cudaEventDisableTiming), "cudaEventCreateWithFlags");
        return e;
    }

    // ------------------------------------------------------------ GEMM

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Tensor a, long aOffset, int lda,
                     Tensor b, long bOffset, int ldb, float beta, Tensor c, long cOffset, int ldc) {
        enter();
        long A = f(a, "gemm") + 4 * aOffset, B = f(b, "gemm") + 4 * bOffset, C = f(c, "gemm") + 4 * cOffset;
        Checks.gemm(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        if (m == 0 || n == 0) return;
        // k = 0 (C = beta C): a row of length k has stride k = 0, which cuBLAS refuses (it wants ld >= max(1, rows));
        // nothing is read from A or B, so any ld >= 1 is as good. (Found by EmulatedDeviceTest.)
        int ldA = k == 0 ? Math.max(1, lda) : lda, ldB = k == 0 ? Math.max(1, ldb) : ldb;
        // Row-major C (m x n) is column-major C^T (n x m) with the same leading dimension; C^T = op(B)^T op(A)^T,
        // and a row-major op(X) read as column-major is op(X)^T: so swap A and B, and m and n.
        synchronized (alphaBeta) {
            alphaBeta.put(0, alpha).put(1, beta);
            Cuda.checkCublas(cublas.cublasSgemm_v2(cublasHandle, transB ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N,
                    transA ? cublas.CUBLAS_OP_T : cublas.CUBLAS_OP_N, n, m, k,
                    new FloatPointer(alphaBeta), new FloatPointer(CudaContext.pointer(B)), ldB,
                    new FloatPointer(CudaContext.pointer(A)), ldA,
                    (FloatPointer) new FloatPointer(alphaBeta).position(1), new FloatPointer(CudaContext.pointer(C)), ldc),
                    () -> "cublasSgemm (row-major m=" + m + " n=" + n + " k=" + k + " transA=" + transA + " transB=" + transB
                            + " lda=" + lda + " ldb=" + ldb + " ldc=" + ldc + ")" + Cuda.earlierFault(stream));
        }
    }

    // ------------------------------------------------------------ element-wise and reductions

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        enter();
        Checks.elementwise("add", device, a, b, y);
        long n = y.numel();
        kernels.launch("add_f32", n, f(a, "add"), f(b, "add"), f(y, "add"), n);
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor y) {
        enter();
        Checks.elementwise("mul", device, a, b, y);
        long n = y.numel();
        kernels.launch("mul_f32", n, f(a, "mul"), f(b, "mul"), f(y, "mul"), n);
    }

    @Override
    public void scale(Tensor x, float alpha, Tensor y) {
        enter();
        Checks.elementwise("scale", device, x, y);
        long n = y.numel();
        kernels.launch("scale_f32", n, f(x, "scale"), alpha, f(y, "scale"), n);
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        enter();
        Checks.elementwise("axpy", device, x, y);
        long n = y.numel();
        kernels.launch("axpy_f32", n, alpha, f(x, "axpy"), f(y, "axpy"), n);
    }

    @Override
    public void pow(Tensor x, float p, Tensor y) {
        enter();
        Checks.elementwise("pow", device, x, y);
        long n = y.numel();
        kernels.launch("pow_f32", n, f(x, "pow"), p, f(y, "pow"), n);
    }

    @Override
    public void powBackward(Tensor x, float p, Tensor dy, Tensor dx) {
        enter();
        Checks.elementwise("powBackward", device, x, dy, dx);
        long n = dx.numel();
        kernels.launch("pow_backward_f32", n, f(x, "powBackward"), p, f(dy, "powBackward"), f(dx, "powBackward"), n);
    }

    /**
     * Row-major C = op(A) op(B) + bias per column: one cuBLASLt matmul with the bias epilogue when it can
     * ({@link CublasLt}), else sgemm followed by add_bias_f32 (the interface's default), which is also the path
     * when cuBLASLt refused this shape before, is switched off ({@code -Ddltrain.cublasLt=false}), or in the test double.
     */
    @Override
    public void gemmBias(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
        if (fusedGemm("gemmBias", transA, transB, m, n, k, a, b, bias, c, false)) return;
        Backend.super.gemmBias(transA, transB, m, n, k, a, b, bias, c);
    }

    /**
     * {@link #gemmBias} then cuDNN's ReLU, which keeps NaN; with {@code -Ddltrain.cublasLt.reluEpilogue=true} one
     * cuBLASLt matmul with the RELU_BIAS epilogue instead (which may turn NaN into 0: {@link CublasLt#RELU_SWITCH}),
     * falling back to the former where cuBLASLt refuses.
     */
    @Override
    public void gemmBiasRelu(boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, Tensor bias, Tensor c) {
        if (reluEpilogue && fusedGemm("gemmBiasRelu", transA, transB, m, n, k, a, b, bias, c, true)) return;
        Backend.super.gemmBiasRelu(transA, transB, m, n, k, a, b, bias, c);
    }

    /**
     * The checks of gemmBias / gemmBiasRelu, then the cuBLASLt matmul. True when nothing is left to do (queued, or an
     * empty product); false when the caller must run the unfused default.
     */
    private boolean fusedGemm(String op, boolean transA, boolean transB, int m, int n, int k, Tensor a, Tensor b, Tensor bias,
                              Tensor c, boolean relu) {
        enter();
        // cuBLASLt reads and writes these extents without bounds: the shared checks name the call.
        Checks.gemmBias(op, device, m, n, k, a, b, bias, c);
        long A = f(a, op), B = f(b, op), C = f(c, op), bi = f(bias, op);
        if (m == 0 || n == 0) return true;
        return lt != null && lt.matmulBias(transA, transB, m, n, k, A, B, bi, C, relu);
    }

    /** How {@link #gemmBias} runs here: "cuBLASLt bias epilogue", or sgemm + add_bias_f32 and why. */
    String gemmBiasPath() {
        return lt != null ? "cuBLASLt matmul, BIAS" + (reluEpilogue ? " / RELU_BIAS epilogues" : " epilogue, then ReLU")
                + " (per-shape fallback: sgemm + add_bias_f32 [+ ReLU])"
                : "cuBLAS sgemm + add_bias_f32 (" + ltOff + ")";
    }

    /** The cuBLASLt path, or null (tests and diagnostics). */
    CublasLt cublasLt() { return lt; }

    @Override
    public void addBias(Tensor y, Tensor bias) {
        enter();
        Checks.bias("addBias", device, y, bias);
        int C = y.dim(1);
        long inner = y.shape().numelFrom(2), n = y.numel();
        kernels.launch("add_bias_f32", n, f(y, "addBias"), f(bias, "addBias"), n, C, inner);
    }

    @Override
    public void biasGrad(Tensor dy, Tensor dbias, boolean accumulate) {
        enter();
        Checks.bias("biasGrad", device, dy, dbias);
        int N = dy.dim(0), C = dy.dim(1);
        long inner = dy.shape().numelFrom(2);
        if (C == 0) return;
        grid("bias_grad_f32", C, 256, f(dy, "biasGrad"), f(dbias, "biasGrad"), N, C, inner, accumulate ? 1 : 0);
    }

    @Override
    public void sum(Tensor x, float alpha, Tensor out) {
        enter();
        Checks.reduction("sum", device, x, out);
        grid("sum_f32", 1, 1024, f(x, "sum"), x.numel(), alpha, f(out, "sum"));
    }

    @Override
    public void sumSquares(Tensor x, Tensor out, boolean accumulate) {
        enter();
        Checks.reduction("sumSquares", device, x, out);
        grid("sum_squares_f32", 1, 1024, f(x, "sumSquares"), x.numel(), f(out, "sumSquares"), accumulate ? 1 : 0);
    }

    @Override
    public void clipByNorm(Tensor x, Tensor sumSq, float maxNorm) {
        enter();
        Checks.reduction("clipByNorm", device, x, sumSq);
        long n = x.numel();
        kernels.launch("clip_by_norm_f32", n, f(x, "clipByNorm"), n, f(sumSq, "clipByNorm"), maxNorm);
    }

    @Override
    public void checkFinite(Tensor x, Tensor flag) {
        enter();
        Checks.reduction("checkFinite", device, x, flag);
        long n = x.numel();
        kernels.launch("check_finite_f32", n, f(x, "checkFinite"), n, f(flag, "checkFinite"));
    }

    // ------------------------------------------------------------ activations, softmax

    @Override
    public void activationForward(Activation act, Tensor x, Tensor y) {
        enter();
        String op = "activation " + act.kind();
        Checks.activation(op, device, act, x, y);
        if (CudnnOps.supports(act)) { cudnnOps.activationForward(act, x, y); return; }
        long n = y.numel();
        kernels.launch("activation_forward_f32", n, act.kind().ordinal(), act.alpha(), f(x, op), f(y, op), n);
    }

    @Override
    public void activationBackward(Activation act, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        enter();
        String op = "activation backward " + act.kind();
        Checks.activation(op, device, act, x, y, dy, dx);
        // ReLU and ELU backward on our kernel whatever cuDNN would do at x = 0 or NaN (CudnnShapes.backwardOnCudnn).
        if (CudnnShapes.backwardOnCudnn(act)) { cudnnOps.activationBackward(act, x, y, dy, dx); return; }
        long n = dx.numel();
        kernels.launch("activation_backward_f32", n, act.kind().ordinal(), act.alpha(), f(x, op), f(y, op), f(dy, op), f(dx, op), n);
    }

    // ------------------------------------------------------------ LSTM cell (lstm.cu)

    @Override
    public void lstmCellForward(Tensor gates, Tensor cPrev, Tensor c, Tensor h) {
        enter();
        String op = "lstmCellForward";
        int[] nh = Checks.lstmCell(op, device, gates, null, cPrev, c, h);
        long n = (long) nh[0] * nh[1];
        kernels.launch("lstm_cell_forward_f32", n, f(gates, op), f(cPrev, op), f(c, op), f(h, op), n, nh[1]);
    }

    @Override
    public void lstmCellBackwardC(Tensor gates, Tensor cPrev, Tensor dc, Tensor dgates, Tensor dcPrev) {
        enter();
        String op = "lstmCellBackwardC";
        int[] nh = Checks.lstmCell(op, device, gates, dgates, cPrev, dc, dcPrev);
        long n = (long) nh[0] * nh[1];
        kernels.launch("lstm_cell_backward_c_f32", n, f(gates, op), f(cPrev, op), f(dc, op), f(dgates, op),
                dcPrev == null ? 0L : f(dcPrev, op), n, nh[1]);
    }

    @Override
    public void lstmCellBackwardH(Tensor gates, Tensor c, Tensor dh, Tensor dgates, Tensor dc) {
        enter();
        String op = "lstmCellBackwardH";
        int[] nh = Checks.lstmCell(op, device, gates, dgates, c, dh, dc);
        long n = (long) nh[0] * nh[1];
        kernels.launch("lstm_cell_backward_h_f32", n, f(gates, op), f(c, op), f(dh, op), f(dgates, op), f(dc, op), n, nh[1]);
    }

    @Override
    public void softmaxForward(Tensor x, Tensor y, boolean log) {
        enter();
        Checks.elementwise(log ? "logSoftmax" : "softmax", device, x, y);
        cudnnOps.softmaxForward(x, y, log);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) {
        enter();
        Checks.elementwise(log ? "logSoftmax backward" : "softmax backward", device, y, dy, dx);
        cudnnOps.softmaxBackward(y, dy, dx, log);
    }

    // ------------------------------------------------------------ convolution, pooling (cuDNN)
    // Each cuDNN op is checked here, as on the CPU, before CudnnOps creates a descriptor or allocates a workspace.

    @Override
    public void convForward(Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) {
        enter();
        Checks.convForward(device, x, w, bias, y, p);
        cudnnOps.convForward(x, w, bias, y, p);
    }

    @Override
    public void convBackwardData(Tensor dy, Tensor w, Tensor dx, ConvParams p) {
        enter();
        Checks.conv("convBackwardData", device, dx, w, dy, p);
        cudnnOps.convBackwardData(dy, w, dx, p);
    }

    @Override
    public void convBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) {
        enter();
        Checks.conv("convBackwardFilter", device, x, dw, dy, p);
        cudnnOps.convBackwardFilter(x, dy, dw, p, accumulate);
    }

    /** cuDNN, except average pooling where ceil mode adds a window, which cuDNN cannot compute (pool.cu's kernel). */
    @Override
    public void poolForward(Tensor x, Tensor y, PoolParams p) {
        enter();
        String op = "poolForward";
        Checks.pool(op, device, x, y, p);
        if (!CudnnShapes.avgCeilAddsWindow(x.shape(), p)) { cudnnOps.poolForward(x, y, p); return; }
        if (y.numel() == 0) return;
        kernels.launch("avg_pool_forward_f32", y.numel(), f(x, op), f(y, op), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), y.dim(2), y.dim(3),
                p.kH(), p.kW(), p.strideH(), p.strideW(), p.padH(), p.padW(), p.countIncludePad() ? 1 : 0);
    }

    @Override
    public void poolBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) {
        enter();
        String op = "poolBackward";
        Checks.poolBackward(device, x, y, dy, dx, p);
        if (!CudnnShapes.avgCeilAddsWindow(x.shape(), p)) { cudnnOps.poolBackward(x, y, dy, dx, p); return; }
        if (dx.numel() == 0) return;
        kernels.launch("avg_pool_backward_f32", dx.numel(), f(dy, op), f(dx, op), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), dy.dim(2), dy.dim(3),
                p.kH(), p.kW(), p.strideH(), p.strideW(), p.padH(), p.padW(), p.countIncludePad() ? 1 : 0);
    }

    @Override
    public void adaptiveAvgPoolForward(Tensor x, Tensor y) {
        enter();
        Checks.adaptiveAvgPool(false, device, x, y);
        int nc = x.dim(0) * x.dim(1);
        kernels.launch("adaptive_avg_pool_forward_f32", y.numel(), f(x, "adaptiveAvgPoolForward"), f(y, "adaptiveAvgPoolForward"),
                nc, x.dim(2), x.dim(3), y.dim(2), y.dim(3));
    }

    @Override
    public void adaptiveAvgPoolBackward(Tensor dy, Tensor dx) {
        enter();
        Checks.adaptiveAvgPool(true, device, dx, dy);
        int nc = dx.dim(0) * dx.dim(1);
        kernels.launch("adaptive_avg_pool_backward_f32", dx.numel(), f(dy, "adaptiveAvgPoolBackward"), f(dx, "adaptiveAvgPoolBackward"),
                nc, dx.dim(2), dx.dim(3), dy.dim(2), dy.dim(3));
    }

    // ------------------------------------------------------------ batch norm (cuDNN, or norm.cu), dropout

    /**
     * Training goes to cuDNN where PyTorch sends it there ({@link CudnnOps#cudnnTrains}: rank >= 3, at most 880,801
     * samples and 2^31-1 elements); [N, C] inputs and the batches beyond those limits run on our kernels (norm.cu,
     * CpuNorm's twin), one block per channel. The backward takes the same path, chosen by the same shape.
     */
    @Override
    public void batchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        enter();
        String op = "batchNorm (training)";
        Checks.batchNormTraining(device, x, gamma, beta, runningMean, runningVar, eps, y, saveMean, saveInvStd);
        if (CudnnOps.cudnnTrains(x.shape())) {
            cudnnOps.batchNormForwardTraining(x, gamma, beta, runningMean, runningVar, momentum, eps, y, saveMean, saveInvStd);
            return;
        }
        CudnnShapes.BatchNorm bn = CudnnShapes.batchNorm(op, x.shape());
        if (bn.C() == 0) return;
        grid("batch_norm_training_f32", bn.C(), 256, f(x, op), f(y, op), f(gamma, op), f(beta, op), f(runningMean, op),
                f(runningVar, op), f(saveMean, op), f(saveInvStd, op), bn.N(), bn.C(), (long) bn.inner(), momentum, eps);
    }

    @Override
    public void batchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y) {
        enter();
        Checks.batchNormInference(device, x, gamma, beta, runningMean, runningVar, eps, y);
        cudnnOps.batchNormForwardInference(x, gamma, beta, runningMean, runningVar, eps, y);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        enter();
        String op = "batchNorm backward";
        Checks.batchNormBackward(device, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
        if (CudnnOps.cudnnTrains(x.shape())) {
            cudnnOps.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta, accumulate);
            return;
        }
        CudnnShapes.BatchNorm bn = CudnnShapes.batchNorm(op, x.shape());
        if (x.numel() == 0) return;
        grid("batch_norm_backward_f32", bn.C(), 256, f(x, op), f(dy, op), f(gamma, op), f(saveMean, op), f(saveInvStd, op),
                f(dx, op), f(dgamma, op), f(dbeta, op), bn.N(), bn.C(), (long) bn.inner(), accumulate ? 1 : 0);
    }

    @Override
    public void dropoutForward(Tensor x, Tensor y, Tensor mask, float p, long seed) {
        enter();
        Checks.dropout(device, x, y, mask, p);
        long n = x.numel();
        kernels.launch("dropout_forward_f32", n, f(x, "dropout"), f(y, "dropout"), f(mask, "dropout"), p, DropoutRng.keepScale(p), seed, n);
    }

    // ------------------------------------------------------------ losses, metrics

    @Override
    public void crossEntropyForward(Tensor logits, Tensor labels, float ls, Tensor probs, Tensor loss) {
        enter();
        String op = "crossEntropy";
        // Label values are not checked on the device (that would need a host synchronisation per step).
        int[] nc = Checks.crossEntropy(op, device, logits, labels, ls, probs, loss);
        int N = nc[0], C = nc[1];
        long x = f(logits, op), l = i(labels, op), p = f(probs, op), out = f(loss, op);
        if (N == 0) { kernels.launch("fill_f32", 1, out, Float.NaN, 1L); return; }   // PyTorch: mean over no rows is NaN
        // The scratch goes back to the cache once the sum is queued: later work on this stream runs after the sum.
        try (DeviceBuffer rowLoss = allocator.allocate(4L * N, "cross-entropy row losses [" + N + "]")) {
            grid("cross_entropy_forward_f32", N, 256, x, l, N, C, ls, p, rowLoss.address());
            grid("sum_f32", 1, 1024, rowLoss.address(), (long) N, 1f / N, out);
        }
    }

    @Override
    public void crossEntropyBackward(Tensor probs, Tensor labels, float ls, Tensor dloss, Tensor dlogits) {
        enter();
        String op = "crossEntropy backward";
        int[] nc = Checks.crossEntropy(op, device, probs, labels, ls, dlogits, dloss);
        int N = nc[0], C = nc[1];
        kernels.launch("cross_entropy_backward_f32", (long) N * C, f(probs, op), i(labels, op), N, C, ls, f(dloss, op), f(dlogits, op));
    }

    @Override
    public void lossForward(LossKind kind, Tensor pred, Tensor target, Tensor loss) {
        enter();
        Checks.loss(kind, device, pred, target, loss, null);
        String op = kind + " loss";
        long n = pred.numel(), p = f(pred, op), t = f(target, op), out = f(loss, op);
        if (n == 0) { kernels.launch("fill_f32", 1, out, Float.NaN, 1L); return; }
        try (DeviceBuffer elem = allocator.allocate(4 * n, op + " element losses [" + n + "]")) {
            kernels.launch("loss_forward_f32", n, kind.ordinal(), p, t, elem.address(), n);
            grid("sum_f32", 1, 1024, elem.address(), n, 1f / n, out);
        }
    }

    @Override
    public void lossBackward(LossKind kind, Tensor pred, Tensor target, Tensor dloss, Tensor dpred) {
        enter();
        Checks.loss(kind, device, pred, target, dloss, dpred);
        String op = kind + " loss backward";
        long n = pred.numel();
        kernels.launch("loss_backward_f32", n, kind.ordinal(), f(pred, op), f(target, op), f(dloss, op), f(dpred, op), n);
    }

    @Override
    public void countTopK(Tensor logits, Tensor labels, int k, Tensor count) {
        enter();
        String op = "countTopK";
        int[] nc = Checks.countTopK(device, logits, labels, k, count);
        kernels.launch("count_topk_f32", nc[0], f(logits, op), i(labels, op), nc[0], nc[1], k, f(count, op));
    }

    @Override
    public void oneHot(Tensor labels, Tensor out) {
        enter();
        String op = "oneHot";
        int[] nc = Checks.oneHot(device, labels, out);
        kernels.launch("one_hot_f32", (long) nc[0] * nc[1], i(labels, op), nc[0], nc[1], f(out, op));
    }

    // ------------------------------------------------------------ optimisers

    @Override
    public void optimizerStep(OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        enter();
        CudaOptim.Launch l = optimizerLaunch(hyper, param, grad, state, lr, step);
        kernels.launch(l.kernel(), param.numel(), l.args());
    }

    /**
     * The whole group in one launch of optim.cu's {@code <opt>_multi_f32} over a table of the tensors' addresses and
     * sizes ({@link CudaOptim#multi}), copied to the device before it (7 longs per tensor, through pinned staging, on
     * the same stream). The test double launches per tensor.
     */
    @Override
    public void optimizerStepAll(OptimizerHyper hyper, List<Tensor> params, List<Tensor> grads, List<Tensor[]> states, float lr, long step) {
        enter();
        Checks.optimizerGroup(device, hyper, params, grads, states, step);   // every parameter before anything is queued
        int count = params.size();
        if (fake || count == 1) {
            Backend.super.optimizerStepAll(hyper, params, grads, states, lr, step);
            return;
        }
        List<CudaOptim.Launch> launches = new ArrayList<>(count);
        for (int i = 0; i < count; i++) launches.add(optimizerLaunch(hyper, params.get(i), grads.get(i), states.get(i), lr, step));
        CudaOptim.Multi m = CudaOptim.multi(launches);
        if (m == null) return;
        long bytes = 8L * m.table().length;
        // Freed at once, stream-ordered, like every temporary here: the launch below is queued before any reuse.
        try (DeviceBuffer table = allocator.allocate(bytes, "optimiser table (" + m.tensors() + " tensors)")) {
            synchronized (staging) {
                PinnedStaging.Slot s = staging.acquire(bytes);
                s.longs(m.table().length).put(m.table());
                upload(s, table.address(), bytes, stream, "optimiser table");
            }
            Object[] args = new Object[2 + m.scalars().length];
            args[0] = table.address();
            args[1] = m.tensors();
            System.arraycopy(m.scalars(), 0, args, 2, m.scalars().length);
            grid(m.kernel(), m.blocks(), CudaOptim.MULTI_BLOCK, args);
        }
    }

    /** The checked single-tensor launch of one update (its kernel name and arguments, CudaOptim.launch). */
    private CudaOptim.Launch optimizerLaunch(OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        String op = "optimizerStep";
        Checks.optimizerStep(device, hyper, param, grad, state, step);
        String[] need = Checks.optimizerState(hyper);
        long[] addr = new long[Math.max(3, need.length)];
        for (int s = 0; s < need.length; s++) if (need[s] != null) addr[s] = f(state[s], op);
        return CudaOptim.launch(hyper, f(param, op), f(grad, op), addr, param.numel(), lr, step);
    }

    // ------------------------------------------------------------ teardown

    /**
     * Waits for the device, then frees everything this backend holds, in reverse order of creation: cuDNN ops, kernel
     * modules, pinned buffers, every allocator block (tensors still open become invalid), the cuDNN and cuBLAS handles,
     * and the streams. Reports the first failure after trying every step.
     */
    @Override
    public void close() {
        if (closed) return;
        if (fake) {
            closed = true;
            allocator.close();
            alphaBeta.close();
            return;
        }
        RuntimeException first = null;
        try { Cuda.check(cudart.cudaSetDevice(index), "cudaSetDevice(" + index + ")"); CURRENT_DEVICE.get()[0] = index; } catch (RuntimeException e) { first = e; }
        closed = true;
        Runnable[] steps = {
                () -> { if (stream != null) Cuda.check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize(compute) at close"); },
                () -> { if (copyStream != null) Cuda.check(cudart.cudaStreamSynchronize(copyStream), "cudaStreamSynchronize(copy) at close"); },
                () -> { if (cudnnOps != null) cudnnOps.close(); },
                () -> { if (lt != null) lt.close(); },
                () -> { if (kernels instanceof PtxKernels k) k.close(); },
                () -> { if (staging != null) staging.close(); },
                () -> { if (allocator != null) allocator.close(); },
                () -> { if (cudnnHandle != null) Cuda.checkCudnn(cudnn.cudnnDestroy(cudnnHandle), "cudnnDestroy"); },
                () -> { if (cublasHandle != null) Cuda.checkCublas(cublas.cublasDestroy_v2(cublasHandle), "cublasDestroy"); },
                () -> { if (copyStream != null && !copyStream.isNull()) Cuda.check(cudart.cudaStreamDestroy(copyStream), "cudaStreamDestroy(copy)"); },
                () -> { if (stream != null && !stream.isNull()) Cuda.check(cudart.cudaStreamDestroy(stream), "cudaStreamDestroy(compute)"); },
                alphaBeta::close,
        };
        for (Runnable r : steps) {
            try { r.run(); } catch (RuntimeException e) { if (first == null) first = e; else first.addSuppressed(e); }
        }
        cudnnHandle = null;
        cublasHandle = null;
        if (first != null) throw first;
    }

    @Override
    public String toString() {
        return "CudaBackend[" + name + " " + info.name() + ", cc " + info.computeCapability() + ", " + human(info.totalBytes()) + "]";
    }
}
