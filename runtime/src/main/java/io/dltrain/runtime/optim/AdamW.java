package io.dltrain.runtime.optim;

import io.dltrain.runtime.tensor.Tensor;

import java.util.Map;

/**
 * AdamW: torch.optim.AdamW (defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01). Weight decay is
 * decoupled: p *= 1 - lr * weight_decay before the Adam update, instead of adding wd * p to the gradient.
 * An L1 penalty, if set, is still added to the gradient. State slots: exp_avg, exp_avg_sq.
 */
public final class AdamW extends Adam {
    public AdamW(Map<String, Tensor> params) { this(params, 1e-3); }

    public AdamW(Map<String, Tensor> params, double lr) {
        super(params, lr);
        setWeightDecay(0.01);
    }

    @Override
    public AdamW betas(double b1, double b2) { super.betas(b1, b2); return this; }

    @Override
    public AdamW eps(double v) { super.eps(v); return this; }

    @Override
    public AdamW weightDecay(double wd) { super.weightDecay(wd); return this; }

    @Override
    public AdamW l1(double v) { super.l1(v); return this; }

    @Override
    protected boolean decoupled() { return true; }
}
