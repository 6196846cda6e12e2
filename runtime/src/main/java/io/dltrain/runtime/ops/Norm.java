package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Differentiable batch normalisation, PyTorch's
 * {@code F.batch_norm(x, running_mean, running_var, weight=gamma, bias=beta, training, momentum, eps)} for x of shape
 * [N, C] or [N, C, ...].
 * <ul>
 *   <li>training: normalises with the batch mean and biased variance, updates the running statistics in place
 *       (momentum towards the batch mean and the unbiased variance), and backpropagates through the batch
 *       statistics to x, gamma and beta.</li>
 *   <li>eval: an affine map per channel with the running statistics, y = (x - mean) / sqrt(var + eps) * gamma + beta;
 *       its gradient (rarely needed: evaluation normally runs without grad) is composed from element-wise ops.</li>
 * </ul>
 */
public final class Norm {
    private Norm() {}

    public static Tensor batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                  boolean training, float momentum, float eps) {
        if (x.rank() < 2)
            throw new IllegalArgumentException("batchNorm: expected input [N, C] or [N, C, ...], got " + x.shape());
        int C = x.dim(1);
        Tensor[] perChannel = {gamma, beta, runningMean, runningVar};
        String[] names = {"weight", "bias", "running_mean", "running_var"};
        for (int k = 0; k < 4; k++) {
            if (perChannel[k] == null || perChannel[k].numel() != C)
                throw new IllegalArgumentException("batchNorm: " + names[k] + " " + (perChannel[k] == null ? "is missing" : "has shape " + perChannel[k].shape())
                        + "; expected [" + C + "] for input " + x.shape() + " (channels are dimension 1)");
        }
        Backend be = x.backend();
        Tensor y = be.empty(x.shape());
        Shape c = Shape.of(C);
        if (training) {
            Tensor saveMean = be.empty(c), saveInvStd = be.empty(c);
            be.batchNormForwardTraining(x, gamma, beta, runningMean, runningVar, momentum, eps, y, saveMean, saveInvStd);
            return Autograd.record("batch_norm", y, new Tensor[] {x, gamma, beta}, (dy, needs) -> {
                Tensor dx = be.empty(x.shape()), dgamma = be.empty(c), dbeta = be.empty(c);
                be.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta, false);
                return new Tensor[] {needs[0] ? dx : null, needs[1] ? dgamma : null, needs[2] ? dbeta : null};
            });
        }
        be.batchNormForwardInference(x, gamma, beta, runningMean, runningVar, eps, y);
        return Autograd.record("batch_norm", y, new Tensor[] {x, gamma, beta}, (dy, needs) -> {
            // y = (x - rm) * gamma / sqrt(rv + eps) + beta with constant statistics, so
            // dx = dy * gamma / sqrt(rv + eps), dgamma = sum dy * xhat, dbeta = sum dy.
            Tensor zeros = be.zeros(c);
            Tensor dx = null, dgamma = null, dbeta = null;
            if (needs[0]) {
                dx = be.empty(x.shape());
                be.batchNormForwardInference(dy, gamma, zeros, zeros, runningVar, eps, dx);
            }
            if (needs[1]) {
                Tensor ones = be.empty(c);
                be.fill(ones, 1f);
                Tensor xhat = be.empty(x.shape());
                be.batchNormForwardInference(x, ones, zeros, runningMean, runningVar, eps, xhat);
                Tensor prod = be.empty(x.shape());
                be.mul(dy, xhat, prod);
                dgamma = be.empty(c);
                be.biasGrad(prod, dgamma, false);
            }
            if (needs[2]) {
                dbeta = be.empty(c);
                be.biasGrad(dy, dbeta, false);
            }
            return new Tensor[] {dx, dgamma, dbeta};
        });
    }
}
