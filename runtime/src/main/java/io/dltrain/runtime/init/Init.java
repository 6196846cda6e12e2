package io.dltrain.runtime.init;

import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import java.util.random.RandomGenerator;

/**
 * Weight initialisers with torch.nn.init's formulas. Values are drawn on the host from the given generator and
 * uploaded, so the same seed gives the same weights on every backend.
 *
 * <p>Fans follow PyTorch: for a weight [out, in, k...] the receptive field is the product of k...,
 * fan_in = in * receptive, fan_out = out * receptive.
 *
 * <p>On the meta device ({@code backend.meta.MetaBackend}) tensors have no values, so the random initialisers return
 * without drawing (and without the host array a draw would need): building a 100M-parameter model there stays
 * instant. The generator is then left where it was; nothing can observe that, since meta tensors have no values.
 */
public final class Init {
    private Init() {}

    /** Which fan a Kaiming initialiser preserves. */
    public enum FanMode { FAN_IN, FAN_OUT }

    /** True for meta tensors, which have a shape but no values to initialise. */
    private static boolean valueless(Tensor t) { return t.device().kind() == Device.Kind.META; }

    public static int fanIn(Tensor w) {
        if (w.rank() < 2) throw new IllegalArgumentException("fan in/out need a weight of rank >= 2, got " + w.shape());
        return w.dim(1) * w.shape().sizeFrom(2);
    }

    public static int fanOut(Tensor w) {
        if (w.rank() < 2) throw new IllegalArgumentException("fan in/out need a weight of rank >= 2, got " + w.shape());
        return w.dim(0) * w.shape().sizeFrom(2);
    }

    /** torch.nn.init.calculate_gain for "linear"/"conv"/"sigmoid" (1), "tanh" (5/3), "relu" (sqrt 2), "leaky_relu" (param = slope), "selu" (3/4). */
    public static double gain(String nonlinearity, double param) {
        return switch (nonlinearity) {
            case "linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity" -> 1.0;
            case "tanh" -> 5.0 / 3;
            case "relu" -> Math.sqrt(2.0);
            case "leaky_relu" -> Math.sqrt(2.0 / (1 + param * param));
            case "selu" -> 3.0 / 4;
            default -> throw new IllegalArgumentException("unknown nonlinearity '" + nonlinearity + "' (linear, sigmoid, tanh, relu, leaky_relu, selu)");
        };
    }

    public static void constant(Tensor t, float value) { t.backend().fill(t, value); }

    public static void uniform(Tensor t, double low, double high, RandomGenerator rng) {
        if (valueless(t)) return;
        float[] v = new float[t.shape().size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (low + (high - low) * rng.nextDouble());
        t.backend().copyFromHost(v, 0, t);
    }

    public static void normal(Tensor t, double mean, double std, RandomGenerator rng) {
        if (valueless(t)) return;
        float[] v = new float[t.shape().size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (mean + std * rng.nextGaussian());
        t.backend().copyFromHost(v, 0, t);
    }

    /** Normal(mean, std) redrawn until inside [a, b] (absolute bounds, as torch.nn.init.trunc_normal_). */
    public static void truncatedNormal(Tensor t, double mean, double std, double a, double b, RandomGenerator rng) {
        if (!(a < b)) throw new IllegalArgumentException("truncated normal needs a < b, got [" + a + ", " + b + "]");
        if (valueless(t)) return;
        float[] v = new float[t.shape().size()];
        for (int i = 0; i < v.length; i++) {
            double x;
            int tries = 0;
            do {
                x = mean + std * rng.nextGaussian();
                if (++tries > 1000) { x = Math.min(b, Math.max(a, mean)); break; }
            } while (x < a || x > b);
            v[i] = (float) x;
        }
        t.backend().copyFromHost(v, 0, t);
    }

    /** Glorot/Xavier uniform: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)). */
    public static void xavierUniform(Tensor t, double gain, RandomGenerator rng) {
        double bound = gain * Math.sqrt(6.0 / (fanIn(t) + fanOut(t)));
        uniform(t, -bound, bound, rng);
    }

    /** Glorot/Xavier normal: N(0, std), std = gain * sqrt(2 / (fan_in + fan_out)). */
    public static void xavierNormal(Tensor t, double gain, RandomGenerator rng) {
        normal(t, 0, gain * Math.sqrt(2.0 / (fanIn(t) + fanOut(t))), rng);
    }

    /** He/Kaiming uniform: bound = gain(nonlinearity, a) * sqrt(3 / fan). PyTorch's Linear/Conv default is a = sqrt(5), leaky_relu, fan_in. */
    public static void kaimingUniform(Tensor t, double a, FanMode mode, String nonlinearity, RandomGenerator rng) {
        int fan = mode == FanMode.FAN_IN ? fanIn(t) : fanOut(t);
        double bound = gain(nonlinearity, a) * Math.sqrt(3.0 / fan);
        uniform(t, -bound, bound, rng);
    }

    /** He/Kaiming normal: std = gain(nonlinearity, a) / sqrt(fan). torchvision's ResNet uses fan_out, relu. */
    public static void kaimingNormal(Tensor t, double a, FanMode mode, String nonlinearity, RandomGenerator rng) {
        int fan = mode == FanMode.FAN_IN ? fanIn(t) : fanOut(t);
        normal(t, 0, gain(nonlinearity, a) / Math.sqrt(fan), rng);
    }

    /** PyTorch's default for Linear and Conv weights: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    public static void pytorchDefaultWeight(Tensor w, RandomGenerator rng) {
        kaimingUniform(w, Math.sqrt(5), FanMode.FAN_IN, "leaky_relu", rng);
    }

    /** PyTorch's default for Linear and Conv biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in. */
    public static void pytorchDefaultBias(Tensor bias, int fanIn, RandomGenerator rng) {
        double bound = fanIn > 0 ? 1.0 / Math.sqrt(fanIn) : 0;
        uniform(bias, -bound, bound, rng);
    }
}
