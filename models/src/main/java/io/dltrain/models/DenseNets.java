package io.dltrain.models;

import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.nn.AvgPool2d;
import io.dltrain.runtime.nn.BatchNorm;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.MaxPool2d;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.ops.Pool;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * DenseNet-BC (Huang et al. 2016) as torchvision.models.densenet builds it, with torchvision's module names
 * ("features.conv0.weight", "features.denseblock1.denselayer1.norm1.weight", "features.transition1.conv.weight",
 * "features.norm5.bias", "classifier.weight", ...) and parameter counts.
 *
 * <p>{@code features}: conv0 7x7/2 (no bias), norm0, relu0, pool0 (3x3/2 max, padding 1); then dense blocks, each
 * followed (except the last) by a transition (BN, ReLU, 1x1 conv halving the channels, 2x2 average pool); then
 * norm5. The head is ReLU, adaptive average pooling to 1x1 and {@code classifier} = Linear(features, classes).
 * A dense layer is BN-ReLU-conv1x1 (bn_size * growth channels) - BN-ReLU-conv3x3 (growth channels) applied to the
 * concatenation of the block's input and every earlier layer's output (torchvision's memory_efficient=False path;
 * drop_rate 0).
 *
 * <p>Initialisation as torchvision: convolutions kaiming_normal_ with its defaults (fan_in, gain sqrt 2), batch norm
 * weight 1 and bias 0, the Linear bias 0 (its weight keeps PyTorch's default).
 */
public final class DenseNets {
    private DenseNets() {}

    /**
     * torchvision's densenet121: growth 32, blocks (6, 12, 24, 16), 64 initial features, bn_size 4, compression 0.5.
     * The smallest input is 29x29: the stem and pool0 give 15 then 8, and the three transitions' 2x2 pools 4, 2, 1.
     */
    public static Module densenet121(Context ctx, ModelSpec s) {
        ModuleTree.requireSize("densenet121", s, 29, "a stride-2 stem, a stride-2 max-pool and three 2x2 transition pools");
        return new DenseNet(ctx, s, 32, new int[] {6, 12, 24, 16}, 64, 4);
    }

    /** torchvision's DenseNet module: {@code features} (a named sequence) and {@code classifier}. */
    public static final class DenseNet extends Module {
        private final NamedSequential features;
        private final Linear classifier;

        DenseNet(Context ctx, ModelSpec s, int growthRate, int[] blockConfig, int numInitFeatures, int bnSize) {
            NamedSequential f = new NamedSequential()
                    .add("conv0", new Conv2d(ctx, s.inChannels(), numInitFeatures, 7, 7, 2, 2, 3, 3, 1, 1, 1, false))
                    .add("norm0", new BatchNorm2d(ctx, numInitFeatures))
                    .add("relu0", new ReLU())
                    .add("pool0", new MaxPool2d(3, 2, 1));
            int features = numInitFeatures;
            for (int i = 0; i < blockConfig.length; i++) {
                f.add("denseblock" + (i + 1), new DenseBlock(ctx, blockConfig[i], features, bnSize, growthRate));
                features += blockConfig[i] * growthRate;
                if (i != blockConfig.length - 1) {
                    f.add("transition" + (i + 1), transition(ctx, features, features / 2));
                    features /= 2;
                }
            }
            f.add("norm5", new BatchNorm2d(ctx, features));
            this.features = addModule("features", f);
            this.classifier = addModule("classifier", new Linear(ctx, features, s.numClasses()));

            for (Module m : ModuleTree.modules(this)) {
                if (m instanceof Conv2d c) Init.kaimingNormal(c.weight(), 0, Init.FanMode.FAN_IN, "leaky_relu", ctx.rng());
                else if (m instanceof BatchNorm b) { Init.constant(b.weight(), 1f); Init.constant(b.bias(), 0f); }
                else if (m instanceof Linear l) Init.constant(l.bias(), 0f);
            }
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor h = Activations.relu(features.forward(x));
            return classifier.forward(Basic.flatten(Pool.adaptiveAvgPool2d(h, 1, 1)));
        }
    }

    /** torchvision's _Transition: norm, relu, conv (1x1, no bias), pool (2x2 average, stride 2). */
    static NamedSequential transition(Context ctx, int in, int out) {
        return new NamedSequential()
                .add("norm", new BatchNorm2d(ctx, in))
                .add("relu", new ReLU())
                .add("conv", new Conv2d(ctx, in, out, 1, 1, 1, 1, 0, 0, 1, 1, 1, false))
                .add("pool", new AvgPool2d(2, 2, 0));
    }

    /**
     * torchvision's _DenseBlock: layers "denselayer1".."denselayerL"; layer i sees the concatenation of the block input
     * and the outputs of layers 1..i-1, and the block returns the concatenation of all of them
     * (in + L * growth channels).
     */
    public static final class DenseBlock extends Module {
        private final List<DenseLayer> layers = new ArrayList<>();

        DenseBlock(Context ctx, int numLayers, int in, int bnSize, int growthRate) {
            for (int i = 0; i < numLayers; i++)
                layers.add(addModule("denselayer" + (i + 1), new DenseLayer(ctx, in + i * growthRate, growthRate, bnSize)));
        }

        @Override
        public Tensor forward(Tensor x) {
            List<Tensor> feats = new ArrayList<>(layers.size() + 1);
            feats.add(x);
            for (DenseLayer layer : layers) feats.add(layer.forward(feats.size() == 1 ? x : Basic.concatChannels(feats)));
            return Basic.concatChannels(feats);
        }
    }

    /** torchvision's _DenseLayer: norm1, relu1, conv1 (1x1 to bn_size * growth), norm2, relu2, conv2 (3x3 to growth). */
    public static final class DenseLayer extends Module {
        private final BatchNorm2d norm1, norm2;
        private final Conv2d conv1, conv2;

        DenseLayer(Context ctx, int in, int growthRate, int bnSize) {
            norm1 = addModule("norm1", new BatchNorm2d(ctx, in));
            addModule("relu1", new ReLU());
            conv1 = addModule("conv1", new Conv2d(ctx, in, bnSize * growthRate, 1, 1, 1, 1, 0, 0, 1, 1, 1, false));
            norm2 = addModule("norm2", new BatchNorm2d(ctx, bnSize * growthRate));
            addModule("relu2", new ReLU());
            conv2 = addModule("conv2", new Conv2d(ctx, bnSize * growthRate, growthRate, 3, 3, 1, 1, 1, 1, 1, 1, 1, false));
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor b = conv1.forward(norm1.forwardRelu(x));
            return conv2.forward(norm2.forwardRelu(b));
        }
    }
}
