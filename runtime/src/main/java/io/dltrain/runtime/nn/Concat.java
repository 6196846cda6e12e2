package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Runs each branch on the same input and concatenates the results along channels (Inception, DenseNet). */
public class Concat extends Module {
    private final List<Module> branches = new ArrayList<>();

    public Concat(Module... branches) {
        for (Module m : branches) { addModule("branch" + (this.branches.size() + 1), m); this.branches.add(m); }
    }

    @Override
    public Tensor forward(Tensor x) {
        List<Tensor> outs = new ArrayList<>(branches.size());
        for (Module m : branches) outs.add(m.forward(x));
        return Basic.concatChannels(outs);
    }
}
