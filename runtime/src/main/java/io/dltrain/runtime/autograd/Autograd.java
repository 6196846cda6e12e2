package io.dltrain.runtime.autograd;

import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Storage;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reverse-mode differentiation over the define-by-run graph. {@link #backward} orders the graph's tensors
 * topologically (every consumer before its producers), then walks them once, summing the gradient contributions
 * of tensors used more than once (residual connections) before passing them on. Leaf tensors that require grad
 * (parameters) receive their gradient in {@link Tensor#grad()}, accumulated across calls until zeroed.
 */
public final class Autograd {
    private Autograd() {}

    /**
     * Records {@code out} as produced by {@code op} from {@code inputs}, if grad mode is on and any input requires
     * grad. Every differentiable op calls this once after computing its output. Returns out. {@code fn} returns one
     * gradient per input, in order (null for an input that needs none), each of its input's shape.
     */
    public static Tensor record(String op, Tensor out, Tensor[] inputs, Node.BackwardFn fn) {
        if (!GradMode.isEnabled()) return out;
        for (Tensor in : inputs) {
            if (in != null && in.requiresGrad()) { out.setGradFn(new Node(op, inputs, fn)); return out; }
        }
        return out;
    }

    /** Backpropagates d(root)/d(root) = 1 from a one-element tensor. */
    public static void backward(Tensor root) {
        if (root.numel() != 1) throw new IllegalArgumentException("backward() needs a scalar (one-element) tensor, got shape " + root.shape());
        checkOpen(root);
        Tensor seed = root.backend().empty(root.shape());
        root.backend().fill(seed, 1f);
        backward(root, seed);
    }

    /** Backpropagates a given gradient of root. */
    public static void backward(Tensor root, Tensor rootGrad) {
        checkOpen(root);
        if (!root.requiresGrad()) {
            throw new IllegalStateException("backward(): the tensor does not require grad; was it computed under GradMode.noGrad(), or from no parameters?");
        }
        if (root.gradFn() == null) {
            // a leaf (made by no op): d root / d root is the gradient itself, as in PyTorch; the walk below visits producers only
            if (!root.shape().equals(rootGrad.shape()))
                throw new IllegalArgumentException("backward(): a gradient of shape " + rootGrad.shape() + " for a tensor of shape " + root.shape());
            root.accumulateGrad(rootGrad);
            return;
        }
        List<Tensor> order = topologicalOrder(root);
        Map<Tensor, Tensor> grads = new IdentityHashMap<>();
        grads.put(root, rootGrad);
        // The gradients made here live in a scope of their own, which closes them when backward ends, and each one is
        // closed as soon as no gradient still to be passed on shares its memory: once the op it was the output gradient of
        // has run, it was summed into another, or (a parameter's) it was copied or added into the leaf's grad(), which
        // Tensor.accumulateGrad keeps out of this scope. Kept to the step's end, every layer's dx (as large as its input)
        // stayed allocated beside the activations, and every dW beside the parameters' gradients, doubling a step's peak
        // (resnet18, 224x224, batch 16: 1,214 MiB of tensors). rootGrad, made outside, is not closed.
        try (GradMode.Guard g = GradMode.noGrad(); Scope made = Scope.open()) {
            List<Tensor> spent = new ArrayList<>();
            // Spent gradients left open because a pending one shared their memory (add's dy, the gradient a reshape's view
            // views), by storage: closed once a gradient of that storage is passed on and none is pending any more. Closing
            // the view itself frees nothing: without this, the gradient it views stayed allocated to backward's end, one
            // activation's worth per reshape. (Looked up by storage: rescanning them at every op took an LSTM of 5,000 steps,
            // whose gates' gradients all wait for the input projections at the end of the order, minutes.)
            Map<Storage, List<Tensor>> held = new IdentityHashMap<>();
            for (Tensor t : order) {
                Tensor gOut = grads.remove(t);
                Node node = t.gradFn();
                if (gOut == null || node == null) continue;
                spent.clear();
                spent.add(gOut);
                Tensor[] inputs = node.inputs();
                boolean[] needs = new boolean[inputs.length];
                for (int i = 0; i < inputs.length; i++) needs[i] = inputs[i] != null && inputs[i].requiresGrad();
                Tensor[] gIn = node.fn().apply(gOut, needs);
                checkCount(node, gIn);
                for (int i = 0; i < inputs.length; i++) {
                    if (!needs[i] || gIn[i] == null) continue;
                    Tensor in = inputs[i];
                    // a closed input has lost its graph: it would pass for a leaf, and what produced it get no gradient
                    if (in.isClosed())
                        throw new IllegalStateException("autograd: input " + i + " of op '" + node.op() + "' (" + in.shape() + ") was closed"
                                + " before backward() reached it; keep the tensors a loss is computed from open until backward()");
                    checkShape(node, i, in.shape(), gIn[i].shape());
                    if (in.gradFn() == null) {
                        in.accumulateGrad(gIn[i]);
                        spent.add(gIn[i]);
                    } else {
                        Tensor prev = grads.get(in);
                        if (prev == null) grads.put(in, gIn[i]);
                        else {
                            // A fresh sum: prev or gIn[i] may be shared with another input's gradient (add() hands the same tensor to both).
                            Tensor sum = in.backend().empty(in.shape());
                            in.backend().add(prev, gIn[i], sum);
                            grads.put(in, sum);
                            spent.add(prev);
                            spent.add(gIn[i]);
                        }
                    }
                }
                for (Tensor s : spent) {
                    if (s.isClosed()) continue;
                    if (pending(s, grads)) {
                        List<Tensor> waiting = held.computeIfAbsent(s.storage(), k -> new ArrayList<>());
                        if (made.owns(s) && !waiting.contains(s)) waiting.add(s);
                        continue;
                    }
                    List<Tensor> waiting = held.remove(s.storage());
                    if (made.owns(s)) s.close();
                    if (waiting != null) for (Tensor w : waiting) w.close();
                }
            }
        }
    }

    /**
     * Whether g's memory is still to be read: g, or a view of it, or the tensor it views, is a gradient not yet passed on
     * (add's backward hands one tensor to both inputs, reshape's a view of it). A view shares its owner's Storage object.
     */
    private static boolean pending(Tensor g, Map<Tensor, Tensor> grads) {
        for (Tensor p : grads.values()) if (p.storage() == g.storage()) return true;
        return false;
    }

    /** Closing a tensor drops its graph (gradFn): backward from a closed one would find nothing to do and return. */
    private static void checkOpen(Tensor root) {
        if (root.isClosed())
            throw new IllegalStateException("backward(): this " + root.shape() + " tensor was closed (closing it, or the Scope it was made in,"
                    + " frees its graph); call backward() inside the Scope that computed it");
    }

    /**
     * One gradient per input, as record's javadoc asks: a backward function of a user's own op that returned fewer failed
     * with a bare ArrayIndexOutOfBoundsException, and one that returned null with a NullPointerException.
     */
    private static void checkCount(Node node, Tensor[] gIn) {
        int n = node.inputs().length;
        if (gIn == null || gIn.length != n)
            throw new IllegalStateException("autograd: the backward function of op '" + node.op() + "' returned "
                    + (gIn == null ? "null" : gIn.length + " gradient" + (gIn.length == 1 ? "" : "s")) + " for its " + n + " input"
                    + (n == 1 ? "" : "s") + "; return an array of " + n + ", in the order of the inputs given to Autograd.record,"
                    + " with null where needsGrad[i] is false");
    }

    private static void checkShape(Node node, int i, Shape expected, Shape got) {
        if (!expected.equals(got)) {
            throw new IllegalStateException("autograd: op '" + node.op() + "' returned a gradient of shape " + got
                    + " for input " + i + " of shape " + expected);
        }
    }

    /** Tensors reachable from root through gradFn, each after all tensors that consume it. Iterative: deep nets don't overflow the stack. */
    static List<Tensor> topologicalOrder(Tensor root) {
        Map<Tensor, Boolean> visited = new IdentityHashMap<>();
        ArrayList<Tensor> postOrder = new ArrayList<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>(); // {tensor, next input index}
        stack.push(new Object[] {root, 0});
        visited.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Tensor t = (Tensor) top[0];
            int next = (Integer) top[1];
            Node n = t.gradFn();
            Tensor[] ins = n == null ? new Tensor[0] : n.inputs();
            if (next < ins.length) {
                top[1] = next + 1;
                Tensor in = ins[next];
                if (in != null && in.requiresGrad() && in.gradFn() != null && visited.put(in, Boolean.TRUE) == null) {
                    stack.push(new Object[] {in, 0});
                }
            } else {
                stack.pop();
                postOrder.add(t);
            }
        }
        ArrayList<Tensor> order = new ArrayList<>(postOrder.size());
        for (int i = postOrder.size() - 1; i >= 0; i--) order.add(postOrder.get(i));
        return order;
    }
}
