package io.dltrain.runtime.optim;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** clipByGlobalNorm against torch.nn.utils.clip_grad_norm_'s formula evaluated in double. */
class GradClipTest {
    static final CpuBackend be = new CpuBackend(2);

    @AfterAll static void close() { be.close(); }

    /** Float sums of squares over ~7000 O(1) values vs double: 1e-5 relative. */
    static final double RTOL = 1e-5;

    /** Parameters [3, 4], [5], [7000] with random gradients scaled by `scale`, plus one without a gradient. */
    static List<Tensor> params(SplittableRandom rng, double scale) {
        List<Tensor> ps = new ArrayList<>();
        for (int[] dims : new int[][] {{3, 4}, {5}, {7000}}) {
            Shape s = Shape.of(dims);
            Tensor p = be.zeros(s).requiresGrad(true);
            p.setGrad(be.fromHost(Check.uniform(rng, s.size(), -scale, scale), s));
            ps.add(p);
        }
        ps.add(be.fromHost(new float[] {1, 2}, Shape.of(2)).requiresGrad(true));
        return ps;
    }

    static double referenceNorm(List<Tensor> ps) {
        double acc = 0;
        for (Tensor p : ps) if (p.grad() != null) for (float v : p.grad().toFloatArray()) acc += (double) v * v;
        return Math.sqrt(acc);
    }

    @Test void clipsWhenAboveMaxNorm() {
        List<Tensor> ps = params(new SplittableRandom(1), 1);
        try (Scope s = Scope.open()) {
            double norm = referenceNorm(ps);
            List<float[]> before = new ArrayList<>();
            for (Tensor p : ps) if (p.grad() != null) before.add(p.grad().toFloatArray());
            float maxNorm = (float) (norm / 3);
            Tensor got = GradClip.clipByGlobalNorm(ps, maxNorm);
            assertEquals(1, got.numel());
            Check.close("global norm", new double[] {norm}, got.toFloatArray(), 0, RTOL);
            double coef = maxNorm / (norm + 1e-6);
            int k = 0;
            for (Tensor p : ps) {
                if (p.grad() == null) continue;
                float[] b = before.get(k++);
                double[] want = new double[b.length];
                for (int i = 0; i < b.length; i++) want[i] = b[i] * coef;
                Check.close("clipped grad " + p.shape(), want, p.grad().toFloatArray(), 1e-7, RTOL);
            }
            Check.close("norm after clipping", new double[] {maxNorm}, new float[] {(float) referenceNorm(ps)}, 0, RTOL);
            assertArrayEquals(new float[] {1, 2}, ps.get(3).toFloatArray(), "a parameter without grad is left alone");
        } finally {
            ps.forEach(Tensor::close);
        }
    }

    @Test void leavesGradientsBelowMaxNorm() {
        List<Tensor> ps = params(new SplittableRandom(2), 1e-3);
        try (Scope s = Scope.open()) {
            double norm = referenceNorm(ps);
            List<float[]> before = new ArrayList<>();
            for (Tensor p : ps) if (p.grad() != null) before.add(p.grad().toFloatArray());
            Tensor got = GradClip.clipByGlobalNorm(ps, (float) (norm * 2));
            Check.close("global norm (small gradients)", new double[] {norm}, got.toFloatArray(), 0, RTOL);
            int k = 0;
            for (Tensor p : ps) if (p.grad() != null) assertArrayEquals(before.get(k++), p.grad().toFloatArray(), "gradients under the limit are unchanged");
        } finally {
            ps.forEach(Tensor::close);
        }
    }

    /**
     * Tiny gradients (a vanishing-gradient run) still report their true norm, as torch.nn.utils.clip_grad_norm_ does:
     * torch 2.13 returns 4.8174942e-19 for 7005 float32 gradients uniform in +-1e-20 (true 4.8174944e-19). The
     * device square root used to lose everything below about 1e-7 (it reported 0 for a norm of 5e-18), and they are
     * left unclipped.
     */
    @Test void reportsTheTrueNormOfTinyGradients() {
        for (double scale : new double[] {1e-20, 1e-17, 1e-12, 1e-9, 1e-7}) {
            List<Tensor> ps = params(new SplittableRandom(3), scale);
            try (Scope s = Scope.open()) {
                double norm = referenceNorm(ps);
                List<float[]> before = new ArrayList<>();
                for (Tensor p : ps) if (p.grad() != null) before.add(p.grad().toFloatArray());
                Check.close("global norm, gradients of " + scale, new double[] {norm}, GradClip.clipByGlobalNorm(ps, 1f).toFloatArray(), 0, RTOL);
                int k = 0;
                for (Tensor p : ps) if (p.grad() != null) assertArrayEquals(before.get(k++), p.grad().toFloatArray(), "gradients of " + scale + " unchanged");
            } finally {
                ps.forEach(Tensor::close);
            }
        }
    }

    @Test void zeroOrMissingGradientsGiveZeroNorm() {
        try (Scope s = Scope.open()) {
            Tensor p = be.zeros(Shape.of(4)).requiresGrad(true);
            assertEquals(0f, GradClip.clipByGlobalNorm(List.of(p), 1f).item(), "no gradients");
            p.setGrad(be.zeros(Shape.of(4)));
            assertEquals(0.0, GradClip.clipByGlobalNorm(List.of(p), 1f).item(), 1e-12, "all-zero gradients");
            assertArrayEquals(new float[4], p.grad().toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> GradClip.clipByGlobalNorm(List.of(p), 0f));
        }
    }

    /**
     * A NaN in any gradient makes the norm NaN and then every gradient NaN, as PyTorch's clip_grad_norm_ (with
     * error_if_nonfinite=False) does: its coefficient max_norm / (nan + 1e-6) stays NaN through clamp(max=1). The
     * finite gradients were left unchanged. Reference, torch 2.13 float32: a.grad = [nan, 1], b.grad = [2, 3],
     * torch.nn.utils.clip_grad_norm_([a, b], max_norm) returns nan and leaves a.grad = b.grad = [nan, nan], for
     * max_norm 1.0 and 100.0 alike.
     */
    @Test void aNanGradientMakesEveryGradientNanAsPyTorch() {
        for (float maxNorm : new float[] {1f, 100f}) {
            try (Scope s = Scope.open()) {
                Tensor a = be.zeros(Shape.of(2)).requiresGrad(true), b = be.zeros(Shape.of(2)).requiresGrad(true);
                a.setGrad(be.fromHost(new float[] {Float.NaN, 1f}, Shape.of(2)));
                b.setGrad(be.fromHost(new float[] {2f, 3f}, Shape.of(2)));
                assertTrue(Float.isNaN(GradClip.clipByGlobalNorm(List.of(a, b), maxNorm).item()), "norm");
                assertArrayEquals(new float[] {Float.NaN, Float.NaN}, a.grad().toFloatArray(), "a.grad, max_norm " + maxNorm);
                assertArrayEquals(new float[] {Float.NaN, Float.NaN}, b.grad().toFloatArray(), "b.grad, max_norm " + maxNorm);
            }
        }
    }

    /**
     * Gradients whose squares overflow float: the gradients are zeroed (coefficient 0) and, on the CPU, the norm is
     * infinity, as PyTorch reports it (torch 2.13 float32: a.grad = [1e30, 1e30], clip_grad_norm_([a], 1.0) returns inf
     * and leaves [0, 0]; likewise for 1e20). The javadoc said NaN, which only the device path (sqrtOnDevice) gives.
     */
    @Test void anOverflowingNormIsInfinityAsPyTorchAndZeroesTheGradients() {
        for (float g : new float[] {1e20f, 1e30f}) {
            try (Scope s = Scope.open()) {
                Tensor a = be.zeros(Shape.of(2)).requiresGrad(true);
                a.setGrad(be.fromHost(new float[] {g, g}, Shape.of(2)));
                assertEquals(Float.POSITIVE_INFINITY, GradClip.clipByGlobalNorm(List.of(a), 1f).item(), "norm of gradients " + g);
                assertArrayEquals(new float[] {0f, 0f}, a.grad().toFloatArray(), "gradients " + g);
            }
        }
    }

    /** The device-side square root over many magnitudes: within a few float ulps, or 1e-12 absolutely near 0. */
    @Test void deviceSqrtMatchesMathSqrt() {
        try (Scope s = Scope.open()) {
            for (double v : new double[] {0, 1e-24, 1e-14, 1e-12, 1e-9, 3e-7, 1e-4, 0.25, 1, 2, 1234.5, 1e8, 1e20, 1e36}) {
                Tensor in = be.fromHost(new float[] {(float) v}, Shape.of(1));
                double want = Math.sqrt((float) v);
                Check.close("sqrt(" + v + ")", new double[] {want}, GradClip.sqrtOnDevice(be, in).toFloatArray(), 1e-12, 1e-6);
            }
        }
    }
}
