package io.dltrain.models;

/**
 * What a model is built for: input channels and size, and the number of outputs: the classes of a classifier (at
 * least 2, which the caller that knows the task checks), or 1 for a regression model (one real value per sample: the
 * classifiers' last layer then is the regression head).
 */
public record ModelSpec(int inChannels, int height, int width, int numClasses) {
    public ModelSpec {
        if (inChannels < 1 || height < 1 || width < 1) throw new IllegalArgumentException("input must be at least 1x1x1, got " + inChannels + "x" + height + "x" + width);
        if (numClasses < 1) throw new IllegalArgumentException("a model needs at least 1 output (2 or more classes for a classifier, 1 for regression), got " + numClasses);
    }

    /**
     * The spec for a dataset's samples of shape {@code sample} and {@code outputs} outputs: [C, H, W] as it is; [T, F]
     * (a sequence of T steps of F features, or a one-channel H x W image) as one channel of T rows of F, so that lstm
     * reads T steps of F features; [F] (a table row) as F channels of 1 x 1. Other ranks are refused.
     */
    public static ModelSpec of(io.dltrain.runtime.tensor.Shape sample, int outputs) {
        return switch (sample.rank()) {
            case 1 -> new ModelSpec(sample.dim(0), 1, 1, outputs);
            case 2 -> new ModelSpec(1, sample.dim(0), sample.dim(1), outputs);
            case 3 -> new ModelSpec(sample.dim(0), sample.dim(1), sample.dim(2), outputs);
            default -> throw new IllegalArgumentException("samples of shape " + sample + " (rank " + sample.rank()
                    + "): the models take samples of rank 1 [F], 2 [T, F] or 3 [C, H, W]");
        };
    }

    @Override public String toString() { return inChannels + "x" + height + "x" + width + " -> " + numClasses; }
}
