package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** Gradient clipping: torch.nn.utils.clip_grad_norm_ with the 2-norm. */
public final class GradClip {
    private GradClip() {}

    /** The constant the backend's clipByNorm adds to the norm (Backend.clipByNorm's contract, as PyTorch). */
    private static final double EPS = 1e-6;

    /**
     * Scales the gradients of {@code params} (those that have one, of parameters that require grad: a frozen
     * parameter's gradient, left or set by hand, is neither counted in the norm nor scaled, as {@link Optimizer#step}
     * does not apply it; PyTorch's clip_grad_norm_ counts every .grad given) by min(1, maxNorm / (norm + 1e-6)), where
     * norm is the 2-norm of all those gradients together, and returns that norm before clipping as a one-element tensor
     * (in the current scope). Nothing waits for the device. With no gradients the norm is 0. On the CPU backend the
     * norm is the square root of the float sum of squares taken in double, so tiny gradients report their norm as
     * torch does (down to where their float squares underflow, about 1e-22, as in torch); on a device, where reading
     * the sum would wait for it, {@link #sqrtOnDevice} gives it within about 1e-13 absolutely. If the squared norm
     * overflows float the gradients are zeroed (coefficient 0, as PyTorch) and the returned norm is infinity on the
     * CPU, as PyTorch reports it, and NaN on a device; a NaN norm (a NaN in any gradient) makes every gradient NaN, as in PyTorch (its clip
     * coefficient is then NaN).
     */
    public static Tensor clipByGlobalNorm(Collection<Tensor> params, float maxNorm) {
        if (!(maxNorm > 0)) throw new IllegalArgumentException("clipByGlobalNorm: maxNorm must be > 0, got " + maxNorm);
        if (params.isEmpty()) throw new IllegalArgumentException("clipByGlobalNorm: no parameters given");
        List<Tensor> grads = new ArrayList<>();
        // a frozen parameter (requiresGrad false) is left out, as Optimizer.step leaves it out: its gradient, if any is
        // left or set by hand, is not applied, so it must not shrink the others' clip coefficient either
        for (Tensor p : params) if (p.requiresGrad() && p.grad() != null) grads.add(p.grad());
        Backend be = params.iterator().next().backend();
        Tensor sumSq = be.empty(Shape.of(1));
        if (grads.isEmpty()) { be.fill(sumSq, 0f); return sumSq; }
        for (int i = 0; i < grads.size(); i++) be.sumSquares(grads.get(i), sumSq, i > 0);
        for (Tensor g : grads) be.clipByNorm(g, sumSq, maxNorm);
        Tensor norm;
        if (be.device().kind() == Device.Kind.CPU) { // the CPU has computed the sum already: reading it waits for nothing
            norm = be.empty(Shape.of(1));
            be.fill(norm, (float) Math.sqrt(be.item(sumSq)));
        } else {
            norm = sqrtOnDevice(be, sumSq);
        }
        sumSq.close();
        return norm;
    }

    /**
     * sqrt(s) for a one-element tensor s >= 0 using only Backend ops, so no host synchronisation is needed (the
     * Backend has no square-root op). clipByNorm(x = [1], s, m) leaves r = m / (n + EPS) in x whenever that is
     * below 1, where n = sqrt(s); choosing m = EPS / 2 makes it always so. Then exactly
     * n = (n^2 - EPS^2) / (n + EPS) + EPS = (s - EPS^2) * r / m + EPS, which is evaluated with add/mul/scale.
     * Each step rounds once in float, so the result is within a few float ulps of sqrt(s) (absolutely within about
     * 1e-13 when s is 0). Returns a new tensor; s is unchanged.
     */
    static Tensor sqrtOnDevice(Backend be, Tensor s) {
        Shape one = Shape.of(1);
        float m = (float) (EPS / 2);
        Tensor r = be.empty(one);
        be.fill(r, 1f);
        be.clipByNorm(r, s, m);                       // r = m / (n + EPS)
        Tensor n = be.empty(one);
        be.fill(n, (float) (-EPS * EPS));
        be.add(s, n, n);                              // s - EPS^2
        be.mul(n, r, n);                              // (s - EPS^2) * m / (n + EPS)
        be.scale(n, 1f / m, n);                       // (s - EPS^2) / (n + EPS) = n - EPS
        be.fill(r, (float) EPS);
        be.add(n, r, n);                              // + EPS
        r.close();
        return n;
    }
}
