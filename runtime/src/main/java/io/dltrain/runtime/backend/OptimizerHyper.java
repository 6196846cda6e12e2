package io.dltrain.runtime.backend;

/**
 * Hyper-parameters of one optimiser update, passed to the backend's fused update kernels. The learning rate
 * is passed separately per step (schedules change it). Formulas follow torch.optim exactly, so a run can be
 * compared step for step with PyTorch.
 *
 * <p>{@code weightDecay} is L2 added to the gradient (g += wd * p) for every optimiser except AdamW, where it is
 * decoupled (p -= lr * wd * p). {@code l1} adds l1 * sign(p) to the gradient.
 */
public sealed interface OptimizerHyper {
    float weightDecay();
    float l1();

    record Sgd(float momentum, float dampening, boolean nesterov, float weightDecay, float l1) implements OptimizerHyper {}
    record Adagrad(float lrDecay, float eps, float initialAccumulator, float weightDecay, float l1) implements OptimizerHyper {}
    record Adadelta(float rho, float eps, float weightDecay, float l1) implements OptimizerHyper {}
    record RmsProp(float alpha, float eps, float momentum, boolean centered, float weightDecay, float l1) implements OptimizerHyper {}
    /** Adam, or AdamW when {@code decoupled}. */
    record Adam(float beta1, float beta2, float eps, boolean decoupled, float weightDecay, float l1) implements OptimizerHyper {}
}
