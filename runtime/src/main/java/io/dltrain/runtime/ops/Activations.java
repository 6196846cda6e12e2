package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Differentiable point-wise activations (torch.relu, F.leaky_relu, F.elu, torch.sigmoid, torch.tanh, F.softplus,
 * F.gelu) and softmax / log-softmax over the last dimension (F.softmax(x, -1), F.log_softmax(x, -1)).
 * The forward input and output are kept for backward; each kind's backward uses whichever it needs.
 */
public final class Activations {
    private Activations() {}

    /** y = act(x), element by element, any shape. */
    public static Tensor apply(Tensor x, Activation act) {
        Backend be = x.backend();
        Tensor y = be.empty(x.shape());
        be.activationForward(act, x, y);
        return Autograd.record(act.kind().name().toLowerCase(java.util.Locale.ROOT), y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.activationBackward(act, x, y, dy, dx);
            return new Tensor[] {dx};
        });
    }

    public static Tensor relu(Tensor x) { return apply(x, Activation.RELU); }

    public static Tensor sigmoid(Tensor x) { return apply(x, Activation.SIGMOID); }

    public static Tensor tanh(Tensor x) { return apply(x, Activation.TANH); }

    /** Softmax over the last dimension. */
    public static Tensor softmax(Tensor x) { return softmax(x, false); }

    /** Log-softmax over the last dimension (stable: never exponentiates a positive number). */
    public static Tensor logSoftmax(Tensor x) { return softmax(x, true); }

    private static Tensor softmax(Tensor x, boolean log) {
        if (x.rank() < 1) throw new IllegalArgumentException((log ? "logSoftmax" : "softmax") + ": needs a tensor of rank >= 1, got a scalar");
        Backend be = x.backend();
        Tensor y = be.empty(x.shape());
        be.softmaxForward(x, y, log);
        return Autograd.record(log ? "log_softmax" : "softmax", y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.empty(x.shape());
            be.softmaxBackward(y, dy, dx, log);
            return new Tensor[] {dx};
        });
    }
}
