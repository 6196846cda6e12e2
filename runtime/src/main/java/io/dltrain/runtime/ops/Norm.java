package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Activation;
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
        checkNorm(x, gamma, beta, runningMean, runningVar);
        int C = x.dim(1);
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

    private static void checkNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar) {
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
    }

    /**
     * relu(batchNorm(x) + identity), or relu(batchNorm(x)) where identity is null: the numbers of those ops run one after
     * the other, bit for bit, as one op that keeps only x and its output for backward. Run as separate ops, the batch
     * norm's output and the sum stayed allocated until the step ended, though no backward reads them: in a ResNet that
     * is two of every three activations a block makes (PyTorch's ReLU(inplace=True) and {@code out += identity} write
     * them into one buffer). ReLU's gradient is read from the output (y &lt;= 0 exactly where x &lt;= 0, NaN where x is
     * NaN), as PyTorch's threshold_backward on an in-place ReLU does. In eval mode (no batch statistics to
     * backpropagate through) the separate ops run.
     */
    public static Tensor batchNormRelu(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                       boolean training, float momentum, float eps, Tensor identity) {
        if (identity != null && !identity.shape().equals(x.shape()))
            throw new IllegalArgumentException("batchNorm + add + relu: the batch norm's input " + x.shape() + " and the tensor added"
                    + " to its output " + identity.shape() + " differ in shape");
        if (!training) {
            Tensor y = batchNorm(x, gamma, beta, runningMean, runningVar, false, momentum, eps);
            return Activations.relu(identity == null ? y : Basic.add(y, identity));
        }
        checkNorm(x, gamma, beta, runningMean, runningVar);
        Backend be = x.backend();
        Tensor y = be.empty(x.shape());
        Shape c = Shape.of(x.dim(1));
        Tensor saveMean = be.empty(c), saveInvStd = be.empty(c);
        be.batchNormForwardTraining(x, gamma, beta, runningMean, runningVar, momentum, eps, y, saveMean, saveInvStd);
        if (identity != null) be.add(y, identity, y);
        be.activationForward(Activation.RELU, y, y);
        Tensor[] inputs = identity == null ? new Tensor[] {x, gamma, beta} : new Tensor[] {x, gamma, beta, identity};
        return Autograd.record(identity == null ? "batch_norm_relu" : "batch_norm_add_relu", y, inputs, (dy, needs) -> {
            Tensor dz = be.empty(x.shape()); // relu's gradient: the sum's, handed to both of its inputs as add's backward does
            be.activationBackward(Activation.RELU, y, y, dy, dz);
            Tensor dx = be.empty(x.shape()), dgamma = be.empty(c), dbeta = be.empty(c);
            be.batchNormBackward(x, dz, gamma, saveMean, saveInvStd, dx, dgamma, dbeta, false);
            boolean handsOn = identity != null && needs[3];
            if (!handsOn) dz.close();
            Tensor[] g = {needs[0] ? dx : null, needs[1] ? dgamma : null, needs[2] ? dbeta : null};
            return identity == null ? g : new Tensor[] {g[0], g[1], g[2], handsOn ? dz : null};
        });
    }
}
