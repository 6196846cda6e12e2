package io.dltrain.runtime.train;

/** Progress callbacks from {@link Trainer#fit}; the CLI draws its progress bar from these. All methods are optional. */
public interface TrainListener {
    default void epochStarted(int epoch, int epochs, int steps) {}

    /** Called every step; {@code loss} is NaN on steps where the trainer did not read the loss back (see Trainer). */
    default void step(int epoch, int step, int steps, double loss, double imagesPerSec) {}

    default void epochEnded(EpochMetrics m) {}

    /** A line of information (early stopping, ...). */
    default void info(String message) {}

    TrainListener NONE = new TrainListener() {};
}
