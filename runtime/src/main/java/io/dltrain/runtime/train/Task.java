package io.dltrain.runtime.train;

/**
 * What a model is trained to do, which decides the training target, the loss the command line picks and the metric
 * reported. A model registry entry names its task; the {@link Trainer} is told it with {@link Trainer#task}.
 * <ul>
 *   <li>{@link #CLASSIFICATION}: target = the dataset's class label; cross-entropy; loss and top-1/top-5 accuracy.</li>
 *   <li>{@link #RECONSTRUCTION}: target = the input itself (an autoencoder), in the dataset's pixel scale
 *       ({@link Trainer#reconstructionScale}); MSE; the mean loss is the metric, accuracy is not defined (NaN).</li>
 *   <li>{@link #REGRESSION}: target = the dataset's real-valued target per sample ({@code Dataset#target}, a
 *       scalar: the model has one output); MSE; the mean loss is the metric, accuracy is not defined (NaN).</li>
 * </ul>
 * A {@code Dataset} says which task its samples are labelled for ({@code Dataset#task()}: classification, or regression
 * for a dataset with real-valued targets); reconstruction is the model's choice and uses only the inputs.
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
