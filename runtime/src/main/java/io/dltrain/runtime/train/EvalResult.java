package io.dltrain.runtime.train;

/** Mean loss and top-1 / top-5 accuracy (fractions) over {@code samples} samples. top5 is NaN for fewer than 5 classes. */
public record EvalResult(double loss, double top1, double top5, long samples) {}
