package io.dltrain.models;

import io.dltrain.runtime.Names;
import io.dltrain.runtime.backend.meta.MetaBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Flatten;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.MaxPool2d;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.train.Task;

import java.util.List;
import java.util.Locale;
import java.util.function.BiFunction;

/**
 * The model registry: plain code, one entry per model, each a name, a one-line description, the input it was
 * designed for, and a builder. To add a model, write its builder (below, or in a file per family such as
 * {@link ResNets}) and add one line to {@link #ENTRIES}. The torchvision models have torchvision's parameter counts
 * and state_dict key names, so weights can be exchanged with PyTorch.
 */
public final class ModelRegistry {
    private ModelRegistry() {}

    /**
     * A registered model. {@code defaultSpec} is the input and class count it is listed with; {@code task} what it
     * is trained for (classification unless said otherwise: it chooses the loss, the target and the metric).
     * {@link #parameterCount} builds the model on the {@link MetaBackend}, so it allocates no tensor memory.
     */
    public record Entry(String name, String description, ModelSpec defaultSpec, BiFunction<Context, ModelSpec, Module> builder, Task task) {
        public Entry {
            if (task == null) throw new IllegalArgumentException("model " + name + ": task must not be null");
        }

        /** A classifier. */
        public Entry(String name, String description, ModelSpec defaultSpec, BiFunction<Context, ModelSpec, Module> builder) {
            this(name, description, defaultSpec, builder, Task.CLASSIFICATION);
        }

        /** A new model for spec (input shape, classes) with its weights on ctx's backend, initialised from ctx's seed; the caller closes it. */
        public Module build(Context ctx, ModelSpec spec) { return builder.apply(ctx, spec); }

        /** Trainable scalars of the model built for spec, counted on the meta backend (shapes only: fast, no memory). */
        public long parameterCount(ModelSpec spec) {
            try (MetaBackend meta = new MetaBackend();
                 Module m = Scope.outside(() -> build(new Context(meta, 0), spec))) {
                return m.parameterCount();
            }
        }
    }

    /** The ImageNet input the torchvision models are listed with: 3x224x224, 1000 classes. */
    static final ModelSpec IMAGENET = new ModelSpec(3, 224, 224, 1000);
    /** CIFAR-10: 3x32x32, 10 classes. */
    static final ModelSpec CIFAR10 = new ModelSpec(3, 32, 32, 10);
    private static final ModelSpec MNIST = new ModelSpec(1, 28, 28, 10);

    private static final List<Entry> ENTRIES = List.of(
            new Entry("mlp", "multi-layer perceptron 784-256-128-10 with ReLU (Fashion-MNIST baseline)", MNIST, ModelRegistry::mlp),
            new Entry("lenet5", "LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv5-pool-conv5-pool-fc120-fc84", MNIST, ModelRegistry::lenet5),
            new Entry("autoencoder", "dense autoencoder 784-256-64-256-784 with ReLU and a Sigmoid output (reconstruction, MSE)",
                    MNIST, Autoencoders::dense, Task.RECONSTRUCTION),
            new Entry("conv-autoencoder", "convolutional autoencoder: two 3x3 stride-2 convs, two 3x3 stride-2 transposed convs, Sigmoid (reconstruction, MSE)",
                    MNIST, Autoencoders::conv, Task.RECONSTRUCTION),
            new Entry("lstm", "2-layer LSTM (hidden 128) reading the image's 28 rows as time steps, last hidden state -> Linear", MNIST, Rnns::lstm),
            new Entry("alexnet", "AlexNet as torchvision (single tower, adaptive 6x6 pool, dropout 0.5)", IMAGENET, AlexNet::alexnet),
            new Entry("vgg11", "VGG-11 (configuration A) as torchvision, no batch norm", IMAGENET, Vggs::vgg11),
            new Entry("vgg13", "VGG-13 (configuration B) as torchvision, no batch norm", IMAGENET, Vggs::vgg13),
            new Entry("vgg16", "VGG-16 (configuration D) as torchvision, no batch norm", IMAGENET, Vggs::vgg16),
            new Entry("vgg19", "VGG-19 (configuration E) as torchvision, no batch norm", IMAGENET, Vggs::vgg19),
            new Entry("vgg11_bn", "VGG-11 (configuration A) with batch norm, as torchvision", IMAGENET, Vggs::vgg11Bn),
            new Entry("vgg13_bn", "VGG-13 (configuration B) with batch norm, as torchvision", IMAGENET, Vggs::vgg13Bn),
            new Entry("vgg16_bn", "VGG-16 (configuration D) with batch norm, as torchvision", IMAGENET, Vggs::vgg16Bn),
            new Entry("vgg19_bn", "VGG-19 (configuration E) with batch norm, as torchvision", IMAGENET, Vggs::vgg19Bn),
            new Entry("resnet18", "ResNet-18 (BasicBlock 2-2-2-2) as torchvision", IMAGENET, ResNets::resnet18),
            new Entry("resnet34", "ResNet-34 (BasicBlock 3-4-6-3) as torchvision", IMAGENET, ResNets::resnet34),
            new Entry("resnet50", "ResNet-50 (Bottleneck 3-4-6-3, stride on the 3x3: v1.5) as torchvision", IMAGENET, ResNets::resnet50),
            new Entry("resnet101", "ResNet-101 (Bottleneck 3-4-23-3, v1.5) as torchvision", IMAGENET, ResNets::resnet101),
            new Entry("resnet152", "ResNet-152 (Bottleneck 3-8-36-3, v1.5) as torchvision", IMAGENET, ResNets::resnet152),
            new Entry("resnet18-cifar", "ResNet-18 for 32x32 images: 3x3 stride-1 stem, no max-pool", CIFAR10, ResNets::resnet18Cifar),
            new Entry("resnet18-cifar-narrow", "resnet18-cifar at quarter width (16-32-64-128 channels): small images on a CPU", CIFAR10, ResNets::resnet18CifarNarrow),
            new Entry("googlenet", "GoogLeNet (Inception v1) as torchvision, BN convs, no auxiliary classifiers", IMAGENET, GoogLeNet::googlenet),
            new Entry("densenet121", "DenseNet-121 (growth 32, blocks 6-12-24-16, bn_size 4, compression 0.5) as torchvision", IMAGENET, DenseNets::densenet121));

    /** Every registered model, in the order {@code dl-train models} lists them. */
    public static List<Entry> entries() { return ENTRIES; }

    /** The registered models' names, which {@link #get} takes. */
    public static List<String> names() { return ENTRIES.stream().map(Entry::name).toList(); }

    /** The entry called name (in any case); an IllegalArgumentException listing the valid names, and the one meant if clear, otherwise. */
    public static Entry get(String name) {
        String key = name.toLowerCase(Locale.ROOT);
        for (Entry e : ENTRIES) if (e.name().equals(key)) return e;
        throw new IllegalArgumentException("unknown model '" + name + "'" + Names.didYouMean(name, names()) + ". Available models: " + String.join(", ", names())
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
