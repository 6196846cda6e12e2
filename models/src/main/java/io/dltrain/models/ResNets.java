package io.dltrain.models;

import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.nn.AdaptiveAvgPool2d;
import io.dltrain.runtime.nn.BatchNorm;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.MaxPool2d;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Tensor;

/**
 * ResNets (He et al. 2015) exactly as torchvision.models.resnet builds them (the "v1.5" variant: a Bottleneck's
 * stride sits on its 3x3 convolution, not on the first 1x1), with the same module names, so {@code stateDict()}
 * keys and shapes equal torchvision's ("conv1.weight", "layer2.0.downsample.0.weight", "fc.bias", ...) and
 * parameter counts are identical.
 *
 * <p>Initialisation follows torchvision: every convolution kaiming_normal_(mode="fan_out", nonlinearity="relu"),
 * every batch norm weight 1 and bias 0, the final Linear keeps PyTorch's default; with {@code zeroInitResidual} the
 * last batch norm of each block starts with gamma = 0, so each residual block starts as the identity.
 *
 * <p>{@code resnet18-cifar} is the usual CIFAR adaptation (not part of torchvision): a 3x3 stride-1 stem convolution
 * and no max-pool, so a 32x32 image reaches layer4 at 4x4.
 */
public final class ResNets {
    private ResNets() {}

    public static Module resnet18(Context ctx, ModelSpec s) { return resnet(ctx, s, 18, false); }

    public static Module resnet34(Context ctx, ModelSpec s) { return resnet(ctx, s, 34, false); }

    public static Module resnet50(Context ctx, ModelSpec s) { return resnet(ctx, s, 50, false); }

    public static Module resnet101(Context ctx, ModelSpec s) { return resnet(ctx, s, 101, false); }

    public static Module resnet152(Context ctx, ModelSpec s) { return resnet(ctx, s, 152, false); }

    /** ResNet-18 with the CIFAR stem (3x3 stride-1 convolution, no max-pool). */
    public static Module resnet18Cifar(Context ctx, ModelSpec s) { return new ResNet(ctx, s, false, new int[] {2, 2, 2, 2}, true, false, 64); }

    /**
     * resnet18-cifar at a quarter of the width (16-32-64-128 channels instead of 64-128-256-512): the same layout and
     * state_dict names, 1/16 of the multiply-adds, so it trains on a CPU in minutes per epoch.
     */
    public static Module resnet18CifarNarrow(Context ctx, ModelSpec s) { return new ResNet(ctx, s, false, new int[] {2, 2, 2, 2}, true, false, 16); }

    /** torchvision's resnet{depth}(num_classes, zero_init_residual) for depth 18, 34, 50, 101 or 152. */
    public static ResNet resnet(Context ctx, ModelSpec s, int depth, boolean zeroInitResidual) {
        return switch (depth) {
            case 18 -> new ResNet(ctx, s, false, new int[] {2, 2, 2, 2}, false, zeroInitResidual, 64);
            case 34 -> new ResNet(ctx, s, false, new int[] {3, 4, 6, 3}, false, zeroInitResidual, 64);
            case 50 -> new ResNet(ctx, s, true, new int[] {3, 4, 6, 3}, false, zeroInitResidual, 64);
            case 101 -> new ResNet(ctx, s, true, new int[] {3, 4, 23, 3}, false, zeroInitResidual, 64);
            case 152 -> new ResNet(ctx, s, true, new int[] {3, 8, 36, 3}, false, zeroInitResidual, 64);
            default -> throw new IllegalArgumentException("no ResNet of depth " + depth + "; use 18, 34, 50, 101 or 152");
        };
    }

    /** torchvision's conv3x3: 3x3, padding 1, no bias. */
    static Conv2d conv3x3(Context ctx, int in, int out, int stride) {
        return new Conv2d(ctx, in, out, 3, 3, stride, stride, 1, 1, 1, 1, 1, false);
    }

    /** torchvision's conv1x1: 1x1, no padding, no bias. */
    static Conv2d conv1x1(Context ctx, int in, int out, int stride) {
        return new Conv2d(ctx, in, out, 1, 1, stride, stride, 0, 0, 1, 1, 1, false);
    }

    /** A residual block whose last batch norm zero_init_residual zeroes. */
    interface Block {
        BatchNorm lastNorm();
    }

    /** torchvision's BasicBlock (expansion 1): relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
    public static final class BasicBlock extends Module implements Block {
        static final int EXPANSION = 1;
        private final Conv2d conv1, conv2;
        private final BatchNorm2d bn1, bn2;
        private final Module downsample;

        /** downsample: the projection shortcut (1x1 conv + BN), or null for the identity. */
        BasicBlock(Context ctx, int inplanes, int planes, int stride, Module downsample) {
            conv1 = addModule("conv1", conv3x3(ctx, inplanes, planes, stride));
            bn1 = addModule("bn1", new BatchNorm2d(ctx, planes));
            conv2 = addModule("conv2", conv3x3(ctx, planes, planes, 1));
            bn2 = addModule("bn2", new BatchNorm2d(ctx, planes));
            this.downsample = downsample == null ? null : addModule("downsample", downsample);
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor out = bn1.forwardRelu(conv1.forward(x));
            out = conv2.forward(out);
            Tensor identity = downsample == null ? x : downsample.forward(x);
            return bn2.forwardAddRelu(out, identity);
        }

        @Override public BatchNorm lastNorm() { return bn2; }
    }

    /**
     * torchvision's Bottleneck (expansion 4): 1x1 reduce to {@code planes}, 3x3 with the block's stride, 1x1 expand to
     * 4 * planes, each followed by batch norm; ReLU after the first two and after the residual add.
     */
    public static final class Bottleneck extends Module implements Block {
        static final int EXPANSION = 4;
        private final Conv2d conv1, conv2, conv3;
        private final BatchNorm2d bn1, bn2, bn3;
        private final Module downsample;

        Bottleneck(Context ctx, int inplanes, int planes, int stride, Module downsample) {
            int width = planes; // torchvision: planes * (base_width / 64) * groups, with base_width 64 and groups 1
            conv1 = addModule("conv1", conv1x1(ctx, inplanes, width, 1));
            bn1 = addModule("bn1", new BatchNorm2d(ctx, width));
            conv2 = addModule("conv2", conv3x3(ctx, width, width, stride));
            bn2 = addModule("bn2", new BatchNorm2d(ctx, width));
            conv3 = addModule("conv3", conv1x1(ctx, width, planes * EXPANSION, 1));
            bn3 = addModule("bn3", new BatchNorm2d(ctx, planes * EXPANSION));
            this.downsample = downsample == null ? null : addModule("downsample", downsample);
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor out = bn1.forwardRelu(conv1.forward(x));
            out = bn2.forwardRelu(conv2.forward(out));
            out = conv3.forward(out);
            Tensor identity = downsample == null ? x : downsample.forward(x);
            return bn3.forwardAddRelu(out, identity);
        }

        @Override public BatchNorm lastNorm() { return bn3; }
    }

    /**
     * torchvision's ResNet: conv1 - bn1 - relu - maxpool - layer1..layer4 - avgpool (adaptive, 1x1) - flatten - fc.
     * Any input size of at least 1x1 works, because of the adaptive pool.
     */
    public static final class ResNet extends Module {
        private final Conv2d conv1;
        private final BatchNorm2d bn1;
        private final MaxPool2d maxpool;
        private final Sequential layer1, layer2, layer3, layer4;
        private final AdaptiveAvgPool2d avgpool;
        private final Linear fc;
        private final boolean bottleneck;
        private int inplanes;

        /** base: the stem's and layer1's width (torchvision: 64); layer2-4 double it each time. */
        ResNet(Context ctx, ModelSpec s, boolean bottleneck, int[] layers, boolean cifarStem, boolean zeroInitResidual, int base) {
            this.bottleneck = bottleneck;
            inplanes = base;
            conv1 = addModule("conv1", cifarStem
                    ? new Conv2d(ctx, s.inChannels(), base, 3, 3, 1, 1, 1, 1, 1, 1, 1, false)
                    : new Conv2d(ctx, s.inChannels(), base, 7, 7, 2, 2, 3, 3, 1, 1, 1, false));
            bn1 = addModule("bn1", new BatchNorm2d(ctx, base));
            addModule("relu", new ReLU());
            maxpool = cifarStem ? null : addModule("maxpool", new MaxPool2d(3, 2, 1));
            layer1 = addModule("layer1", makeLayer(ctx, base, layers[0], 1));
            layer2 = addModule("layer2", makeLayer(ctx, 2 * base, layers[1], 2));
            layer3 = addModule("layer3", makeLayer(ctx, 4 * base, layers[2], 2));
            layer4 = addModule("layer4", makeLayer(ctx, 8 * base, layers[3], 2));
            avgpool = addModule("avgpool", new AdaptiveAvgPool2d(1, 1));
            fc = addModule("fc", new Linear(ctx, 8 * base * expansion(), s.numClasses()));

            for (Module m : ModuleTree.modules(this)) {
                if (m instanceof Conv2d c) Init.kaimingNormal(c.weight(), 0, Init.FanMode.FAN_OUT, "relu", ctx.rng());
                else if (m instanceof BatchNorm b) { Init.constant(b.weight(), 1f); Init.constant(b.bias(), 0f); }
            }
            if (zeroInitResidual) {
                for (Module m : ModuleTree.modules(this)) if (m instanceof Block b) b.lastNorm().zeroInitGamma();
            }
        }

        private int expansion() { return bottleneck ? Bottleneck.EXPANSION : BasicBlock.EXPANSION; }

        /** torchvision's _make_layer: the first block may change stride and width (with a projection shortcut). */
        private Sequential makeLayer(Context ctx, int planes, int blocks, int stride) {
            int outPlanes = planes * expansion();
            Module downsample = null;
            if (stride != 1 || inplanes != outPlanes)
                downsample = new Sequential(conv1x1(ctx, inplanes, outPlanes, stride), new BatchNorm2d(ctx, outPlanes));
            Sequential layer = new Sequential(block(ctx, inplanes, planes, stride, downsample));
            inplanes = outPlanes;
            for (int i = 1; i < blocks; i++) layer.add(block(ctx, inplanes, planes, 1, null));
            return layer;
        }

        private Module block(Context ctx, int in, int planes, int stride, Module downsample) {
            return bottleneck ? new Bottleneck(ctx, in, planes, stride, downsample) : new BasicBlock(ctx, in, planes, stride, downsample);
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor h = bn1.forwardRelu(conv1.forward(x));
            if (maxpool != null) h = maxpool.forward(h);
            h = layer4.forward(layer3.forward(layer2.forward(layer1.forward(h))));
            return fc.forward(Basic.flatten(avgpool.forward(h)));
        }

        @Override
        public String toString() { return "ResNet(" + (bottleneck ? "Bottleneck" : "BasicBlock") + (maxpool == null ? ", CIFAR stem" : "") + ")"; }
    }
}
