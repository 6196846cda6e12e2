package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.tensor.Tensor;

import java.util.Map;

/**
 * Stochastic gradient descent with optional momentum, dampening and Nesterov momentum: torch.optim.SGD
 * (defaults lr 1e-3, momentum 0, dampening 0, weight_decay 0, nesterov false). The momentum buffer starts as the
 * first gradient, as in PyTorch. State slot: momentum_buffer (only when momentum != 0).
 *
 * <pre>{@code new SGD(model.namedParameters(), 0.1).momentum(0.9).nesterov(true).weightDecay(5e-4)}</pre>
 */
public final class SGD extends Optimizer {
    private double momentum, dampening;
    private boolean nesterov;

    public SGD(Map<String, Tensor> params) { this(params, 1e-3); }

    public SGD(Map<String, Tensor> params, double lr) { super(params, lr); }

    public SGD momentum(double m) { checkConfigurable("momentum"); momentum = require("momentum", m, 0, Double.MAX_VALUE); return this; }

    public SGD dampening(double d) { checkConfigurable("dampening"); dampening = require("dampening", d, -Double.MAX_VALUE, Double.MAX_VALUE); return this; }

    public SGD nesterov(boolean on) { checkConfigurable("nesterov"); nesterov = on; return this; }

    public SGD weightDecay(double wd) { setWeightDecay(wd); return this; }

    public SGD l1(double v) { setL1(v); return this; }

    public double momentum() { return momentum; }
    public double dampening() { return dampening; }
    public boolean nesterov() { return nesterov; }

    @Override
    protected void addSettings(Map<String, Object> out) {
        out.put("momentum", momentum);
        out.put("dampening", dampening);
        out.put("nesterov", nesterov);
    }

    @Override
    protected OptimizerHyper hyper() {
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new IllegalArgumentException("SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum "
                    + momentum + ", dampening " + dampening + ")");
        return new OptimizerHyper.Sgd((float) momentum, (float) dampening, nesterov, (float) weightDecay, (float) l1);
    }

    @Override
    protected String[] slots() { return new String[] {momentum != 0 ? "momentum_buffer" : null}; }
}
