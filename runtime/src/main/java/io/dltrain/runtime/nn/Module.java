package io.dltrain.runtime.nn;

import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Tensor;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A layer or a network of layers, as in PyTorch's nn.Module: it owns named parameters (tensors that require grad),
 * named buffers (state that is saved but not trained, e.g. batch-norm running statistics) and named child modules.
 * Names compose with dots exactly as PyTorch's state_dict keys do ("layer1.0.conv1.weight"), so checkpoints can be
 * exchanged with PyTorch.
 *
 * <p>Parameters and buffers are created outside any {@link Scope} and closed by {@link #close()}.
 */
public abstract class Module implements AutoCloseable {
    private final Map<String, Tensor> params = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;
    /** Whether a {@link #evaluating()} guard is open on this thread. */
    private static final ThreadLocal<boolean[]> EVALUATING = ThreadLocal.withInitial(() -> new boolean[1]);
    /**
     * Registrations of this module ({@link #addModule}) in modules not closed yet: a parent's close closes it only when it
     * releases the last one, so a layer in two models (PyTorch lets a module have two parents) stays usable by the other.
     */
    private int openRegistrations;
    private boolean closed;
    /** The module this one was first registered in ({@link #addModule}) and its name there, or null: see {@link #refused}. */
    private Module parent;
    private String nameInParent;

    /** Computes the output for input x, recording autograd when enabled. */
    public abstract Tensor forward(Tensor x);

    /**
     * Registers {@code t} as a trainable parameter called {@code name} (PyTorch's register_parameter): it requires grad
     * from now on, is listed by {@link #namedParameters()} (so optimisers update it), saved in {@link #stateDict()} and
     * closed by {@link #close()}. A tensor kept in a field without this is none of those. Returns t.
     *
     * @throws IllegalArgumentException for a null tensor, or a name this module has registered already
     */
    protected Tensor addParameter(String name, Tensor t) {
        checkFree(name, "parameter", t);
        t.keep().requiresGrad(true).name(name);
        params.put(name, t);
        return t;
    }

    /**
     * Registers {@code t} as state that is saved and closed but not trained (PyTorch's register_buffer: batch norm's
     * running statistics). Returns t.
     *
     * @throws IllegalArgumentException for a null tensor, or a name this module has registered already
     */
    protected Tensor addBuffer(String name, Tensor t) {
        checkFree(name, "buffer", t);
        t.keep().name(name);
        buffers.put(name, t);
        return t;
    }

    /**
     * Registers {@code m} as a child called {@code name} (PyTorch registers a module assigned to an attribute; Java
     * needs this call): its parameters and buffers become this module's, under "name.", so they are trained, saved,
     * switched by {@link #train}/{@link #eval} and closed with it. A module kept in a field without this is none of
     * those. Returns m, for {@code fc = addModule("fc", new Linear(ctx, 784, 10))}.
     *
     * @throws IllegalArgumentException for a null module, or a name this module has registered already
     */
    protected <M extends Module> M addModule(String name, M m) {
        checkFree(name, "child module", m);
        children.put(name, m);
        Module child = m;
        child.openRegistrations++;
        if (child.parent == null) {
            child.parent = this;
            child.nameInParent = name;
        }
        return m;
    }

    /**
     * e, this module's refusal of its input (an op or check in its forward that threw it: a shape the layer cannot
     * take), as an exception that names the layer by its state_dict place in the model it belongs to and by itself:
     * "layer layer2.0.downsample.0 of the ResNet, Conv2d(64 -> 128, k1, s2, no bias), refused its input: conv2d: ...",
     * where the op's message names only the op. The place is this module's first registration, then its parent's, up to
     * the module registered in none (the model), as its parameters' state_dict names ("layer2.0.downsample.0.weight");
     * e is the cause. Returns e itself for a module registered in no other (it has no place to name) and for an e that
     * names its layer already, so each place is named once, that of the innermost layer, however deeply modules nest.
     *
     * <p>The layers of runtime.nn throw their refusals through this, and {@link Sequential} those of its children, so
     * in every model, whatever its classes' forward methods do, a refusal names its layer. A Module subclass that calls
     * ops itself (not through layers) gets the same with {@code try { ... } catch (IllegalArgumentException e) { throw
     * refused(e); }} in its forward. Nothing of this runs until an exception is thrown.
     */
    protected final IllegalArgumentException refused(IllegalArgumentException e) {
        return parent == null || e instanceof LayerRefused ? e : new LayerRefused(this, e);
    }

    /**
     * {@link #refused(IllegalArgumentException)} of {@code child}, for a container outside this package that calls its
     * children's forward (as {@link Sequential} does with {@code try { h = m.forward(h); } catch (IllegalArgumentException
     * e) { throw refused(m, e); }}): a child whose own check threw (not one of its layers, which name themselves) is
     * named by its place too.
     */
    protected static IllegalArgumentException refused(Module child, IllegalArgumentException e) {
        return child.refused(e);
    }

    /** A layer's refusal of its input, naming its place: see {@link #refused}. */
    static final class LayerRefused extends IllegalArgumentException {
        LayerRefused(Module layer, IllegalArgumentException cause) { super(describe(layer, cause.getMessage()), cause); }

        private static String describe(Module layer, String detail) {
            StringBuilder place = new StringBuilder(layer.nameInParent);
            Module root = layer.parent;
            for (; root.parent != null; root = root.parent) place.insert(0, root.nameInParent + ".");
            return "layer " + place + " of the " + root.getClass().getSimpleName() + ", " + layer + ", refused its input: " + detail;
        }
    }

    /**
     * A second registration under a name would replace the first, which would then be neither trained, saved nor closed;
     * a null would make parameters(), stateDict() and close() throw a NullPointerException later, far from the mistake.
     */
    private void checkFree(String name, String kind, Object value) {
        if (value == null)
            throw new IllegalArgumentException(getClass().getSimpleName() + ": cannot add a " + kind + " named '" + name + "': it is null; give "
                    + (kind.equals("child module") ? "a module" : "a tensor") + " (a Module subclass: register it after creating it)");
        String taken = params.containsKey(name) ? "parameter" : buffers.containsKey(name) ? "buffer" : children.containsKey(name) ? "child module" : null;
        if (taken != null)
            throw new IllegalArgumentException(getClass().getSimpleName() + ": cannot add a " + kind + " named '" + name + "': a " + taken
                    + " has that name already (the first would be dropped: not trained, saved or closed); give each its own name");
    }

    /** This module's direct children, in registration order. */
    public Map<String, Module> children() { return Collections.unmodifiableMap(children); }

    /**
     * All parameters, depth first, named like PyTorch's named_parameters(): a parameter registered more than once (a
     * child module used twice, tied weights) is listed once, under its first name, so that an optimiser updates it once
     * per step and {@link #parameterCount()} counts it once.
     */
    public Map<String, Tensor> namedParameters() { return withoutDuplicates(collectAll(true, false)); }

    /** All buffers, named like PyTorch's named_buffers() (a buffer registered more than once: under its first name). */
    public Map<String, Tensor> namedBuffers() { return withoutDuplicates(collectAll(false, true)); }

    private Map<String, Tensor> collectAll(boolean p, boolean b) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, p, b);
        return out;
    }

    private static Map<String, Tensor> withoutDuplicates(Map<String, Tensor> named) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        named.forEach((k, t) -> { if (seen.add(t)) out.put(k, t); });
        return out;
    }

    /**
     * Parameters and buffers in PyTorch's state_dict order (per module: parameters, buffers, then children); as in
     * PyTorch, a tensor registered more than once appears under each of its names.
     */
    public Map<String, Tensor> stateDict() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, true, true);
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out, boolean p, boolean b) {
        if (p) params.forEach((k, v) -> out.put(prefix + k, v));
        if (b) buffers.forEach((k, v) -> out.put(prefix + k, v));
        children.forEach((k, m) -> m.collect(prefix + k + ".", out, p, b));
    }

    public List<Tensor> parameters() { return new ArrayList<>(namedParameters().values()); }

    /** Number of trainable scalars. */
    public long parameterCount() {
        long n = 0;
        for (Tensor t : namedParameters().values()) n += t.numel();
        return n;
    }

    /** Training mode (batch norm uses batch statistics, dropout drops) or evaluation mode; recursive. */
    public Module train(boolean on) {
        training = on;
        for (Module m : children.values()) m.train(on);
        return this;
    }

    /** Evaluation mode, recursively: {@code train(false)}. */
    public Module eval() { return train(false); }

    /**
     * Whether this module's forward trains (batch statistics, dropout) on this thread: its mode ({@link #train}), unless
     * an {@link #evaluating()} guard is open on this thread.
     */
    public boolean isTraining() { return training && !EVALUATING.get()[0]; }

    /** Whether an {@link #evaluating()} guard is open on this thread (every module's forward here is in evaluation mode). */
    public static boolean isEvaluating() { return EVALUATING.get()[0]; }

    /**
     * Evaluation mode for every module's forward on this thread until the returned guard is closed (restoring the
     * previous state), whatever each module's own mode, which stays as it is. {@code Learner.predict} and
     * {@code Trainer.evaluate} use it rather than {@code eval()} and {@code train(was)} on the model: those set the
     * model's one mode for every thread, so a second prediction or evaluation on another thread could put the model back
     * into training mode in the middle of the first one's pass (dropout on, batch statistics used and the running ones
     * updated). Close the guard on the thread that opened it (try-with-resources).
     */
    public static io.dltrain.runtime.autograd.GradMode.Guard evaluating() {
        boolean[] flag = EVALUATING.get();
        boolean previous = flag[0];
        flag[0] = true;
        return () -> flag[0] = previous;
    }

    /**
     * Zeroes the accumulated gradients of every parameter ({@link Tensor#zeroGrad()}: lazily). Unlike PyTorch 2's
     * {@code zero_grad()}, which sets them to None, {@code grad()} then reads zeros, as after PyTorch's
     * {@code zero_grad(set_to_none=False)}; {@link Tensor#clearGrad()} is the set-to-None form. A frozen parameter's
     * ({@code requiresGrad(false)}) gradient is closed and set to null, as {@code Optimizer.zeroGrad()} does.
     */
    public void zeroGrad() {
        for (Tensor t : namedParameters().values()) {
            if (t.requiresGrad()) t.zeroGrad();
            else t.clearGrad();
        }
    }

    /**
     * Closes every parameter, buffer and child (their storage returns to the backend), except a child that a module not
     * closed yet also holds (a layer shared by two models: it is closed with the last of them; PyTorch, with garbage
     * collection, frees it when neither is left). Each tensor keeps, for the error of a later use (a hand-written loop's
     * forward on a closed model), its state_dict name and the class of the model whose close freed it. A second close of
     * the same module does nothing.
     */
    @Override
    public void close() {
        if (closed) return;
        Set<Tensor> freed = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Module> closing = new ArrayList<>();
        release(freed, closing);
        String model = getClass().getSimpleName();
        collectAll(true, true).forEach((name, t) -> {
            if (freed.contains(t)) t.close("it is " + name + " of a " + model + " that was closed (Module.close(), or the"
                    + " try-with-resources that built it, freed its weights); close a model after its last use, or build it again"
                    + " (Checkpoint.loadInto restores saved weights)");
        });
        for (Module m : closing) {
            for (Tensor t : m.params.values()) t.close();
            for (Tensor t : m.buffers.values()) t.close();
        }
    }

    /** Marks this module closed, gathers its tensors and those of each child that no other open module holds. */
    private void release(Set<Tensor> freed, List<Module> closing) {
        closed = true;
        closing.add(this);
        freed.addAll(params.values());
        freed.addAll(buffers.values());
        for (Module m : children.values())
            if (--m.openRegistrations <= 0 && !m.closed) m.release(freed, closing);
    }

    /**
     * Why model would train only part of itself, or null: a field of one of its modules (a Module subclass's, read by
     * reflection where the field is accessible) holds a module, or a tensor that requires grad, whose trainable
     * parameters model does not list, because it was never registered ({@link #addModule}, {@link #addParameter}).
     * PyTorch registers a module or parameter on assignment; Java does not, and the forgotten layer kept its random
     * weights without a word. Fields holding arrays, collections or maps (their values) are looked into; a module kept
     * out on purpose has requiresGrad off. A Module or Tensor field that cannot be read (its class is in a named module
     * that does not open the package to dl-train) is named too, with the {@code opens} clause that lets it be checked. {@code new Learner(model)} and each {@code Trainer.fit} refuse a model for
     * which this is not null. One pass over the modules: a field's module registered anywhere in model is not looked
     * into again (its own fields are, as one of model's modules).
     */
    public static String unregistered(Module model) {
        Set<Tensor> listed = Collections.newSetFromMap(new IdentityHashMap<>());
        listed.addAll(model.namedParameters().values());
        Set<Module> registered = Collections.newSetFromMap(new IdentityHashMap<>());
        ArrayDeque<Module> todo = new ArrayDeque<>(List.of(model));
        while (!todo.isEmpty()) {
            Module m = todo.pop();
            if (registered.add(m)) todo.addAll(m.children.values());
        }
        for (Module m : registered) {
            for (Class<?> c = m.getClass(); c != null && c != Module.class; c = c.getSuperclass()) {
                for (Field f : c.getDeclaredFields()) {
                    if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()) continue;
                    if (!f.trySetAccessible()) {
                        // a class in a named module whose package is not opened to this one (module-info without opens):
                        // its fields cannot be read, so a layer kept in one could not be checked; said, not passed over
                        Class<?> t = f.getType().isArray() ? f.getType().getComponentType() : f.getType();
                        if (Module.class.isAssignableFrom(t) || Tensor.class.isAssignableFrom(t))
                            return c.getSimpleName() + "." + f.getName() + " (a " + f.getType().getSimpleName() + " field) cannot be"
                                    + " read to check that its layer or weight is registered: package " + c.getPackageName() + " is in"
                                    + " module " + c.getModule().getName() + ", which does not open it to dl-train; add '"
                                    + opens(c.getPackageName()) + "' to that module's module-info.java" + addOpens(c);
                        continue;
                    }
                    Object v;
                    try { v = f.get(m); } catch (IllegalAccessException e) { continue; }
                    Collection<?> held = v instanceof Object[] a ? Arrays.asList(a) : v instanceof Collection<?> col ? new ArrayList<>(col)
                            : v instanceof Map<?, ?> map ? new ArrayList<>(map.values()) : v == null ? List.of() : List.of(v);
                    for (Object o : held) {
                        String what = switch (o) {
                            case Module child when !registered.contains(child)
                                    && child.parameters().stream().anyMatch(p -> p.requiresGrad() && !listed.contains(p)) -> "addModule";
                            case Tensor t when !t.isClosed() && t.requiresGrad() && t.gradFn() == null && !listed.contains(t) -> "addParameter";
                            case null, default -> null;
                        };
                        if (what != null)
                            return c.getSimpleName() + "." + f.getName() + " holds " + o + (o instanceof Module ? ", whose parameters the model"
                                    + " does not list" : ", which the model does not list as a parameter") + ": it was not registered, so it would be neither trained, saved nor closed; register it in the constructor with "
                                    + what + "(\"" + f.getName() + "\", ...) (to keep it out of training on purpose, set its parameters'"
                                    + " requiresGrad(false))";
                    }
                }
            }
        }
        return null;
    }

    /**
     * For a class in a module of the boot layer (an application's module path): java's option that opens its package to this
     * library without changing the module (one the user cannot recompile, e.g. a library's base class); else "".
     */
    private static String addOpens(Class<?> c) {
        java.lang.Module m = Module.class.getModule(), theirs = c.getModule();
        if (theirs.getLayer() != ModuleLayer.boot()) return "";
        return ", or, without changing that module, run java with --add-opens " + theirs.getName() + "/" + c.getPackageName() + "="
                + (m.isNamed() ? m.getName() : "ALL-UNNAMED");
    }

    /** The module-info clause that opens pkg to this library: to its module ("io.dltrain.runtime" on the module path, from its jar's Automatic-Module-Name), or to all. */
    private static String opens(String pkg) {
        java.lang.Module m = Module.class.getModule();
        return "opens " + pkg + (m.isNamed() ? " to " + m.getName() : "") + ";";
    }

    /** A one-line description used in model summaries, e.g. "Linear(784 -> 256)". */
    @Override
    public String toString() { return getClass().getSimpleName(); }
}
