package io.dltrain.runtime.backend;

/** Element-wise losses reduced by the mean over all elements (PyTorch's reduction='mean'). */
public enum LossKind {
    /** (pred - target)^2 */
    MSE,
    /** |pred - target| */
    L1,
    /** binary cross-entropy on logits: max(x,0) - x*t + log(1 + exp(-|x|)) */
    BCE_WITH_LOGITS
}
