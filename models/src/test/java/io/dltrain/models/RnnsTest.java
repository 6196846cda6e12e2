package io.dltrain.models;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The registry's lstm: PyTorch's parameter count and state_dict keys, output shape, a gradient for every weight. */
class RnnsTest {
    static final CpuBackend cpu = new CpuBackend(2);

    @AfterAll static void close() { cpu.close(); }

    /** PyTorch: nn.LSTM has 4H(F_k + H) + 8H parameters per layer (F_0 = F, F_k = H after), nn.Linear H*C + C. */
    static long pytorchCount(int f, int h, int layers, int classes) {
        long n = 0;
        for (int k = 0; k < layers; k++) n += 4L * h * ((k == 0 ? f : h) + h) + 8L * h;
        return n + (long) h * classes + classes;
    }

    @Test
    void parameterCountFollowsPyTorchsFormula() {
        ModelRegistry.Entry e = ModelRegistry.get("lstm");
        assertEquals(new ModelSpec(1, 28, 28, 10), e.defaultSpec());
        assertEquals(pytorchCount(28, 128, 2, 10), e.parameterCount(e.defaultSpec()));
        try (Module m = Scope.outside(() -> Rnns.lstm(new Context(cpu, 1), new ModelSpec(1, 28, 28, 10), 32, 3))) {
            assertEquals(pytorchCount(28, 32, 3, 10), m.parameterCount());
        }
    }

    @Test
    void stateDictKeysAreNnLstmPlusLinear() {
        try (Module m = Scope.outside(() -> Rnns.lstm(new Context(cpu, 1), new ModelSpec(1, 28, 28, 10), 16, 2))) {
            assertEquals(List.of("lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                    "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1", "fc.weight", "fc.bias"),
                    List.copyOf(m.stateDict().keySet()));
            assertEquals(Shape.of(64, 28), m.stateDict().get("lstm.weight_ih_l0").shape());
            assertEquals(Shape.of(10, 16), m.stateDict().get("fc.weight").shape());
        }
    }

    @Test
    void forwardBackwardGivesEveryWeightAGradient() {
        ModelSpec spec = new ModelSpec(1, 28, 28, 10);
        try (Module m = Scope.outside(() -> Rnns.lstm(new Context(cpu, 3), spec, 16, 2)); Scope s = Scope.open()) {
            SplittableRandom r = new SplittableRandom(4);
            float[] pixels = new float[3 * 28 * 28];
            for (int i = 0; i < pixels.length; i++) pixels[i] = (float) r.nextDouble();
            Tensor x = cpu.fromHost(pixels, Shape.of(3, 1, 28, 28));
            Tensor y = m.forward(x);
            assertEquals(Shape.of(3, 10), y.shape());
            Tensor loss = Losses.crossEntropy(y, cpu.fromHost(new int[] {1, 7, 3}, Shape.of(3)), 0f);
            assertTrue(Float.isFinite(loss.item()));
            loss.backward();
            for (var e : m.namedParameters().entrySet()) {
                assertNotNull(e.getValue().grad(), e.getKey());
                boolean any = false;
                for (float v : e.getValue().grad().toFloatArray()) { assertTrue(Float.isFinite(v), e.getKey()); any |= v != 0f; }
                assertTrue(any, e.getKey() + ": all-zero gradient");
            }
        }
    }

    @Test
    void wrongImageSizeIsRejected() {
        try (Module m = Scope.outside(() -> Rnns.lstm(new Context(cpu, 1), new ModelSpec(1, 28, 28, 10), 8, 1)); Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(cpu.zeros(Shape.of(2, 1, 32, 32))));
            assertTrue(e.getMessage().contains("[2, 1, 32, 32]"), e.getMessage());
        }
    }
    /**
     * The LSTM classifier's own input check (not a layer's) said "lstm: input ... does not hold ..." without its place
     * when it sat inside a model of one's own, and a NamedSequential (the models' containers: DenseNet's features, the
     * autoencoders) named none of its children's own refusals, as runtime.nn.Sequential does. Both now name the place,
     * as the state_dict keys have it.
     */
    @Test
    void theLstmsInputCheckNamesItsPlaceInsideAModel() {
        // a model of one's own whose forward calls its lstm itself (no container between them)
        final class Tagger extends Module {
            final Module rnn = addModule("rnn", Rnns.lstm(new Context(cpu, 1), new ModelSpec(1, 6, 5, 3), 4, 1));
            @Override public Tensor forward(Tensor x) { return rnn.forward(x); }
        }
        try (Module m = Scope.outside(Tagger::new); Scope s = Scope.open()) {
            Tensor x = cpu.zeros(Shape.of(2, 1, 7, 5));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(x));
            assertEquals("layer rnn of the Tagger, " + m.children().get("rnn") + ", refused its input: lstm: input [2, 1, 7, 5]"
                    + " does not hold 6 steps of 5 features per example (build the model for this image size)", e.getMessage());
        }
        // a module of one's own with a check of its own, in a NamedSequential (in a NamedSequential: the place is the whole path)
        Module own = new Module() {
            @Override public Tensor forward(Tensor x) { throw new IllegalArgumentException("mine: needs 3 channels, got " + x.shape()); }
            @Override public String toString() { return "Mine"; }
        };
        try (Module m = new NamedSequential().add("features", new NamedSequential().add("mine", own)); Scope s = Scope.open()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(cpu.zeros(Shape.of(1, 2))));
            assertEquals("layer features.mine of the NamedSequential, Mine, refused its input: mine: needs 3 channels, got [1, 2]", e.getMessage());
        }
    }
    /**
     * A sequence dataset's samples are [T, F]: T steps of F features. The CLI built its model for [C, H, W] by padding
     * the shape with 1s, ModelSpec(T, F, 1), so lstm read T*F one-feature steps (12 x 5 samples: 60 steps of 1 feature,
     * 12 times the steps, 1/5 of the features each). ModelSpec.of(sample shape, outputs), which train, eval, predict and
     * bench now use, reads [T, F] as one channel of T rows of F: lstm gets T steps of F features.
     */
    @Test
    void aRank2SampleIsTStepsOfFFeatures() {
        assertEquals(new ModelSpec(1, 12, 5, 3), ModelSpec.of(Shape.of(12, 5), 3));
        assertEquals(new ModelSpec(1, 28, 28, 10), ModelSpec.of(Shape.of(1, 28, 28), 10));
        assertEquals(new ModelSpec(7, 1, 1, 1), ModelSpec.of(Shape.of(7), 1), "a csv row of 7 features, as before");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(Shape.of(2, 3, 4, 5), 3));
        assertEquals("samples of shape [2, 3, 4, 5] (rank 4): the models take samples of rank 1 [F], 2 [T, F] or 3 [C, H, W]", e.getMessage());
        try (Module m = Scope.outside(() -> Rnns.lstm(new Context(cpu, 1), ModelSpec.of(Shape.of(12, 5), 3), 8, 1)); Scope s = Scope.open()) {
            assertEquals(Shape.of(32, 5), m.stateDict().get("lstm.weight_ih_l0").shape(), "5 features per step");
            assertTrue(m.toString().startsWith("LstmClassifier(12 steps x 5 features"), m.toString());
            assertEquals(Shape.of(4, 3), m.forward(cpu.zeros(Shape.of(4, 12, 5))).shape());
        }
    }
}
