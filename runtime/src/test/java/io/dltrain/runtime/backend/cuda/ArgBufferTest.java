package io.dltrain.runtime.backend.cuda;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The cuLaunchKernel argument block, checked in host memory (JavaCPP only, no CUDA): kernelParams[i] points at a slot
 * holding argument i with the kernel's parameter width, read back through typed pointers at those addresses.
 */
class ArgBufferTest {
    @Test
    void rawAddressPointerKeepsTheAddress() {
        // A regression: the anonymous Pointer once assigned its own (shadowing) field to itself and came out NULL.
        Pointer p = CudaContext.pointer(0x7f00_1234_5678L);
        assertEquals(0x7f00_1234_5678L, p.address());
        assertEquals(0, p.position());
        assertEquals(0, p.capacity(), "no ownership: a view of device memory");
    }

    @Test
    void eachParamPointsAtItsValue() {
        Object[] args = {0x7f12_3456_7890L, 2.5f, -3, 1L << 40, Float.NaN, Integer.MAX_VALUE};
        try (PtxKernels.ArgBuffer buf = new PtxKernels.ArgBuffer()) {
            PointerPointer<Pointer> params = buf.marshal(args);
            long[] addr = new long[args.length];
            for (int i = 0; i < args.length; i++) addr[i] = params.get(i).address();
            for (int i = 1; i < args.length; i++) assertEquals(8, addr[i] - addr[i - 1], "8-byte slots, in order");
            assertEquals(0x7f12_3456_7890L, new LongPointer(CudaContext.pointer(addr[0])).get());
            assertEquals(2.5f, new FloatPointer(CudaContext.pointer(addr[1])).get());
            assertEquals(-3, new IntPointer(CudaContext.pointer(addr[2])).get());
            assertEquals(1L << 40, new LongPointer(CudaContext.pointer(addr[3])).get());
            assertTrue(Float.isNaN(new FloatPointer(CudaContext.pointer(addr[4])).get()));
            assertEquals(Integer.MAX_VALUE, new IntPointer(CudaContext.pointer(addr[5])).get());
            // Reuse: a second launch overwrites the slots in place.
            buf.marshal(new Object[] {5L, 7});
            assertEquals(5L, new LongPointer(CudaContext.pointer(addr[0])).get());
            assertEquals(7, new IntPointer(CudaContext.pointer(addr[1])).get());
            assertThrows(IllegalArgumentException.class, () -> buf.marshal(new Object[] {1.0}));
        }
    }
}
