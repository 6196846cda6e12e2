package io.dltrain.runtime.tensor;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Basic;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A view (a reshape's output) never reads or writes its storage once the tensor owning that storage is closed. */
class TensorViewTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    /** The pool hands the closed tensor's array to the next tensor of its size: a view reading it would see that one's data. */
    @Test
    void aViewOfAClosedTensorIsClosedToo() {
        Tensor x = Scope.outside(() -> be.fromHost(new float[] {1, 2, 3, 4}, Shape.of(1, 1, 2, 2)).name("x"));
        Tensor flat = Scope.outside(() -> Basic.flatten(x));
        Tensor flatAgain = flat.view(Shape.of(4));
        assertArrayEquals(new float[] {1, 2, 3, 4}, flat.toFloatArray());
        x.close();
        try (Tensor other = Scope.outside(() -> be.fromHost(new float[] {9, 9, 9, 9}, Shape.of(4)))) {
            assertTrue(flat.isClosed());
            assertTrue(flatAgain.isClosed());
            var e = assertThrows(IllegalStateException.class, flat::toFloatArray);
            assertEquals("tensor [1, 4] FP32 is a view of x [1, 1, 2, 2] FP32, which was closed (its memory may already hold another"
                    + " tensor); keep the tensor it views open while the view is used", e.getMessage());
            assertThrows(IllegalStateException.class, () -> be.fill(flatAgain, 0f));
            assertArrayEquals(new float[] {9, 9, 9, 9}, other.toFloatArray());
        }
        flat.close(); // still idempotent and harmless
    }

    @Test
    void closingAViewLeavesItsOwnerOpen() {
        try (Tensor x = Scope.outside(() -> be.fromHost(new float[] {1, 2}, Shape.of(2)))) {
            Tensor v = x.view(Shape.of(1, 2));
            v.close();
            assertFalse(x.isClosed());
            assertArrayEquals(new float[] {1, 2}, x.toFloatArray());
        }
    }

    /**
     * view(offset, shape) is a window into this tensor: a negative offset, or a window running past this tensor's last
     * element, read the owner's storage outside it (another part of a flat buffer) or, past the storage, failed inside
     * the backend with an ArrayIndexOutOfBoundsException.
     */
    @Test
    void aViewStaysInsideTheTensorItViews() {
        try (Tensor x = Scope.outside(() -> be.fromHost(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, Shape.of(8)))) {
            Tensor head = x.view(0, Shape.of(4)), tail = x.view(4, Shape.of(4));
            assertArrayEquals(new float[] {3, 4}, head.view(2, Shape.of(2)).toFloatArray());
            assertArrayEquals(new float[] {5, 6, 7, 8}, tail.view(0, Shape.of(4)).toFloatArray());
            var e = assertThrows(IllegalArgumentException.class, () -> head.view(2, Shape.of(4)));
            assertEquals("view [4] at offset 2 is outside the 4 elements of the tensor [4] FP32 it views", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> tail.view(-2, Shape.of(2)));
            assertEquals("view [2] at offset -2 is outside the 4 elements of the tensor [4] FP32 it views", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> x.view(-1, Shape.of(2)));
        }
    }
}
