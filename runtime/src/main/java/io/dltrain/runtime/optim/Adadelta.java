package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.tensor.Tensor;

import java.util.Map;

/**
 * Adadelta: torch.optim.Adadelta (defaults lr 1.0, rho 0.9, eps 1e-6, weight_decay 0); PyTorch's lr multiplies the
 * computed delta. State slots: square_avg, acc_delta.
 */
public final class Adadelta extends Optimizer {
    private double rho = 0.9, eps = 1e-6;

    public Adadelta(Map<String, Tensor> params) { this(params, 1.0); }

    public Adadelta(Map<String, Tensor> params, double lr) { super(params, lr); }

    public Adadelta rho(double v) { checkConfigurable("rho"); rho = require("rho", v, 0, 1); return this; }

    public Adadelta eps(double v) { checkConfigurable("eps"); eps = require("eps", v, 0, Double.MAX_VALUE); return this; }

    public Adadelta weightDecay(double wd) { setWeightDecay(wd); return this; }

    public Adadelta l1(double v) { setL1(v); return this; }

    @Override
    protected void addSettings(Map<String, Object> out) {
        out.put("rho", rho);
        out.put("eps", eps);
    }

    @Override
    protected OptimizerHyper hyper() {
        return new OptimizerHyper.Adadelta((float) rho, (float) eps, (float) weightDecay, (float) l1);
    }

    @Override
    protected String[] slots() { return new String[] {"square_avg", "acc_delta"}; }
}
