package io.dltrain.runtime.backend;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Backend.fromHost: a host array of the wrong length is a clear error, raised before anything is allocated. */
class FromHostTest {
    @Test
    void theArrayMustHoldOneValuePerElement() {
        try (CpuBackend be = new CpuBackend(1)) {
            long before = be.memoryInUse();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.fromHost(new float[5], Shape.of(2, 3)));
            assertEquals("fromHost: 5 values for shape [2, 3], which has 6 elements", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> be.fromHost(new float[7], Shape.of(2, 3)), "more values than elements");
            assertTrue(assertThrows(IllegalArgumentException.class, () -> be.fromHost(new int[1], Shape.of(2))).getMessage()
                    .contains("1 values for shape [2]"));
            assertEquals(before, be.memoryInUse(), "nothing allocated for a refused copy");
            try (Tensor t = be.fromHost(new float[] {1, 2, 3, 4, 5, 6}, Shape.of(2, 3))) {
                assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, t.toFloatArray());
            }
        }
    }
}
