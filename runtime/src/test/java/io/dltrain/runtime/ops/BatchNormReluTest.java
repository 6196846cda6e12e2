package io.dltrain.runtime.ops;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Norm#batchNormRelu}: the numbers of batchNorm, add and relu run one after the other, bit for bit (output,
 * running statistics, the gradients of x, gamma, beta and the added tensor), and a forward that keeps only x's
 * saved statistics and its output, where the separate ops kept the batch norm's output and the sum as well.
 */
class BatchNormReluTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    static final Shape SHAPE = Shape.of(4, 3, 5, 6);

    /** {output, running mean, running var, dx, dgamma, dbeta, didentity (or null)}, each as float bits. */
    static int[][] run(boolean fused, boolean withIdentity, boolean training) {
        SplittableRandom r = new SplittableRandom(11);
        float[] xs = new float[(int) SHAPE.numel()], ids = new float[xs.length], dys = new float[xs.length];
        for (int i = 0; i < xs.length; i++) { xs[i] = (float) r.nextGaussian() * 2 + 0.5f; ids[i] = (float) r.nextGaussian(); dys[i] = (float) r.nextGaussian(); }
        xs[3] = Float.NaN; // a NaN propagates through batch norm to its channel: relu's gradient passes dy there, both ways
        // values that sit exactly at relu's threshold after the add: identity = -bn(x) is not known before, so make x's
        // channel 2 constant (bn's output beta = 0 there) and identity 0 on part of it
        for (int n = 0; n < 4; n++) for (int i = 0; i < 30; i++) { xs[(n * 3 + 2) * 30 + i] = 1.25f; if (i % 2 == 0) ids[(n * 3 + 2) * 30 + i] = 0f; }
        try (Scope s = Scope.open()) {
            Tensor x = be.fromHost(xs, SHAPE).requiresGrad(true), id = be.fromHost(ids, SHAPE).requiresGrad(true);
            Tensor gamma = be.fromHost(new float[] {1.5f, -0.75f, 2f}, Shape.of(3)).requiresGrad(true);
            Tensor beta = be.fromHost(new float[] {0.1f, 0.3f, 0f}, Shape.of(3)).requiresGrad(true);
            Tensor rm = be.fromHost(new float[] {0.2f, -0.1f, 0f}, Shape.of(3)), rv = be.fromHost(new float[] {1f, 2f, 0.5f}, Shape.of(3));
            Tensor identity = withIdentity ? id : null;
            Tensor y = fused ? Norm.batchNormRelu(x, gamma, beta, rm, rv, training, 0.1f, 1e-5f, identity)
                    : Activations.relu(withIdentity ? Basic.add(Norm.batchNorm(x, gamma, beta, rm, rv, training, 0.1f, 1e-5f), id)
                                                    : Norm.batchNorm(x, gamma, beta, rm, rv, training, 0.1f, 1e-5f));
            backwardFrom(y, be.fromHost(dys, SHAPE));
            return new int[][] {bits(y), bits(rm), bits(rv), bits(x.grad()), bits(gamma.grad()), bits(beta.grad()),
                    withIdentity ? bits(id.grad()) : null};
        }
    }

    static void backwardFrom(Tensor y, Tensor dy) { io.dltrain.runtime.autograd.Autograd.backward(y, dy); }

    static int[] bits(Tensor t) {
        float[] v = t.toFloatArray();
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    @Test
    void fusedIsBitForBitTheSeparateOps() {
        String[] what = {"output", "running_mean", "running_var", "dx", "dgamma", "dbeta", "d(identity)"};
        for (boolean training : new boolean[] {true, false})
            for (boolean withIdentity : new boolean[] {false, true}) {
                int[][] sep = run(false, withIdentity, training), fused = run(true, withIdentity, training);
                for (int k = 0; k < what.length; k++)
                    assertArrayEquals(sep[k], fused[k], what[k] + (withIdentity ? " with" : " without") + " the add, training " + training);
            }
    }

    @Test
    void keepsOnlyItsOutputBesideTheSavedStatistics() {
        long act = 4 * SHAPE.numel(), perChannel = 4 * 3;
        for (boolean withIdentity : new boolean[] {false, true}) {
            try (Scope s = Scope.open()) {
                Tensor x = be.zeros(SHAPE).requiresGrad(true), id = be.zeros(SHAPE);
                Tensor gamma = be.zeros(Shape.of(3)).requiresGrad(true), beta = be.zeros(Shape.of(3)).requiresGrad(true);
                Tensor rm = be.zeros(Shape.of(3)), rv = be.zeros(Shape.of(3));
                long before = be.memoryStats().inUseBytes();
                Norm.batchNormRelu(x, gamma, beta, rm, rv, true, 0.1f, 1e-5f, withIdentity ? id : null);
                // the output, and the batch mean and inverse standard deviation backward reads; the separate ops kept
                // the batch norm's output (and the sum) besides: 2 (3) activations
                assertEquals(act + 2 * perChannel, be.memoryStats().inUseBytes() - before, withIdentity ? "with the add" : "without the add");
            }
        }
    }

    @Test
    void anAddedTensorOfAnotherShapeIsRefused() {
        try (Scope s = Scope.open()) {
            Tensor x = be.zeros(SHAPE), c = be.zeros(Shape.of(3));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Norm.batchNormRelu(x, c, c, c, c, true, 0.1f, 1e-5f, be.zeros(Shape.of(4, 3, 5, 5))));
            assertTrue(e.getMessage().contains("[4, 3, 5, 6]") && e.getMessage().contains("[4, 3, 5, 5]"), e.getMessage());
        }
    }
}
