package io.dltrain.runtime.train;

/**
 * Progress callbacks from {@link Trainer#fit}; the CLI draws its progress bar and writes metrics.jsonl from these. All
 * methods are optional. A method that throws ends the fit with a {@link ListenerFailedException}, after the training so
 * far is checkpointed (with a checkpoint policy) at the next step boundary, or at the end of the epoch whose
 * {@code epochEnded} failed; the listener is not called again.
 */
public interface TrainListener {
    default void epochStarted(int epoch, int epochs, int steps) {}

    /** Called every step; {@code loss} is NaN on steps where the trainer did not read the loss back (see Trainer). */
    default void step(int epoch, int step, int steps, double loss, double imagesPerSec) {}

    /**
     * Called after each batch of an epoch's validation pass (which runs after the epoch's last {@link #step} and before
     * {@link #epochEnded}): {@code batch} of {@code batches} evaluated. A long validation pass is otherwise silent.
     */
    default void validationStep(int epoch, int batch, int batches) {}

    default void epochEnded(EpochMetrics m) {}

    /** A line of information (early stopping, ...). */
    default void info(String message) {}

    TrainListener NONE = new TrainListener() {};
}
