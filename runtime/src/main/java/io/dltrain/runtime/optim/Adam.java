package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * Adam: torch.optim.Adam (defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 as coupled L2, amsgrad
 * not supported). Bias corrections use each parameter's step count. State slots: exp_avg, exp_avg_sq.
 * {@link AdamW} is the decoupled-weight-decay variant.
 */
public class Adam extends Optimizer {
    private double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;

    public Adam(Map<String, Tensor> params) { this(params, 1e-3); }

    public Adam(Map<String, Tensor> params, double lr) { super(params, lr); }

    public Adam betas(double b1, double b2) {
        checkConfigurable("betas");
        beta1 = require("beta1", b1, 0, Math.nextDown(1.0));
        beta2 = require("beta2", b2, 0, Math.nextDown(1.0));
        return this;
    }

    public Adam eps(double v) { checkConfigurable("eps"); eps = require("eps", v, 0, Double.MAX_VALUE); return this; }

    public Adam weightDecay(double wd) { setWeightDecay(wd); return this; }

    public Adam l1(double v) { setL1(v); return this; }

    /** True for AdamW: weight decay is applied to the parameter (p *= 1 - lr * wd), not added to the gradient. */
    protected boolean decoupled() { return false; }

    @Override
    protected void addSettings(Map<String, Object> out) {
        out.put("betas", List.of(beta1, beta2));
        out.put("eps", eps);
    }

    @Override
    protected OptimizerHyper hyper() {
        return new OptimizerHyper.Adam((float) beta1, (float) beta2, (float) eps, decoupled(), (float) weightDecay, (float) l1);
    }

    @Override
    protected String[] slots() { return new String[] {"exp_avg", "exp_avg_sq"}; }
}
