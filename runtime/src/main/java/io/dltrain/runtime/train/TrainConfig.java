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
 * @param workers         data-loading threads
 */
public record TrainConfig(int epochs, int batchSize, double lr, String optimizer, double momentum, double weightDecay,
                          String schedule, float labelSmoothing, float clipNorm, long seed, double valFraction,
                          int patience, double minDelta, int workers) {
    public TrainConfig {
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (!(lr >= 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be a finite number >= 0, got " + lr);
        if (weightDecay < 0) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        if (labelSmoothing < 0 || labelSmoothing >= 1) throw new IllegalArgumentException("label smoothing must be in [0, 1), got " + labelSmoothing);
        if (valFraction < 0 || valFraction >= 1) throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + valFraction);
        if (patience < 0) throw new IllegalArgumentException("patience must be >= 0, got " + patience);
        if (workers < 1) throw new IllegalArgumentException("workers must be >= 1, got " + workers);
    }

    /** The default recipe: AdamW 2e-3, weight decay 5e-4... see the README for what it reaches. */
    public static TrainConfig defaults() {
        return new TrainConfig(10, 128, 2e-3, "adamw", 0.9, 1e-4, "warmup:200,cosine", 0f, 0f, 42L, 0.1, 0, 0.0, 2);
    }

    public TrainConfig withEpochs(int e) { return new TrainConfig(e, batchSize, lr, optimizer, momentum, weightDecay, schedule, labelSmoothing, clipNorm, seed, valFraction, patience, minDelta, workers); }
}
