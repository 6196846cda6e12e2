package io.dltrain.runtime.tensor;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Scope closed while one opened inside it is still open (a Scope.open() without try-with-resources, never closed):
 * the close threw, but had already marked the outer scope closed and left both on the thread's stack, so neither ever
 * closed its tensors, and every tensor the thread made afterwards, even outside any scope, was taken by the forgotten
 * inner one. The outer close now closes the inner scopes first (they lie within it), then itself, and says so.
 */
class ScopeNestingTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    @Test
    void closingAScopeClosesTheScopesLeftOpenInsideItAndSaysSo() {
        Tensor outerT, innerT;
        Scope outer = Scope.open(), inner;
        try {
            outerT = be.zeros(Shape.of(3));
            inner = Scope.open();          // never closed by the caller
            innerT = be.zeros(Shape.of(2));
        } finally {
            var e = assertThrows(IllegalStateException.class, outer::close);
            assertEquals("1 Scope opened inside this one was still open: it is closed now, with its tensors; close every Scope you"
                    + " open (try-with-resources), innermost first", e.getMessage());
        }
        assertTrue(outerT.isClosed() && innerT.isClosed(), "both scopes closed their tensors");
        try (Tensor later = be.zeros(Shape.of(4))) {
            assertEquals(0, inner.tracked(), "a tensor made after, outside any scope, belongs to no scope");
            assertEquals(0, outer.tracked());
            try (Scope next = Scope.open()) {
                Tensor t = be.zeros(Shape.of(1));
                assertEquals(1, next.tracked());
                next.close();
                assertTrue(t.isClosed());
            }
            assertFalse(later.isClosed());
        }
        inner.close();   // already closed: harmless
    }

    @Test
    void aScopeClosedOnAnotherThreadIsRefusedAndStaysUsable() throws Exception {
        Scope s = Scope.open();
        Tensor t = be.zeros(Shape.of(2));
        Throwable[] got = new Throwable[1];
        Thread other = new Thread(() -> { try { s.close(); } catch (Throwable e) { got[0] = e; } });
        other.start();
        other.join();
        assertTrue(got[0] instanceof IllegalStateException, String.valueOf(got[0]));
        assertFalse(t.isClosed());
        s.close();
        assertTrue(t.isClosed(), "the opening thread still closes it");
    }
}
