package io.dltrain.runtime.nn;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.ops.Sequence;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The ReLU fusions seen through the module API, in the graphs where an op that writes its ReLU over its own output
 * and reads its gradient from it could go wrong, against the separate ops bit for bit: a ResNet block whose identity
 * is also the first convolution's input (and itself made by an op), the same tensor as both the batch norm's input and
 * the added one, batch norm parameters frozen (requiresGrad false), backward run twice over one graph (gradients
 * accumulate), and a {@link Sequential} that shares one ReLU instance between three places, run with gradients, with
 * the input requiring grad, under {@link GradMode#noGrad()} and under {@link Module#evaluating()}. The ops' own tests
 * ({@code BatchNormReluTest}, {@code ConvReluTest}) compare the ops alone.
 */
class FusedReluAutogradTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    static float[] rand(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /**
     * A ResNet basic block, conv-bn-relu-conv-bn, + x, relu, over x = relu(x0 + x0) (x has a producer and two
     * consumers); with sameTensor, relu(bn(h) + h) instead. Returns the output, x0's gradient, every parameter's
     * gradient and the running statistics.
     */
    static List<float[]> block(boolean fused, boolean twice, boolean frozen, boolean sameTensor) {
        try (Scope s = Scope.open()) {
            Context ctx = new Context(be, 7);
            Conv2d c1 = new Conv2d(ctx, 4, 4, 3, 1, 1), c2 = new Conv2d(ctx, 4, 4, 3, 1, 1);
            BatchNorm2d b1 = new BatchNorm2d(ctx, 4), b2 = new BatchNorm2d(ctx, 4);
            if (frozen) { b1.weight().requiresGrad(false); b1.bias().requiresGrad(false); b2.weight().requiresGrad(false); }
            Tensor x0 = be.fromHost(rand(1, 2 * 4 * 5 * 5), Shape.of(2, 4, 5, 5)).requiresGrad(true);
            Tensor x = Activations.relu(Basic.add(x0, x0));
            Tensor out;
            if (sameTensor) {
                Tensor h = c1.forward(x);
                out = fused ? b1.forwardAddRelu(h, h) : Activations.relu(Basic.add(b1.forward(h), h));
            } else {
                Tensor h = fused ? b1.forwardRelu(c1.forward(x)) : Activations.relu(b1.forward(c1.forward(x)));
                h = c2.forward(h);
                out = fused ? b2.forwardAddRelu(h, x) : Activations.relu(Basic.add(b2.forward(h), x));
            }
            Tensor loss = Basic.sum(Sequence.mul(out, be.fromHost(rand(2, (int) out.numel()), out.shape())));
            Autograd.backward(loss);
            if (twice) Autograd.backward(loss);
            List<float[]> r = new ArrayList<>(List.of(out.toFloatArray(), x0.grad().toFloatArray()));
            for (Tensor p : List.of(c1.weight(), c1.bias(), c2.weight(), b1.weight(), b1.bias(), b2.weight(), b2.bias()))
                r.add(p.grad() == null ? new float[0] : p.grad().toFloatArray());
            for (BatchNorm b : List.of(b1, b2)) { r.add(b.runningMean().toFloatArray()); r.add(b.runningVar().toFloatArray()); }
            return r;
        }
    }

    @Test
    void aResNetBlockGivesTheSeparateOpsNumbers() {
        for (boolean twice : new boolean[] {false, true})
            for (boolean frozen : new boolean[] {false, true})
                for (boolean same : new boolean[] {false, true}) {
                    List<float[]> a = block(false, twice, frozen, same), b = block(true, twice, frozen, same);
                    for (int k = 0; k < a.size(); k++)
                        assertArrayEquals(a.get(k), b.get(k), "tensor " + k + ", backward twice " + twice + ", frozen " + frozen + ", bn(h) + h " + same);
                }
    }

    /**
     * Sequential(conv, relu, bn, relu, conv, relu) with one ReLU instance; unfused, that instance is an anonymous
     * subclass (Sequential fuses the exact class only). mode 0: backward; 1: the input requires grad too; 2: noGrad
     * forward; 3: Module.evaluating() forward. Returns the output, the gradients and the batch norm's buffers.
     */
    static List<float[]> sequential(boolean fused, int mode) {
        try (Scope s = Scope.open()) {
            Context ctx = new Context(be, 9);
            ReLU relu = fused ? new ReLU() : new ReLU() {};
            Sequential m = new Sequential(new Conv2d(ctx, 3, 4, 3, 1, 1), relu, new BatchNorm2d(ctx, 4), relu, new Conv2d(ctx, 4, 2, 1, 1, 0), relu);
            Tensor x = be.fromHost(rand(3, 2 * 3 * 4 * 4), Shape.of(2, 3, 4, 4));
            if (mode == 1) x.requiresGrad(true);
            List<float[]> r = new ArrayList<>();
            if (mode == 2) {
                try (GradMode.Guard g = GradMode.noGrad()) { r.add(m.forward(x).toFloatArray()); }
            } else if (mode == 3) {
                try (GradMode.Guard g = Module.evaluating()) { r.add(m.forward(x).toFloatArray()); }
            } else {
                Tensor out = m.forward(x);
                Autograd.backward(Basic.sum(Sequence.mul(out, out)));
                r.add(out.toFloatArray());
                for (Tensor p : m.parameters()) r.add(p.grad().toFloatArray());
                if (mode == 1) r.add(x.grad().toFloatArray());
            }
            for (Map.Entry<String, Tensor> e : m.namedBuffers().entrySet())
                r.add(e.getKey().endsWith("num_batches_tracked") ? new float[] {e.getValue().toIntArray()[0]} : e.getValue().toFloatArray());
            return r;
        }
    }

    @Test
    void aSequentialSharingOneReluGivesTheSeparateOpsNumbers() {
        String[] modes = {"backward", "backward, input requiring grad", "noGrad", "evaluating"};
        for (int mode = 0; mode < 4; mode++) {
            List<float[]> a = sequential(false, mode), b = sequential(true, mode);
            assertEquals(a.size(), b.size(), modes[mode]);
            for (int k = 0; k < a.size(); k++) assertArrayEquals(a.get(k), b.get(k), modes[mode] + ": tensor " + k);
        }
    }
}
