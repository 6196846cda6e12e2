package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.tensor.Tensor;

import java.util.Map;

/**
 * Adagrad: torch.optim.Adagrad (defaults lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value 0,
 * eps 1e-10). The step size is lr / (1 + (step - 1) * lr_decay). State slot: sum. The sum buffer is created
 * zero-filled and the backend adds initial_accumulator_value on the parameter's first step, so before the first
 * step {@link #state()} shows 0 where PyTorch shows the initial value.
 */
public final class Adagrad extends Optimizer {
    private double lrDecay, eps = 1e-10, initialAccumulator;

    public Adagrad(Map<String, Tensor> params) { this(params, 1e-2); }

    public Adagrad(Map<String, Tensor> params, double lr) { super(params, lr); }

    public Adagrad lrDecay(double v) { checkConfigurable("lr_decay"); lrDecay = require("lr_decay", v, 0, Double.MAX_VALUE); return this; }

    public Adagrad eps(double v) { checkConfigurable("eps"); eps = require("eps", v, 0, Double.MAX_VALUE); return this; }

    public Adagrad initialAccumulatorValue(double v) {
        checkConfigurable("initial_accumulator_value");
        initialAccumulator = require("initial_accumulator_value", v, 0, Double.MAX_VALUE);
        return this;
    }

    public Adagrad weightDecay(double wd) { setWeightDecay(wd); return this; }

    public Adagrad l1(double v) { setL1(v); return this; }

    @Override
    protected void addSettings(Map<String, Object> out) {
        out.put("lr_decay", lrDecay);
        out.put("eps", eps);
        out.put("initial_accumulator_value", initialAccumulator);
    }

    @Override
    protected OptimizerHyper hyper() {
        return new OptimizerHyper.Adagrad((float) lrDecay, (float) eps, (float) initialAccumulator, (float) weightDecay, (float) l1);
    }

    @Override
    protected String[] slots() { return new String[] {"sum"}; }
}
