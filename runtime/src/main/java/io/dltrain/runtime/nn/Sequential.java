package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
     * those of the two layers run one after the other, bit for bit on the CPU. Only these exact classes are fused, so
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
                } else h = m.forward(h);
            } catch (LayerRefused r) {
                // from a Sequential in m (m itself, or one in a Residual's body...): its place in m, then in it
                String within = m == r.from ? "" : placeIn(m, r.from);
                if (within == null) throw new LayerRefused(this, Integer.toString(i), m.toString(), r.getMessage(), r);
                throw new LayerRefused(this, i + "." + within + r.place, r.layer, r.detail, (IllegalArgumentException) r.getCause());
            } catch (IllegalArgumentException e) {
                throw new LayerRefused(this, Integer.toString(i), m.toString(), e.getMessage(), e);
            }
        }
        return h;
    }

    /**
     * A layer's refusal of its input (a shape it cannot take), with the layer's place in the outermost Sequential, dotted
     * through the modules between as in the state_dict's names ("2.1.1", "3.body.0"): the op's own message names only
     * the op. The layer's exception is the cause.
     */
    private static final class LayerRefused extends IllegalArgumentException {
        /** The Sequential that place is relative to. */
        final transient Sequential from;
        final String place, layer, detail;

        LayerRefused(Sequential from, String place, String layer, String detail, IllegalArgumentException cause) {
            super("layer " + place + " of the Sequential, " + layer + ", refused its input: " + detail, cause);
            this.from = from;
            this.place = place;
            this.layer = layer;
            this.detail = detail;
        }
    }

    /** The state_dict prefix of target among root's descendants ("body.", "features.3."), or null if it is not one. */
    private static String placeIn(Module root, Module target) {
        for (Map.Entry<String, Module> c : root.children().entrySet()) {
            if (c.getValue() == target) return c.getKey() + ".";
            String deeper = placeIn(c.getValue(), target);
            if (deeper != null) return c.getKey() + "." + deeper;
        }
        return null;
    }

    /** Whether layer i is a Linear with a bias and layer i + 1 a ReLU: the pair {@link #forward} runs as one op. */
    boolean fusesWithNext(int i) {
        return i + 1 < layers.size() && layers.get(i).getClass() == Linear.class && ((Linear) layers.get(i)).bias() != null
                && layers.get(i + 1).getClass() == ReLU.class;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("Sequential(");
        for (int i = 0; i < layers.size(); i++) b.append(i == 0 ? "" : ", ").append(layers.get(i));
        return b.append(')').toString();
    }
}
