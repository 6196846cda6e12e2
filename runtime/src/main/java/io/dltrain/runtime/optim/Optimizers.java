package io.dltrain.runtime.optim;

import io.dltrain.runtime.Names;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * The optimisers the command line can name, built from the few settings it exposes. Every other hyper-parameter
 * keeps PyTorch's default; {@code momentum} is used by "sgd", "sgd-nesterov" and "rmsprop" and ignored by the rest;
 * {@code weightDecay} is coupled L2 except for "adamw", where it is the decoupled decay.
 */
public final class Optimizers {
    private Optimizers() {}

    private static final List<String> NAMES = List.of("sgd", "sgd-nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw");

    /** The valid names, in a stable order. */
    public static List<String> names() { return NAMES; }

    /**
     * The learning rate an optimiser gets when none is given: PyTorch's defaults for the adaptive ones (adam and adamw
     * 1e-3, adagrad and rmsprop 1e-2, adadelta 1.0); for sgd and sgd-nesterov, which have none in PyTorch, 0.05 (the
     * default recipe's, tuned for the README's lenet5 runs). An unknown name gets 0.05 too ({@link #create} rejects it).
     */
    public static double defaultLr(String name) {
        return switch (name == null ? "" : name) {
            case "adam", "adamw" -> 1e-3;
            case "adagrad", "rmsprop" -> 1e-2;
            case "adadelta" -> 1.0;
            default -> 0.05;
        };
    }

    /** Whether {@link #create} passes the momentum to the optimiser (sgd, sgd-nesterov, rmsprop); the others ignore it. */
    public static boolean usesMomentum(String name) {
        return "sgd".equals(name) || "sgd-nesterov".equals(name) || "rmsprop".equals(name);
    }

    /**
     * The momentum an optimiser gets when none is given: 0.9 for sgd and sgd-nesterov (the default recipe's; PyTorch
     * has 0), 0 for rmsprop (PyTorch's default); the others take no momentum.
     */
    public static double defaultMomentum(String name) {
        return "sgd".equals(name) || "sgd-nesterov".equals(name) ? 0.9 : 0.0;
    }

    /**
     * The weight decay an optimiser gets when none is given: 5e-4 for sgd and sgd-nesterov (the default recipe's),
     * AdamW's decoupled 0.01 (PyTorch's default), 0 for the others (PyTorch's default for Adam, Adagrad, Adadelta and
     * RMSprop, whose weight decay is a coupled L2 term).
     */
    public static double defaultWeightDecay(String name) {
        return switch (name == null ? "" : name) {
            case "sgd", "sgd-nesterov" -> 5e-4;
            case "adamw" -> 1e-2;
            default -> 0.0;
        };
    }

    public static Optimizer create(String name, Map<String, Tensor> params, double lr, double momentum, double weightDecay) {
        if (name == null) throw new IllegalArgumentException("optimizer name is null; valid names: " + String.join(", ", NAMES));
        return switch (name) {
            case "sgd" -> new SGD(params, lr).momentum(momentum).weightDecay(weightDecay);
            case "sgd-nesterov" -> {
                if (!(momentum > 0))
                    throw new IllegalArgumentException("sgd-nesterov needs a momentum > 0 (got " + momentum + "); use e.g. momentum 0.9, or plain 'sgd'");
                yield new SGD(params, lr).momentum(momentum).nesterov(true).weightDecay(weightDecay);
            }
            case "adagrad" -> new Adagrad(params, lr).weightDecay(weightDecay);
            case "adadelta" -> new Adadelta(params, lr).weightDecay(weightDecay);
            case "rmsprop" -> new RMSprop(params, lr).momentum(momentum).weightDecay(weightDecay);
            case "adam" -> new Adam(params, lr).weightDecay(weightDecay);
            case "adamw" -> new AdamW(params, lr).weightDecay(weightDecay);
            default -> throw new IllegalArgumentException("unknown optimizer '" + name + "'" + Names.didYouMean(name, NAMES) + "; valid names: " + String.join(", ", NAMES));
        };
    }
}
