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

    /**
     * A checkpoint is being written into {@code dir} (the policy's directory, or its "best" folder when {@code best}):
     * at an epoch's end, every N steps or seconds, or on a stop. A model with its optimiser state can take long to
     * write (hundreds of MB on a slow disk), and the run is otherwise silent meanwhile. {@link #checkpointWritten}
     * follows, also when the write fails.
     */
    default void checkpointWriting(java.nio.file.Path dir, boolean best) {}

    /** The checkpoint {@link #checkpointWriting} announced is written ({@code checkpoint}), or failed (null). */
    default void checkpointWritten(java.nio.file.Path checkpoint) {}

    /** A line of information (early stopping, ...). */
    default void info(String message) {}

    TrainListener NONE = new TrainListener() {};
}
