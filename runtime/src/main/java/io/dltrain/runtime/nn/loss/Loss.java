package io.dltrain.runtime.nn.loss;

import io.dltrain.runtime.tensor.Tensor;

/** A training objective: the mean loss of a batch's model output against its target, as a one-element tensor. */
public interface Loss {
    /** The loss (a differentiable one-element tensor) of output against target. */
    Tensor compute(Tensor output, Tensor target);

    /** A short name for logs and summaries, e.g. "cross_entropy". */
    String name();
}
