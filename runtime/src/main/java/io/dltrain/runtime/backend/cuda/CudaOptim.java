package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.OptimizerHyper;

import java.util.Arrays;
import java.util.List;

/**
 * The fused optimiser updates on the device: the host scalars of each update, computed EXACTLY as the same-named
 * locals of {@code backend.cpu.CpuOptim} (double math on the decimal value of each float hyper-parameter, rounded to
 * float where PyTorch hands a scalar to a kernel), and the argument list of the matching kernel of optim.cu, whose
 * body is CpuOptim's inner loop. Kept separate from the launch so the scalars and argument lists are tested on the CPU
 * ({@code CudaOptimTest}). {@link #multi} turns a group's single launches into one launch of the group kernel.
 *
 * <p>{@link #dec} is a copy of {@code CpuOptim.dec}, which is package-private in {@code backend.cpu}; the two must
 * stay identical.
 */
final class CudaOptim {
    private CudaOptim() {}

    /** The kernel name and its arguments for one update. */
    record Launch(String kernel, Object[] args) {}

    /** Copy of CpuOptim.dec: the shortest decimal that rounds to the float, as a double (0.9f -> 0.9). */
    static double dec(float v) { return Double.parseDouble(Float.toString(v)); }

    /**
     * The launch for one update of {@code n} elements. {@code state} holds the device addresses of the state buffers in
     * Backend.optimizerStep's order (0 where the buffer is absent and unused).
     */
    static Launch launch(OptimizerHyper hyper, long p, long g, long[] state, long n, float lr, long step) {
        return switch (hyper) {
            case OptimizerHyper.Sgd h -> {
                float wd = h.weightDecay(), l1 = h.l1(), mom = h.momentum(), nlr = -lr;
                float keep = (float) (1 - dec(h.dampening()));
                boolean first = step == 1;
                long buf = mom == 0f ? 0L : state[0];
                yield new Launch("sgd_step_f32", new Object[] {p, g, buf, n, nlr, wd, l1, mom, keep, h.nesterov() ? 1 : 0, first ? 1 : 0});
            }
            case OptimizerHyper.Adagrad h -> {
                float nclr = (float) -(dec(lr) / (1 + (step - 1) * dec(h.lrDecay())));
                yield new Launch("adagrad_step_f32", new Object[] {p, g, state[0], n, nclr, h.weightDecay(), h.l1(), h.eps(),
                        h.initialAccumulator(), step == 1 ? 1 : 0});
            }
            case OptimizerHyper.Adadelta h -> {
                float nlr = -lr, omr = (float) (1 - dec(h.rho()));
                yield new Launch("adadelta_step_f32", new Object[] {p, g, state[0], state[1], n, nlr, h.weightDecay(), h.l1(),
                        h.rho(), omr, h.eps()});
            }
            case OptimizerHyper.RmsProp h -> {
                float mom = h.momentum(), nlr = -lr, oma = (float) (1 - dec(h.alpha()));
                boolean useMom = mom > 0f, centered = h.centered();
                yield new Launch("rmsprop_step_f32", new Object[] {p, g, state[0], useMom ? state[1] : 0L, centered ? state[2] : 0L,
                        n, nlr, h.weightDecay(), h.l1(), h.alpha(), oma, h.eps(), mom, centered ? 1 : 0});
            }
            case OptimizerHyper.Adam h -> {
                boolean decoupled = h.decoupled();
                float coupledWd = decoupled ? 0f : h.weightDecay();
                float decay = decoupled && h.weightDecay() != 0f ? (float) (1 - dec(lr) * dec(h.weightDecay())) : 1f;
                float omb1 = (float) (1 - dec(h.beta1())), omb2 = (float) (1 - dec(h.beta2()));
                double bc1 = 1 - Math.pow(dec(h.beta1()), step), bc2 = 1 - Math.pow(dec(h.beta2()), step);
                float nStepSize = (float) -(dec(lr) / bc1);
                float bc2Sqrt = (float) Math.sqrt(bc2);
                yield new Launch("adam_step_f32", new Object[] {p, g, state[0], state[1], n, nStepSize, coupledWd, h.l1(), decay,
                        omb1, h.beta2(), omb2, bc2Sqrt, h.eps()});
            }
        };
    }

    /** Elements per block of a multi-tensor launch: optim.cu's DL_MULTI_CHUNK. */
    static final int MULTI_CHUNK = 4096;
    /** Longs per tensor in a multi-tensor table: optim.cu's DL_MULTI_COLS (param, grad, 3 state, n, first block). */
    static final int MULTI_COLS = 7;
    /** Threads per block of a multi-tensor launch (each thread updates MULTI_CHUNK / MULTI_BLOCK elements). */
    static final int MULTI_BLOCK = 256;

    /**
     * One launch of an {@code <opt>_multi_f32} kernel for a group: its table (MULTI_COLS longs per tensor, to be copied
     * to the device), its grid, and the kernel arguments that follow the table's address.
     */
    record Multi(String kernel, long[] table, int tensors, int blocks, Object[] scalars) {}

    /**
     * The multi-tensor launch for {@code launches}, one single-tensor {@link #launch} per tensor of a group that shares
     * hyper-parameters, lr and step (so the same kernel and scalars, which this checks); tensors with no elements are
     * left out. Each table row holds the single launch's pointer arguments (those before n; absent ones 0), n, and
     * the row's first block. Null when no tensor has elements.
     */
    static Multi multi(List<Launch> launches) {
        long[] table = new long[launches.size() * MULTI_COLS];
        int rows = 0;
        long blocks = 0;
        Launch first = null;
        Object[] scalars = null;
        for (Launch l : launches) {
            Object[] a = l.args();
            int longs = 0;
            while (longs < a.length && a[longs] instanceof Long) longs++;
            Object[] rest = Arrays.copyOfRange(a, longs, a.length);
            if (first == null) {
                first = l;
                scalars = rest;
            } else if (!first.kernel().equals(l.kernel()) || !Arrays.equals(scalars, rest)) {
                throw new IllegalArgumentException("optimizerStepAll: one group must share the update and its scalars; got "
                        + first.kernel() + Arrays.toString(scalars) + " and " + l.kernel() + Arrays.toString(rest));
            }
            if (longs < 3 || longs - 1 > 5) throw new IllegalStateException(l.kernel() + ": unexpected argument list " + Arrays.toString(a));
            long n = (Long) a[longs - 1];
            if (n == 0) continue;
            int r = rows * MULTI_COLS;
            for (int k = 0; k < longs - 1; k++) table[r + k] = (Long) a[k];
            table[r + 5] = n;
            table[r + 6] = blocks;
            blocks += (n + MULTI_CHUNK - 1) / MULTI_CHUNK;
            rows++;
        }
        if (rows == 0) return null;
        if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException("optimizerStepAll: " + blocks + " blocks of " + MULTI_CHUNK
                + " elements are more than one launch can have; step the parameters in smaller groups");
        String kernel = first.kernel().replace("_step_f32", "_multi_f32");
        return new Multi(kernel, Arrays.copyOf(table, rows * MULTI_COLS), rows, (int) blocks, scalars);
    }

    /** Which state buffers an update reads (index -> name), so the backend can check them before launching. */
    static String[] requiredState(OptimizerHyper hyper) { return io.dltrain.runtime.backend.Checks.optimizerState(hyper); }
}
