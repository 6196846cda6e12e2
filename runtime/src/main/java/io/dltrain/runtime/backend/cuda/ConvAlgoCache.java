package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.ConvParams;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.cuda.global.cudnn.CUDNN_DETERMINISTIC;
import static org.bytedeco.cuda.global.cudnn.CUDNN_STATUS_SUCCESS;
import static org.bytedeco.cuda.global.cudnn.CUDNN_TENSOR_OP_MATH;
import static org.bytedeco.cuda.global.cudnn.CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;

/**
 * The convolution algorithm chosen for each (direction, shapes, geometry, TF32 switch), so a steady-state training
 * step asks cuDNN's heuristics (or its measured search) nothing: the first call of a shape picks, later calls look
 * the answer up in a HashMap. Also the pure rule that picks one algorithm from cuDNN's ranked list, kept here so it
 * is tested without a GPU.
 */
final class ConvAlgoCache {

    /** The three cuDNN convolution calls. */
    enum Direction { FORWARD, BACKWARD_DATA, BACKWARD_FILTER }

    /** What decides the algorithm: direction, x [N, C, H, W], w [K, C/G, R, S], the geometry and whether TF32 is allowed. */
    record Key(Direction direction, int N, int C, int H, int W, int K, int R, int S, ConvParams params, boolean tf32) {
        static Key of(Direction d, CudnnShapes.Conv g, ConvParams p, boolean tf32) {
            return new Key(d, g.N(), g.C(), g.H(), g.W(), g.K(), g.R(), g.S(), p, tf32);
        }
    }

    /** One entry of cuDNN's ranked answer (cudnnConvolution*AlgoPerf_t). */
    record Candidate(int algo, int status, long memory, int determinism, int mathType) {
        boolean tensorOps() { return mathType == CUDNN_TENSOR_OP_MATH || mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }
    }

    /** The chosen algorithm, the math type to run it with and its exact workspace size in bytes. */
    record Choice(int algo, int mathType, long workspaceBytes, boolean deterministic) {}

    private final Map<Key, Choice> choices = new HashMap<>();

    Choice get(Key k) { return choices.get(k); }

    void put(Key k, Choice c) { choices.put(k, c); }

    int size() { return choices.size(); }

    void clear() { choices.clear(); }

    /**
     * Picks from cuDNN's list (best first): only entries that succeeded, need at most {@code workspaceLimit} bytes
     * and, unless TF32 is allowed, use no tensor-op math (tensor cores on FP32 data mean TF32 or FP16 conversion,
     * which would not match the CPU's FP32 results). Among those the first deterministic one wins (results repeat
     * from run to run, as everywhere else in this runtime: backward-filter's ALGO_0 and ALGO_3 add with atomics);
     * failing that, the first acceptable one. Returns null when nothing is acceptable.
     */
    static Candidate pick(List<Candidate> ranked, boolean allowTensorOps, long workspaceLimit) {
        List<Candidate> ok = acceptable(ranked, allowTensorOps, workspaceLimit);
        return ok.isEmpty() ? null : ok.getFirst();
    }

    /** The entries {@link #pick} accepts, in its order of preference: deterministic ones first, each group in cuDNN's order. */
    static List<Candidate> acceptable(List<Candidate> ranked, boolean allowTensorOps, long workspaceLimit) {
        List<Candidate> deterministic = new java.util.ArrayList<>(), other = new java.util.ArrayList<>();
        for (Candidate c : ranked) {
            if (c.status() != CUDNN_STATUS_SUCCESS || c.memory() < 0 || c.memory() > workspaceLimit) continue;
            if (!allowTensorOps && c.tensorOps()) continue;
            (c.determinism() == CUDNN_DETERMINISTIC ? deterministic : other).add(c);
        }
        deterministic.addAll(other);
        return deterministic;
    }

    /**
     * The first of {@code acceptable} whose workspace, asked of cuDNN for the algorithm itself ({@code realBytes}),
     * is within the limit, or null: the ranking's memory figure need not be what running the algorithm asks for (with
     * another math type it was not, sony/nnabla-ext-cuda#118), and the workspace query is what the call is given.
     */
    static Candidate firstWithin(List<Candidate> acceptable, java.util.function.ToLongFunction<Candidate> realBytes, long workspaceLimit) {
        for (Candidate c : acceptable) if (realBytes.applyAsLong(c) <= workspaceLimit) return c;
        return null;
    }

    /**
     * After the workspace of an algorithm needing {@code failedBytes} could not be allocated: the acceptable entry
     * with the smallest workspace, if that is smaller (often an implicit-GEMM algorithm needing none), else null.
     * PyTorch's cuDNN convolutions likewise move on to the next algorithm when one runs out of memory, as Caffe fell
     * back to implicit GEMM (BVLC/caffe#2211).
     */
    static Candidate leanest(List<Candidate> acceptable, java.util.function.ToLongFunction<Candidate> realBytes, long failedBytes) {
        Candidate best = null;
        long bestBytes = failedBytes;
        for (Candidate c : acceptable) {
            long b = realBytes.applyAsLong(c);
            if (b < bestBytes) { best = c; bestBytes = b; }
        }
        return best;
    }
}
