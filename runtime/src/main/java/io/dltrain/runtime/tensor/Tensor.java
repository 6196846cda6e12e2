package io.dltrain.runtime.tensor;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.autograd.Node;
import io.dltrain.runtime.backend.Backend;

/**
 * A dense, row-major tensor: a shape and dtype over a window of a backend's {@link Storage}.
 *
 * <p>Memory is released deterministically: {@link #close()} returns the storage to its backend's pool.
 * Tensors created while a {@link Scope} is open are closed when the scope closes (a training step opens one),
 * unless {@link #keep()} lifts them out. Parameters and optimiser state are made outside any scope and are
 * owned (and closed) by their module or optimiser.
 *
 * <p>A tensor that is a <em>view</em> (see {@link #view}) shares its parent's storage and never releases it; once the
 * tensor that owns the storage is closed, the view counts as closed too (its memory may already hold another tensor).
 *
 * <p>Autograd: a tensor with {@link #requiresGrad()} records, through the op that made it, a {@link Node}
 * ({@link #gradFn()}); {@link #backward()} walks those nodes and leaves gradients in leaf tensors' {@link #grad()}.
 */
public final class Tensor implements AutoCloseable {
    private final Backend backend;
    private Storage storage;
    private final long offset;
    private final Shape shape;
    private final DType dtype;
    /** For a view: the tensor that owns the storage (whose close() releases it); null for an owner. */
    private final Tensor owner;

    private boolean requiresGrad;
    private Tensor grad;
    /** The gradient is zero but not yet filled ({@link #zeroGrad()}). */
    private boolean gradZeroPending;
    private Node gradFn;
    private String name;
    /** Said by the error of a use after {@link #close(String)}; null after a plain close(). */
    private String closedBecause;
    Scope scope; // the scope that will close this tensor, or null

    /** Used by backends to wrap storage they allocated. The new tensor owns the storage. */
    public Tensor(Backend backend, Storage storage, Shape shape) {
        this(backend, storage, 0, shape, null);
    }

    private Tensor(Backend backend, Storage storage, long offset, Shape shape, Tensor owner) {
        if (offset + shape.numel() > storage.elements()) {
            throw new IllegalArgumentException("view " + shape + " at offset " + offset + " exceeds storage of "
                    + storage.elements() + " elements");
        }
        this.backend = backend;
        this.storage = storage;
        this.offset = offset;
        this.shape = shape;
        this.dtype = storage.dtype();
        this.owner = owner;
        Scope.track(this);
    }

    public Backend backend() { return backend; }
    public Device device() { return backend.device(); }
    public Shape shape() { return shape; }
    public DType dtype() { return dtype; }
    public long numel() { return shape.numel(); }
    public int dim(int i) { return shape.dim(i); }
    public int rank() { return shape.rank(); }

    /** Offset of this tensor's first element inside its storage, in elements. */
    public long offset() { return offset; }

    /** The storage, for backends. Throws if the tensor, or for a view the tensor owning its storage, was closed. */
    public Storage storage() {
        if (storage == null) throw new IllegalStateException("tensor " + describe() + " was used after close()" + why(this));
        if (owner != null && owner.storage == null)
            throw new IllegalStateException("tensor " + describe() + " is a view of " + owner.describe() + ", which was closed"
                    + " (its memory may already hold another tensor); keep the tensor it views open while the view is used" + why(owner));
        return storage;
    }

    /**
     * A tensor sharing this one's storage: {@code shape.numel()} elements starting {@code elementOffset} elements
     * into this tensor. Used for reshapes and for per-parameter windows into flat buffers. No autograd link.
     */
    public Tensor view(long elementOffset, Shape shape) {
        if (elementOffset < 0 || elementOffset + shape.numel() > numel())
            throw new IllegalArgumentException("view " + shape + " at offset " + elementOffset + " is outside the " + numel()
                    + " elements of the tensor " + describe() + " it views");
        return new Tensor(backend, storage(), offset + elementOffset, shape, owner != null ? owner : this);
    }

    /** A reshaped view of the whole tensor (same number of elements). */
    public Tensor view(Shape newShape) {
        if (newShape.numel() != numel()) {
            throw new IllegalArgumentException("cannot view " + shape + " (" + numel() + " elements) as " + newShape);
        }
        return view(0, newShape);
    }

    public boolean requiresGrad() { return requiresGrad; }

    public Tensor requiresGrad(boolean value) {
        if (value && dtype != DType.FP32) throw new IllegalArgumentException("only FP32 tensors can require grad, not " + dtype);
        this.requiresGrad = value;
        return this;
    }

    /**
     * Accumulated gradient of a leaf tensor after backward(), or null. Owned by this tensor. A gradient set to zero by
     * {@link #zeroGrad()} and not written since is filled with zeros here, on first read.
     */
    public Tensor grad() {
        if (gradZeroPending) {
            gradZeroPending = false;
            grad.backend().fill(grad, 0f);
        }
        return grad;
    }

    public void setGrad(Tensor g) {
        this.grad = g;
        gradZeroPending = false;
    }

    /**
     * Sets the gradient (if any) to zero, lazily: the fill happens when the gradient is next read, or not at all when
     * backward's first contribution overwrites it ({@link #accumulateGrad}), which saves a pass over every gradient
     * and a kernel launch per parameter each step. Readers see zeros either way.
     */
    public void zeroGrad() {
        if (grad != null) gradZeroPending = true;
    }

    /** Closes the gradient (if any) and sets it to null (PyTorch's zero_grad(set_to_none=True)). */
    public void clearGrad() {
        if (grad != null) { grad.close(); grad = null; }
        gradZeroPending = false;
    }

    /**
     * Autograd's accumulation into a leaf's gradient: the first contribution becomes the gradient (a copy of g, in
     * a new tensor or over one zeroed by {@link #zeroGrad()}); later ones are added to it.
     */
    public void accumulateGrad(Tensor g) {
        Backend be = backend();
        if (grad == null) {
            Tensor acc = be.empty(shape).keep();
            be.copy(g, acc);
            grad = acc;
        } else if (gradZeroPending) {
            be.copy(g, grad);
            gradZeroPending = false;
        } else {
            be.add(grad, g, grad);
        }
    }

    public Node gradFn() { return gradFn; }

    /** Set by ops when they record this tensor's producer. */
    public void setGradFn(Node node) {
        this.gradFn = node;
        this.requiresGrad = node != null || requiresGrad;
    }

    public String name() { return name; }
    public Tensor name(String n) { this.name = n; return this; }

    /**
     * Backpropagates from this scalar tensor (d this / d this = 1). Gradients add onto the leaves' {@link #grad()}, so
     * calling it twice on one graph doubles them (PyTorch refuses a second backward unless asked to retain the graph);
     * zero them between steps ({@code Optimizer.zeroGrad()}).
     */
    public void backward() { Autograd.backward(this); }

    /** Copies the contents to a new host array (FP32 tensors). */
    public float[] toFloatArray() {
        float[] out = new float[shape.size()];
        backend.toHost(this, out);
        return out;
    }

    /** Copies the contents to a new host array (INT32 tensors). */
    public int[] toIntArray() {
        int[] out = new int[shape.size()];
        backend.toHost(this, out);
        return out;
    }

    /** The value of a one-element tensor. Synchronises with the device. */
    public float item() {
        if (numel() != 1) throw new IllegalStateException("item() needs a one-element tensor, got shape " + shape);
        return backend.item(this);
    }

    /** Removes this tensor from the scope that would close it; the caller now owns it. Returns this. */
    public Tensor keep() {
        if (scope != null) { scope.forget(this); scope = null; }
        return this;
    }

    /** True once closed, or for a view once the tensor owning its storage is closed. */
    public boolean isClosed() { return storage == null || (owner != null && owner.storage == null); }

    /**
     * {@link #close()}, keeping {@code why} (what the tensor was, what closed it, what to do) for the error of a later use:
     * {@code Module.close()} gives each parameter and buffer its state_dict name and the model. No-op when closed already.
     */
    public void close(String why) {
        if (storage == null) return;
        closedBecause = why;
        close();
    }

    private static String why(Tensor closed) { return closed.closedBecause == null ? "" : ": " + closed.closedBecause; }

    /** Releases the storage (if owned) and the gradient. Idempotent. */
    @Override
    public void close() {
        if (storage == null) return;
        if (owner == null) storage.release();   // a view never releases its owner's storage
        storage = null;
        gradFn = null;
        clearGrad();
    }

    private String describe() { return (name != null ? name + " " : "") + shape + " " + dtype; }

    @Override
    public String toString() { return "Tensor" + (name != null ? " " : "") + describe() + " on " + device() + (isClosed() ? " (closed)" : ""); }
}
