package io.dltrain.runtime.autograd;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.ops.Sequence;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Backward closes each gradient it made once it has been passed on, unless a gradient still to be passed on shares its
 * memory. Ops a library user records with {@link Autograd#record} may hand their output's gradient on as it is, to a
 * parameter and to an intermediate tensor at once, or as views of it split between their inputs: closed too early, such a
 * gradient fails the backward ("used after close") or, once its array is reused, gives wrong numbers. Each graph here is
 * checked against finite differences, and the memory in use returns to where it was.
 */
class CustomOpGradientFreeingTest {

    /** y = x (a copy), whose backward hands dy on as it is. */
    static Tensor identity(Tensor x) {
        Tensor y = x.backend().empty(x.shape());
        x.backend().copy(x, y);
        return Autograd.record("identity", y, new Tensor[] {x}, (dy, needs) -> new Tensor[] {dy});
    }

    /** y = a + b, whose backward hands the one tensor dy to both inputs. */
    static Tensor sum(Tensor a, Tensor b) {
        Tensor y = a.backend().empty(a.shape());
        a.backend().add(a, b, y);
        return Autograd.record("sum", y, new Tensor[] {a, b}, (dy, needs) -> new Tensor[] {dy, dy});
    }

    /** a over b ([r, c] each) as one [2r, c] tensor, whose backward gives each input a view of its half of dy. */
    static Tensor stackRows(Tensor a, Tensor b) {
        Backend be = a.backend();
        long n = a.numel();
        Tensor y = be.empty(Shape.of(2 * a.dim(0), a.dim(1)));
        be.copyBlocks(a, 0, n, y, 0, n, n, 1);
        be.copyBlocks(b, 0, n, y, n, n, n, 1);
        return Autograd.record("stack_rows", y, new Tensor[] {a, b}, (dy, needs) -> new Tensor[] {dy.view(0, a.shape()), dy.view(n, b.shape())});
    }

    private static void check(String what, Function<List<Tensor>, Tensor> fn) {
        try (CpuBackend be = new CpuBackend(1)) {
            SplittableRandom r = new SplittableRandom(5);
            Tensor a = Check.param(be, r, -1, 1, 2, 3), b = Check.param(be, r, -1, 1, 2, 3);
            long inUse = be.memoryStats().inUseBytes();
            Check.gradients(what, fn, List.of(a, b), Check.EPS, Check.ATOL, Check.RTOL);
            assertEquals(inUse, be.memoryStats().inUseBytes(), what + ": bytes in use after the backward's scope closed");
            a.close();
            b.close();
        }
    }

    @Test
    void anOpHandingItsOutputGradientOnAsItIs() {
        check("identity of an intermediate", in -> {
            Tensor h = Sequence.mul(in.get(0), in.get(1));
            return Basic.add(Activations.tanh(identity(identity(h))), Activations.tanh(h));
        });
        check("identity of a parameter", in -> Basic.add(Activations.tanh(identity(in.get(0))), Sequence.mul(identity(in.get(0)), in.get(1))));
    }

    @Test
    void anOpHandingOneGradientToAParameterAndAnIntermediate() {
        check("sum", in -> {
            Tensor h = Activations.tanh(in.get(1));
            return Sequence.mul(sum(in.get(0), h), sum(h, in.get(0)));
        });
        check("add of a tensor to itself", in -> {
            Tensor h = Sequence.mul(in.get(0), in.get(1));
            return Sequence.mul(Basic.add(h, h), Basic.add(in.get(0), in.get(0)));
        });
    }

    @Test
    void anOpGivingItsInputsViewsOfItsOutputGradient() {
        check("stack_rows", in -> {
            Tensor h = Activations.sigmoid(in.get(0));
            Tensor top = stackRows(h, Activations.tanh(in.get(1)));
            return Sequence.mul(Activations.tanh(top), stackRows(Sequence.mul(h, in.get(1)), h));
        });
        check("reshapes", in -> {
            Tensor h = Sequence.mul(in.get(0), in.get(1));
            Tensor v = Basic.reshape(Basic.reshape(Basic.reshape(Activations.tanh(h), Shape.of(3, 2)), Shape.of(6)), Shape.of(2, 3));
            return Basic.add(Sequence.mul(v, h), Basic.reshape(Basic.reshape(h, Shape.of(6)), Shape.of(2, 3)));
        });
    }

    /**
     * The bytes in use when backward reaches the bottom of two graphs that differ only by reshapes, which take no memory:
     * a reshape's backward gives a view of its output's gradient, which kept that gradient (as large as the activation)
     * allocated until backward ended, once per reshape, though nothing read it after the view was passed on.
     */
    @Test
    void aReshapesGradientIsFreedOnceItsViewIsPassedOn() {
        try (CpuBackend be = new CpuBackend(1)) {
            long[] plain = inUseAtTheBottom(be, false), reshaped = inUseAtTheBottom(be, true);
            assertEquals(plain[0], reshaped[0], "bytes in use after the forward");
            assertEquals(plain[1], reshaped[1], "bytes in use when backward reached the bottom, with two reshapes of [64, 256] on the way");
        }
    }

    /** {bytes in use after the forward, bytes in use when backward reaches the op at the bottom of the graph}. */
    private static long[] inUseAtTheBottom(CpuBackend be, boolean reshapes) {
        long[] at = new long[2];
        try (Scope s = Scope.open()) {
            Tensor x = be.zeros(Shape.of(64, 256)).requiresGrad(true);
            Tensor probe = Autograd.record("probe", identity(x), new Tensor[] {x}, (dy, needs) -> {
                at[1] = be.memoryStats().inUseBytes();
                return new Tensor[] {dy};
            });
            Tensor h = Activations.tanh(probe);
            if (reshapes) h = Basic.reshape(h, Shape.of(64, 16, 16));
            h = Activations.tanh(h);
            if (reshapes) h = Basic.reshape(h, Shape.of(64, 256));
            Tensor y = Activations.tanh(h);
            at[0] = be.memoryStats().inUseBytes();
            Autograd.backward(y, be.zeros(y.shape()));
            x.clearGrad();
        }
        return at;
    }

    @Test
    void aSecondBackwardOnOneGraphAddsTheSameGradientsAndLeavesTheCallersGradientAlone() {
        try (CpuBackend be = new CpuBackend(1); Scope s = Scope.open()) {
            SplittableRandom r = new SplittableRandom(5);
            Tensor a = Check.param(be, r, -1, 1, 2, 3), b = Check.param(be, r, -1, 1, 2, 3);
            Tensor h = Sequence.mul(a, b);
            Tensor y = Activations.sigmoid(identity(Basic.add(Basic.reshape(sum(h, h), Shape.of(2, 3)), Activations.tanh(h))));
            float[] seed = {1, 2, 3, 4, 5, 6};
            Tensor dy = be.fromHost(seed, Shape.of(2, 3));
            Autograd.backward(y, dy);
            float[] once = a.grad().toFloatArray();
            Autograd.backward(y, dy);
            float[] twice = a.grad().toFloatArray();
            for (int i = 0; i < once.length; i++) assertEquals(2 * once[i], twice[i], 1e-5 * Math.abs(once[i]), "element " + i);
            assertArrayEquals(seed, dy.toFloatArray(), "the caller's gradient is neither closed nor written");
        }
    }
}
