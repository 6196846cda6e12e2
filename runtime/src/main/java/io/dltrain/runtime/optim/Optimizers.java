package io.dltrain.runtime.optim;

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
            default -> throw new IllegalArgumentException("unknown optimizer '" + name + "'; valid names: " + String.join(", ", NAMES));
        };
    }
}
