package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import static io.dltrain.runtime.backend.cpu.CpuBackend.f;
import static io.dltrain.runtime.backend.cpu.CpuBackend.n;
import static io.dltrain.runtime.backend.cpu.CpuBackend.off;

/**
 * CPU fused optimiser updates: one pass over param, grad and the state buffers per step. Each update mirrors the
 * single-tensor ("for-loop") implementation in torch.optim ({@code _single_tensor_sgd}, {@code _single_tensor_adagrad},
 * {@code _single_tensor_adadelta}, {@code _single_tensor_rmsprop}, {@code _single_tensor_adam}), operation by operation:
 * element values are computed in float exactly as PyTorch's CPU kernels do (add with alpha is {@code a + alpha*b},
 * addcmul is {@code self + value*t1*t2}, addcdiv is {@code self + value*t1/t2}, lerp switches formula at weight 0.5),
 * and the scalars PyTorch computes in Python (double) — bias corrections, step sizes, {@code 1 - beta} — are computed
 * in double and rounded to float where PyTorch hands them to a kernel.
 *
 * <p>Additions to PyTorch: {@code l1} adds {@code l1 * sign(p)} to the gradient (after L2 weight decay). The state
 * buffers arrive zero-filled ({@link io.dltrain.runtime.backend.Backend#optimizerStep}), so the two places where
 * PyTorch starts from something else are handled at {@code step == 1}: SGD's momentum buffer starts as the gradient,
 * and Adagrad's sum starts at {@code initialAccumulator}.
 *
 * <p>{@code grad} is never written. Work is split over {@code be.par} in contiguous chunks; every element is
 * independent, so results do not depend on the thread count.
 */
final class CpuOptim {
    private CpuOptim() {}

    /** Elements per parallel chunk: an update touches 3-5 arrays per element, so chunks can be smaller than for add. */
    static final int GRAIN = 1 << 13;

    static void step(CpuBackend be, OptimizerHyper hyper, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        Checks.optimizerStep(Device.CPU, hyper, param, grad, state, step);
        switch (hyper) {
            case OptimizerHyper.Sgd h -> sgd(be, h, param, grad, state, lr, step);
            case OptimizerHyper.Adagrad h -> adagrad(be, h, param, grad, state, lr, step);
            case OptimizerHyper.Adadelta h -> adadelta(be, h, param, grad, state, lr);
            case OptimizerHyper.RmsProp h -> rmsprop(be, h, param, grad, state, lr);
            case OptimizerHyper.Adam h -> adam(be, h, param, grad, state, lr, step);
        }
    }

    /**
     * The value a float hyper-parameter was most likely written as, as a double. PyTorch's hyper-parameters are
     * Python floats (doubles); ours arrive as floats, so 0.9 arrives as 0.89999998. Taking the shortest decimal that
     * rounds to the float recovers 0.9 exactly for values written in decimal, so scalars such as
     * {@code 1 - beta1^step} come out as PyTorch computes them.
     */
    static double dec(float v) { return Double.parseDouble(Float.toString(v)); }

    /** torch.lerp for float: self + w (end - self) when |w| < 0.5, else end - (end - self)(1 - w). */
    static float lerp(float self, float end, float w) {
        return Math.abs(w) < 0.5f ? self + w * (end - self) : end - (end - self) * (1f - w);
    }

    /** state[i] ({@link Checks#optimizerStep} has checked it: {@link Checks#optimizerState} names each buffer). */
    private static float[] buffer(Tensor[] state, int i) { return f(state[i]); }

    /** The gradient with weight decay and L1 applied, as PyTorch's grad.add(param, alpha=weight_decay). */
    private static float regularised(float g, float p, float wd, float l1) {
        if (wd != 0f) g = g + wd * p;
        if (l1 != 0f) g = g + l1 * Math.signum(p);
        return g;
    }

    // ------------------------------------------------------------------ SGD

    private static void sgd(CpuBackend be, OptimizerHyper.Sgd h, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        float[] P = f(param), G = f(grad);
        int po = off(param), go = off(grad), n = n(param);
        float wd = h.weightDecay(), l1 = h.l1(), mom = h.momentum(), nlr = -lr;
        float keep = (float) (1 - dec(h.dampening()));   // PyTorch: buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        boolean nesterov = h.nesterov(), first = step == 1;
        if (mom == 0f) {
            be.par.forRange(n, GRAIN, (s, e) -> {
                for (int i = s; i < e; i++) {
                    float p = P[po + i];
                    P[po + i] = p + nlr * regularised(G[go + i], p, wd, l1);
                }
            });
            return;
        }
        float[] B = buffer(state, 0);
        int bo = off(state[0]);
        be.par.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                float p = P[po + i];
                float g = regularised(G[go + i], p, wd, l1);
                // PyTorch's first step: buf = clone(grad), no dampening.
                float b = first ? g : B[bo + i] * mom + keep * g;
                B[bo + i] = b;
                float d = nesterov ? g + mom * b : b;
                P[po + i] = p + nlr * d;
            }
        });
    }

    // ------------------------------------------------------------------ Adagrad

    private static void adagrad(CpuBackend be, OptimizerHyper.Adagrad h, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        float[] P = f(param), G = f(grad), S = buffer(state, 0);
        int po = off(param), go = off(grad), so = off(state[0]), n = n(param);
        float wd = h.weightDecay(), l1 = h.l1(), eps = h.eps(), init = h.initialAccumulator();
        // clr = lr / (1 + (step - 1) * lr_decay), in double as PyTorch; param.addcdiv_(grad, std, value=-clr)
        float nclr = (float) -(dec(lr) / (1 + (step - 1) * dec(h.lrDecay())));
        boolean first = step == 1;
        be.par.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                float p = P[po + i];
                float g = regularised(G[go + i], p, wd, l1);
                // PyTorch fills the sum with initial_accumulator_value; our buffer arrives zeroed.
                float sum = (first ? init : S[so + i]) + g * g;
                S[so + i] = sum;
                float std = (float) Math.sqrt(sum) + eps;
                P[po + i] = p + nclr * g / std;
            }
        });
    }

    // ------------------------------------------------------------------ Adadelta

    private static void adadelta(CpuBackend be, OptimizerHyper.Adadelta h, Tensor param, Tensor grad, Tensor[] state, float lr) {
        float[] P = f(param), G = f(grad);
        float[] SQ = buffer(state, 0), AD = buffer(state, 1);
        int po = off(param), go = off(grad), sqo = off(state[0]), ado = off(state[1]), n = n(param);
        float wd = h.weightDecay(), l1 = h.l1(), rho = h.rho(), eps = h.eps(), nlr = -lr;
        float omr = (float) (1 - dec(rho));
        be.par.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                float p = P[po + i];
                float g = regularised(G[go + i], p, wd, l1);
                float sq = SQ[sqo + i] * rho + omr * g * g;         // square_avg.mul_(rho).addcmul_(grad, grad, value=1-rho)
                SQ[sqo + i] = sq;
                float std = (float) Math.sqrt(sq + eps);              // square_avg.add(eps).sqrt_()
                float ad = AD[ado + i];
                float delta = (float) Math.sqrt(ad + eps) / std * g;  // acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
                AD[ado + i] = ad * rho + omr * delta * delta;         // acc_delta.mul_(rho).addcmul_(delta, delta, value=1-rho)
                P[po + i] = p + nlr * delta;                          // param.add_(delta, alpha=-lr)
            }
        });
    }

    // ------------------------------------------------------------------ RMSprop

    private static void rmsprop(CpuBackend be, OptimizerHyper.RmsProp h, Tensor param, Tensor grad, Tensor[] state, float lr) {
        float[] P = f(param), G = f(grad), SQ = buffer(state, 0);
        float mom = h.momentum();
        boolean centered = h.centered(), useMom = mom > 0f;
        float[] BUF = useMom ? buffer(state, 1) : null;
        float[] GA = centered ? buffer(state, 2) : null;
        int po = off(param), go = off(grad), sqo = off(state[0]), n = n(param);
        int bo = useMom ? off(state[1]) : 0, gao = centered ? off(state[2]) : 0;
        float wd = h.weightDecay(), l1 = h.l1(), alpha = h.alpha(), eps = h.eps(), nlr = -lr;
        float oma = (float) (1 - dec(alpha));
        be.par.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                float p = P[po + i];
                float g = regularised(G[go + i], p, wd, l1);
                float sq = SQ[sqo + i] * alpha + oma * g * g;        // square_avg.mul_(alpha).addcmul_(grad, grad, value=1-alpha)
                SQ[sqo + i] = sq;
                float avg;
                if (centered) {
                    float ga = lerp(GA[gao + i], g, oma);             // grad_avg.lerp_(grad, 1-alpha)
                    GA[gao + i] = ga;
                    avg = (float) Math.sqrt(sq + -1f * ga * ga);      // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                } else {
                    avg = (float) Math.sqrt(sq);
                }
                avg = avg + eps;
                if (useMom) {
                    float b = BUF[bo + i] * mom + g / avg;            // buf.mul_(momentum).addcdiv_(grad, avg)
                    BUF[bo + i] = b;
                    P[po + i] = p + nlr * b;                          // param.add_(buf, alpha=-lr)
                } else {
                    P[po + i] = p + nlr * g / avg;                    // param.addcdiv_(grad, avg, value=-lr)
                }
            }
        });
    }

    // ------------------------------------------------------------------ Adam / AdamW

    private static void adam(CpuBackend be, OptimizerHyper.Adam h, Tensor param, Tensor grad, Tensor[] state, float lr, long step) {
        float[] P = f(param), G = f(grad);
        float[] M = buffer(state, 0), V = buffer(state, 1);
        int po = off(param), go = off(grad), mo = off(state[0]), vo = off(state[1]), n = n(param);
        boolean decoupled = h.decoupled();
        float l1 = h.l1(), beta2 = h.beta2(), eps = h.eps();
        float coupledWd = decoupled ? 0f : h.weightDecay();
        // AdamW: param.mul_(1 - lr * weight_decay) before the moments.
        float decay = decoupled && h.weightDecay() != 0f ? (float) (1 - dec(lr) * dec(h.weightDecay())) : 1f;
        float omb1 = (float) (1 - dec(h.beta1())), omb2 = (float) (1 - dec(beta2));
        double bc1 = 1 - Math.pow(dec(h.beta1()), step), bc2 = 1 - Math.pow(dec(beta2), step);
        float nStepSize = (float) -(dec(lr) / bc1);
        float bc2Sqrt = (float) Math.sqrt(bc2);
        be.par.forRange(n, GRAIN, (s, e) -> {
            for (int i = s; i < e; i++) {
                float p0 = P[po + i];
                float g = regularised(G[go + i], p0, coupledWd, l1);
                float p = decay != 1f ? p0 * decay : p0;
                float m = lerp(M[mo + i], g, omb1);                   // exp_avg.lerp_(grad, 1-beta1)
                float v = V[vo + i] * beta2 + omb2 * g * g;           // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
                M[mo + i] = m;
                V[vo + i] = v;
                float denom = (float) Math.sqrt(v) / bc2Sqrt + eps;   // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                P[po + i] = p + nStepSize * m / denom;                // param.addcdiv_(exp_avg, denom, value=-step_size)
            }
        });
    }
}
