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
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Tensor;

/**
 * VGG 11/13/16/19 (Simonyan and Zisserman 2014, configurations A, B, D, E), with or without batch norm, exactly as
 * torchvision.models.vgg builds them: {@code features} (3x3 padding-1 convolutions with bias, [BatchNorm2d,] ReLU,
 * and 2x2 max-pools), {@code avgpool} = AdaptiveAvgPool2d((7, 7)), {@code classifier} = Linear(512*7*7, 4096), ReLU,
 * Dropout(0.5), Linear(4096, 4096), ReLU, Dropout(0.5), Linear(4096, classes). State_dict keys and parameter counts
 * equal torchvision's ("features.0.weight", "classifier.6.bias", ...).
 *
 * <p>Initialisation as torchvision: convolutions kaiming_normal_(mode="fan_out", nonlinearity="relu") with bias 0,
 * batch norm weight 1 and bias 0, linear layers N(0, 0.01) with bias 0.
 *
 * <p>The five max-pools need inputs of at least 32x32; the adaptive pool then makes the classifier independent of
 * the input size (a 32x32 image's 1x1 map is replicated to 7x7, as in PyTorch).
 */
public final class Vggs {
    private Vggs() {}

    /** Channel counts of the 3x3 convolutions; 0 marks a 2x2 max-pool (torchvision's "M"). */
    private static final int M = 0;
    private static final int[] A = {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    private static final int[] B = {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
    private static final int[] D = {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
    private static final int[] E = {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M};

    public static Module vgg11(Context ctx, ModelSpec s) { return vgg(ctx, s, 11, false); }
    public static Module vgg13(Context ctx, ModelSpec s) { return vgg(ctx, s, 13, false); }
    public static Module vgg16(Context ctx, ModelSpec s) { return vgg(ctx, s, 16, false); }
    public static Module vgg19(Context ctx, ModelSpec s) { return vgg(ctx, s, 19, false); }
    public static Module vgg11Bn(Context ctx, ModelSpec s) { return vgg(ctx, s, 11, true); }
    public static Module vgg13Bn(Context ctx, ModelSpec s) { return vgg(ctx, s, 13, true); }
    public static Module vgg16Bn(Context ctx, ModelSpec s) { return vgg(ctx, s, 16, true); }
    public static Module vgg19Bn(Context ctx, ModelSpec s) { return vgg(ctx, s, 19, true); }

    /** torchvision's vgg{depth}[_bn]: depth 11, 13, 16 or 19. */
    public static Vgg vgg(Context ctx, ModelSpec s, int depth, boolean batchNorm) {
        int[] cfg = switch (depth) {
            case 11 -> A;
            case 13 -> B;
            case 16 -> D;
            case 19 -> E;
            default -> throw new IllegalArgumentException("no VGG of depth " + depth + "; use 11, 13, 16 or 19");
        };
        ModuleTree.requireSize("vgg" + depth + (batchNorm ? "_bn" : ""), s, 32, "five 2x2 max-pools");
        return new Vgg(ctx, s, cfg, batchNorm);
    }

    /** torchvision's VGG module: features, avgpool, classifier. */
    public static final class Vgg extends Module {
        private final Sequential features, classifier;
        private final AdaptiveAvgPool2d avgpool;

        Vgg(Context ctx, ModelSpec s, int[] cfg, boolean batchNorm) {
            Sequential f = new Sequential();
            int in = s.inChannels();
            for (int v : cfg) {
                if (v == M) { f.add(new MaxPool2d(2, 2, 0)); continue; }
                f.add(new Conv2d(ctx, in, v, 3, 1, 1));
                if (batchNorm) f.add(new BatchNorm2d(ctx, v));
                f.add(new ReLU());
                in = v;
            }
            features = addModule("features", f);
            avgpool = addModule("avgpool", new AdaptiveAvgPool2d(7, 7));
            classifier = addModule("classifier", new Sequential(
                    new Linear(ctx, 512 * 7 * 7, 4096), new ReLU(), new Dropout(ctx, 0.5f),
                    new Linear(ctx, 4096, 4096), new ReLU(), new Dropout(ctx, 0.5f),
                    new Linear(ctx, 4096, s.numClasses())));

            for (Module m : ModuleTree.modules(this)) {
                if (m instanceof Conv2d c) {
                    Init.kaimingNormal(c.weight(), 0, Init.FanMode.FAN_OUT, "relu", ctx.rng());
                    if (c.bias() != null) Init.constant(c.bias(), 0f);
                } else if (m instanceof BatchNorm b) {
                    Init.constant(b.weight(), 1f);
                    Init.constant(b.bias(), 0f);
                } else if (m instanceof Linear l) {
                    Init.normal(l.weight(), 0, 0.01, ctx.rng());
                    Init.constant(l.bias(), 0f);
                }
            }
        }

        @Override
        public Tensor forward(Tensor x) {
            return classifier.forward(Basic.flatten(avgpool.forward(features.forward(x))));
        }
    }
}
