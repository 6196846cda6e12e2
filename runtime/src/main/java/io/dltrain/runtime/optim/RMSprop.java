package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.tensor.Tensor;

import java.util.Map;

/**
 * RMSprop: torch.optim.RMSprop (defaults lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0,
 * centered false). Note PyTorch adds eps outside the square root. State slots: square_avg, momentum_buffer
 * (when momentum > 0), grad_avg (when centered).
 */
public final class RMSprop extends Optimizer {
    private double alpha = 0.99, eps = 1e-8, momentum;
    private boolean centered;

    public RMSprop(Map<String, Tensor> params) { this(params, 1e-2); }

    public RMSprop(Map<String, Tensor> params, double lr) { super(params, lr); }

    public RMSprop alpha(double v) { checkConfigurable("alpha"); alpha = require("alpha", v, 0, 1); return this; }

    public RMSprop eps(double v) { checkConfigurable("eps"); eps = require("eps", v, 0, Double.MAX_VALUE); return this; }

    public RMSprop momentum(double v) { checkConfigurable("momentum"); momentum = require("momentum", v, 0, Double.MAX_VALUE); return this; }

    public RMSprop centered(boolean on) { checkConfigurable("centered"); centered = on; return this; }

    public RMSprop weightDecay(double wd) { setWeightDecay(wd); return this; }

    public RMSprop l1(double v) { setL1(v); return this; }

    @Override
    protected void addSettings(Map<String, Object> out) {
        out.put("alpha", alpha);
        out.put("eps", eps);
        out.put("momentum", momentum);
        out.put("centered", centered);
    }

    @Override
    protected OptimizerHyper hyper() {
        return new OptimizerHyper.RmsProp((float) alpha, (float) eps, (float) momentum, centered, (float) weightDecay, (float) l1);
    }

    @Override
    protected String[] slots() {
        return new String[] {"square_avg", momentum > 0 ? "momentum_buffer" : null, centered ? "grad_avg" : null};
    }
}
