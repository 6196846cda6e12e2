package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Differentiable losses, each reduced by the mean to a one-element tensor (shape [], like PyTorch's) that stays on
 * the device. Gradients flow to the prediction only; labels and targets are data.
 * <ul>
 *   <li>{@link #crossEntropy}: F.cross_entropy(logits, labels, label_smoothing=eps) for logits [N, C], INT32 labels [N].</li>
 *   <li>{@link #mse}, {@link #l1}, {@link #bceWithLogits}: F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits.</li>
 * </ul>
 * {@link #oneHot} (F.one_hot, as FP32) is no loss: it turns a batch's labels into the targets of a loss of one's own.
 */
public final class Losses {
    private Losses() {}

    public static Tensor crossEntropy(Tensor logits, Tensor labels, float labelSmoothing) {
        if (logits.rank() != 2)
            throw new IllegalArgumentException("crossEntropy: expected logits [N, C], got " + logits.shape());
        if (labels.dtype() != DType.INT32 || labels.rank() != 1 || labels.dim(0) != logits.dim(0))
            throw new IllegalArgumentException("crossEntropy: expected INT32 labels [" + logits.dim(0) + "] for logits "
                    + logits.shape() + ", got " + labels.dtype() + " " + labels.shape());
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new IllegalArgumentException("crossEntropy: label smoothing must be in [0, 1], got " + labelSmoothing);
        Backend be = logits.backend();
        Tensor probs = be.empty(logits.shape());
        Tensor loss = be.empty(Shape.SCALAR);
        be.crossEntropyForward(logits, labels, labelSmoothing, probs, loss);
        return Autograd.record("cross_entropy", loss, new Tensor[] {logits, labels}, (dl, needs) -> {
            if (!needs[0]) return new Tensor[] {null, null};
            Tensor dx = be.empty(logits.shape());
            be.crossEntropyBackward(probs, labels, labelSmoothing, dl, dx);
            return new Tensor[] {dx, null};
        });
    }

    /**
     * The one-hot rows [N, classes] (FP32) of INT32 labels [N], computed on the labels' backend: out[r, c] = 1 where
     * c == labels[r], else 0. A loss of one's own (a focal loss, a class-weighted cross-entropy) that gets the batch's
     * labels as a device tensor (as a {@code Loss} plugged into the Learner does) picks each row's class with it,
     * multiplying element by element ({@code Sequence.mul}), without copying the labels to the host. A label outside
     * [0, classes) is refused on the CPU, naming the row and the value; on a GPU its row is NaN instead (the device
     * cannot throw without a host synchronisation), so the loss is NaN and training stops at the non-finite check.
     * Not differentiable: labels are class indices, so the result is a constant of the autograd graph (as a tensor
     * made with {@code fromHost}) and no gradient flows through it.
     */
    public static Tensor oneHot(Tensor labels, int classes) {
        if (classes < 1) throw new IllegalArgumentException("oneHot: classes must be >= 1, got " + classes);
        if (labels.dtype() != DType.INT32 || labels.rank() != 1)
            throw new IllegalArgumentException("oneHot: expected INT32 labels [N], got " + labels.dtype() + " " + labels.shape());
        Backend be = labels.backend();
        Tensor out = be.empty(Shape.of(labels.dim(0), classes));
        be.oneHot(labels, out);
        return out;
    }

    public static Tensor mse(Tensor pred, Tensor target) { return elementwise(LossKind.MSE, "mse_loss", pred, target); }

    public static Tensor l1(Tensor pred, Tensor target) { return elementwise(LossKind.L1, "l1_loss", pred, target); }

    /** Binary cross-entropy on logits against FP32 targets in [0, 1] of the same shape. */
    public static Tensor bceWithLogits(Tensor logits, Tensor targets) {
        return elementwise(LossKind.BCE_WITH_LOGITS, "binary_cross_entropy_with_logits", logits, targets);
    }

    private static Tensor elementwise(LossKind kind, String op, Tensor pred, Tensor target) {
        if (!pred.shape().equals(target.shape()))
            throw new IllegalArgumentException(op + ": prediction " + pred.shape() + " and target " + target.shape()
                    + " must have the same shape");
        if (target.dtype() != DType.FP32)
            throw new IllegalArgumentException(op + ": target must be FP32, got " + target.dtype());
        Backend be = pred.backend();
        Tensor loss = be.empty(Shape.SCALAR);
        be.lossForward(kind, pred, target, loss);
        return Autograd.record(op, loss, new Tensor[] {pred, target}, (dl, needs) -> {
            if (!needs[0]) return new Tensor[] {null, null}; // targets get no gradient
            Tensor dx = be.empty(pred.shape());
            be.lossBackward(kind, pred, target, dl, dx);
            return new Tensor[] {dx, null};
        });
    }
}
