package io.dltrain.models;

import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.nn.AdaptiveAvgPool2d;
import io.dltrain.runtime.nn.BatchNorm;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Conv2d;
import io.dltrain.runtime.nn.Dropout;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.MaxPool2d;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;

/**
 * GoogLeNet (Inception v1, Szegedy et al. 2014) as torchvision.models.googlenet builds it with aux_logits=False and
 * transform_input=False, with torchvision's module names ("conv1.conv.weight", "inception3a.branch2.1.bn.running_var",
 * "fc.bias", ...) and parameter count.
 *
 * <p>Differences from the paper that torchvision has, and so this has too: every convolution is a
 * {@link BasicConv2d} (conv without bias, BatchNorm2d(eps=0.001), ReLU); the third branch of each Inception block
 * uses a 3x3 convolution where the paper has 5x5 (a known torchvision quirk kept for weight compatibility); the
 * max-pools use ceil_mode=True; the head is adaptive average pooling, Dropout(0.2) and one Linear(1024, classes).
 *
 * <p>Initialisation as torchvision: convolution and Linear weights trunc_normal_(mean 0, std 0.01, a=-2, b=2),
 * batch norm weight 1 and bias 0; the Linear bias keeps PyTorch's default.
 */
public final class GoogLeNet extends Module {
    private final BasicConv2d conv1, conv2, conv3;
    private final MaxPool2d maxpool1, maxpool2, maxpool3, maxpool4;
    private final Inception inception3a, inception3b, inception4a, inception4b, inception4c, inception4d, inception4e,
            inception5a, inception5b;
    private final AdaptiveAvgPool2d avgpool;
    private final Dropout dropout;
    private final Linear fc;

    private GoogLeNet(Context ctx, ModelSpec s) {
        conv1 = addModule("conv1", new BasicConv2d(ctx, s.inChannels(), 64, 7, 2, 3));
        maxpool1 = addModule("maxpool1", new MaxPool2d(3, 2, 0, true));
        conv2 = addModule("conv2", new BasicConv2d(ctx, 64, 64, 1, 1, 0));
        conv3 = addModule("conv3", new BasicConv2d(ctx, 64, 192, 3, 1, 1));
        maxpool2 = addModule("maxpool2", new MaxPool2d(3, 2, 0, true));
        //                                                      in   1x1  3x3r 3x3  "5x5"r "5x5" pool
        inception3a = addModule("inception3a", new Inception(ctx, 192, 64, 96, 128, 16, 32, 32));
        inception3b = addModule("inception3b", new Inception(ctx, 256, 128, 128, 192, 32, 96, 64));
        maxpool3 = addModule("maxpool3", new MaxPool2d(3, 2, 0, true));
        inception4a = addModule("inception4a", new Inception(ctx, 480, 192, 96, 208, 16, 48, 64));
        inception4b = addModule("inception4b", new Inception(ctx, 512, 160, 112, 224, 24, 64, 64));
        inception4c = addModule("inception4c", new Inception(ctx, 512, 128, 128, 256, 24, 64, 64));
        inception4d = addModule("inception4d", new Inception(ctx, 512, 112, 144, 288, 32, 64, 64));
        inception4e = addModule("inception4e", new Inception(ctx, 528, 256, 160, 320, 32, 128, 128));
        maxpool4 = addModule("maxpool4", new MaxPool2d(2, 2, 0, true));
        inception5a = addModule("inception5a", new Inception(ctx, 832, 256, 160, 320, 32, 128, 128));
        inception5b = addModule("inception5b", new Inception(ctx, 832, 384, 192, 384, 48, 128, 128));
        avgpool = addModule("avgpool", new AdaptiveAvgPool2d(1, 1));
        dropout = addModule("dropout", new Dropout(ctx, 0.2f));
        fc = addModule("fc", new Linear(ctx, 1024, s.numClasses()));

        for (Module m : ModuleTree.modules(this)) {
            if (m instanceof Conv2d c) Init.truncatedNormal(c.weight(), 0, 0.01, -2, 2, ctx.rng());
            else if (m instanceof Linear l) Init.truncatedNormal(l.weight(), 0, 0.01, -2, 2, ctx.rng());
            else if (m instanceof BatchNorm b) { Init.constant(b.weight(), 1f); Init.constant(b.bias(), 0f); }
        }
    }

    /**
     * torchvision's googlenet(num_classes, aux_logits=False). The smallest input is 31x31: the stem gives 16, the
     * three 3/2 ceil-mode max-pools 8, 4, 2, and the last 2/2 pool 1 (30x30 leaves the last pool a 1x1 map).
     */
    public static Module googlenet(Context ctx, ModelSpec s) {
        ModuleTree.requireSize("googlenet", s, 31, "a stride-2 stem, three 3x3 stride-2 max-pools and a 2x2 one");
        return new GoogLeNet(ctx, s);
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = maxpool1.forward(conv1.forward(x));
        h = maxpool2.forward(conv3.forward(conv2.forward(h)));
        h = maxpool3.forward(inception3b.forward(inception3a.forward(h)));
        h = inception4a.forward(h);
        h = inception4d.forward(inception4c.forward(inception4b.forward(h)));
        h = maxpool4.forward(inception4e.forward(h));
        h = inception5b.forward(inception5a.forward(h));
        h = Basic.flatten(avgpool.forward(h));
        return fc.forward(dropout.forward(h));
    }

    /** torchvision's BasicConv2d: {@code conv} (no bias) then {@code bn} (eps 0.001), then ReLU. */
    public static final class BasicConv2d extends Module {
        private final Conv2d conv;
        private final BatchNorm2d bn;

        BasicConv2d(Context ctx, int in, int out, int kernel, int stride, int padding) {
            conv = addModule("conv", new Conv2d(ctx, in, out, kernel, kernel, stride, stride, padding, padding, 1, 1, 1, false));
            bn = addModule("bn", new BatchNorm2d(ctx, out, 0.001f, BatchNorm.DEFAULT_MOMENTUM));
        }

        @Override public Tensor forward(Tensor x) { return bn.forwardRelu(conv.forward(x)); }
    }

    /**
     * torchvision's Inception block: four branches on the same input, concatenated along channels:
     * branch1 = 1x1; branch2 = 1x1 reduce, 3x3; branch3 = 1x1 reduce, 3x3 (the paper's 5x5); branch4 = 3x3 stride-1
     * max-pool (ceil mode), 1x1 projection. Output channels: ch1x1 + ch3x3 + ch5x5 + poolProj.
     */
    public static final class Inception extends Module {
        private final Module branch1, branch2, branch3, branch4;

        Inception(Context ctx, int in, int ch1x1, int ch3x3red, int ch3x3, int ch5x5red, int ch5x5, int poolProj) {
            branch1 = addModule("branch1", new BasicConv2d(ctx, in, ch1x1, 1, 1, 0));
            branch2 = addModule("branch2", new Sequential(
                    new BasicConv2d(ctx, in, ch3x3red, 1, 1, 0), new BasicConv2d(ctx, ch3x3red, ch3x3, 3, 1, 1)));
            branch3 = addModule("branch3", new Sequential(
                    new BasicConv2d(ctx, in, ch5x5red, 1, 1, 0), new BasicConv2d(ctx, ch5x5red, ch5x5, 3, 1, 1)));
            branch4 = addModule("branch4", new Sequential(
                    new MaxPool2d(3, 1, 1, true), new BasicConv2d(ctx, in, poolProj, 1, 1, 0)));
        }

        @Override
        public Tensor forward(Tensor x) {
            return Basic.concatChannels(List.of(branch1.forward(x), branch2.forward(x), branch3.forward(x), branch4.forward(x)));
        }
    }
}
