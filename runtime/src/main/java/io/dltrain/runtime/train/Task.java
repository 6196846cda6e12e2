package io.dltrain.runtime.train;

/**
 * What a model is trained to do, which decides the training target, the loss the command line picks and the metric
 * reported. A model registry entry names its task; the {@link Trainer} is told it with {@link Trainer#task}.
 * <ul>
 *   <li>{@link #CLASSIFICATION}: target = the dataset's class label; cross-entropy; loss and top-1/top-5 accuracy.</li>
 *   <li>{@link #RECONSTRUCTION}: target = the input itself (an autoencoder), in the dataset's pixel scale
 *       ({@link Trainer#reconstructionScale}); MSE; the mean loss is the metric, accuracy is not defined (NaN).</li>
 *   <li>{@link #REGRESSION}: target = real values the dataset provides; MSE; the mean loss is the metric. The
 *       trainer needs the dataset's float targets for it (not part of the label-only {@code Dataset} yet).</li>
 * </ul>
 */
public enum Task {
    CLASSIFICATION("accuracy"),
    RECONSTRUCTION("mse"),
    REGRESSION("mse");

    private final String metric;

    Task(String metric) { this.metric = metric; }

    /** The name of the headline metric: "accuracy" for classification, "mse" (the mean loss) otherwise. */
    public String metric() { return metric; }

    /** True when the model outputs class scores (accuracy is defined). */
    public boolean classifies() { return this == CLASSIFICATION; }

    /** Lower-case name as written in summary.json and model.json. */
    public String label() { return name().toLowerCase(java.util.Locale.ROOT); }
}
