package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Our kernels on the device: loads every PTX module of the {@code kernels} artifact once (cuModuleLoadDataEx, which
 * JIT-compiles the compute_75 PTX for the actual GPU; its error log goes into the exception), finds each kernel by name in whichever module has it and caches
 * the CUfunction, chooses launch shapes, and marshals boxed Java arguments into cuLaunchKernel's parameter array.
 *
 * <p>Every launch first checks its arguments against {@link KernelSignatures} (count and Java type per position):
 * cuLaunchKernel copies bytes blindly, so a Float where the kernel expects a pointer would be memory corruption rather
 * than an error. Every failure names the kernel and its arguments.
 *
 * <p>Argument marshalling: each argument gets an 8-byte slot in one reusable native buffer (Long: 8 bytes, Integer
 * and Float: 4 bytes at the slot's start), and a reusable native pointer array holds the slots' addresses; the driver
 * copies the values at launch, so the buffers can be reused by the next launch at once. Launches are serialised
 * (synchronized), as the buffers are shared.
 */
public final class PtxKernels implements KernelLauncher, AutoCloseable {
    /** Threads per block for element-wise kernels. */
    public static final int BLOCK = 256;
    /** Blocks per multiprocessor at most, for grid-stride kernels (enough to fill the GPU; more only adds blocks). */
    public static final int BLOCKS_PER_SM = 32;

    private static final int MAX_ARGS = 32;

    private final CudaContext ctx;
    private final int smCount;
    private final Map<String, CUmod_st> modules = new LinkedHashMap<>();
    /** kernel name -> the stem of the module that defines it. */
    private final Map<String, String> kernelModule = new HashMap<>();
    private final Map<String, CUfunc_st> functions = new HashMap<>();
    private final ArgBuffer argBuffer = new ArgBuffer();
    private boolean closed;

    /**
     * Loads every PTX module now (the context's device must be current on this thread).
     *
     * @param smCount the device's multiprocessor count, for launch shapes
     */
    public PtxKernels(CudaContext ctx, int smCount) {
        this(ctx, smCount, ptxSources());
    }

    /** The given modules (stem -> PTX text) instead of the kernels artifact's: for tests of loading and its errors. */
    PtxKernels(CudaContext ctx, int smCount, Map<String, String> sources) {
        this.ctx = ctx;
        this.smCount = smCount;
        if (sources.isEmpty()) {
            close();
            throw new IllegalStateException("no PTX kernels found in the dl-train-kernels jar; rebuild the kernels module "
                    + "(kernels/build-ptx.sh)");
        }
        try {
            for (Map.Entry<String, String> e : sources.entrySet()) load(e.getKey(), e.getValue());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Bytes for the JIT compiler's error log (ptxas messages name the line and the problem). */
    static final int JIT_LOG_BYTES = 16 * 1024;

    private void load(String stem, String ptx) {
        byte[] text = ptx.getBytes(StandardCharsets.US_ASCII);
        byte[] z = java.util.Arrays.copyOf(text, text.length + 1);  // cuModuleLoadDataEx wants a NUL-terminated image
        CUmod_st module = new CUmod_st();
        // cuModuleLoadDataEx with an error-log buffer: where the driver's JIT compiler refuses the PTX, its own words
        // (line, reason) go into the exception instead of a bare CUDA_ERROR_INVALID_PTX.
        try (BytePointer image = new BytePointer(z);
             BytePointer log = new BytePointer(JIT_LOG_BYTES).fill(0);
             IntPointer options = new IntPointer(cudart.CU_JIT_ERROR_LOG_BUFFER, cudart.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
             PointerPointer<Pointer> values = new PointerPointer<>(2)) {
            values.put(0, log);
            new LongPointer(values).put(1, JIT_LOG_BYTES);   // a size option's value is the number itself, in the pointer slot
            int result = cudart.cuModuleLoadDataEx(module, image, 2, options, values);
            if (result != cudart.CUDA_SUCCESS) {
                byte[] bytes = new byte[JIT_LOG_BYTES];
                log.get(bytes);
                int end = 0;
                while (end < bytes.length && bytes[end] != 0) end++;   // a C string: up to its NUL
                String jit = new String(bytes, 0, end, StandardCharsets.US_ASCII).strip();
                Cuda.checkDriver(result, "cuModuleLoadDataEx(" + stem + ".ptx" + ptxHeader(ptx) + ")"
                        + (jit.isEmpty() ? "" : " [the driver's PTX compiler said: " + jit + "]") + loadHint(result));
            }
        }
        modules.put(stem, module);
        for (String kernel : KernelSignatures.parsePtxEntries(ptx).keySet()) kernelModule.putIfAbsent(kernel, stem);
    }

    /** ", PTX ISA 9.0 for sm_75": the module's .version and .target lines, for load errors. */
    static String ptxHeader(String ptx) {
        java.util.regex.Matcher v = java.util.regex.Pattern.compile("(?m)^\\.version\\s+(\\S+)").matcher(ptx);
        java.util.regex.Matcher t = java.util.regex.Pattern.compile("(?m)^\\.target\\s+(\\S+)").matcher(ptx);
        return (v.find() ? ", PTX ISA " + v.group(1) : "") + (t.find() ? " for " + t.group(1) : "");
    }

    /** What to do about a module the driver refused. */
    static String loadHint(int result) {
        return switch (result) {
            case cudart.CUDA_ERROR_UNSUPPORTED_PTX_VERSION -> ". The NVIDIA driver is older than the nvcc that wrote these kernels"
                    + " (dl-train's PTX comes from nvcc 13.0, PTX ISA 9.0: it needs driver 580 or newer); update the driver";
            case cudart.CUDA_ERROR_JIT_COMPILATION_DISABLED -> ". dl-train ships its kernels as PTX, which the driver compiles"
                    + " when they load: JIT compilation must be allowed (is CUDA_DISABLE_PTX_JIT set?)";
            case cudart.CUDA_ERROR_INVALID_PTX, cudart.CUDA_ERROR_JIT_COMPILER_NOT_FOUND ->
                    ". The driver could not compile dl-train's kernels for this GPU; report it with the message above and nvidia-smi's output";
            default -> "";
        };
    }

    /** The PTX text of every module of the kernels artifact ({@link io.dltrain.kernels.Ptx}), stem -> text. */
    public static Map<String, String> ptxSources() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String stem : io.dltrain.kernels.Ptx.modules()) out.put(stem, io.dltrain.kernels.Ptx.load(stem));
        return out;
    }

    /** Blocks for a grid-stride kernel over n elements: ceil(n / block), capped at 32 per SM, at least 1. */
    public static int gridFor(long n, int block, int smCount) {
        long blocks = (Math.max(n, 0) + block - 1) / block;
        long cap = (long) BLOCKS_PER_SM * Math.max(1, smCount);
        return (int) Math.max(1, Math.min(blocks, cap));
    }

    @Override
    public void launch(String kernel, long n, Object... args) {
        if (n <= 0) {
            KernelSignatures.validate(kernel, args);   // still catch wrong arguments on empty tensors
            return;
        }
        launch(kernel, gridFor(n, BLOCK, smCount), BLOCK, 0, args);
    }

    @Override
    public synchronized void launch(String kernel, int gridX, int blockX, int sharedBytes, Object... args) {
        if (closed) throw new IllegalStateException("kernel " + kernel + " launched after the CUDA backend was closed");
        KernelSignatures.validate(kernel, args);
        if (gridX < 1 || blockX < 1 || blockX > 1024) {
            throw new IllegalArgumentException("kernel " + kernel + ": bad launch shape grid " + gridX + " x block " + blockX
                    + " for arguments " + KernelSignatures.describe(args));
        }
        CUfunc_st f = function(kernel);
        int r = cudart.cuLaunchKernel(f, gridX, 1, 1, blockX, 1, 1, sharedBytes, ctx.stream(), argBuffer.marshal(args), (PointerPointer<?>) null);
        Cuda.checkDriver(r, () -> "cuLaunchKernel " + kernel + KernelSignatures.describe(args) + " grid " + gridX + " block " + blockX);
    }

    /**
     * The native argument block for cuLaunchKernel: one 8-byte slot per argument (Long: 8 bytes; Integer, Float: 4
     * bytes at the slot's start) and the void** array of the slots' addresses. The PointerPointer overload of
     * cuLaunchKernel passes that array itself; its Pointer overload is @ByPtrPtr and would pass the address of a
     * temporary holding the array's address instead.
     */
    static final class ArgBuffer implements AutoCloseable {
        private final BytePointer slots = new BytePointer(8L * MAX_ARGS);
        private final PointerPointer<Pointer> params = new PointerPointer<>(MAX_ARGS);

        ArgBuffer() {
            for (int i = 0; i < MAX_ARGS; i++) params.put(i, CudaContext.pointer(slots.address() + 8L * i));
        }

        /** Writes the (already validated) arguments into their slots; returns kernelParams. */
        PointerPointer<Pointer> marshal(Object[] args) {
            if (args.length > MAX_ARGS) throw new IllegalArgumentException("at most " + MAX_ARGS + " kernel arguments, got " + args.length);
            for (int i = 0; i < args.length; i++) {
                long slot = 8L * i;   // BytePointer's put/get index is a byte offset
                switch (args[i]) {
                    case Long v -> slots.putLong(slot, v);
                    case Integer v -> slots.putInt(slot, v);
                    case Float v -> slots.putFloat(slot, v);
                    default -> throw new IllegalArgumentException("kernel argument " + i + " must be Long, Integer or Float, got " + args[i]);
                }
            }
            return params;
        }

        @Override
        public void close() {
            slots.close();
            params.close();
        }
    }

    private CUfunc_st function(String kernel) {
        CUfunc_st f = functions.get(kernel);
        if (f != null) return f;
        String stem = kernelModule.get(kernel);
        if (stem == null) {
            throw new IllegalStateException("kernel " + kernel + " is in none of the loaded PTX modules " + modules.keySet()
                    + "; the kernels jar is older than this runtime: rebuild it (kernels/build-ptx.sh)");
        }
        f = new CUfunc_st();
        Cuda.checkDriver(cudart.cuModuleGetFunction(f, modules.get(stem), kernel), "cuModuleGetFunction(" + stem + ".ptx, " + kernel + ")");
        functions.put(kernel, f);
        return f;
    }

    /** The modules loaded, by stem. */
    public synchronized List<String> moduleStems() { return List.copyOf(modules.keySet()); }

    /** Unloads every module (call with the device idle). */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        for (Map.Entry<String, CUmod_st> e : modules.entrySet()) {
            try {
                Cuda.checkDriver(cudart.cuModuleUnload(e.getValue()), "cuModuleUnload(" + e.getKey() + ".ptx)");
            } catch (RuntimeException ex) {
                if (first == null) first = ex;
            }
        }
        modules.clear();
        functions.clear();
        argBuffer.close();
        if (first != null) throw first;
    }
}
