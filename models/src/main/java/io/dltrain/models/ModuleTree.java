package io.dltrain.models;

import io.dltrain.runtime.nn.Module;

import java.util.ArrayList;
import java.util.List;

/** Walks a module tree in PyTorch's {@code Module.modules()} order, for the zoo's torchvision-style weight initialisation. */
final class ModuleTree {
    private ModuleTree() {}

    /** root, then each child's subtree in registration order (pre-order, depth first), as {@code nn.Module.modules()}. */
    static List<Module> modules(Module root) {
        List<Module> out = new ArrayList<>();
        collect(root, out);
        return out;
    }

    private static void collect(Module m, List<Module> out) {
        out.add(m);
        for (Module c : m.children().values()) collect(c, out);
    }

    /** Throws an IllegalArgumentException naming the model if the input is smaller than it can take. */
    static void requireSize(String model, ModelSpec s, int min, String why) {
        if (s.height() < min || s.width() < min)
            throw new IllegalArgumentException(model + " needs inputs of at least " + min + "x" + min + " (" + why + "), got "
                    + s.height() + "x" + s.width() + "; resize the images or pick a model for small inputs (e.g. resnet18-cifar)");
    }
}
