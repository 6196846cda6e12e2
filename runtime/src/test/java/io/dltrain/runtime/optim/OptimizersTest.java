package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The command-line registry: every name builds the right optimiser with the given settings; unknown names fail clearly. */
class OptimizersTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    @Test void everyNameBuildsItsOptimizer() {
        try (Tensor p = be.zeros(Shape.of(2)).requiresGrad(true)) {
            Map<String, Tensor> ps = Map.of("w", p);
            assertEquals(List.of("sgd", "sgd-nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw"), Optimizers.names());
            for (String name : Optimizers.names()) {
                try (Optimizer o = Optimizers.create(name, ps, 0.05, 0.9, 1e-4)) {
                    assertEquals(0.05, o.lr(), name);
                    OptimizerHyper h = o.hyper();
                    assertEquals(1e-4f, h.weightDecay(), name);
                    switch (name) {
                        case "sgd" -> assertEquals(new OptimizerHyper.Sgd(0.9f, 0f, false, 1e-4f, 0f), h);
                        case "sgd-nesterov" -> assertEquals(new OptimizerHyper.Sgd(0.9f, 0f, true, 1e-4f, 0f), h);
                        case "adagrad" -> assertEquals(new OptimizerHyper.Adagrad(0f, 1e-10f, 0f, 1e-4f, 0f), h);
                        case "adadelta" -> assertEquals(new OptimizerHyper.Adadelta(0.9f, 1e-6f, 1e-4f, 0f), h);
                        case "rmsprop" -> assertEquals(new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0.9f, false, 1e-4f, 0f), h);
                        case "adam" -> assertEquals(new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 1e-4f, 0f), h);
                        case "adamw" -> assertEquals(new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 1e-4f, 0f), h);
                        default -> fail("untested name " + name);
                    }
                }
            }
        }
    }

    @Test void pytorchDefaults() {
        try (Tensor p = be.zeros(Shape.of(2)).requiresGrad(true)) {
            Map<String, Tensor> ps = Map.of("w", p);
            assertEquals(1e-3, new SGD(ps).lr());
            assertEquals(1e-2, new Adagrad(ps).lr());
            assertEquals(1.0, new Adadelta(ps).lr());
            assertEquals(1e-2, new RMSprop(ps).lr());
            assertEquals(1e-3, new Adam(ps).lr());
            AdamW w = new AdamW(ps);
            assertEquals(1e-3, w.lr());
            assertEquals(new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 0.01f, 0f), w.hyper(), "AdamW's default weight_decay is 0.01");
        }
    }

    @Test void unknownNameListsTheValidOnes() {
        try (Tensor p = be.zeros(Shape.of(2)).requiresGrad(true)) {
            var e = assertThrows(IllegalArgumentException.class, () -> Optimizers.create("lbfgs", Map.of("w", p), 0.1, 0, 0));
            assertTrue(e.getMessage().contains("lbfgs"), e.getMessage());
            for (String n : Optimizers.names()) assertTrue(e.getMessage().contains(n), "message lists " + n + ": " + e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Optimizers.create("sgd-nesterov", Map.of("w", p), 0.1, 0, 0),
                    "Nesterov without momentum");
        }
    }

    /** Parameters on two backend objects of one kind: the error tells them apart (it said "lives on cpu, the others on cpu"). */
    @Test void parametersOnTwoBackendObjectsAreNamed() {
        try (CpuBackend other = new CpuBackend(1); Tensor a = be.zeros(Shape.of(2)).requiresGrad(true);
             Tensor b = other.zeros(Shape.of(2)).requiresGrad(true)) {
            var ps = new java.util.LinkedHashMap<String, Tensor>();
            ps.put("fc1.weight", a);
            ps.put("fc2.weight", b);
            var e = assertThrows(IllegalArgumentException.class, () -> new SGD(ps, 0.1));
            assertEquals("parameter 'fc2.weight' lives on another cpu backend object than 'fc1.weight' (cpu); build every layer with"
                    + " one backend (one Context)", e.getMessage());
        }
    }

    /** Parameters on backends of two kinds: the message read "lives on meta than 'fc1.weight' (cpu)". */
    @Test void parametersOnTwoKindsOfBackendAreNamed() {
        try (io.dltrain.runtime.backend.meta.MetaBackend meta = new io.dltrain.runtime.backend.meta.MetaBackend();
             Tensor a = be.zeros(Shape.of(2)).requiresGrad(true); Tensor b = meta.zeros(Shape.of(2)).requiresGrad(true)) {
            var ps = new java.util.LinkedHashMap<String, Tensor>();
            ps.put("fc1.weight", a);
            ps.put("fc2.weight", b);
            var e = assertThrows(IllegalArgumentException.class, () -> new SGD(ps, 0.1));
            assertEquals("parameter 'fc2.weight' lives on meta, 'fc1.weight' on cpu; build every layer with one backend (one Context)",
                    e.getMessage());
        }
    }

    /** One tensor under two names is refused when the optimiser is made, not at its first step. */
    @Test void aTensorUnderTwoNamesIsRefusedAtOnce() {
        try (Tensor a = be.zeros(Shape.of(2)).requiresGrad(true); Tensor b = be.zeros(Shape.of(2)).requiresGrad(true)) {
            var ps = new java.util.LinkedHashMap<String, Tensor>();
            ps.put("enc.weight", a);
            ps.put("bias", b);
            ps.put("dec.weight", a);
            var e = assertThrows(IllegalArgumentException.class, () -> new SGD(ps, 0.1));
            assertTrue(e.getMessage().startsWith("parameters 'enc.weight' and 'dec.weight' are the same tensor"), e.getMessage());
        }
    }
}
