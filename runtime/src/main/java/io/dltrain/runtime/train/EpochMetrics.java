package io.dltrain.runtime.train;

/**
 * One epoch's numbers, as written to metrics.jsonl. Validation fields are NaN when there is no validation split.
 * {@code trainLoss} and {@code trainAcc} are the means over the epoch's trained samples (each batch weighted by its
 * size) of what each step computed before its update; {@code valLoss} and {@code valAcc} are the end-of-epoch model's,
 * both with the loss given to {@link Trainer#fit} (label smoothing included). {@code lr} is the rate of the epoch's
 * last step.
 * {@code imagesPerSec} is the training throughput of the epoch: training samples / seconds spent in training steps
 * (validation excluded); {@code seconds} is the epoch's wall time including validation. {@code skippedSteps} counts
 * the epoch's steps skipped for a non-finite loss (--skip-nonfinite); the training loss and accuracy are over the
 * other steps' samples.
 */
public record EpochMetrics(int epoch, double trainLoss, double trainAcc, double valLoss, double valAcc,
                           double lr, double seconds, double trainSeconds, double imagesPerSec, double dataWaitSeconds,
                           long skippedSteps) {
    public EpochMetrics(int epoch, double trainLoss, double trainAcc, double valLoss, double valAcc,
                        double lr, double seconds, double trainSeconds, double imagesPerSec, double dataWaitSeconds) {
        this(epoch, trainLoss, trainAcc, valLoss, valAcc, lr, seconds, trainSeconds, imagesPerSec, dataWaitSeconds, 0);
    }
}
