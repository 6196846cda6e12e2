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
        for (Module m : branches) {
            Tensor y = m.forward(x);
            if (!outs.isEmpty() && !Basic.agreeOutsideChannels(y.shape(), outs.getFirst().shape()))
                throw refused(new IllegalArgumentException("Concat: branch" + (outs.size() + 1) + "'s output " + y.shape() + " does not fit branch1's "
                        + outs.getFirst().shape() + ": the branches' outputs are joined along dimension 1 (channels), so every other dimension"
                        + " must agree; make each branch keep the same height and width (padding, stride)"));
            outs.add(y);
        }
        return Basic.concatChannels(outs);
    }
}
