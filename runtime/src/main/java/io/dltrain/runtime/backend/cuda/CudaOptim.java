package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.OptimizerHyper;

/**
 * The fused optimiser updates on the device: the host scalars of each update, computed EXACTLY as the same-named
 * locals of {@code backend.cpu.CpuOptim} (double math on the decimal value of each float hyper-parameter, rounded to
 * float where PyTorch hands a scalar to a kernel), and the argument list of the matching kernel of optim.cu, whose
 * body is CpuOptim's inner loop. Kept separate from the launch so the scalars and argument lists are tested on the CPU
 * ({@code CudaOptimTest}).
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

    /** Which state buffers an update reads (index -> name), so the backend can check them before launching. */
    static String[] requiredState(OptimizerHyper hyper) {
        return switch (hyper) {
            case OptimizerHyper.Sgd h -> h.momentum() == 0f ? new String[0] : new String[] {"SGD momentum buffer"};
            case OptimizerHyper.Adagrad h -> new String[] {"Adagrad sum"};
            case OptimizerHyper.Adadelta h -> new String[] {"Adadelta square_avg", "Adadelta acc_delta"};
            case OptimizerHyper.RmsProp h -> new String[] {"RMSprop square_avg",
                    h.momentum() > 0f ? "RMSprop momentum_buffer" : null, h.centered() ? "RMSprop grad_avg" : null};
            case OptimizerHyper.Adam h -> new String[] {"Adam exp_avg", "Adam exp_avg_sq"};
        };
    }
}
