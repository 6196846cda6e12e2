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

    @Override public String toString() { return inChannels + "x" + height + "x" + width + " -> " + numClasses; }
}
