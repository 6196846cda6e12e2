package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.bytedeco.cuda.cudnn.cudnnActivationStruct;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdDataAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdFilterAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnPoolingStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

import static org.bytedeco.cuda.global.cudart.cudaMemsetAsync;
import static org.bytedeco.cuda.global.cudnn.*;

/**
 * The cuDNN-backed ops of the CUDA backend: convolution forward / backward-data / backward-filter, max and average
 * pooling, the activations cuDNN has (ReLU, Sigmoid, Tanh, ELU), softmax and log-softmax over the last dimension, and
 * batch normalisation (training, inference, backward). Each method means exactly what the {@code Backend} method of
 * the same name means, and matches the CPU backend (CpuConv, CpuPool, CpuActivation, CpuSoftmax, CpuNorm) to float
 * tolerance. Written against cuDNN's legacy API, which cuDNN 9 still ships.
 *
 * <p>Choices that keep results equal to the CPU's:
 * <ul>
 *   <li>Convolutions compute in FP32 with {@code CUDNN_FMA_MATH} (no TF32: on Ampere and later cuDNN's
 *       DEFAULT_MATH would allow it) unless the backend's TF32 switch is on; cross-correlation mode (PyTorch's conv2d);
 *       groups through cudnnSetConvolutionGroupCount; bias added with cudnnAddTensor.</li>
 *   <li>Algorithms come from cudnnGetConvolution*Algorithm_v7 (or, with {@code measuredSearch}, cudnnFind*AlgorithmEx)
 *       once per shape and are cached ({@link ConvAlgoCache}) once they have run; deterministic algorithms are
 *       preferred, and one that cuDNN then fails to run gives way to the next ({@link #runConv}).</li>
 *   <li>Max pooling uses CUDNN_POOLING_MAX_DETERMINISTIC with NaN propagation; average pooling maps
 *       count_include_pad onto INCLUDE / EXCLUDE_PADDING; ceil mode is handled as {@link CudnnShapes#pool} explains.</li>
 *   <li>Batch norm: cuDNN's exponentialAverageFactor is PyTorch's momentum and cuDNN updates the running variance
 *       with the unbiased batch variance (n/(n-1)), the same rule as CpuNorm; resultSaveInvVariance is 1/sqrt(var+eps),
 *       i.e. our saveInvStd.</li>
 * </ul>
 *
 * <p>Descriptors (tensor, filter, convolution, pooling, activation) are created on first use and cached by their
 * parameters for the object's lifetime, so a steady-state step creates nothing and asks cuDNN nothing but the ops;
 * {@link #close()} destroys them all. The alpha/beta scaling factors live in host memory allocated once. Workspaces
 * come from the context's caching allocator and are handed back as soon as the call is queued: the allocator is
 * stream-ordered and everything runs on the one stream, so the next user of that memory runs after this op.
 *
 * <p>Every cuDNN status is checked; a failure throws {@link CudnnException} naming the call, the shapes and
 * cudnnGetErrorString. Not thread-safe: one backend, one stream, one thread.
 */
public final class CudnnOps implements AutoCloseable {

    /** Largest workspace a heuristic choice may ask for; bigger algorithms are skipped for the next best. */
    static final long WORKSPACE_LIMIT = 1L << 30;

    /** Workspace offered to the measured search (cudnnFind*AlgorithmEx skips algorithms that need more). */
    static final long SEARCH_WORKSPACE = 256L << 20;

    /**
     * The system property that picks how convolution algorithms are chosen: {@code heuristic} (cuDNN's ranking, the
     * default) or {@code measured} (cudnnFind*AlgorithmEx times them once per shape, as PyTorch does with
     * {@code torch.backends.cudnn.benchmark = True}). {@code dl-train bench --cudnn-search} sets it for one run.
     */
    public static final String SEARCH_SWITCH = "dltrain.cudnn.search";

    /** Whether {@value #SEARCH_SWITCH} asks for the measured search (read when a backend is created). */
    public static boolean measuredSearchRequested() { return parseSearch(System.getProperty(SEARCH_SWITCH)); }

    /** {@code heuristic} (or unset) is false, {@code measured} true, anything else an error that lists both. */
    static boolean parseSearch(String v) {
        if (v == null || v.isBlank() || v.trim().equalsIgnoreCase("heuristic")) return false;
        if (v.trim().equalsIgnoreCase("measured")) return true;
        throw new IllegalArgumentException("-D" + SEARCH_SWITCH + "=" + v + ": expected heuristic (cuDNN's ranking, the default)"
                + " or measured (time every convolution algorithm once per shape, as torch.backends.cudnn.benchmark does)");
    }

    /** A failed cuDNN call: the message names the op, the shapes and cuDNN's error string. */
    public static final class CudnnException extends RuntimeException {
        private final int status;

        CudnnException(String message, int status) {
            super(message);
            this.status = status;
        }

        /** The cudnnStatus_t value. */
        public int status() { return status; }
    }

    private final CudaContext ctx;
    private final boolean tf32;
    private final boolean measuredSearch;

    // Host scaling factors (cuDNN reads alpha/beta from host memory; float for FP32 data).
    private final FloatPointer one = new FloatPointer(1f), zero = new FloatPointer(0f),
            negInf = new FloatPointer(Float.NEGATIVE_INFINITY);

    private record TensorKey(int n, int c, int h, int w, int sn, int sc, int sh, int sw) {}
    private record FilterKey(int k, int c, int r, int s) {}
    private record ConvKey(ConvParams p, int mathType) {}
    private record PoolKey(int mode, int kH, int kW, int padH, int padW, int strideH, int strideW) {}

    private final Map<TensorKey, cudnnTensorStruct> tensors = new HashMap<>();
    private final Map<FilterKey, cudnnFilterStruct> filters = new HashMap<>();
    private final Map<ConvKey, cudnnConvolutionStruct> convs = new HashMap<>();
    private final Map<PoolKey, cudnnPoolingStruct> pools = new HashMap<>();
    private final Map<Activation, cudnnActivationStruct> activations = new HashMap<>();
    private final ConvAlgoCache algos = new ConvAlgoCache();

    /**
     * The eps each saveInvStd buffer was computed with, by device address: cudnnBatchNormalizationBackward wants the
     * forward's epsilon and Backend.batchNormBackward does not carry it. The latest forward that wrote an address
     * is the one whose statistics are there, so the entry is right even when the allocator reuses memory.
     */
    private final Map<Long, Double> bnEps = new HashMap<>();

    private boolean closed;

    /** FP32 convolutions without TF32, heuristic algorithm choice. */
    public CudnnOps(CudaContext ctx) { this(ctx, false, false); }

    /**
     * @param tf32 allow TF32 tensor-core convolutions (the backend's TF32 switch); off, convolutions use FMA math only
     * @param measuredSearch choose convolution algorithms by timing them (cudnnFind*AlgorithmEx, once per shape; it
     *                       synchronises the stream) instead of by cuDNN's heuristics
     */
    public CudnnOps(CudaContext ctx, boolean tf32, boolean measuredSearch) {
        this.ctx = ctx;
        this.tf32 = tf32;
        this.measuredSearch = measuredSearch;
    }

    /** Whether cuDNN computes this activation (ReLU, Sigmoid, Tanh, ELU); the rest run on the backend's own kernels. */
    public static boolean supports(Activation a) { return CudnnShapes.supports(a); }

    /** Number of convolution algorithm choices cached so far (diagnostics and tests). */
    public int cachedAlgorithms() { return algos.size(); }

    /** Number of cuDNN descriptors alive (tensor, filter, convolution, pooling, activation); constant in a steady state. */
    public int cachedDescriptors() {
        return tensors.size() + filters.size() + convs.size() + pools.size() + activations.size();
    }

    // ================================================================== convolution

    public void convForward(Tensor x, Tensor w, Tensor bias, Tensor y, ConvParams p) {
        String op = "convForward";
        fp32(op, x, w, y);
        CudnnShapes.Conv g = CudnnShapes.conv(op, x.shape(), w.shape(), y.shape(), p);
        if (bias != null) {
            fp32(op, bias);
            if (bias.numel() != g.K())
                throw new IllegalArgumentException(op + ": bias " + bias.shape() + " should have " + g.K() + " elements (one per output channel)");
        }
        if (y.numel() == 0) return;
        Supplier<String> what = () -> "x " + x.shape() + ", w " + w.shape() + ", y " + y.shape() + ", " + p;
        // No input (C = 0, or H or W = 0 with padding giving outputs): every sum is empty, y is 0 (+ bias), as on the CPU.
        if (g.empty()) zeroFill(y, op);
        cudnnFilterStruct wd = g.empty() ? null : filter(g.wDims());
        convSlices(op, x.shape(), g, what, (s, n0, sliceWhat) -> {
            Pointer ys = at(y, n0 * g.yPerSample());
            cudnnTensorStruct yd = tensor(s.yDims());
            if (!g.empty()) {
                cudnnTensorStruct xd = tensor(s.xDims());
                Pointer xs = at(x, n0 * g.xPerSample());
                runConv(ConvAlgoCache.Direction.FORWARD, s, p, xd, wd, yd, xs, ptr(w), ys, sliceWhat, "cudnnConvolutionForward", false,
                        (c, ws) -> cudnnConvolutionForward(handle(), one, xd, xs, wd, ptr(w), conv(p, c.mathType()), c.algo(),
                                ws, c.workspaceBytes(), zero, yd, ys));
            }
            if (bias != null)
                checkRun(cudnnAddTensor(handle(), one, tensor(1, g.K(), 1, 1), ptr(bias), one, yd, ys), "cudnnAddTensor (conv bias)", sliceWhat);
        });
    }

    public void convBackwardData(Tensor dy, Tensor w, Tensor dx, ConvParams p) {
        String op = "convBackwardData";
        fp32(op, dy, w, dx);
        CudnnShapes.Conv g = CudnnShapes.conv(op, dx.shape(), w.shape(), dy.shape(), p);
        if (g.empty()) {
            if (dx.numel() > 0) zeroFill(dx, op);
            return;
        }
        Supplier<String> what = () -> "dy " + dy.shape() + ", w " + w.shape() + ", dx " + dx.shape() + ", " + p;
        cudnnFilterStruct wd = filter(g.wDims());
        convSlices(op, dx.shape(), g, what, (s, n0, sliceWhat) -> {
            cudnnTensorStruct dxd = tensor(s.xDims()), dyd = tensor(s.yDims());
            Pointer dxs = at(dx, n0 * g.xPerSample()), dys = at(dy, n0 * g.yPerSample());
            runConv(ConvAlgoCache.Direction.BACKWARD_DATA, s, p, dxd, wd, dyd, dxs, ptr(w), dys, sliceWhat, "cudnnConvolutionBackwardData", false,
                    (c, ws) -> cudnnConvolutionBackwardData(handle(), one, wd, ptr(w), dyd, dys, conv(p, c.mathType()), c.algo(),
                            ws, c.workspaceBytes(), zero, dxd, dxs));
        });
    }

    public void convBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvParams p, boolean accumulate) {
        String op = "convBackwardFilter";
        fp32(op, x, dy, dw);
        CudnnShapes.Conv g = CudnnShapes.conv(op, x.shape(), dw.shape(), dy.shape(), p);
        if (g.empty()) {
            // No images: the gradient is zero (or unchanged when accumulating).
            if (!accumulate && dw.numel() > 0) zeroFill(dw, op);
            return;
        }
        Supplier<String> what = () -> "x " + x.shape() + ", dy " + dy.shape() + ", dw " + dw.shape() + ", " + p
                + (accumulate ? ", accumulate" : "");
        cudnnFilterStruct wd = filter(g.wDims());
        convSlices(op, x.shape(), g, what, (s, n0, sliceWhat) -> {
            cudnnTensorStruct xd = tensor(s.xDims()), dyd = tensor(s.yDims());
            Pointer xs = at(x, n0 * g.xPerSample()), dys = at(dy, n0 * g.yPerSample());
            // dw sums over the batch: the first slice writes it (or adds, when accumulating), the others add theirs.
            boolean adds = accumulate || n0 > 0;
            runConv(ConvAlgoCache.Direction.BACKWARD_FILTER, s, p, xd, wd, dyd, xs, ptr(dw), dys, sliceWhat, "cudnnConvolutionBackwardFilter", adds,
                    (c, ws) -> cudnnConvolutionBackwardFilter(handle(), one, xd, xs, dyd, dys, conv(p, c.mathType()), c.algo(),
                            ws, c.workspaceBytes(), adds ? one : zero, wd, ptr(dw)));
        });
    }

    /** One slice of a convolution's batch: its geometry, its first sample, and what to name in errors. */
    @FunctionalInterface
    private interface ConvSlice { void run(CudnnShapes.Conv slice, long firstSample, Supplier<String> what); }

    /**
     * Runs a convolution in slices of the batch ({@link CudnnShapes#samplesPerCall}: at most {@link #MAX_N_PER_CALL}
     * samples, and no tensor over {@link #elementsPerCall} elements), in one call where the batch fits. Each slice
     * shape gets its own descriptors and algorithm choice (at most two shapes: the full slices and the rest).
     */
    private void convSlices(String op, Shape x, CudnnShapes.Conv g, Supplier<String> what, ConvSlice f) {
        int n = CudnnShapes.samplesPerCall(op, x, g.N(), elementsPerCall, g.xPerSample(), g.yPerSample());
        for (int n0 = 0; n0 < g.N(); n0 += n) {
            int first = n0;
            f.run(g.withN(Math.min(n, g.N() - n0)), n0, n >= g.N() ? what : () -> what.get() + " (the slice from sample " + first + ")");
        }
    }

    /** The math type the convolution descriptor is queried with: FMA only, or DEFAULT (TF32 allowed) with the switch on. */
    private int queryMathType() { return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

    /**
     * The cached algorithm for this convolution ({@code cached}, from the {@link ConvAlgoCache}), or when there is none
     * a new choice ({@link #runConv} caches it once it has run). Buffers: for FORWARD (x, w, y), BACKWARD_DATA
     * (dx, w, dy), BACKWARD_FILTER (x, dw, dy); only the measured search reads them.
     */
    private ConvAlgoCache.Choice choose(ConvAlgoCache.Direction dir, CudnnShapes.Conv g, ConvParams p,
                                        cudnnTensorStruct xd, cudnnFilterStruct wd, cudnnTensorStruct yd,
                                        Pointer x, Pointer w, Pointer y, Supplier<String> what, ConvAlgoCache.Choice cached) {
        if (cached != null) return cached;
        cudnnConvolutionStruct cd = conv(p, queryMathType());
        List<ConvAlgoCache.Candidate> ranked = measuredSearch ? measure(dir, xd, wd, yd, cd, x, w, y, g.wElements(), what) : heuristics(dir, xd, wd, yd, cd, what);
        long limit = measuredSearch ? SEARCH_WORKSPACE : WORKSPACE_LIMIT;
        List<String> refused = new ArrayList<>();
        ToLongFunction<ConvAlgoCache.Candidate> bytes = workspaceSizes(dir, xd, wd, yd, p, refused);
        ConvAlgoCache.Candidate best = ConvAlgoCache.firstWithin(ConvAlgoCache.acceptable(ranked, tf32, limit), bytes, limit);
        if (best == null)
            throw new CudnnException("cuDNN offers no usable " + dir + " convolution algorithm for " + what.get()
                    + (tf32 ? "" : " in FP32 without tensor-op math") + " within a " + CudaLibraries.human(limit) + " workspace"
                    + "; candidates (algo, status, bytes, determinism, mathType): " + ranked
                    + (refused.isEmpty() ? "" : "; workspace queries refused: " + refused), CUDNN_STATUS_NOT_SUPPORTED);
        return choice(best, bytes);
    }

    /** The choice for a candidate: its math type as {@link #workspaceSize} runs it, and its exact workspace. */
    private ConvAlgoCache.Choice choice(ConvAlgoCache.Candidate e, ToLongFunction<ConvAlgoCache.Candidate> bytes) {
        return new ConvAlgoCache.Choice(e.algo(), runMathType(e), bytes.applyAsLong(e), e.determinism() == CUDNN_DETERMINISTIC);
    }

    /** Without TF32 the descriptor stays FMA-only whatever math type the entry reports; with it, run as reported. */
    private int runMathType(ConvAlgoCache.Candidate e) { return tf32 ? e.mathType() : CUDNN_FMA_MATH; }

    /** {@link #workspaceSize} of each candidate, asked once per algorithm and math type; refusals are added to {@code refused}. */
    private ToLongFunction<ConvAlgoCache.Candidate> workspaceSizes(ConvAlgoCache.Direction dir, cudnnTensorStruct xd, cudnnFilterStruct wd,
                                                                  cudnnTensorStruct yd, ConvParams p, List<String> refused) {
        Map<List<Integer>, Long> asked = new HashMap<>();
        return e -> asked.computeIfAbsent(List.of(e.algo(), runMathType(e)), k -> workspaceSize(dir, xd, wd, yd, p, e, refused));
    }

    /**
     * The workspace cuDNN asks for to run this candidate (its own figure for the algorithm, not the ranking's estimate),
     * or Long.MAX_VALUE, so that the candidate is passed over, where cuDNN refuses the query (say, an algorithm the
     * ranking listed that does not run with FMA math): the next candidate is tried, as PyTorch's cuDNN convolutions
     * skip algorithms whose workspace query fails (aten/src/ATen/native/cudnn/Conv_v7.cpp, getMaxWorkspaceSize).
     */
    private long workspaceSize(ConvAlgoCache.Direction dir, cudnnTensorStruct xd, cudnnFilterStruct wd, cudnnTensorStruct yd,
                               ConvParams p, ConvAlgoCache.Candidate e, List<String> refused) {
        cudnnConvolutionStruct run = conv(p, runMathType(e));
        try (SizeTPointer size = new SizeTPointer(1)) {
            int status = switch (dir) {
                case FORWARD -> cudnnGetConvolutionForwardWorkspaceSize(handle(), xd, wd, run, yd, e.algo(), size);
                case BACKWARD_DATA -> cudnnGetConvolutionBackwardDataWorkspaceSize(handle(), wd, yd, run, xd, e.algo(), size);
                case BACKWARD_FILTER -> cudnnGetConvolutionBackwardFilterWorkspaceSize(handle(), xd, yd, run, wd, e.algo(), size);
            };
            if (status != CUDNN_STATUS_SUCCESS) {
                refused.add("algo " + e.algo() + " math " + runMathType(e) + ": " + statusText(status));
                return Long.MAX_VALUE;
            }
            return size.get();
        }
    }

    /**
     * The algorithm for this convolution ({@link #choose}) and its workspace; where device memory runs out for that,
     * the acceptable algorithm with the smallest workspace takes over for this shape (noted once: {@link #runConv}
     * caches it), and only when there is none smaller does the out-of-memory error go to the caller. Buffers and
     * {@code cached} as for {@link #choose}.
     */
    private Workspace workspace(ConvAlgoCache.Direction dir, CudnnShapes.Conv g, ConvParams p, cudnnTensorStruct xd,
                                cudnnFilterStruct wd, cudnnTensorStruct yd, Pointer x, Pointer w, Pointer y, Supplier<String> what,
                                ConvAlgoCache.Choice cached) {
        ConvAlgoCache.Choice c = choose(dir, g, p, xd, wd, yd, x, w, y, what, cached);
        try {
            return new Workspace(c, workspace(c.workspaceBytes()));
        } catch (DeviceOutOfMemoryException oom) {
            ToLongFunction<ConvAlgoCache.Candidate> bytes = workspaceSizes(dir, xd, wd, yd, p, new ArrayList<>());
            List<ConvAlgoCache.Candidate> ok = ConvAlgoCache.acceptable(heuristics(dir, xd, wd, yd, conv(p, queryMathType()), what),
                    tf32, WORKSPACE_LIMIT);
            ConvAlgoCache.Candidate lean = ConvAlgoCache.leanest(ok, bytes, c.workspaceBytes());
            if (lean == null) throw oom;
            ConvAlgoCache.Choice leaner = choice(lean, bytes);
            System.err.println("cuDNN: no device memory for the " + CudaLibraries.human(c.workspaceBytes()) + " workspace of " + dir
                    + " convolution algorithm " + c.algo() + " (" + what.get() + "); algorithm " + leaner.algo() + " with "
                    + CudaLibraries.human(leaner.workspaceBytes()) + " takes over for this shape");
            return new Workspace(leaner, workspace(leaner.workspaceBytes()));
        }
    }

    /** One convolution call with this algorithm choice and workspace (NULL for none); returns cuDNN's status. */
    @FunctionalInterface
    private interface ConvCall { int run(ConvAlgoCache.Choice c, Pointer workspace); }

    /**
     * Runs one convolution call with the algorithm chosen for its shape, in that algorithm's workspace ({@link #workspace}).
     * Where cuDNN fails to run an algorithm just chosen for the shape, the next acceptable algorithm of its heuristic
     * ranking is tried, and so on, as PyTorch's cuDNN convolutions try each algorithm in turn (Conv_v7.cpp,
     * AlgoIterator::try_all): the first that runs is cached for the shape, and one line on stderr says what failed and
     * what runs instead. Not retried:
     * <ul>
     *   <li>an algorithm that has run for this shape before: its failure is thrown like any other call's (PyTorch too
     *       only moves on from a cached algorithm when its workspace runs out of memory, which {@link #workspace} handles);</li>
     *   <li>a call that failed because earlier work left a sticky error in the CUDA context (an illegal address in a
     *       kernel, say: {@link Cuda#earlierFault}): every algorithm would fail alike, and the message names that error;</li>
     *   <li>an accumulating call (beta = 1) after INTERNAL_ERROR or EXECUTION_FAILED (4000 and up): those may come after
     *       part of the output was written, and a second algorithm would then add onto the first one's partial sums. The
     *       lower statuses are cuDNN refusing the call ({@link #retryable}).</li>
     * </ul>
     * When nothing runs, the first failure is thrown with every algorithm tried and why each failed. Only an algorithm
     * that ran is cached (here, not in {@link #choose}), so a shape that never ran chooses afresh on its next call.
     */
    private void runConv(ConvAlgoCache.Direction dir, CudnnShapes.Conv g, ConvParams p, cudnnTensorStruct xd, cudnnFilterStruct wd,
                         cudnnTensorStruct yd, Pointer x, Pointer w, Pointer y, Supplier<String> what, String call, boolean accumulate,
                         ConvCall f) {
        ConvAlgoCache.Key key = ConvAlgoCache.Key.of(dir, g, p, tf32);
        ConvAlgoCache.Choice before = algos.get(key), first;
        int status;
        try (Workspace ws = workspace(dir, g, p, xd, wd, yd, x, w, y, what, before)) {
            first = ws.choice();
            status = f.run(first, ptr(ws.buffer()));
        }
        if (status == CUDNN_STATUS_SUCCESS) {
            if (!first.equals(before)) algos.put(key, first);
            return;
        }
        String failed = call + " failed: " + statusText(status) + " for " + what.get() + " (" + describe(first) + ")";
        // An error left by earlier work fails every call alike: say so, and try no other algorithm.
        String fault = Cuda.earlierFault(ctx.stream());
        if (!fault.isEmpty()) throw new CudnnException(failed + fault, status);
        if (first.equals(before)) throw new CudnnException(failed + "; that algorithm has run for this shape before", status);
        if (!retryable(status, accumulate))
            throw new CudnnException(failed + "; no other algorithm tried: the call adds onto its output, which the failed one may"
                    + " have partly written", status);
        String outcome;
        try {
            outcome = tryOthers(dir, p, xd, wd, yd, what, key, first, failed, accumulate, f);
        } catch (RuntimeException e) {   // say, a CUDA error left by earlier work: report this call's failure first
            CudnnException ex = new CudnnException(failed + "; looking for another algorithm failed too: " + e.getMessage(), status);
            ex.initCause(e);
            throw ex;
        }
        if (outcome != null) throw new CudnnException(failed + outcome, status);
    }

    /**
     * {@link #runConv}'s retries after {@code first} failed: runs the other acceptable algorithms of cuDNN's heuristic
     * ranking in turn until one runs, caches that one and returns null; else returns why none ran.
     */
    private String tryOthers(ConvAlgoCache.Direction dir, ConvParams p, cudnnTensorStruct xd, cudnnFilterStruct wd, cudnnTensorStruct yd,
                             Supplier<String> what, ConvAlgoCache.Key key, ConvAlgoCache.Choice first, String failed,
                             boolean accumulate, ConvCall f) {
        List<String> tries = new ArrayList<>(), refused = new ArrayList<>();
        Set<List<Integer>> tried = new HashSet<>(List.of(List.of(first.algo(), first.mathType())));
        ToLongFunction<ConvAlgoCache.Candidate> bytes = workspaceSizes(dir, xd, wd, yd, p, refused);
        List<ConvAlgoCache.Candidate> ok = ConvAlgoCache.acceptable(heuristics(dir, xd, wd, yd, conv(p, queryMathType()), what),
                tf32, WORKSPACE_LIMIT);
        for (ConvAlgoCache.Candidate e : ok) {
            if (!tried.add(List.of(e.algo(), runMathType(e))) || bytes.applyAsLong(e) > WORKSPACE_LIMIT) continue;
            ConvAlgoCache.Choice c = choice(e, bytes);
            int s;
            try (DeviceBuffer buffer = workspace(c.workspaceBytes())) {
                s = f.run(c, ptr(buffer));
            } catch (DeviceOutOfMemoryException oom) {
                tries.add(describe(c) + ": no device memory for its " + CudaLibraries.human(c.workspaceBytes()) + " workspace");
                continue;
            }
            if (s == CUDNN_STATUS_SUCCESS) {
                algos.put(key, c);
                System.err.println("cuDNN: " + failed + "; " + (tries.isEmpty() ? "" : "then " + String.join("; ", tries) + "; ")
                        + describe(c) + " ran instead and runs this shape from now on");
                return null;
            }
            tries.add(describe(c) + ": " + statusText(s));
            if (!retryable(s, accumulate)) break;
        }
        return tries.isEmpty()
                ? "; cuDNN's ranking has no other acceptable algorithm within a " + CudaLibraries.human(WORKSPACE_LIMIT) + " workspace"
                        + (refused.isEmpty() ? "" : " (workspace queries refused: " + refused + ")")
                : "; no other algorithm ran either: " + String.join("; ", tries);
    }

    /**
     * Whether another algorithm may be tried after a call failed with this status: always where the call overwrites its
     * output; where it accumulates, only below INTERNAL_ERROR (the NOT_INITIALIZED, BAD_PARAM and NOT_SUPPORTED families,
     * cuDNN refusing the call), since INTERNAL_ERROR and EXECUTION_FAILED may follow partial writes.
     */
    static boolean retryable(int status, boolean accumulate) {
        return !accumulate || status < CUDNN_STATUS_INTERNAL_ERROR;
    }

    /** "algorithm 1, FMA math". */
    private static String describe(ConvAlgoCache.Choice c) {
        String math = switch (c.mathType()) {
            case CUDNN_DEFAULT_MATH -> "default math";
            case CUDNN_TENSOR_OP_MATH -> "tensor-op math";
            case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION -> "tensor-op math with conversion";
            case CUDNN_FMA_MATH -> "FMA math";
            default -> "math type " + c.mathType();
        };
        return "algorithm " + c.algo() + ", " + math;
    }

    /** A convolution's algorithm choice and its workspace buffer (null when it needs none). */
    private record Workspace(ConvAlgoCache.Choice choice, DeviceBuffer buffer) implements AutoCloseable {
        @Override public void close() { if (buffer != null) buffer.close(); }
    }

    /** One entry of a cuDNN algorithm ranking (the three directions' perf structs have the same fields). */
    private static ConvAlgoCache.Candidate candidate(Pointer perf) {
        return switch (perf) {
            case cudnnConvolutionFwdAlgoPerf_t e -> new ConvAlgoCache.Candidate(e.algo(), e.status(), e.memory(), e.determinism(), e.mathType());
            case cudnnConvolutionBwdDataAlgoPerf_t e -> new ConvAlgoCache.Candidate(e.algo(), e.status(), e.memory(), e.determinism(), e.mathType());
            case cudnnConvolutionBwdFilterAlgoPerf_t e -> new ConvAlgoCache.Candidate(e.algo(), e.status(), e.memory(), e.determinism(), e.mathType());
            default -> throw new IllegalArgumentException("not a cuDNN convolution perf struct: " + perf.getClass().getName());
        };
    }

    /** cuDNN's heuristic ranking (no GPU work). */
    private List<ConvAlgoCache.Candidate> heuristics(ConvAlgoCache.Direction dir, cudnnTensorStruct xd, cudnnFilterStruct wd,
                                                     cudnnTensorStruct yd, cudnnConvolutionStruct cd, Supplier<String> what) {
        int[] returned = new int[1];
        List<ConvAlgoCache.Candidate> out = new ArrayList<>();
        switch (dir) {
            case FORWARD -> {
                int n = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
                try (cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(n)) {
                    check(cudnnGetConvolutionForwardAlgorithm_v7(handle(), xd, wd, cd, yd, n, returned, perf),
                            "cudnnGetConvolutionForwardAlgorithm_v7", what);
                    for (int i = 0; i < returned[0]; i++) out.add(candidate(perf.getPointer(i)));
                }
            }
            case BACKWARD_DATA -> {
                int n = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
                try (cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(n)) {
                    check(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle(), wd, yd, cd, xd, n, returned, perf),
                            "cudnnGetConvolutionBackwardDataAlgorithm_v7", what);
                    for (int i = 0; i < returned[0]; i++) out.add(candidate(perf.getPointer(i)));
                }
            }
            case BACKWARD_FILTER -> {
                int n = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
                try (cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(n)) {
                    check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle(), xd, yd, cd, wd, n, returned, perf),
                            "cudnnGetConvolutionBackwardFilterAlgorithm_v7", what);
                    for (int i = 0; i < returned[0]; i++) out.add(candidate(perf.getPointer(i)));
                }
            }
        }
        return out;
    }

    /**
     * cuDNN's measured ranking: runs every algorithm on the real inputs (fastest first). Outputs go to a scratch
     * buffer for backward-filter (dw may hold a gradient being accumulated); forward and backward-data write y / dx,
     * which the real call overwrites right after. The search workspace is offered once and handed back at once.
     */
    private List<ConvAlgoCache.Candidate> measure(ConvAlgoCache.Direction dir, cudnnTensorStruct xd, cudnnFilterStruct wd,
                                                  cudnnTensorStruct yd, cudnnConvolutionStruct cd,
                                                  Pointer x, Pointer w, Pointer y, long wElements, Supplier<String> what) {
        int[] returned = new int[1];
        List<ConvAlgoCache.Candidate> out = new ArrayList<>();
        try (DeviceBuffer ws = ctx.allocate(SEARCH_WORKSPACE, "cuDNN conv algorithm search workspace")) {
            switch (dir) {
                case FORWARD -> {
                    int n = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
                    try (cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(n)) {
                        checkRun(cudnnFindConvolutionForwardAlgorithmEx(handle(), xd, x, wd, w, cd, yd, y, n, returned, perf,
                                ptr(ws), SEARCH_WORKSPACE), "cudnnFindConvolutionForwardAlgorithmEx", what);
                        for (int i = 0; i < returned[0]; i++) out.add(candidate(perf.getPointer(i)));
                    }
                }
                case BACKWARD_DATA -> {
                    int n = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
                    try (cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(n)) {
                        // Here x is dx and y is dy (see choose).
                        checkRun(cudnnFindConvolutionBackwardDataAlgorithmEx(handle(), wd, w, yd, y, cd, xd, x, n, returned, perf,
                                ptr(ws), SEARCH_WORKSPACE), "cudnnFindConvolutionBackwardDataAlgorithmEx", what);
                        for (int i = 0; i < returned[0]; i++) out.add(candidate(perf.getPointer(i)));
                    }
                }
                case BACKWARD_FILTER -> {
                    int n = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
                    // Here w is dw, which must survive: search into scratch.
                    try (DeviceBuffer scratch = ctx.allocate(wElements * 4L, "cuDNN conv algorithm search output");
                         cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(n)) {
                        checkRun(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle(), xd, x, yd, y, cd, wd, ptr(scratch), n, returned, perf,
                                ptr(ws), SEARCH_WORKSPACE), "cudnnFindConvolutionBackwardFilterAlgorithmEx", what);
                        for (int i = 0; i < returned[0]; i++) out.add(candidate(perf.getPointer(i)));
                    }
                }
            }
        }
        return out;
    }

    // ================================================================== pooling

    public void poolForward(Tensor x, Tensor y, PoolParams p) {
        String op = "poolForward";
        fp32(op, x, y);
        CudnnShapes.Pool all = CudnnShapes.pool(op, x.shape(), y.shape(), p);
        if (all.empty()) return;
        Supplier<String> what = () -> "x " + x.shape() + ", y " + y.shape() + ", " + p;
        // Samples are independent: large batches go in slices (poolSlice).
        long xPer = all.xPerSample(), yPer = all.yPerSample();
        int n = poolSlice(op, x.shape(), all);
        try (DeviceBuffer xp = all.explicitPad() ? ctx.allocate(all.withN(n).paddedElements() * 4L, "cuDNN ceil-mode pooling: padded input") : null) {
            for (int n0 = 0; n0 < all.N(); n0 += n) {
                CudnnShapes.Pool pl = all.withN(Math.min(n, all.N() - n0));
                Pointer xs = at(x, n0 * xPer), ys = at(y, n0 * yPer);
                cudnnTensorStruct yd = tensor(pl.yDims());
                if (!pl.explicitPad()) {
                    checkRun(cudnnPoolingForward(handle(), pool(pl), one, tensor(pl.xDims()), xs, zero, yd, ys), "cudnnPoolingForward", what);
                } else {
                    padInput(pl, xs, xp, what);
                    checkRun(cudnnPoolingForward(handle(), pool(pl), one, tensor(pl.paddedDims()), ptr(xp), zero, yd, ys),
                            "cudnnPoolingForward (ceil mode, padded input)", what);
                }
            }
        }
    }

    public void poolBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, PoolParams p) {
        String op = "poolBackward";
        fp32(op, x, y, dy, dx);
        CudnnShapes.Pool all = CudnnShapes.pool(op, x.shape(), dy.shape(), p);
        if (!dx.shape().equals(x.shape())) throw new IllegalArgumentException(op + ": dx " + dx.shape() + " should match x " + x.shape());
        if (!y.shape().equals(dy.shape())) throw new IllegalArgumentException(op + ": y " + y.shape() + " and dy " + dy.shape() + " differ");
        if (all.empty()) return;
        Supplier<String> what = () -> "x " + x.shape() + ", dy " + dy.shape() + ", " + p;
        long xPer = all.xPerSample(), yPer = all.yPerSample();
        int n = poolSlice(op, x.shape(), all);
        long paddedBytes = all.withN(n).paddedElements() * 4L;
        try (DeviceBuffer xp = all.explicitPad() ? ctx.allocate(paddedBytes, "cuDNN ceil-mode pooling: padded input") : null;
             DeviceBuffer dxp = all.explicitPad() ? ctx.allocate(paddedBytes, "cuDNN ceil-mode pooling: padded input gradient") : null) {
            for (int n0 = 0; n0 < all.N(); n0 += n) {
                CudnnShapes.Pool pl = all.withN(Math.min(n, all.N() - n0));
                Pointer xs = at(x, n0 * xPer), dxs = at(dx, n0 * xPer), ys = at(y, n0 * yPer), dys = at(dy, n0 * yPer);
                cudnnTensorStruct yd = tensor(pl.yDims());
                if (!pl.explicitPad()) {
                    cudnnTensorStruct xd = tensor(pl.xDims());
                    checkRun(cudnnPoolingBackward(handle(), pool(pl), one, yd, ys, yd, dys, xd, xs, zero, xd, dxs), "cudnnPoolingBackward", what);
                    continue;
                }
                padInput(pl, xs, xp, what);
                cudnnTensorStruct pd = tensor(pl.paddedDims());
                checkRun(cudnnPoolingBackward(handle(), pool(pl), one, yd, ys, yd, dys, pd, ptr(xp), zero, pd, ptr(dxp)),
                        "cudnnPoolingBackward (ceil mode, padded input)", what);
                // dx = the interior of the padded gradient; what fell on the padding belongs to no input element.
                checkRun(cudnnTransformTensor(handle(), one, interior(pl), ptrAt(dxp, pl.interiorOffset()), zero, tensor(pl.xDims()), dxs),
                        "cudnnTransformTensor (ceil-mode pooling gradient)", what);
            }
        }
    }

    /** Samples per pooling call ({@link CudnnShapes#samplesPerCall}; x, y and ceil mode's padded copy of x). */
    private static int poolSlice(String op, Shape x, CudnnShapes.Pool all) {
        return CudnnShapes.samplesPerCall(op, x, all.N(), elementsPerCall, all.xPerSample(), all.yPerSample(), all.paddedPerSample());
    }

    /** xp = -infinity everywhere, then x (pl.N() samples from x) copied into its interior (a strided view of xp). */
    private void padInput(CudnnShapes.Pool pl, Pointer x, DeviceBuffer xp, Supplier<String> what) {
        checkRun(cudnnSetTensor(handle(), tensor(pl.paddedDims()), ptr(xp), negInf), "cudnnSetTensor (ceil-mode pooling padding)", what);
        checkRun(cudnnTransformTensor(handle(), one, tensor(pl.xDims()), x, zero, interior(pl), ptrAt(xp, pl.interiorOffset())),
                "cudnnTransformTensor (ceil-mode pooling input)", what);
    }

    private cudnnTensorStruct interior(CudnnShapes.Pool pl) {
        int[] s = pl.interiorStrides();
        return tensor(pl.N(), pl.C(), pl.H(), pl.W(), s[0], s[1], s[2], s[3]);
    }

    // ================================================================== activations

    public void activationForward(Activation a, Tensor x, Tensor y) {
        String op = "activationForward " + a.kind();
        CudnnShapes.activationMode(a); // a kind cuDNN lacks fails here, before any descriptor is made
        fp32(op, x, y);
        sameSize(op, x, y);
        if (x.numel() == 0) return;
        inSlices(op, x.shape(), CudnnShapes.flatDims(x.shape(), op), "cudnnActivationForward", () -> a + " on " + x.shape(),
                (d, off) -> cudnnActivationForward(handle(), activation(a), one, d, at(x, off), zero, d, at(y, off)));
    }

    public void activationBackward(Activation a, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        String op = "activationBackward " + a.kind();
        CudnnShapes.activationMode(a);
        fp32(op, x, y, dy, dx);
        sameSize(op, x, y); sameSize(op, x, dy); sameSize(op, x, dx);
        if (x.numel() == 0) return;
        inSlices(op, x.shape(), CudnnShapes.flatDims(x.shape(), op), "cudnnActivationBackward", () -> a + " on " + x.shape(),
                (d, off) -> cudnnActivationBackward(handle(), activation(a), one, d, at(y, off), d, at(dy, off), d, at(x, off),
                        zero, d, at(dx, off)));
    }

    // ================================================================== softmax

    /** Softmax (ACCURATE: max-subtracted) or log-softmax (LOG) over the last dimension. */
    public void softmaxForward(Tensor x, Tensor y, boolean log) {
        String op = log ? "logSoftmax" : "softmax";
        fp32(op, x, y);
        sameSize(op, x, y);
        int[] dims = CudnnShapes.softmaxDims(x.shape(), op);
        if (dims == null) return;
        inSlices(op, x.shape(), dims, "cudnnSoftmaxForward", () -> op + " of " + x.shape(),
                (d, off) -> cudnnSoftmaxForward(handle(), log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE,
                        one, d, at(x, off), zero, d, at(y, off)));
    }

    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) {
        String op = log ? "logSoftmax backward" : "softmax backward";
        fp32(op, y, dy, dx);
        sameSize(op, y, dy); sameSize(op, y, dx);
        int[] dims = CudnnShapes.softmaxDims(y.shape(), op);
        if (dims == null) return;
        inSlices(op, y.shape(), dims, "cudnnSoftmaxBackward", () -> op + " of " + y.shape(),
                (d, off) -> cudnnSoftmaxBackward(handle(), log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE,
                        one, d, at(y, off), d, at(dy, off), zero, d, at(dx, off)));
    }

    // ================================================================== batch normalisation

    public void batchNormForwardTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                         float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        String op = "batchNorm (training)";
        CudnnShapes.BatchNorm bn = checkTraining(x, gamma, beta, runningMean, runningVar, eps, y, saveMean, saveInvStd);
        CudnnShapes.checkSize(x.numel(), elementsPerCall, op, x.shape());
        cudnnTensorStruct xd = tensor(bn.xDims()), pd = tensor(bn.paramDims());
        long invStdAt = CudaStorage.address(saveInvStd);
        checkRun(cudnnBatchNormalizationForwardTraining(handle(), bn.mode(), one, zero, xd, ptr(x), xd, ptr(y), pd,
                        ptr(gamma), ptr(beta), momentum, ptr(runningMean), ptr(runningVar), eps, ptr(saveMean), CudaContext.pointer(invStdAt)),
                "cudnnBatchNormalizationForwardTraining", () -> "x " + x.shape() + ", momentum " + momentum + ", eps " + eps);
        if (bnEps.size() > 4096) bnEps.clear(); // bounded; a miss falls back to the default below
        bnEps.put(invStdAt, (double) eps);
    }

    /**
     * Whether batch-norm training (forward and backward) on x goes to cuDNN: PyTorch's rule (aten/src/ATen/native/
     * Normalization.cpp, _batch_norm_impl_index): inputs of rank 3 or more with at most 880,801 samples, and (as newer
     * PyTorch adds, since cuDNN counts elements in 32 bits) at most {@link #elementsPerCall} elements. The rest, [N, C]
     * inputs among them, run on CudaBackend's own kernels (kernels/src/main/cuda/norm.cu), as PyTorch's run on its native ones.
     */
    public static boolean cudnnTrains(Shape x) {
        return x.rank() >= 3 && x.dim(0) <= MAX_N_BATCH_NORM_TRAINING && x.numel() <= elementsPerCall;
    }

    /** The largest batch PyTorch gives cuDNN's batch-norm training (see {@link #cudnnTrains}). */
    static final int MAX_N_BATCH_NORM_TRAINING = 880_801;

    /**
     * The checks of batch-norm training for a caller of CudnnOps itself (CudaBackend has made Checks.batchNormTraining's):
     * per-channel tensors of C elements, FP32, y the size of x, more than one value per channel, eps within cuDNN's range.
     */
    static CudnnShapes.BatchNorm checkTraining(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps,
                                               Tensor y, Tensor saveMean, Tensor saveInvStd) {
        String op = "batchNorm (training)";
        CudnnShapes.BatchNorm bn = CudnnShapes.batchNorm(op, x.shape());
        perChannel(op, bn, x, gamma, "gamma (weight)", beta, "beta (bias)", runningMean, "running_mean",
                runningVar, "running_var", saveMean, "saveMean", saveInvStd, "saveInvStd");
        fp32(op, x, y);
        sameSize(op, x, y);
        if (bn.perChannel() <= 1)
            throw new IllegalArgumentException(op + ": expected more than 1 value per channel when training, got input "
                    + x.shape() + " (use a batch of at least 2, or eval mode)");
        checkEps(op, eps);
        return bn;
    }

    public void batchNormForwardInference(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                          float eps, Tensor y) {
        String op = "batchNorm (inference)";
        CudnnShapes.BatchNorm bn = CudnnShapes.batchNorm(op, x.shape());
        perChannel(op, bn, x, gamma, "gamma (weight)", beta, "beta (bias)", runningMean, "running_mean", runningVar, "running_var");
        fp32(op, x, y);
        sameSize(op, x, y);
        checkEps(op, eps);
        if (x.numel() == 0) return;
        cudnnTensorStruct pd = tensor(bn.paramDims());
        // Samples are independent here (running statistics), so large batches go in slices (inSlices): cuDNN's
        // inference has failed from N = 65536 on (PyTorch sends no larger N to it; microsoft/onnxruntime#7095 with
        // cuDNN 8.1, #17406 in 2023), and whether cuDNN 9 still does is unverified.
        inSlices(op, x.shape(), bn.xDims(), "cudnnBatchNormalizationForwardInference", () -> "x " + x.shape() + ", eps " + eps,
                (xd, off) -> cudnnBatchNormalizationForwardInference(handle(), bn.mode(), one, zero, xd, at(x, off), xd, at(y, off), pd,
                        ptr(gamma), ptr(beta), ptr(runningMean), ptr(runningVar), eps));
    }

    /** One cuDNN call on a slice of a batch: its tensor descriptor and the element offset of its first sample. */
    @FunctionalInterface
    private interface SliceCall { int run(cudnnTensorStruct d, long elementOffset); }

    /**
     * Runs {@code call} on slices of packed tensors described as {@code dims} [N, C, H, W] (every tensor the call reads
     * or writes has these dims; {@link CudnnShapes#samplesPerCall}: at most {@link #MAX_N_PER_CALL} samples and
     * {@link #elementsPerCall} elements a call), checking each status; a failure names the first sample of its slice
     * when there is more than one. For calls whose samples are independent. {@code op} and {@code shape} name the
     * tensor where even one sample is too large.
     */
    private void inSlices(String op, Shape shape, int[] dims, String call, Supplier<String> what, SliceCall f) {
        long perSample = (long) dims[1] * dims[2] * dims[3];
        int n = CudnnShapes.samplesPerCall(op, shape, dims[0], elementsPerCall, perSample);
        for (int n0 = 0; n0 < dims[0]; n0 += n) {
            int[] slice = dims.clone();
            slice[0] = Math.min(n, dims[0] - n0);
            int first = n0;
            checkRun(f.run(tensor(slice), perSample * n0), call,
                    n >= dims[0] ? what : () -> what.get() + " (the slice from sample " + first + ")");
        }
    }

    /**
     * The most samples one cuDNN call gets where samples are independent (pooling forward and backward, batch-norm
     * inference; convolutions, activations and softmax too, as a precaution: no refusal at this boundary is known
     * there, though pytorch/pytorch#4107 met NOT_SUPPORTED from convolutions over batches of 131,072): cuDNN has
     * refused N = 65536 and more with NOT_SUPPORTED, average pooling in cuDNN 9.10.2
     * (microsoft/onnxruntime#29819, the same boundary in NVIDIA/TensorRT#4821) and batch-norm inference in cuDNN 8
     * (see batchNormForwardInference), while N = 65535 worked. 65532, a multiple of 4, so that every slice of FP32
     * data starts 16-byte aligned like the tensor itself (vectorised kernels may need it).
     */
    static final int MAX_N_PER_CALL = 65532;

    /**
     * The most elements any tensor of one cuDNN call may have where the batch can be sliced: 2^31-1, as cuDNN's legacy
     * descriptors count elements in 32 bits (cudnnSetTensorNdDescriptor refuses larger tensors with NOT_SUPPORTED).
     * Not final only so that a test (CudnnOpsStandInTest, in its own JVM) can lower it: 8 GiB tensors do not fit a test.
     */
    static long elementsPerCall = Integer.MAX_VALUE;

    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta, boolean accumulate) {
        String op = "batchNorm backward";
        CudnnShapes.BatchNorm bn = checkBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
        if (x.numel() == 0) return;
        CudnnShapes.checkSize(x.numel(), elementsPerCall, op, x.shape());
        cudnnTensorStruct xd = tensor(bn.xDims()), pd = tensor(bn.paramDims());
        long invStdAt = CudaStorage.address(saveInvStd);
        // With the saved statistics cuDNN does not recompute 1/sqrt(var + eps); eps is passed as the forward used it.
        double eps = bnEps.getOrDefault(invStdAt, 1e-5);
        // dx is written (beta 0); dgamma / dbeta accumulate through betaParamDiff = 1.
        checkRun(cudnnBatchNormalizationBackward(handle(), bn.mode(), one, zero, one, accumulate ? one : zero,
                        xd, ptr(x), xd, ptr(dy), xd, ptr(dx), pd, ptr(gamma), ptr(dgamma), ptr(dbeta),
                        eps, ptr(saveMean), CudaContext.pointer(invStdAt)),
                "cudnnBatchNormalizationBackward", () -> "x " + x.shape() + (accumulate ? ", accumulate" : ""));
    }

    /** The checks of batch-norm backward for a caller of CudnnOps itself (see {@link #checkTraining}). */
    static CudnnShapes.BatchNorm checkBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                               Tensor dx, Tensor dgamma, Tensor dbeta) {
        String op = "batchNorm backward";
        CudnnShapes.BatchNorm bn = CudnnShapes.batchNorm(op, x.shape());
        perChannel(op, bn, x, gamma, "gamma (weight)", saveMean, "saveMean", saveInvStd, "saveInvStd",
                dgamma, "dgamma", dbeta, "dbeta");
        fp32(op, x, dy, dx);
        sameSize(op, x, dy); sameSize(op, x, dx);
        return bn;
    }

    private static void checkEps(String op, float eps) {
        if (!(eps >= CUDNN_BN_MIN_EPSILON) || !(eps > 0f))
            throw new IllegalArgumentException(op + ": eps must be > 0 (and >= cuDNN's CUDNN_BN_MIN_EPSILON "
                    + CUDNN_BN_MIN_EPSILON + "), got " + eps);
    }

    private static void perChannel(String op, CudnnShapes.BatchNorm bn, Tensor x, Object... tensorsAndNames) {
        for (int i = 0; i < tensorsAndNames.length; i += 2) {
            Tensor t = (Tensor) tensorsAndNames[i];
            String name = (String) tensorsAndNames[i + 1];
            CudnnShapes.perChannel(t == null ? null : t.shape(), name, bn.C(), x.shape(), op);
            fp32(op, t);
        }
    }

    // ================================================================== descriptors (cached)
    // Each cached method creates its descriptor and fills it with the static set* method after it. Those need no
    // handle and no device (cuDNN's descriptor calls are host-only), so RealCudaLibrariesTest runs them against the
    // real cuDNN on a machine without a GPU.

    private cudnnTensorStruct tensor(int... dims) {
        int[] s = CudnnShapes.packedStrides(dims);
        return tensor(dims[0], dims[1], dims[2], dims[3], s[0], s[1], s[2], s[3]);
    }

    private cudnnTensorStruct tensor(int n, int c, int h, int w, int sn, int sc, int sh, int sw) {
        ensureOpen();
        TensorKey k = new TensorKey(n, c, h, w, sn, sc, sh, sw);
        cudnnTensorStruct d = tensors.get(k);
        if (d != null) return d;
        d = new cudnnTensorStruct();
        check(cudnnCreateTensorDescriptor(d), "cudnnCreateTensorDescriptor", k::toString);
        try {
            setTensor(d, n, c, h, w, sn, sc, sh, sw);
        } catch (RuntimeException e) {
            cudnnDestroyTensorDescriptor(d); // never cache a descriptor that was not set
            throw e;
        }
        tensors.put(k, d);
        return d;
    }

    /** A 4-D FP32 tensor descriptor: dims [n, c, h, w], strides in elements. */
    static void setTensor(cudnnTensorStruct d, int n, int c, int h, int w, int sn, int sc, int sh, int sw) {
        check(cudnnSetTensorNdDescriptor(d, CUDNN_DATA_FLOAT, 4, new int[] {n, c, h, w}, new int[] {sn, sc, sh, sw}),
                "cudnnSetTensorNdDescriptor", () -> "dims " + Arrays.toString(new int[] {n, c, h, w})
                        + ", strides " + Arrays.toString(new int[] {sn, sc, sh, sw}));
    }

    private cudnnFilterStruct filter(int[] dims) {
        ensureOpen();
        FilterKey k = new FilterKey(dims[0], dims[1], dims[2], dims[3]);
        cudnnFilterStruct d = filters.get(k);
        if (d != null) return d;
        d = new cudnnFilterStruct();
        check(cudnnCreateFilterDescriptor(d), "cudnnCreateFilterDescriptor", k::toString);
        try {
            setFilter(d, dims);
        } catch (RuntimeException e) {
            cudnnDestroyFilterDescriptor(d);
            throw e;
        }
        filters.put(k, d);
        return d;
    }

    /** An FP32 NCHW filter descriptor for a weight [K, C/G, R, S]. */
    static void setFilter(cudnnFilterStruct d, int[] dims) {
        check(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, dims[0], dims[1], dims[2], dims[3]),
                "cudnnSetFilter4dDescriptor", () -> "weight " + Arrays.toString(dims));
    }

    private cudnnConvolutionStruct conv(ConvParams p, int mathType) {
        ensureOpen();
        ConvKey k = new ConvKey(p, mathType);
        cudnnConvolutionStruct d = convs.get(k);
        if (d != null) return d;
        d = new cudnnConvolutionStruct();
        check(cudnnCreateConvolutionDescriptor(d), "cudnnCreateConvolutionDescriptor", p::toString);
        try {
            setConv(d, p, mathType);
        } catch (RuntimeException e) {
            cudnnDestroyConvolutionDescriptor(d);
            throw e;
        }
        convs.put(k, d);
        return d;
    }

    /** A convolution descriptor: p's padding, stride, dilation and groups, cross-correlation, FP32 accumulation, mathType. */
    static void setConv(cudnnConvolutionStruct d, ConvParams p, int mathType) {
        // Cross-correlation (what PyTorch's conv2d computes), FP32 accumulation.
        check(cudnnSetConvolution2dDescriptor(d, p.padH(), p.padW(), p.strideH(), p.strideW(), p.dilationH(), p.dilationW(),
                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), "cudnnSetConvolution2dDescriptor", p::toString);
        check(cudnnSetConvolutionGroupCount(d, p.groups()), "cudnnSetConvolutionGroupCount", p::toString);
        check(cudnnSetConvolutionMathType(d, mathType), "cudnnSetConvolutionMathType", () -> p + ", math type " + mathType);
    }

    private cudnnPoolingStruct pool(CudnnShapes.Pool pl) {
        ensureOpen();
        PoolKey k = poolKey(pl);
        cudnnPoolingStruct d = pools.get(k);
        if (d != null) return d;
        d = new cudnnPoolingStruct();
        check(cudnnCreatePoolingDescriptor(d), "cudnnCreatePoolingDescriptor", k::toString);
        try {
            setPool(d, pl);
        } catch (RuntimeException e) {
            cudnnDestroyPoolingDescriptor(d);
            throw e;
        }
        pools.put(k, d);
        return d;
    }

    /** What a pooling descriptor holds for this call: mode, window, the descriptor's padding (0 with explicit padding), stride. */
    private static PoolKey poolKey(CudnnShapes.Pool pl) {
        return new PoolKey(pl.mode(), pl.kH(), pl.kW(), pl.descPadH(), pl.descPadW(), pl.strideH(), pl.strideW());
    }

    /** The pooling descriptor of one pooling call ({@link #poolKey}), NaN-propagating. */
    static void setPool(cudnnPoolingStruct d, CudnnShapes.Pool pl) {
        PoolKey k = poolKey(pl);
        // NaN propagates through max pooling, as on the CPU and in PyTorch.
        check(cudnnSetPooling2dDescriptor(d, k.mode(), CUDNN_PROPAGATE_NAN, k.kH(), k.kW(), k.padH(), k.padW(), k.strideH(), k.strideW()),
                "cudnnSetPooling2dDescriptor", k::toString);
    }

    private cudnnActivationStruct activation(Activation a) {
        ensureOpen();
        cudnnActivationStruct d = activations.get(a);
        if (d != null) return d;
        CudnnShapes.activationMode(a); // throws for kinds cuDNN does not have, before anything is created
        d = new cudnnActivationStruct();
        check(cudnnCreateActivationDescriptor(d), "cudnnCreateActivationDescriptor", a::toString);
        try {
            setActivation(d, a);
        } catch (RuntimeException e) {
            cudnnDestroyActivationDescriptor(d);
            throw e;
        }
        activations.put(a, d);
        return d;
    }

    /** An activation descriptor for a kind cuDNN has ({@link CudnnShapes#activationMode}), NaN-propagating. */
    static void setActivation(cudnnActivationStruct d, Activation a) {
        check(cudnnSetActivationDescriptor(d, CudnnShapes.activationMode(a), CUDNN_PROPAGATE_NAN, CudnnShapes.activationCoef(a)),
                "cudnnSetActivationDescriptor", a::toString);
    }

    // ================================================================== helpers

    private cudnnContext handle() {
        ensureOpen();
        return ctx.cudnn();
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("CudnnOps used after close()");
    }

    private DeviceBuffer workspace(long bytes) {
        return bytes == 0 ? null : ctx.allocate(bytes, "cuDNN conv workspace");
    }

    private static Pointer ptr(Tensor t) { return CudaContext.pointer(CudaStorage.address(t)); }

    /** A device buffer as a cuDNN pointer; null (a NULL workspace) for none. */
    private static Pointer ptr(DeviceBuffer b) { return b == null ? null : CudaContext.pointer(b.address()); }

    private static Pointer ptrAt(DeviceBuffer b, long elementOffset) { return CudaContext.pointer(b.address() + elementOffset * 4L); }

    /** A tensor's FP32 element {@code elementOffset} as a cuDNN pointer (a slice of the batch). */
    private static Pointer at(Tensor t, long elementOffset) { return CudaContext.pointer(CudaStorage.address(t) + elementOffset * 4L); }

    private void zeroFill(Tensor t, String op) {
        Cuda.check(cudaMemsetAsync(ptr(t), 0, t.numel() * 4L, ctx.stream()), () -> op + ": cudaMemsetAsync (zero " + t.shape() + ")");
    }

    private static void fp32(String op, Tensor... ts) {
        for (Tensor t : ts)
            if (t != null && t.dtype() != DType.FP32)
                throw new IllegalArgumentException(op + ": expected FP32 tensors, got " + t.dtype() + " " + t.shape());
    }

    private static void sameSize(String op, Tensor a, Tensor b) {
        if (a.numel() != b.numel()) throw new IllegalArgumentException(op + ": sizes differ: " + a.shape() + " vs " + b.shape());
    }

    static void check(int status, String call, Supplier<String> what) {
        if (status == CUDNN_STATUS_SUCCESS) return;
        throw new CudnnException(call + " failed: " + statusText(status) + " for " + what.get(), status);
    }

    /**
     * {@link #check} for a call that runs on the device: where it failed because an earlier kernel or copy left a
     * sticky error in the CUDA context, the message says so ({@link Cuda#earlierFault}), as cuDNN reports it only as
     * its own failure.
     */
    private void checkRun(int status, String call, Supplier<String> what) {
        if (status == CUDNN_STATUS_SUCCESS) return;
        throw new CudnnException(call + " failed: " + statusText(status) + " for " + what.get() + Cuda.earlierFault(ctx.stream()), status);
    }

    /** "CUDNN_STATUS_NOT_SUPPORTED (cudnnStatus_t 3000)": cuDNN's own text for a status, and its number. */
    static String statusText(int status) {
        String reason;
        try {
            reason = cudnnGetErrorString(status).getString();
        } catch (RuntimeException | LinkageError e) {
            reason = "(error string unavailable)";
        }
        return reason + " (cudnnStatus_t " + status + ")";
    }

    /** Destroys every cached descriptor and frees the host scaling factors. Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        List<String> failures = new ArrayList<>();
        for (cudnnTensorStruct d : tensors.values()) note(failures, cudnnDestroyTensorDescriptor(d), "tensor");
        for (cudnnFilterStruct d : filters.values()) note(failures, cudnnDestroyFilterDescriptor(d), "filter");
        for (cudnnConvolutionStruct d : convs.values()) note(failures, cudnnDestroyConvolutionDescriptor(d), "convolution");
        for (cudnnPoolingStruct d : pools.values()) note(failures, cudnnDestroyPoolingDescriptor(d), "pooling");
        for (cudnnActivationStruct d : activations.values()) note(failures, cudnnDestroyActivationDescriptor(d), "activation");
        tensors.clear(); filters.clear(); convs.clear(); pools.clear(); activations.clear();
        algos.clear();
        bnEps.clear();
        one.close(); zero.close(); negInf.close();
        if (!failures.isEmpty()) throw new CudnnException("CudnnOps.close: destroying descriptors failed: " + failures, CUDNN_STATUS_BAD_PARAM);
    }

    private static void note(List<String> failures, int status, String kind) {
        if (status != CUDNN_STATUS_SUCCESS) failures.add(kind + " descriptor: status " + status);
    }
}
