package io.dltrain.models;

import io.dltrain.runtime.nn.AdaptiveAvgPool2d;
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
 * AlexNet as torchvision.models.alexnet builds it (the "one weird trick" single-tower variant, Krizhevsky 2014):
 * {@code features} = conv 11x11/4 (64) - ReLU - maxpool 3/2 - conv 5x5 (192) - ReLU - maxpool 3/2 - conv 3x3 (384) -
 * ReLU - conv 3x3 (256) - ReLU - conv 3x3 (256) - ReLU - maxpool 3/2; {@code avgpool} = AdaptiveAvgPool2d((6, 6));
 * {@code classifier} = Dropout(0.5), Linear(256*6*6, 4096), ReLU, Dropout(0.5), Linear(4096, 4096), ReLU,
 * Linear(4096, classes). State_dict keys ("features.0.weight", "classifier.1.weight", ...) and the parameter count
 * equal torchvision's. torchvision applies no custom initialisation, so every layer keeps PyTorch's default.
 */
public final class AlexNet extends Module {
    private final Sequential features, classifier;
    private final AdaptiveAvgPool2d avgpool;

    private AlexNet(Context ctx, ModelSpec s) {
        features = addModule("features", new Sequential(
                new Conv2d(ctx, s.inChannels(), 64, 11, 4, 2), new ReLU(), new MaxPool2d(3, 2, 0),
                new Conv2d(ctx, 64, 192, 5, 1, 2), new ReLU(), new MaxPool2d(3, 2, 0),
                new Conv2d(ctx, 192, 384, 3, 1, 1), new ReLU(),
                new Conv2d(ctx, 384, 256, 3, 1, 1), new ReLU(),
                new Conv2d(ctx, 256, 256, 3, 1, 1), new ReLU(), new MaxPool2d(3, 2, 0)));
        avgpool = addModule("avgpool", new AdaptiveAvgPool2d(6, 6));
        classifier = addModule("classifier", new Sequential(
                new Dropout(ctx, 0.5f), new Linear(ctx, 256 * 6 * 6, 4096), new ReLU(),
                new Dropout(ctx, 0.5f), new Linear(ctx, 4096, 4096), new ReLU(),
                new Linear(ctx, 4096, s.numClasses())));
    }

    /**
     * torchvision's alexnet(num_classes). The smallest input is 63x63: the stem gives floor((63 + 4 - 11) / 4) + 1 = 15,
     * and the three 3/2 max-pools 7, 3, 1 (62x62 leaves the last pool a 2x2 map, smaller than its window).
     */
    public static Module alexnet(Context ctx, ModelSpec s) {
        ModuleTree.requireSize("alexnet", s, 63, "an 11x11 stride-4 stem and three 3x3 stride-2 max-pools");
        return new AlexNet(ctx, s);
    }

    @Override
    public Tensor forward(Tensor x) {
        return classifier.forward(Basic.flatten(avgpool.forward(features.forward(x))));
    }
}
