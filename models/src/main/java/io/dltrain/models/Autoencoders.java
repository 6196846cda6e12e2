package io.dltrain.models;

import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.ConvTranspose2d;
import io.dltrain.runtime.nn.Flatten;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sigmoid;
import io.dltrain.runtime.nn.Unflatten;

/**
 * Autoencoders, trained for {@link io.dltrain.runtime.train.Task#RECONSTRUCTION}: the output has the input's shape
 * and ends in a Sigmoid, so it reconstructs pixels scaled to [0, 1]. Written as PyTorch tutorials write them, an
 * {@code encoder} and a {@code decoder} nn.Sequential, so the state_dict keys are {@code encoder.1.weight}, ...
 * The class count of the spec is ignored.
 */
final class Autoencoders {
    private Autoencoders() {}

    /** Dense: Flatten, in -> 256 -> 64 (the code) -> 256 -> in with ReLU between, Sigmoid, back to [C, H, W]. */
    static Module dense(Context ctx, ModelSpec s) {
        int in = s.inChannels() * s.height() * s.width();
        return new NamedSequential()
                .add("encoder", new io.dltrain.runtime.nn.Sequential(
                        new Flatten(),
                        new Linear(ctx, in, 256), new ReLU(),
                        new Linear(ctx, 256, 64), new ReLU()))
                .add("decoder", new io.dltrain.runtime.nn.Sequential(
                        new Linear(ctx, 64, 256), new ReLU(),
                        new Linear(ctx, 256, in), new Sigmoid(),
                        new Unflatten(s.inChannels(), s.height(), s.width())));
    }

    /**
     * Convolutional: two 3x3 stride-2 convolutions (C -> 16 -> 32 channels, each halving the size, rounding up) and
     * two 3x3 stride-2 transposed convolutions back (32 -> 16 -> C), with ReLU between and a Sigmoid at the end. The
     * transposed convolutions' output_padding (1 for an even size, 0 for an odd one) restores the exact input size.
     */
    static Module conv(Context ctx, ModelSpec s) {
        int h1 = half(s.height()), w1 = half(s.width()), h2 = half(h1), w2 = half(w1);
        if (s.height() < 3 || s.width() < 3)
            throw new IllegalArgumentException("conv-autoencoder needs inputs of at least 3x3, got " + s.height() + "x" + s.width());
        return new NamedSequential()
                .add("encoder", new io.dltrain.runtime.nn.Sequential(
                        new Conv2d(ctx, s.inChannels(), 16, 3, 2, 1), new ReLU(),
                        new Conv2d(ctx, 16, 32, 3, 2, 1), new ReLU()))
                .add("decoder", new io.dltrain.runtime.nn.Sequential(
                        new ConvTranspose2d(ctx, 32, 16, 3, 3, 2, 2, 1, 1, h1 - 2 * h2 + 1, w1 - 2 * w2 + 1, 1, 1, 1, true), new ReLU(),
                        new ConvTranspose2d(ctx, 16, s.inChannels(), 3, 3, 2, 2, 1, 1,
                                s.height() - 2 * h1 + 1, s.width() - 2 * w1 + 1, 1, 1, 1, true),
                        new Sigmoid()));
    }

    /** Output size of a 3x3 stride-2 padding-1 convolution: ceil(n / 2). */
    private static int half(int n) { return (n - 1) / 2 + 1; }
}
