package io.dltrain.runtime.nn;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sequential runs a Linear directly followed by a ReLU as one op (linear_relu, one gemmBiasRelu): which pairs it fuses,
 * and that the fused forward and backward give the numbers of the layers run one by one, bit for bit.
 */
class SequentialTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** An MLP as the model registry builds them, plus a Linear + ReLU at the very end. */
    static Sequential mlp(long seed) {
        Context ctx = new Context(be, seed);
        return new Sequential(new Linear(ctx, 12, 16), new ReLU(), new Dropout(ctx, 0f), new Linear(ctx, 16, 8), new ReLU(),
                new Linear(ctx, 8, 6), new ReLU());
    }

    @Test
    void fusesExactlyLinearWithBiasThenReLU() {
        try (Sequential m = Scope.outside(() -> mlp(1))) {
            List<Integer> fused = new ArrayList<>();
            for (int i = 0; i < m.layers().size(); i++) if (m.fusesWithNext(i)) fused.add(i);
            assertEquals(List.of(0, 3, 5), fused);
        }
        Context ctx = new Context(be, 2);
        try (Sequential noBias = Scope.outside(() -> new Sequential(new Linear(ctx, 4, 4, false), new ReLU()));
             Sequential otherOrder = Scope.outside(() -> new Sequential(new ReLU(), new Linear(ctx, 4, 4)));
             Sequential subclass = Scope.outside(() -> new Sequential(new Linear(ctx, 4, 4) {
                 @Override public Tensor forward(Tensor x) { return super.forward(x); }
             }, new ReLU()));
             Sequential leaky = Scope.outside(() -> new Sequential(new Linear(ctx, 4, 4), new LeakyReLU(0.1f)))) {
            assertFalse(noBias.fusesWithNext(0), "a Linear without bias runs as linear, then relu");
            assertFalse(otherOrder.fusesWithNext(0));
            assertFalse(subclass.fusesWithNext(0), "a subclass of Linear may override forward: it is not fused");
            assertFalse(leaky.fusesWithNext(0));
        }
    }

    @Test
    void fusedForwardAndBackwardAreTheLayersOneByOneBitForBit() {
        SplittableRandom rng = new SplittableRandom(3);
        float[] xv = Check.uniform(rng, 5 * 12, -2, 2), r = Check.uniform(rng, 5 * 6, -1, 1);
        try (Sequential fused = Scope.outside(() -> mlp(7)); Sequential plain = Scope.outside(() -> mlp(7))) {
            Map<String, float[]> a = step(fused, xv, r, true), b = step(plain, xv, r, false);
            assertEquals(b.keySet(), a.keySet());
            long clamped = 0;
            for (float v : a.get("out")) if (v == 0f) clamped++;
            assertTrue(clamped > 0 && clamped < 30, "the last ReLU clamps some outputs, not all: " + clamped + " of 30");
            for (String k : b.keySet()) {
                float[] want = b.get(k), got = a.get(k);
                for (int i = 0; i < want.length; i++)
                    assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), k + "[" + i + "]: " + got[i] + " vs " + want[i]);
            }
        }
    }

    /** Output and every parameter gradient after one backward of sum(r * model(x)), through forward or layer by layer. */
    private static Map<String, float[]> step(Sequential m, float[] xv, float[] r, boolean viaForward) {
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(xv, Shape.of(5, 12)), y = x;
            if (viaForward) y = m.forward(x);
            else for (Module layer : m.layers()) y = layer.forward(y);
            assertEquals(viaForward ? "linear_relu" : "relu", y.gradFn().op());
            Autograd.backward(y, be.fromHost(r, y.shape()));
            Map<String, float[]> out = new java.util.TreeMap<>();
            out.put("out", y.toFloatArray());
            m.namedParameters().forEach((name, p) -> out.put(name + ".grad", p.grad().toFloatArray()));
            m.zeroGrad();
            return out;
        }
    }

    /**
     * A layer that refuses its input is named by its place in the Sequential (as in its state_dict names, through nested
     * Sequentials) and by itself: the error named only the op ("linear: input [2, 16] does not fit weight [6, 8] ..."),
     * so in a model with several Linear or Conv2d layers the reader had to work out which one from the weight's shape.
     * The exception is still an IllegalArgumentException, with the layer's own as its cause.
     */
    @Test
    void aLayerThatRefusesItsInputIsNamedByItsPlace() {
        Context ctx = new Context(be, 3);
        try (Sequential m = Scope.outside(() -> new Sequential(new Linear(ctx, 12, 16), new ReLU(),
                new Sequential(new Linear(ctx, 16, 8), new Sequential(new ReLU(), new Linear(ctx, 16, 4)))));
             Scope s = Scope.open()) {
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> m.forward(be.zeros(Shape.of(2, 12))));
            assertEquals("layer 2.1.1 of the Sequential, Linear(16 -> 4), refused its input: linear: input [2, 8] does not fit weight [4, 16]:"
                    + " the layer takes 16 features per sample, the input has 8; build the layer with 8 inputs, or make the one before it"
                    + " give 16", e.getMessage());
            assertTrue(e.getCause() instanceof IllegalArgumentException c && c.getMessage().startsWith("linear: input [2, 8]"), String.valueOf(e.getCause()));
            e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> m.forward(be.zeros(Shape.of(2, 10))));
            assertTrue(e.getMessage().startsWith("layer 0 of the Sequential, Linear(12 -> 16), refused its input: linear: input [2, 10]"),
                    e.getMessage());
        }
    }

    /**
     * A layer inside another module (a Residual's body) inside a Sequential is named by its state_dict place too: the
     * error read "layer 2 of the Sequential, Residual, refused its input: layer 2 of the Sequential, Linear(16 -> 16),
     * refused its input: ...", two places, neither of them the layer's ("2.body.2", as in its weight's name).
     */
    @Test
    void aLayerInsideAResidualIsNamedByItsStateDictPlace() {
        Context ctx = new Context(be, 3);
        try (Sequential m = Scope.outside(() -> new Sequential(new Linear(ctx, 12, 16), new ReLU(),
                new Residual(new Sequential(new Linear(ctx, 16, 8), new ReLU(), new Linear(ctx, 16, 16)))));
             Scope s = Scope.open()) {
            assertTrue(m.stateDict().containsKey("2.body.2.weight"), m.stateDict().keySet().toString());
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> m.forward(be.zeros(Shape.of(2, 12))));
            assertEquals("layer 2.body.2 of the Sequential, Linear(16 -> 16), refused its input: linear: input [2, 8] does not fit weight"
                    + " [16, 16]: the layer takes 16 features per sample, the input has 8; build the layer with 8 inputs, or make the one"
                    + " before it give 16", e.getMessage());
            assertTrue(e.getCause() instanceof IllegalArgumentException c && c.getMessage().startsWith("linear: input [2, 8]"), String.valueOf(e.getCause()));
        }
    }
}
