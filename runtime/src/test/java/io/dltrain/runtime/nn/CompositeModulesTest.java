package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The library's two composite modules, which no registry model uses (ResNet, GoogLeNet and DenseNet have their own
 * blocks): {@link Residual} (body(x) + shortcut(x), then post) and {@link Concat} (branches side by side along
 * channels). Outputs against their parts run one by one, state_dict names, and gradients against finite differences.
 */
class CompositeModulesTest {
    static final CpuBackend be = new CpuBackend(1);

    @AfterAll static void close() { be.close(); }

    @Test
    void residualAddsTheBodyToTheShortcutThenRunsPost() {
        SplittableRandom rng = new SplittableRandom(8);
        Context ctx = new Context(be, 5);
        Linear body = Scope.outside(() -> new Linear(ctx, 4, 4)), body2 = Scope.outside(() -> new Linear(ctx, 4, 3));
        Linear projection = Scope.outside(() -> new Linear(ctx, 4, 3, false));
        try (Residual identity = Scope.outside(() -> new Residual(new Sequential(body)));
             Residual projected = Scope.outside(() -> new Residual(body2, projection, new ReLU()));
             Scope s = Scope.open()) {
            assertEquals(List.of("body.0.weight", "body.0.bias"), List.copyOf(identity.namedParameters().keySet()));
            assertEquals(List.of("body.weight", "body.bias", "shortcut.weight"), List.copyOf(projected.namedParameters().keySet()));
            Tensor x = Check.param(be, rng, -1, 1, 3, 4);
            float[] in = x.toFloatArray(), b = body.forward(x).toFloatArray(), got = identity.forward(x).toFloatArray();
            float[] want = new float[in.length];
            for (int i = 0; i < in.length; i++) want[i] = b[i] + in[i];
            assertArrayEquals(want, got, "identity shortcut: body(x) + x");
            float[] b2 = body2.forward(x).toFloatArray(), sc = projection.forward(x).toFloatArray(), got2 = projected.forward(x).toFloatArray();
            float[] want2 = new float[b2.length];
            for (int i = 0; i < b2.length; i++) want2[i] = Math.max(b2[i] + sc[i], 0f);
            assertArrayEquals(want2, got2, "relu(body(x) + shortcut(x))");
            Check.gradients("residual", in2 -> identity.forward(in2.getFirst()), List.of(x, body.weight(), body.bias()), 1e-2, 1e-3, 1e-2);
        }
    }

    @Test
    void concatPutsTheBranchesSideBySideAlongChannels() {
        SplittableRandom rng = new SplittableRandom(9);
        Context ctx = new Context(be, 6);
        Conv2d a = Scope.outside(() -> new Conv2d(ctx, 2, 3, 1, 1, 0)), b = Scope.outside(() -> new Conv2d(ctx, 2, 1, 3, 1, 1));
        try (Concat both = Scope.outside(() -> new Concat(a, b)); Scope s = Scope.open()) {
            assertEquals(List.of("branch1.weight", "branch1.bias", "branch2.weight", "branch2.bias"), List.copyOf(both.namedParameters().keySet()));
            Tensor x = Check.param(be, rng, -1, 1, 2, 2, 3, 3);
            float[] ya = a.forward(x).toFloatArray(), yb = b.forward(x).toFloatArray(), got = both.forward(x).toFloatArray();
            assertEquals(2 * 4 * 9, got.length);
            float[] want = new float[got.length];
            for (int n = 0; n < 2; n++) {
                System.arraycopy(ya, n * 27, want, n * 36, 27);        // branch 1: channels 0-2
                System.arraycopy(yb, n * 9, want, n * 36 + 27, 9);     // branch 2: channel 3
            }
            assertArrayEquals(want, got, "[branch1 | branch2] per sample");
            Check.gradients("concat", in -> both.forward(in.getFirst()), List.of(x, a.weight(), b.weight()), 1e-2, 1e-3, 1e-2);
        }
    }

    /**
     * A Residual whose body changes the shape says so, with both shapes and what to change: it said only "add: shapes
     * differ: [2, 3] vs [2, 4]", naming neither the module nor its parts.
     */
    @Test
    void aResidualWhoseBodyChangesTheShapeSaysWhatToDo() {
        try (Residual widening = Scope.outside(() -> new Residual(new Linear(new Context(be, 5), 4, 3))); Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> widening.forward(be.zeros(Shape.of(2, 4))));
            assertEquals("Residual: the body's output [2, 3] and the shortcut's [2, 4] (the input itself: no shortcut module) differ in"
                    + " shape, so they cannot be added; give a shortcut module that maps the input to [2, 3] (a Linear, or a 1x1 Conv2d"
                    + " with the stride of the body), or a body that keeps the input's shape", e.getMessage());
        }
    }

    /**
     * Branches whose outputs differ outside the channel dimension are refused, naming the branches: [1, 3, 2, 8] and
     * [1, 3, 4, 4] (the same number of elements per channel) were joined into [1, 6, 2, 8], the second branch's 4x4
     * maps read as 2x8 ones, without a word; the op compared only the product of the dimensions after the channels.
     */
    @Test
    void branchesThatDifferOutsideTheChannelsAreRefusedByName() {
        try (Concat c = Scope.outside(() -> new Concat(new Unflatten(3, 2, 8), new Unflatten(3, 4, 4))); Scope s = Scope.open()) {
            var e = assertThrows(IllegalArgumentException.class, () -> c.forward(be.zeros(Shape.of(1, 48))));
            assertEquals("Concat: branch2's output [1, 3, 4, 4] does not fit branch1's [1, 3, 2, 8]: the branches' outputs are joined along"
                    + " dimension 1 (channels), so every other dimension must agree; make each branch keep the same height and width"
                    + " (padding, stride)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> io.dltrain.runtime.ops.Basic.concatChannels(List.of(be.zeros(Shape.of(2, 3, 2, 8)), be.zeros(Shape.of(2, 1, 4, 4)))));
            assertEquals("concat: [2, 1, 4, 4] does not match [2, 3, 2, 8] outside dimension 1", e.getMessage());
        }
    }
}
