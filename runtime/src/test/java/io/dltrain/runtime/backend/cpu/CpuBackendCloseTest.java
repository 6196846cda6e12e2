package io.dltrain.runtime.backend.cpu;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A closed CPU backend refuses work: every op, on new tensors or on tensors it made before close(), throws an
 * IllegalStateException that says so (it used to run single-chunk ops as if nothing happened), and tensors released
 * afterwards do not refill its pool.
 */
class CpuBackendCloseTest {

    @Test
    void everyUseAfterCloseSaysTheBackendWasClosed() {
        CpuBackend be = new CpuBackend(2);
        Tensor small = be.fromHost(new float[] {1, 2, 3}, Shape.of(3));
        Tensor other = be.zeros(Shape.of(3));
        Tensor labels = be.empty(Shape.of(2), DType.INT32);
        Tensor big = be.zeros(Shape.of(1 << 18));
        Tensor one = be.zeros(Shape.of(1));
        be.close();
        Map<String, Executable> uses = new LinkedHashMap<>();
        uses.put("empty", () -> be.empty(Shape.of(4)));
        uses.put("zeros", () -> be.zeros(Shape.of(4)));
        uses.put("fromHost", () -> be.fromHost(new float[] {1}, Shape.of(1)));
        // (on old tensors only: a new one, be.empty, would be refused first)
        uses.put("item of an old tensor", () -> be.item(one));
        uses.put("sum of an old tensor into another", () -> be.sum(small, 1f, one));
        uses.put("toFloatArray of an old tensor", small::toFloatArray);
        uses.put("add on old tensors", () -> be.add(small, other, other));
        uses.put("fill of an old tensor", () -> be.fill(small, 0f));
        uses.put("copy between old tensors", () -> be.copy(small, other));
        uses.put("toHost of an old INT32 tensor", () -> be.toHost(labels, new int[2]));
        uses.put("scale of a big old tensor", () -> be.scale(big, 2f, big));
        for (var use : uses.entrySet()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, use.getValue(), use.getKey());
            assertTrue(e.getMessage().contains("CPU backend") && e.getMessage().contains("close()"), use.getKey() + ": " + e.getMessage());
        }
        assertDoesNotThrow(() -> { small.close(); other.close(); labels.close(); big.close(); one.close(); }, "closing tensors after the backend is harmless");
        assertEquals(0, be.memoryInUse(), "in use after every tensor was closed");
        assertEquals(0, be.memoryReserved(), "arrays released after close() do not go back to the pool");
        assertDoesNotThrow(be::close, "close() twice");
    }
}
