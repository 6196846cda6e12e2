package io.dltrain.runtime.backend.meta;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The meta backend records shapes and nothing else: tensors of any size cost no memory, module construction
 * (fills, initialisers, uploads) works and gives the same parameter names and shapes as on the CPU, and every
 * operation that needs values throws UnsupportedOperationException.
 */
class MetaBackendTest {

    @Test
    void emptyRecordsShapeAndDtypeWithoutMemory() {
        try (MetaBackend be = new MetaBackend(); Scope s = Scope.open()) {
            assertEquals("meta", be.name());
            assertEquals(Device.META, be.device());
            assertEquals("meta", be.device().toString());
            // 2^36 floats would be 256 GiB (and more than a Java array can hold): only possible without storage.
            Tensor huge = be.empty(Shape.of(1 << 18, 1 << 18));
            assertEquals(1L << 36, huge.numel());
            assertEquals(1L << 36, huge.storage().elements());
            assertEquals(DType.FP32, huge.dtype());
            assertEquals(Device.META, huge.device());
            Tensor ints = be.zeros(Shape.of(3), DType.INT32);
            assertEquals(DType.INT32, ints.dtype());
            Tensor v = huge.view(Shape.of(1 << 20, 1 << 16));
            assertEquals(Shape.of(1 << 20, 1 << 16), v.shape());
            assertEquals(3, s.tracked(), "empty, zeros and view land in the scope like any tensor");
        }
    }

    @Test
    void fillsCopiesAndUploadsAreNoOpsThatCheckSizes() {
        try (MetaBackend be = new MetaBackend(); Scope s = Scope.open()) {
            Tensor a = be.empty(Shape.of(2, 3)), b = be.empty(Shape.of(6)), c = be.empty(Shape.of(5));
            be.fill(a, 7f);
            be.copyFromHost(new float[6], 0, a);
            be.copyFromHost(new int[8], 2, be.empty(Shape.of(6), DType.INT32));
            Tensor up = be.fromHost(new float[] {1, 2, 3}, Shape.of(3));
            assertEquals(Shape.of(3), up.shape());
            be.copy(a, b);
            be.copyBlocks(a, 0, 3, b, 0, 3, 3, 2);
            be.synchronize();
            assertThrows(IllegalArgumentException.class, () -> be.copy(a, c));
            assertThrows(IllegalArgumentException.class, () -> be.copyFromHost(new float[5], 0, a));
            assertThrows(IllegalArgumentException.class, () -> be.copyBlocks(a, 0, 3, c, 0, 3, 3, 2));
        }
    }

    @Test
    void initialisersDrawNothingOnMetaTensors() {
        try (MetaBackend be = new MetaBackend(); Scope s = Scope.open()) {
            // 2^34 elements: a host array for the draw could not even be made (Shape.size() would throw), so passing
            // shows the initialisers skip the draw; the generator is untouched.
            Tensor w = be.empty(Shape.of(1 << 17, 1 << 17));
            SplittableRandom rng = new SplittableRandom(5), same = new SplittableRandom(5);
            Init.kaimingNormal(w, 0, Init.FanMode.FAN_OUT, "relu", rng);
            Init.kaimingUniform(w, Math.sqrt(5), Init.FanMode.FAN_IN, "leaky_relu", rng);
            Init.xavierUniform(w, 1, rng);
            Init.truncatedNormal(w, 0, 0.01, -2, 2, rng);
            Init.normal(w, 0, 0.01, rng);
            Init.constant(w, 0f);
            assertEquals(same.nextLong(), rng.nextLong());
        }
    }

    private static Module smallNet(Context ctx) {
        return new Sequential(new Conv2d(ctx, 3, 8, 3, 1, 1), new BatchNorm2d(ctx, 8),
                new Conv2d(ctx, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2, false), new Linear(ctx, 16, 5));
    }

    @Test
    void modulesBuildWithTheCpuNamesShapesAndCounts() {
        try (MetaBackend meta = new MetaBackend(); CpuBackend cpu = new CpuBackend(1);
             Module m = Scope.outside(() -> smallNet(new Context(meta, 3)));
             Module c = Scope.outside(() -> smallNet(new Context(cpu, 3)))) {
            // conv 3->8 k3: 216 + 8; BN: 8 + 8; grouped conv 8->4 k3 g2 no bias: 4*4*9 = 144; Linear 16->5: 80 + 5
            assertEquals(216 + 8 + 16 + 144 + 85, m.parameterCount());
            assertEquals(c.parameterCount(), m.parameterCount());
            Map<String, Tensor> ms = m.stateDict(), cs = c.stateDict();
            assertEquals(List.copyOf(cs.keySet()), List.copyOf(ms.keySet()));
            for (String k : cs.keySet()) {
                assertEquals(cs.get(k).shape(), ms.get(k).shape(), k);
                assertEquals(cs.get(k).dtype(), ms.get(k).dtype(), k);
                assertEquals(Device.META, ms.get(k).device(), k);
            }
        }
    }

    @Test
    void everyComputeOpAndEveryReadThrows() throws Exception {
        Set<String> noOps = Set.of("name", "device", "describe", "empty", "copyFromHost", "copy", "copyBlocks", "fill",
                "synchronize", "close");
        List<String> checked = new ArrayList<>();
        try (MetaBackend be = new MetaBackend()) {
            for (Method m : Backend.class.getMethods()) {
                if (m.isDefault() || Modifier.isStatic(m.getModifiers()) || noOps.contains(m.getName())) continue;
                Object[] args = new Object[m.getParameterCount()];
                Class<?>[] types = m.getParameterTypes();
                for (int i = 0; i < args.length; i++) args[i] = defaultValue(types[i]);
                InvocationTargetException e = assertThrows(InvocationTargetException.class, () -> m.invoke(be, args), m.getName());
                assertInstanceOf(UnsupportedOperationException.class, e.getCause(), m.getName());
                assertTrue(e.getCause().getMessage().startsWith("the meta backend only records shapes"), e.getCause().getMessage());
                checked.add(m.getName());
            }
        }
        // The ops every model uses are among them (guards against the reflection silently skipping everything).
        assertTrue(checked.containsAll(List.of("gemm", "convForward", "batchNormForwardTraining", "toHost", "item", "optimizerStep")), checked.toString());

        // And through the layer API: a forward pass fails at its first op with that message.
        try (MetaBackend be = new MetaBackend(); Scope s = Scope.open();
             Module lin = Scope.outside(() -> new Linear(new Context(be, 0), 4, 2))) {
            var e = assertThrows(UnsupportedOperationException.class, () -> lin.forward(be.empty(Shape.of(1, 4))));
            assertTrue(e.getMessage().startsWith(MetaBackend.NO_VALUES), e.getMessage());
            assertThrows(UnsupportedOperationException.class, () -> be.zeros(Shape.SCALAR).item());
        }
    }

    private static Object defaultValue(Class<?> t) {
        if (!t.isPrimitive()) return null;
        if (t == boolean.class) return false;
        if (t == float.class) return 0f;
        if (t == double.class) return 0d;
        if (t == long.class) return 0L;
        return 0;
    }

    /** A layer built on one backend fed a tensor of another: the message named the weight as "Tensorweight [3, 4] ...". */
    @Test
    void aTensorOfAnotherBackendIsNamedInTheError() {
        try (MetaBackend meta = new MetaBackend(); CpuBackend cpu = new CpuBackend(1);
             Linear onMeta = Scope.outside(() -> new Linear(new Context(meta, 1), 4, 3)); Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> onMeta.forward(cpu.zeros(Shape.of(2, 4))));
            assertEquals("gemmBias: expected a tensor on cpu, got Tensor weight [3, 4] FP32 on meta; copy it to cpu first", e.getMessage());
            assertEquals("Tensor[2, 4] FP32 on cpu", cpu.zeros(Shape.of(2, 4)).toString());
        }
    }
}
