package io.dltrain.runtime.backend;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * The counting decorator: tensors it makes report it as their backend (so ops route through it), the numbers are
 * bit-identical to the undecorated backend's, calls are counted by name and kind, and memory goes back to the pool.
 */
class CountingBackendTest {
    /** Forward + backward of one Linear layer and cross-entropy; returns the weight gradient. */
    static float[] linearGrad(Backend be) {
        float[] x = new float[4 * 5];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i + 1);
        try (Linear fc = Scope.outside(() -> new Linear(new Context(be, 7), 5, 3)); Scope s = Scope.open()) {
            Tensor in = be.fromHost(x, Shape.of(4, 5));
            Tensor labels = be.fromHost(new int[] {0, 2, 1, 2}, Shape.of(4));
            Losses.crossEntropy(fc.forward(in), labels, 0f).backward();
            return fc.namedParameters().get("weight").grad().toFloatArray();
        }
    }

    @Test
    void countsOpsAndMatchesTheRealBackend() {
        float[] plain;
        try (CpuBackend cpu = new CpuBackend(1)) { plain = linearGrad(cpu); }
        try (CountingBackend be = new CountingBackend(new CpuBackend(1))) {
            Tensor t = be.empty(Shape.of(2));
            assertSame(be, t.backend(), "tensors made by the decorator must route their ops through it");
            t.close();
            be.reset();
            float[] counted = linearGrad(be);
            assertArrayEquals(plain, counted, "the decorator must not change any number");
            // Linear forward: one gemmBias (forwarded whole, so a fusing delegate keeps its fused path; the CPU runs its
            // gemm + addBias inside the delegate, uncounted); backward: weight-gradient gemm and biasGrad (the input
            // needs no gradient).
            assertEquals(1L, be.countsByOp().get("gemmBias"));
            assertEquals(1L, be.countsByOp().get("gemm"));
            assertNull(be.countsByOp().get("addBias"));
            assertEquals(1L, be.countsByOp().get("biasGrad"));
            assertEquals(1L, be.countsByOp().get("crossEntropyForward"));
            assertEquals(1L, be.countsByOp().get("crossEntropyBackward"));
            long computeByName = be.countsByOp().entrySet().stream()
                    .filter(e -> !e.getKey().equals("empty") && !e.getKey().equals("copyFromHost") && !e.getKey().equals("toHost"))
                    .mapToLong(java.util.Map.Entry::getValue).sum();
            assertEquals(computeByName, be.computeOps());
            assertEquals(be.countsByOp().get("empty"), be.count(CountingBackend.Kind.ALLOC));
            // Uploads: the layer's initial weight and bias (drawn on the host), x and labels; one download (the gradient).
            assertEquals(5L, be.count(CountingBackend.Kind.TRANSFER));
            // Every tensor of the step went back to the pool when its scope and the layer closed.
            assertEquals(0L, ((Number) be.describe().get("memory_in_use_bytes")).longValue());
            be.reset();
            assertEquals(0L, be.computeOps());
        }
    }

    /**
     * Every Backend method, default ones included, is overridden: a default method left to the interface would run its
     * unfused body on the delegate's primitives (e.g. gemmBiasRelu as gemmBias + ReLU, losing the CUDA fusion) and be
     * counted as the wrong ops. The exceptions are the conveniences that only compose allocation and upload (empty
     * with the default type, zeros, fromHost): no backend fuses them, and their parts are counted.
     */
    @Test
    void overridesEveryBackendMethod() {
        java.util.Set<String> conveniences = java.util.Set.of("empty", "zeros", "fromHost");
        List<String> missing = new ArrayList<>();
        for (Method m : Backend.class.getMethods()) {
            if (java.lang.reflect.Modifier.isStatic(m.getModifiers())) continue;
            if (m.isDefault() && conveniences.contains(m.getName())) continue;
            try {
                Method impl = CountingBackend.class.getMethod(m.getName(), m.getParameterTypes());
                if (impl.getDeclaringClass() != CountingBackend.class) missing.add(m.getName());
            } catch (NoSuchMethodException e) {
                missing.add(m.getName());
            }
        }
        assertEquals(List.of(), missing, "Backend methods CountingBackend does not override");
    }
}
