package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A gradient-descent optimiser over named parameters, as torch.optim.Optimizer with one parameter group.
 * Subclasses ({@link SGD}, {@link Adagrad}, {@link Adadelta}, {@link RMSprop}, {@link Adam}, {@link AdamW}) supply
 * their hyper-parameters as an {@link OptimizerHyper} and the names of their state buffers; each {@link #step()}
 * hands every parameter that has a gradient to the backend's fused update, all of them in one
 * {@link Backend#optimizerStepAll} call (one per distinct step count, where some parameters were skipped).
 *
 * <p>State: per parameter, one tensor per slot (PyTorch's names: momentum_buffer, sum, square_avg, acc_delta,
 * grad_avg, exp_avg, exp_avg_sq) and a step counter. Like PyTorch, state is created lazily, the first time a
 * parameter is stepped (or when {@link #state()} is asked for, so a checkpoint can be loaded into it); buffers are
 * zero-filled, allocated outside any {@link Scope} and freed by {@link #close()}. Hyper-parameters other than the
 * learning rate are fixed once state exists, because they decide which buffers exist.
 */
public abstract class Optimizer implements AutoCloseable {
    private final List<String> names;
    private final List<Tensor> params;
    private final Backend backend;
    private final Tensor[][] state;
    private final long[] paramSteps;
    private long steps;
    private double lr;
    private boolean closed;

    /** Regularisation common to every optimiser: L2 weight decay and L1 (both added to the gradient, AdamW aside). */
    protected double weightDecay, l1;

    protected Optimizer(Map<String, Tensor> namedParameters, double lr) {
        if (namedParameters == null || namedParameters.isEmpty())
            throw new IllegalArgumentException(getClass().getSimpleName() + ": got an empty parameter list (pass model.namedParameters())");
        this.names = List.copyOf(namedParameters.keySet());
        this.params = List.copyOf(namedParameters.values());
        this.backend = params.getFirst().backend();
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.isClosed()) // else the first step failed, 'tensor weight ... was used after close()', naming no model
                throw new IllegalArgumentException(getClass().getSimpleName() + ": parameter '" + names.get(i) + "' was closed"
                        + " (its model's Module.close() freed its weights); build the optimiser from an open model, and close the model"
                        + " after the optimiser's last step");
            if (p.backend() != backend)
                throw new IllegalArgumentException("parameter '" + names.get(i) + "' lives on "
                        + (p.backend().name().equals(backend.name())
                           ? "another " + backend.name() + " backend object than '" + names.getFirst() + "' (" + backend.name() + ")"
                           : p.backend().name() + ", '" + names.getFirst() + "' on " + backend.name())
                        + "; build every layer with one backend (one Context)");
            for (int j = 0; j < i; j++)
                if (params.get(j) == p) // else refused only at the first step, by the backend's check of shared memory
                    throw new IllegalArgumentException("parameters '" + names.get(j) + "' and '" + names.get(i) + "' are the same tensor,"
                            + " which would be updated twice a step; list each parameter once (as Module.namedParameters() does)");
        }
        this.state = new Tensor[params.size()][];
        this.paramSteps = new long[params.size()];
        setLr(lr);
    }

    /** The hyper-parameters passed to the backend on each step. */
    protected abstract OptimizerHyper hyper();

    /**
     * State slot names in the backend's buffer order ({@link Backend#optimizerStep}); null for a buffer that the
     * current settings do not use (e.g. SGD without momentum).
     */
    protected abstract String[] slots();

    /**
     * Puts this optimiser's own hyper-parameters into {@code out} under torch.optim's param_groups keys (a Double, a
     * Boolean, or for betas a List of two Doubles); {@link #settings()} adds weight_decay and l1. None by default (a
     * subclass that does not override it records, and has checked on load, only those two).
     */
    protected void addSettings(Map<String, Object> out) {}

    /**
     * The hyper-parameters other than the learning rate, under torch.optim's param_groups keys (betas, eps,
     * weight_decay, momentum, dampening, nesterov, alpha, centered, rho, lr_decay, initial_accumulator_value; l1 is
     * dl-train's own), each written as text that reads back exactly: numbers by {@link Double#toString}, booleans as
     * true / false, betas as "[0.9, 0.999]" (so each value is also JSON). A checkpoint records them, and a resume into
     * an optimiser built with other settings is refused, as they cannot change once the optimiser has state.
     */
    public final Map<String, String> settings() {
        Map<String, Object> s = new LinkedHashMap<>();
        addSettings(s);
        s.put("weight_decay", weightDecay);
        s.put("l1", l1);
        Map<String, String> out = new LinkedHashMap<>();
        s.forEach((k, v) -> out.put(k, String.valueOf(v)));   // Double.toString, also inside List<Double>'s "[a, b]"
        return Collections.unmodifiableMap(out);
    }

    /** The learning rate the next step uses. */
    public double lr() { return lr; }

    /** Sets the learning rate for the following steps (schedules call this before each step). */
    public void setLr(double lr) {
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("invalid learning rate " + lr + " (must be finite and >= 0)");
        this.lr = lr;
    }

    /**
     * Updates every parameter whose grad is not null (others are skipped and their step counters do not advance,
     * as in PyTorch), except a frozen one ({@code requiresGrad(false)}), whatever its grad holds (PyTorch steps a
     * frozen parameter that still has a gradient): stepping it would move it by its momentum, Adam moments or weight
     * decay. {@link #zeroGrad()} drops a frozen parameter's gradient.
     */
    public void step() {
        checkOpen();
        OptimizerHyper h = hyper();
        float lrF = (float) lr;
        // One fused backend call per step count: normally one call for all, as every parameter is stepped every time.
        Map<Long, List<Integer>> byStep = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            if (!params.get(i).requiresGrad() || params.get(i).grad() == null) continue;
            ensureState(i);
            byStep.computeIfAbsent(paramSteps[i] + 1, k -> new ArrayList<>()).add(i);
        }
        for (Map.Entry<Long, List<Integer>> group : byStep.entrySet()) {
            List<Integer> idx = group.getValue();
            List<Tensor> ps = new ArrayList<>(idx.size()), gs = new ArrayList<>(idx.size());
            List<Tensor[]> ss = new ArrayList<>(idx.size());
            for (int i : idx) {
                ps.add(params.get(i));
                gs.add(params.get(i).grad());
                ss.add(state[i]);
            }
            backend.optimizerStepAll(h, ps, gs, ss, lrF, group.getKey());
            for (int i : idx) paramSteps[i]++;
        }
        steps++;
    }

    /**
     * Sets every gradient to zero, as {@link io.dltrain.runtime.nn.Module#zeroGrad()} does (the tensors are reused), but
     * that of a frozen parameter ({@code requiresGrad(false)}), which is closed and set to null.
     */
    public void zeroGrad() { zeroGrad(false); }

    /**
     * Zeroes the gradients, or with {@code setToNone} closes them and sets them to null (PyTorch's
     * zero_grad(set_to_none=True) default: a parameter that then gets no gradient is skipped by step()). A frozen
     * parameter's gradient is set to null either way: kept, zeroed, it held a gradient's memory that nothing will fill,
     * and gradient clipping over {@code model.parameters()} filled, summed and scaled it every step.
     */
    public void zeroGrad(boolean setToNone) {
        for (Tensor p : params) {
            if (setToNone || !p.requiresGrad()) p.clearGrad();
            else p.zeroGrad();   // lazily: backward's first contribution overwrites it (Tensor.zeroGrad)
        }
    }

    /** Number of step() calls so far. */
    public long stepCount() { return steps; }

    /** Number of updates applied to one parameter (PyTorch's state[p]["step"]). */
    public long stepCount(String paramName) { return paramSteps[indexOf(paramName)]; }

    /**
     * Restores the step counters after loading a checkpoint: the optimiser's and every parameter's counter.
     * Bias corrections (Adam), Adagrad's lr decay and SGD's first-step buffer depend on them.
     */
    public void setStepCount(long steps) {
        if (steps < 0) throw new IllegalArgumentException("step count must be >= 0, got " + steps);
        this.steps = steps;
        java.util.Arrays.fill(paramSteps, steps);
    }

    /** Restores one parameter's counter (for checkpoints where some parameters were stepped less often). */
    public void setStepCount(String paramName, long steps) {
        if (steps < 0) throw new IllegalArgumentException("step count must be >= 0, got " + steps);
        paramSteps[indexOf(paramName)] = steps;
    }

    /**
     * Every state tensor, named {@code <param name>.<slot>} (e.g. "fc.weight.exp_avg"), in parameter order.
     * Creates (zero-filled) state for parameters not stepped yet, so a checkpoint can be copied into it.
     * The tensors are the live buffers: writing them changes the optimiser.
     */
    public Map<String, Tensor> state() {
        checkOpen();
        String[] slots = slots();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            Tensor[] s = ensureState(i);
            for (int k = 0; k < s.length; k++) if (s[k] != null) out.put(names.get(i) + "." + slots[k], s[k]);
        }
        return Collections.unmodifiableMap(out);
    }

    /** The parameters, by name, in the order given. */
    public Map<String, Tensor> parameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) out.put(names.get(i), params.get(i));
        return Collections.unmodifiableMap(out);
    }

    /** Frees the state buffers (the parameters belong to their module). Idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor[] s : state) if (s != null) for (Tensor t : s) if (t != null) t.close();
    }

    /** Guards a hyper-parameter setter: settings decide which buffers exist, so they are fixed once state exists. */
    protected void checkConfigurable(String what) {
        for (Tensor[] s : state) {
            if (s != null) throw new IllegalStateException(getClass().getSimpleName() + ": cannot change " + what
                    + " after the optimiser has state (set it before the first step; only the learning rate can change later)");
        }
    }

    /** Sets the L2 weight decay (coupled: added to the gradient; AdamW overrides the meaning). */
    protected void setWeightDecay(double wd) {
        checkConfigurable("weight_decay");
        if (!(wd >= 0)) throw new IllegalArgumentException("invalid weight_decay " + wd + " (must be >= 0)");
        this.weightDecay = wd;
    }

    /** Sets the L1 penalty: l1 * sign(p) is added to the gradient. */
    protected void setL1(double l1) {
        checkConfigurable("l1");
        if (!(l1 >= 0)) throw new IllegalArgumentException("invalid l1 " + l1 + " (must be >= 0)");
        this.l1 = l1;
    }

    /** Checks a hyper-parameter against [lo, hi] (NaN fails), naming it and the range in the error. */
    protected static double require(String name, double value, double lo, double hi) {
        if (!(value >= lo && value <= hi))
            throw new IllegalArgumentException("invalid " + name + " " + value + " (must be in [" + lo + ", " + hi + "])");
        return value;
    }

    private Tensor[] ensureState(int i) {
        if (state[i] != null) return state[i];
        String[] slots = slots();
        Tensor p = params.get(i);
        Tensor[] s = new Tensor[slots.length];
        Scope.outside(() -> {
            for (int k = 0; k < slots.length; k++) {
                if (slots[k] != null) s[k] = backend.zeros(p.shape()).name(names.get(i) + "." + slots[k]);
            }
            return null;
        });
        state[i] = s;
        return s;
    }

    private int indexOf(String paramName) {
        int i = names.indexOf(paramName);
        if (i < 0) throw new IllegalArgumentException("no parameter named '" + paramName + "' (have " + names + ")");
        return i;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException(getClass().getSimpleName() + " was closed");
    }
}
