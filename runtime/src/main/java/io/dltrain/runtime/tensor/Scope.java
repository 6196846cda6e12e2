package io.dltrain.runtime.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;

/**
 * A region whose tensors are closed together: {@code try (Scope s = Scope.open()) { ... }}.
 * Every tensor created on this thread while the scope is the innermost one is closed, newest first, when
 * it closes; {@link Tensor#keep()} takes a tensor out. Scopes nest. The trainer opens one per step, so a
 * step's activations, saved tensors and temporary gradients go back to the allocator when the step ends.
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final ArrayList<Tensor> tensors = new ArrayList<>();
    private boolean closed;

    private Scope() {}

    /**
     * Opens a scope on this thread, innermost until it is closed: every tensor made on this thread until then is closed
     * with it (unless kept). Close it on the same thread, with try-with-resources.
     */
    public static Scope open() {
        Scope s = new Scope();
        STACK.get().push(s);
        return s;
    }

    /** Runs {@code body} with no scope active, so the tensors it makes live until closed by hand. */
    public static <T> T outside(java.util.function.Supplier<T> body) {
        ArrayDeque<Scope> saved = STACK.get();
        STACK.set(new ArrayDeque<>());
        try { return body.get(); } finally { STACK.set(saved); }
    }

    static void track(Tensor t) {
        Scope s = STACK.get().peek();
        if (s != null) { s.tensors.add(t); t.scope = s; }
    }

    void forget(Tensor t) { /* closing skips tensors whose scope is no longer this one */ }

    /** Whether this scope, still open, will close t: t was made while it was the innermost one, and not kept since. */
    public boolean owns(Tensor t) { return !closed && t.scope == this; }

    /** Number of tensors this scope will close (for tests and leak checks). */
    public int tracked() {
        int n = 0;
        for (Tensor t : tensors) if (t.scope == this && !t.isClosed()) n++;
        return n;
    }

    /**
     * Closes this scope's tensors, newest first. Scopes opened inside this one and still open (a {@code Scope.open()}
     * never closed) are closed first, with their tensors, and then an IllegalStateException says so; left open, they
     * would take every tensor this thread makes afterwards. A scope must be closed on the thread that opened it.
     */
    @Override
    public void close() {
        if (closed) return;
        ArrayDeque<Scope> stack = STACK.get();
        if (!stack.contains(this))
            throw new IllegalStateException("a Scope must be closed on the thread that opened it (and not inside Scope.outside"
                    + " when opened outside it)");
        closed = true;
        int leftOpen = 0;
        while (stack.peek() != this) { stack.peek().close(); leftOpen++; }
        stack.pop();
        for (int i = tensors.size() - 1; i >= 0; i--) {
            Tensor t = tensors.get(i);
            if (t.scope == this) { t.scope = null; t.close(); }
        }
        tensors.clear();
        if (leftOpen > 0)
            throw new IllegalStateException(leftOpen + (leftOpen == 1 ? " Scope opened inside this one was still open: it is closed now,"
                    + " with its tensors" : " Scopes opened inside this one were still open: they are closed now, with their tensors")
                    + "; close every Scope you open (try-with-resources), innermost first");
    }
}
