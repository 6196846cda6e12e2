package io.dltrain.runtime.train;

/**
 * How to train: the recipe. {@link #defaults()} is dl-train's default recipe (documented in the README with the
 * accuracy it reaches); every field can be overridden from the CLI.
 *
 * @param epochs          passes over the training split
 * @param batchSize       samples per step
 * @param lr              base learning rate (before the schedule)
 * @param optimizer       name known to {@code Optimizers.create}
 * @param momentum        momentum for SGD / RMSprop
 * @param weightDecay     L2 weight decay (decoupled for AdamW)
 * @param schedule        LR schedule spec, see {@code LrSchedules.parse}
 * @param labelSmoothing  cross-entropy label smoothing
 * @param clipNorm        clip gradients to this global norm (0: off)
 * @param seed            seed for data order, dropout and initialisation
 * @param valFraction     fraction of the training set held out for validation (0: none)
 * @param patience        early stopping: epochs without validation-loss improvement before stopping (0: off)
 * @param minDelta        early stopping: improvement smaller than this does not count
 * @param workers         data-loading threads, as information only (>= 1): neither {@link Trainer} nor {@link Learner}
 *                        reads it. A {@link io.dltrain.runtime.data.DataLoader}'s worker threads are fixed when it is
 *                        made (its constructor's {@code workers}; {@code DataLoader.autoWorkers} is the command line's
 *                        rule), and {@code Trainer.fit} takes the loaders ready-made; so pass the count to the
 *                        DataLoader. The command line records the count it resolved here.
 */
public record TrainConfig(int epochs, int batchSize, double lr, String optimizer, double momentum, double weightDecay,
                          String schedule, float labelSmoothing, float clipNorm, long seed, double valFraction,
                          int patience, double minDelta, int workers) {
    public TrainConfig {
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be a finite number >= 0, got " + lr);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new IllegalArgumentException("label smoothing must be in [0, 1), got " + labelSmoothing);
        if (!(valFraction >= 0 && valFraction < 1)) throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + valFraction);
        if (!(clipNorm >= 0) || Float.isInfinite(clipNorm))
            throw new IllegalArgumentException("clip norm must be a finite number >= 0 (0 is off), got " + clipNorm);
        if (patience < 0) throw new IllegalArgumentException("patience must be >= 0, got " + patience);
        // below 0 a worse validation loss would count as an improvement, and early stopping would never stop
        if (!(minDelta >= 0) || Double.isInfinite(minDelta))
            throw new IllegalArgumentException("min delta (the smallest validation-loss improvement that counts for early stopping) must be"
                    + " a finite number >= 0, got " + minDelta);
        if (workers < 1) throw new IllegalArgumentException("workers must be >= 1, got " + workers);
    }

    /**
     * The default recipe: SGD with Nesterov momentum 0.9, learning rate 0.05 annealed to 0 by a cosine over the
     * whole run, weight decay 5e-4, batch 128, 10% of the training set held out for validation. Chosen by a small
     * sweep on Fashion-MNIST (benchmarks/README.md): LeNet-5 reaches 88.5-89.6% test accuracy after 3 epochs and
     * 91% after 10 over three seeds.
     */
    public static TrainConfig defaults() {
        return new TrainConfig(10, 128, 0.05, "sgd-nesterov", 0.9, 5e-4, "cosine", 0f, 0f, 42L, 0.1, 0, 0.0, 1);
    }

    public TrainConfig withWorkers(int w) { return new TrainConfig(epochs, batchSize, lr, optimizer, momentum, weightDecay, schedule, labelSmoothing, clipNorm, seed, valFraction, patience, minDelta, w); }

    public TrainConfig withEpochs(int e) { return new TrainConfig(e, batchSize, lr, optimizer, momentum, weightDecay, schedule, labelSmoothing, clipNorm, seed, valFraction, patience, minDelta, workers); }
}
