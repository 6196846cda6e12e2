package io.dltrain.runtime.train;

/**
 * One epoch's numbers, as written to metrics.jsonl. Validation fields are NaN when there is no validation split.
 * {@code imagesPerSec} is the training throughput of the epoch: training samples / seconds spent in training steps
 * (validation excluded); {@code seconds} is the epoch's wall time including validation.
 */
public record EpochMetrics(int epoch, double trainLoss, double trainAcc, double valLoss, double valAcc,
                           double lr, double seconds, double trainSeconds, double imagesPerSec, double dataWaitSeconds) {}
