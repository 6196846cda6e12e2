package io.dltrain.runtime;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** "Did you mean": one suggestion where one valid name is clearly meant, none where several are or none is. */
class NamesTest {
    /** ModelRegistry's names, as `dl-train models` lists them (models/ is not on this module's test path). */
    static final List<String> MODELS = List.of("mlp", "lenet5", "autoencoder", "conv-autoencoder", "lstm", "alexnet", "vgg11", "vgg13",
            "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
            "resnet18-cifar", "resnet18-cifar-narrow", "googlenet", "densenet121");
    static final List<String> DATASETS = List.of("fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic", "imagefolder", "imagenet-subset", "csv");

    static void suggests(String expected, String given, List<String> valid) {
        assertEquals(Optional.ofNullable(expected), Names.closest(given, valid), given);
    }

    @Test
    void caseAndSeparatorsDoNotCount() {
        suggests("resnet18", "resnet-18", MODELS);
        suggests("resnet18", "ResNet_18", MODELS);
        suggests("vgg11_bn", "vgg11-bn", MODELS);
        suggests("fashion-mnist", "fashion_mnist", DATASETS);
        suggests("fashion-mnist", "Fashion-MNIST", DATASETS);
        suggests("fashion-mnist", "fashionmnist", DATASETS);
        suggests("mnist", "MNIST", DATASETS);
    }

    @Test
    void theStartOfOneName() {
        suggests("densenet121", "densenet", MODELS);
        suggests("imagenet-subset", "imagenet", DATASETS);
        suggests("lenet5", "LeNet", MODELS);
    }

    @Test
    void oneSlip() {
        suggests("lenet5", "lenet-6", MODELS);
        suggests("mlp", "mpl", MODELS);               // two letters swapped
        suggests("fashion-mnist", "fashon-mnist", DATASETS);
        suggests("fashion-mnist", "fahsion-mnsit", DATASETS);   // two swaps in a long name
        suggests("cifar100", "cifar1000", DATASETS);
        assertEquals(" (did you mean 'lstm'?)", Names.didYouMean("lstn", MODELS));
    }

    @Test
    void noneWhenSeveralOrNoneAreClose() {
        suggests(null, "resnet", MODELS);       // resnet18, resnet34, resnet50 alike
        suggests(null, "vgg12", MODELS);        // vgg11, vgg13, vgg16 and vgg19
        suggests(null, "resnet9000", MODELS);
        suggests(null, "nope", MODELS);
        suggests(null, "cifar", DATASETS);      // two edits from cifar10: too many for a short name
        suggests(null, "image", DATASETS);      // imagefolder and imagenet-subset
        suggests(null, "", DATASETS);
        suggests(null, null, DATASETS);
        assertEquals("", Names.didYouMean("nope", MODELS));
    }

    /**
     * Two names equally close, and closer than every other (--optimizer adamx: adam and adamw, one edit each), were
     * answered with no suggestion at all; both are named. Three or more alike still get none (a list, not a slip).
     */
    @Test
    void twoEquallyCloseNamesAreBothSuggested() {
        List<String> optimizers = List.of("sgd", "sgd-nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw");
        assertEquals(" (did you mean 'adam' or 'adamw'?)", Names.didYouMean("adamx", optimizers));
        assertEquals(" (did you mean 'vgg11' or 'vgg13'?)", Names.didYouMean("vgg12", List.of("vgg11", "vgg13", "resnet18")));
        assertEquals("", Names.didYouMean("vgg12", MODELS)); // the registry's vgg16 and vgg19 are one edit away too
        assertEquals(" (did you mean 'adamw'?)", Names.didYouMean("adamww", optimizers)); // one edit from adamw, two from adam
        assertEquals("", Names.didYouMean("ab4", List.of("ab1", "ab2", "ab3")));
        suggests(null, "adamx", optimizers); // closest() is the one clearly meant: none of two
    }
}
