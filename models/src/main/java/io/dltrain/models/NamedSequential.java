package io.dltrain.models;

import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Layers applied in order under names of the caller's choosing: PyTorch's {@code nn.Sequential(OrderedDict(...))}
 * (and its {@code add_module}), which torchvision's DenseNet uses for "features.conv0", "features.denseblock1", ...
 * ({@code runtime.nn.Sequential} names its children "0", "1", ... instead). As Sequential, it names a child's refusal of
 * its input by the child's place ("layer features.denseblock1 of the DenseNet, ..."), where the child's own check threw.
 */
public class NamedSequential extends Module {
    private final List<Module> layers = new ArrayList<>();

    /** Appends m under name; the name becomes part of every state_dict key below it. */
    public NamedSequential add(String name, Module m) {
        if (children().containsKey(name)) throw new IllegalArgumentException("NamedSequential: a child is already called '" + name + "'");
        addModule(name, m);
        layers.add(m);
        return this;
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (Module m : layers) {
            try {
                h = m.forward(h);
            } catch (IllegalArgumentException e) {
                throw refused(m, e); // named by m's place, unless a layer inside m has named its own already
            }
        }
        return h;
    }
}
