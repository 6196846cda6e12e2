package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.ops.Conv;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Layers applied in order; children are named "0", "1", ... as in PyTorch's nn.Sequential. */
public class Sequential extends Module {
    private final List<Module> layers = new ArrayList<>();

    public Sequential(Module... layers) { for (Module m : layers) add(m); }

    public Sequential add(Module m) {
        addModule(Integer.toString(layers.size()), m);
        layers.add(m);
        return this;
    }

    public List<Module> layers() { return List.copyOf(layers); }

    /**
     * Applies the layers in order. A {@link Linear} with a bias directly followed by a {@link ReLU} runs as one op,
     * {@link Basic#linearRelu} (on CUDA one cuBLASLt matmul with the bias epilogue, then cuDNN's ReLU; the RELU_BIAS
     * epilogue only with {@code -Ddltrain.cublasLt.reluEpilogue=true}); the numbers are
     * those of the two layers run one after the other, bit for bit on the CPU. A {@link BatchNorm2d} or
     * {@link BatchNorm1d} directly followed by a ReLU runs as {@link BatchNorm#forwardRelu} (bit for bit the two layers'
     * numbers; the batch norm's output is not kept beside the ReLU's), and a {@link Conv2d} directly followed by a ReLU
     * as {@link Conv#conv2dRelu} (the same, for the convolution's output). Only these exact classes are fused, so
     * a subclass that overrides forward keeps its own.
     */
    @Override
    public Tensor forward(Tensor x) {
        Tensor h = x;
        for (int i = 0; i < layers.size(); i++) {
            Module m = layers.get(i);
            try {
                if (fusesWithNext(i)) {
                    Linear fc = (Linear) m;
                    h = Basic.linearRelu(h, fc.weight(), fc.bias());
                    i++;
                } else if (normFusesWithNext(i)) {
                    h = ((BatchNorm) m).forwardRelu(h);
                    i++;
                } else if (convFusesWithNext(i)) {
                    Conv2d conv = (Conv2d) m;
                    h = Conv.conv2dRelu(h, conv.weight(), conv.bias(), conv.params());
                    i++;
                } else h = m.forward(h);
            } catch (IllegalArgumentException e) {
                throw m.refused(e); // named by m's place, unless a layer inside m has named its own already
            }
        }
        return h;
    }

    /** Whether layer i is a Linear with a bias and layer i + 1 a ReLU: the pair {@link #forward} runs as one op. */
    boolean fusesWithNext(int i) {
        return i + 1 < layers.size() && layers.get(i).getClass() == Linear.class && ((Linear) layers.get(i)).bias() != null
                && layers.get(i + 1).getClass() == ReLU.class;
    }

    /** Whether layer i is a BatchNorm1d or BatchNorm2d and layer i + 1 a ReLU: {@link #forward} runs them as {@link BatchNorm#forwardRelu}. */
    boolean normFusesWithNext(int i) {
        return i + 1 < layers.size() && (layers.get(i).getClass() == BatchNorm2d.class || layers.get(i).getClass() == BatchNorm1d.class)
                && layers.get(i + 1).getClass() == ReLU.class;
    }

    /** Whether layer i is a Conv2d and layer i + 1 a ReLU: {@link #forward} runs them as {@link Conv#conv2dRelu}. */
    boolean convFusesWithNext(int i) {
        return i + 1 < layers.size() && layers.get(i).getClass() == Conv2d.class && layers.get(i + 1).getClass() == ReLU.class;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("Sequential(");
        for (int i = 0; i < layers.size(); i++) b.append(i == 0 ? "" : ", ").append(layers.get(i));
        return b.append(')').toString();
    }
}
