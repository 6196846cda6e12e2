package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The trainer's accuracy counts: on the device between reads, and exact past 2^24, where an FP32 count stops counting. */
class HitCountTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** n rows of one class each (logits [n, 1], label 0): every row a top-1 hit. */
    private static void addHits(HitCount c, int n) {
        try (Scope s = Scope.open()) {
            c.add(be.zeros(Shape.of(n, 1)), be.zeros(Shape.of(n), DType.INT32), 1);
        }
    }

    @Test
    void countsPast2To24Exactly() {
        // 2^24 - 1 hits, then 4: 16,777,219, which FP32 cannot hold (it rounds to 16,777,220), as the trainer's device
        // count did. The second batch would take the device count past 2^24, so the first is moved to the host first.
        assertEquals(16_777_220f, (float) (HitCount.EXACT_IN_FLOAT - 1) + 4f, "FP32 rounds the sum");
        try (HitCount c = new HitCount(be)) {
            c.reset(0);
            addHits(c, (int) HitCount.EXACT_IN_FLOAT - 1);
            assertEquals(16_777_215d, c.total());
            addHits(c, 4);
            assertEquals(16_777_219d, c.total());
            // a resumed count above 2^24 starts on the host: adding to it is exact too
            c.reset(16_777_217d);
            addHits(c, 3);
            assertEquals(16_777_220d, c.total());
            c.reset(0);
            assertEquals(0d, c.total());
        }
    }

    @Test
    void movesTheDeviceCountToTheHostBeforeItPassesTheLimit() {
        // A limit of 5 rows: batches of 3 hit, miss, hit... are summed across several moves, exactly.
        try (HitCount c = new HitCount(be, 5); Scope s = Scope.open()) {
            c.reset(10);
            Tensor logits = be.fromHost(new float[] {1, 0, 0, 1, 1, 0}, Shape.of(3, 2));   // argmax 0, 1, 0
            Tensor labels = be.fromHost(new int[] {0, 0, 0}, Shape.of(3));                  // hits: rows 0 and 2
            long want = 10;
            for (int i = 0; i < 7; i++) {
                c.add(logits, labels, 1);
                want += 2;
                assertEquals((double) want, c.total(), "after batch " + (i + 1));
            }
            c.add(logits, labels, 2);   // top-2 of 2 classes: every row
            assertEquals((double) want + 3, c.total());
        }
    }
}
