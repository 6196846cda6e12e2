package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.ops.Norm;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * What {@link BatchNorm1d} and {@link BatchNorm2d} share: PyTorch's _BatchNorm with affine=True and
 * track_running_stats=True. State, named as in PyTorch's state_dict: parameters {@code weight} (gamma, 1) and
 * {@code bias} (beta, 0); buffers {@code running_mean} (0), {@code running_var} (1) and {@code num_batches_tracked}
 * (an INT32 scalar; PyTorch's is int64). Training mode normalises with batch statistics and updates the running ones;
 * eval mode uses the running statistics.
 *
 * <p>{@code num_batches_tracked} is counted on the host and written into its tensor with a fill, so a training step
 * never waits for the device; the count is read back from the tensor once, at the first training forward, so a
 * checkpoint loaded before training continues the count. (It is informational here: momentum is always a number,
 * never PyTorch's cumulative-average None. Counts above 2^24 are written rounded to float precision.)
 */
public abstract class BatchNorm extends Module {
    /** PyTorch's defaults. */
    public static final float DEFAULT_EPS = 1e-5f, DEFAULT_MOMENTUM = 0.1f;

    private final int features;
    private final float eps, momentum;
    private final Tensor weight, bias, runningMean, runningVar, numBatchesTracked;
    private long tracked;
    private boolean trackedSynced;

    protected BatchNorm(Context ctx, int features, float eps, float momentum) {
        if (features < 1) throw new IllegalArgumentException(kind() + ": number of features must be >= 1, got " + features);
        if (!(eps > 0f)) throw new IllegalArgumentException(kind() + ": eps must be > 0, got " + eps);
        if (!(momentum >= 0f && momentum <= 1f)) throw new IllegalArgumentException(kind() + ": momentum must be in [0, 1], got " + momentum);
        this.features = features;
        this.eps = eps;
        this.momentum = momentum;
        Backend be = ctx.backend();
        Shape c = Shape.of(features);
        weight = addParameter("weight", be.empty(c));
        be.fill(weight, 1f);
        bias = addParameter("bias", be.zeros(c));
        runningMean = addBuffer("running_mean", be.zeros(c));
        runningVar = addBuffer("running_var", be.empty(c));
        be.fill(runningVar, 1f);
        numBatchesTracked = addBuffer("num_batches_tracked", be.zeros(Shape.SCALAR, DType.INT32));
    }

    /** "BatchNorm1d" or "BatchNorm2d", for messages. */
    protected String kind() { return getClass().getSimpleName(); }

    /** Throws with a clear message if x does not have the rank this layer takes. */
    protected abstract void checkInput(Tensor x);

    @Override
    public Tensor forward(Tensor x) { return run(x, false, null); }

    /**
     * relu(forward(x)) as one op ({@link Norm#batchNormRelu}): the same numbers, without keeping this layer's output
     * beside the ReLU's until the step ends. Used where a ReLU follows (a {@link Sequential} of this layer and a
     * {@link ReLU}, the zoo's ResNet and DenseNet blocks).
     */
    public Tensor forwardRelu(Tensor x) { return run(x, true, null); }

    /** relu(forward(x) + identity) as one op, a ResNet block's end ({@link Norm#batchNormRelu}). */
    public Tensor forwardAddRelu(Tensor x, Tensor identity) { return run(x, true, identity); }

    private Tensor run(Tensor x, boolean relu, Tensor identity) {
        boolean training = isTraining();
        Tensor y;
        try {
            checkInput(x);
            if (x.dim(1) != features)
                throw new IllegalArgumentException(kind() + "(" + features + "): input " + x.shape() + " has " + x.dim(1)
                        + " channels in dimension 1, expected " + features);
            y = relu ? Norm.batchNormRelu(x, weight, bias, runningMean, runningVar, training, momentum, eps, identity)
                     : Norm.batchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps);
        } catch (IllegalArgumentException e) {
            throw refused(e);
        }
        if (training) {
            if (!trackedSynced) { tracked = numBatchesTracked.toIntArray()[0]; trackedSynced = true; }
            tracked++;
            numBatchesTracked.backend().fill(numBatchesTracked, (float) tracked);
        }
        return y;
    }

    /** Sets gamma to 0, so the layer starts by outputting beta (torchvision ResNet's zero_init_residual for the last BN of a block). */
    public void zeroInitGamma() { weight.backend().fill(weight, 0f); }

    public Tensor weight() { return weight; }
    public Tensor bias() { return bias; }
    public Tensor runningMean() { return runningMean; }
    public Tensor runningVar() { return runningVar; }
    public Tensor numBatchesTracked() { return numBatchesTracked; }
    public int features() { return features; }
    public float eps() { return eps; }
    public float momentum() { return momentum; }

    @Override
    public String toString() { return kind() + "(" + features + ", eps=" + eps + ", momentum=" + momentum + ")"; }
}
