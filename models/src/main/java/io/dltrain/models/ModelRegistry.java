package io.dltrain.models;

import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Flatten;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.MaxPool2d;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;

import java.util.List;
import java.util.Locale;
import java.util.function.BiFunction;

/**
 * The model registry: plain code, one entry per model, each a name, a one-line description, the input it was
 * designed for, and a builder. To add a model, write its builder below and add one line to {@link #ENTRIES}.
 */
public final class ModelRegistry {
    private ModelRegistry() {}

    /** A registered model. {@code defaultSpec} is the input and class count it is listed with. */
    public record Entry(String name, String description, ModelSpec defaultSpec, BiFunction<Context, ModelSpec, Module> builder) {
        public Module build(Context ctx, ModelSpec spec) { return builder.apply(ctx, spec); }
    }

    private static final List<Entry> ENTRIES = List.of(
            new Entry("mlp", "multi-layer perceptron 784-256-128-10 with ReLU (Fashion-MNIST baseline)",
                    new ModelSpec(1, 28, 28, 10), ModelRegistry::mlp),
            new Entry("lenet5", "LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv5-pool-conv5-pool-fc120-fc84",
                    new ModelSpec(1, 28, 28, 10), ModelRegistry::lenet5));

    public static List<Entry> entries() { return ENTRIES; }

    public static List<String> names() { return ENTRIES.stream().map(Entry::name).toList(); }

    /** The entry called name; an IllegalArgumentException listing the valid names otherwise. */
    public static Entry get(String name) {
        String key = name.toLowerCase(Locale.ROOT);
        for (Entry e : ENTRIES) if (e.name().equals(key)) return e;
        throw new IllegalArgumentException("unknown model '" + name + "'. Available models: " + String.join(", ", names())
                + " (see `dl-train models`)");
    }

    /** Flatten, then in -> 256 -> 128 -> classes with ReLU between. */
    static Module mlp(Context ctx, ModelSpec s) {
        int in = s.inChannels() * s.height() * s.width();
        return new Sequential(
                new Flatten(),
                new Linear(ctx, in, 256), new ReLU(),
                new Linear(ctx, 256, 128), new ReLU(),
                new Linear(ctx, 128, s.numClasses()));
    }

    /**
     * LeNet-5 for 28x28 inputs as commonly trained on MNIST-like data: the first convolution pads by 2 so the
     * 28x28 image plays the role of LeNet's 32x32 input. For other sizes the fully connected input follows the size.
     */
    static Module lenet5(Context ctx, ModelSpec s) {
        int h = (s.height() / 2 - 4) / 2, w = (s.width() / 2 - 4) / 2;
        if (h < 1 || w < 1) throw new IllegalArgumentException("lenet5 needs inputs of at least 12x12, got " + s.height() + "x" + s.width());
        return new Sequential(
                new Conv2d(ctx, s.inChannels(), 6, 5, 1, 2), new ReLU(), new MaxPool2d(2, 2, 0),
                new Conv2d(ctx, 6, 16, 5, 1, 0), new ReLU(), new MaxPool2d(2, 2, 0),
                new Flatten(),
                new Linear(ctx, 16 * h * w, 120), new ReLU(),
                new Linear(ctx, 120, 84), new ReLU(),
                new Linear(ctx, 84, s.numClasses()));
    }
}
