package io.dltrain.models;

/** What a model is built for: input channels and size, and the number of classes. */
public record ModelSpec(int inChannels, int height, int width, int numClasses) {
    public ModelSpec {
        if (inChannels < 1 || height < 1 || width < 1) throw new IllegalArgumentException("input must be at least 1x1x1, got " + inChannels + "x" + height + "x" + width);
        if (numClasses < 2) throw new IllegalArgumentException("a classifier needs at least 2 classes, got " + numClasses);
    }

    @Override public String toString() { return inChannels + "x" + height + "x" + width + " -> " + numClasses; }
}
