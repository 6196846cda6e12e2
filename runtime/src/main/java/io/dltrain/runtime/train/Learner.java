package io.dltrain.runtime.train;

import io.dltrain.runtime.Names;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.ops.Activations;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/**
 * Keras-style convenience over {@link Trainer}: {@code new Learner(model).epochs(3).fit(train)}, then
 * {@link #evaluate} and {@link #predict}. Defaults are dl-train's default recipe ({@link TrainConfig#defaults()})
 * without a validation split. The optimiser is created on the first fit and kept for later fits.
 *
 * <p>Calls from several threads take turns (they synchronise on the Learner): a predict waits for a fit to end rather
 * than read weights the optimiser is changing. {@link #evaluate} and {@link #predict} run the model in evaluation mode
 * on their own thread ({@link Module#evaluating()}) without switching the model's mode, so Learners on other threads
 * over the same model do not change each other's passes. The setters synchronise too: one called while a fit runs
 * waits for it to end and sets the next fit's value.
 */
public final class Learner implements AutoCloseable {
    private final Module model;
    private final Backend be;
    private TrainConfig config = TrainConfig.defaults();
    private Loss loss = new CrossEntropyLoss(0f);
    private TrainListener listener = TrainListener.NONE;
    private Optimizer optimizer;
    private Task task = Task.CLASSIFICATION;
    private boolean lossSet;
    /** Set by {@link #momentum} / {@link #weightDecay}: then they hold for any optimiser, in whatever order the calls come. */
    private Double momentumGiven, weightDecayGiven;
    private boolean closed;

    /**
     * A Learner for {@code model}, on the backend its parameters live on, with the default recipe (see the class
     * comment). The model stays the caller's: close it after the Learner.
     *
     * @throws IllegalArgumentException for a null model, one without parameters, a closed one, or one with a layer or trainable tensor
     *                                  kept in a field but not registered (a Module subclass registers its layers with
     *                                  {@code addModule} and its weights with {@code addParameter}), which would not be
     *                                  trained
     */
    public Learner(Module model) {
        if (model == null) throw new IllegalArgumentException("model is null");
        if (model.parameters().isEmpty())
            throw new IllegalArgumentException("the model has no parameters, so there is nothing to train: give a model with layers that"
                    + " have weights (Linear, Conv2d, ...)");
        String closedOne = closedParameter(model);
        if (closedOne != null) throw new IllegalArgumentException(closedModel(closedOne));
        String unregistered = Module.unregistered(model);
        if (unregistered != null) throw new IllegalArgumentException(unregistered);
        this.model = model;
        this.be = model.parameters().getFirst().backend();
        this.config = new TrainConfig(config.epochs(), config.batchSize(), config.lr(), config.optimizer(), config.momentum(),
                config.weightDecay(), config.schedule(), 0f, 0f, config.seed(), 0.0, 0, 0.0, 1);
    }

    /** Passes over the training data per {@link #fit} (default 10); at least 1. */
    public synchronized Learner epochs(int n) { config = config.withEpochs(n); return this; }

    /** Samples per step for {@link #fit} and per batch for {@link #evaluate} (default 128); at least 1. */
    public synchronized Learner batchSize(int n) { return set(n, config.lr(), config.optimizer(), config.schedule(), config.momentum(), config.weightDecay()); }

    /**
     * Optimiser by name (see {@link Optimizers#names()}) and base learning rate, with that optimiser's own momentum and
     * weight decay (as the CLI gives it: {@link Optimizers#defaultMomentum}, {@link Optimizers#defaultWeightDecay}) where
     * {@link #momentum} or {@link #weightDecay} did not set them. The optimiser is made by the first {@link #fit}: after it,
     * the learning rate may change, the optimiser may not.
     *
     * @throws IllegalArgumentException for an unknown name
     * @throws IllegalStateException    for another optimiser after the first fit
     */
    public synchronized Learner optimizer(String name, double lr) {
        if (name == null) throw new IllegalArgumentException("optimizer name is null; valid names: " + String.join(", ", Optimizers.names()));
        if (!Optimizers.names().contains(name))
            throw new IllegalArgumentException("unknown optimizer '" + name + "'" + Names.didYouMean(name, Optimizers.names()) + "; valid names: "
                    + String.join(", ", Optimizers.names()));
        if (optimizer != null && !name.equals(config.optimizer())) throw madeAlready("optimizer(\"" + name + "\", ...)");
        return set(config.batchSize(), lr, name, config.schedule(), momentumGiven != null ? momentumGiven : Optimizers.defaultMomentum(name),
                weightDecayGiven != null ? weightDecayGiven : Optimizers.defaultWeightDecay(name));
    }

    /** Momentum (sgd, sgd-nesterov, rmsprop; the others have none), whatever the optimiser; before the first {@link #fit}. */
    public synchronized Learner momentum(double m) {
        if (optimizer != null) throw madeAlready("momentum(" + m + ")");
        momentumGiven = m;
        return set(config.batchSize(), config.lr(), config.optimizer(), config.schedule(), m, config.weightDecay());
    }

    /** Weight decay (decoupled for adamw, an L2 term for the others), whatever the optimiser; before the first {@link #fit}. */
    public synchronized Learner weightDecay(double wd) {
        if (optimizer != null) throw madeAlready("weightDecay(" + wd + ")");
        weightDecayGiven = wd;
        return set(config.batchSize(), config.lr(), config.optimizer(), config.schedule(), config.momentum(), wd);
    }

    /**
     * Clips every step's gradients to this global 2-norm before the optimiser steps, as
     * torch.nn.utils.clip_grad_norm_ (the command line's --clip-norm; the usual recipe for recurrent models such as
     * LSTM); 0, the default, is off. May change between fits.
     *
     * @throws IllegalArgumentException for a negative, infinite or NaN norm
     */
    public synchronized Learner clipNorm(double maxNorm) {
        TrainConfig c = config;
        config = new TrainConfig(c.epochs(), c.batchSize(), c.lr(), c.optimizer(), c.momentum(), c.weightDecay(), c.schedule(),
                c.labelSmoothing(), (float) maxNorm, c.seed(), c.valFraction(), c.patience(), c.minDelta(), c.workers());
        return this;
    }

    /**
     * LR schedule spec (see {@link LrSchedules#parse}; an invalid one throws here, with the valid forms). A schedule
     * that watches the validation loss (plateau) is refused here too: a Learner fits without validation data.
     */
    public synchronized Learner schedule(String spec) {
        if (LrSchedules.parse(spec).needsValidation())
            throw new IllegalArgumentException("schedule(\"" + spec + "\"): the learning-rate schedule plateau reduces the rate when the"
                    + " validation loss stops improving, but a Learner fits without validation data; choose another schedule"
                    + " (constant, step, cosine, warmup), or train with Trainer and a validation DataLoader");
        return set(config.batchSize(), config.lr(), config.optimizer(), spec, config.momentum(), config.weightDecay());
    }

    private IllegalStateException madeAlready(String call) {
        return new IllegalStateException(call + ": the " + config.optimizer() + " optimiser was made by the first fit() and keeps its"
                + " settings; call it before fit(), or use a new Learner");
    }

    /**
     * The loss that {@link #fit} minimises and {@link #evaluate} reports, instead of the task's default (cross-entropy
     * for classification, MSE otherwise); a later {@link #task} keeps it.
     */
    public synchronized Learner loss(Loss l) {
        if (l == null) throw new IllegalArgumentException("loss(null): give a loss (CrossEntropyLoss, MSELoss, ...), or do not call loss()"
                + " to keep the task's default");
        this.loss = l;
        this.lossSet = true;
        return this;
    }

    /**
     * The task trained (default classification). For reconstruction the target is the input itself, for regression
     * the dataset's real-valued targets; unless a loss was set, the loss of both is MSE, and {@link #evaluate} then
     * reports the mean loss with NaN accuracies.
     */
    public synchronized Learner task(Task t) {
        if (t == null) throw new IllegalArgumentException("task must not be null");
        this.task = t;
        if (!lossSet) loss = t == Task.CLASSIFICATION ? new CrossEntropyLoss(0f) : new io.dltrain.runtime.nn.loss.MSELoss();
        return this;
    }

    /**
     * Progress callbacks for {@link #fit}; {@link TrainListener#info} also gets what a person should know about the fit
     * (early stopping, skipped steps, a learning rate of 0, which trains nothing, a momentum of 1 or more, which usually diverges). A callback that throws ends the fit at the next step boundary (or at the end
     * of that epoch) with a {@link ListenerFailedException} whose cause is the callback's exception; a Learner keeps no
     * checkpoints, so nothing is saved.
     */
    public synchronized Learner listener(TrainListener l) {
        if (l == null) throw new IllegalArgumentException("listener(null): give TrainListener.NONE for no callbacks");
        this.listener = l;
        return this;
    }

    /** The config with these settings (the others kept); TrainConfig checks them. */
    private Learner set(int batch, double lr, String opt, String schedule, double momentum, double weightDecay) {
        TrainConfig c = config;
        config = new TrainConfig(c.epochs(), batch, lr, opt, momentum, weightDecay, schedule, c.labelSmoothing(),
                c.clipNorm(), c.seed(), c.valFraction(), c.patience(), c.minDelta(), c.workers());
        return this;
    }

    /**
     * Trains on every sample of {@code train} for the configured epochs. A later fit continues from the weights and the
     * optimiser's state (momentum, Adam's moments) that the earlier one left, but starts its own schedule, epoch count
     * and shuffling afresh: as if a new run began from those weights, not as if the first run went on (for that, train
     * with {@link Trainer} and its checkpoints, which resume the schedule and the data order).
     */
    public synchronized Trainer.Result fit(Dataset train) {
        requireData("fit", train);
        if (closed) throw new IllegalStateException("fit(): this Learner was closed, which freed its optimiser's state; train with a new"
                + " Learner (the model is still open)");
        // as the CLI's notices: PyTorch allows a rate of 0 (a frozen-weights dry run) and a momentum of 1 or more, so they
        // are said, not refused
        if (config.lr() == 0)
            infoBeforeFit("learning rate 0: the weights will not change (each optimiser step, weight decay included, is scaled by"
                    + " the learning rate; batch norm's running statistics still update); give a learning rate above 0 to train");
        if (config.momentum() >= 1 && Optimizers.usesMomentum(config.optimizer()))
            infoBeforeFit("momentum " + config.momentum() + ": with a momentum of 1 or more the momentum buffer never decays, so "
                    + config.optimizer() + " usually diverges (PyTorch allows it; the usual values are 0.9 to 0.99)");
        boolean made = optimizer == null;
        if (made) optimizer = Optimizers.create(config.optimizer(), model.namedParameters(), config.lr(), config.momentum(), config.weightDecay());
        try (DataLoader loader = new DataLoader(train, null, config.batchSize(), true, false, config.seed(),
                DataLoader.autoWorkers(train, be, config.batchSize()), 4)) {
            return new Trainer(be, config).task(task).learnerAdvice().fit(model, loss, optimizer, LrSchedules.parse(config.schedule()), loader, null, listener);
        } catch (RuntimeException | Error e) {
            // a first fit refused before any step (bad data or settings) leaves the settings open: the next fit makes the optimiser
            if (made && optimizer.stepCount() == 0) {
                optimizer.close();
                optimizer = null;
            }
            throw e;
        }
    }

    private void infoBeforeFit(String message) {
        try {
            listener.info(message);
        } catch (RuntimeException e) {
            throw new ListenerFailedException("the listener's info failed before the fit began: " + e, e, null);
        }
    }

    /** Loss and accuracy on {@code data}. */
    public synchronized EvalResult evaluate(Dataset data) {
        requireData("evaluate", data);
        try (DataLoader loader = new DataLoader(data, null, config.batchSize(), false, false, config.seed(),
                DataLoader.autoWorkers(data, be, config.batchSize()), 4)) {
            return new Trainer(be, config).task(task).evaluate(model, loader, loss);
        }
    }

    /**
     * Class probabilities for one sample of {@code data} (for a classifier: the softmax of the model's output); for the
     * other tasks the model's output as it is (a regression model's prediction, an autoencoder's reconstruction).
     *
     * @throws IndexOutOfBoundsException for an index outside [0, data.size())
     * @throws IllegalArgumentException  for a regression dataset while this Learner's task is classification (the softmax
     *                                   of a regression model's one output is 1.0 whatever the sample)
     */
    public synchronized float[] predict(Dataset data, int index) {
        requireData("predict", data);
        if (task == Task.CLASSIFICATION && data.task() == Task.REGRESSION)
            throw new IllegalArgumentException("predict(): " + data.name() + " is a regression dataset (real-valued targets), but this"
                    + " Learner's task is classification, which would return the softmax of the model's output (1.0 for one output);"
                    + " call task(Task.REGRESSION) first");
        // checked here, not left to the dataset: a split that views a larger array would read another split's sample
        if (index < 0 || index >= data.size())
            throw new IndexOutOfBoundsException("predict(): sample index " + index + " is outside " + data.name()
                    + (data.size() == 0 ? ", which has no samples" : ", which has samples 0 to " + (data.size() - 1)));
        Shape s = data.sampleShape();
        float[] x = new float[s.size()];
        DataLoader.readChecked(data, index, x, "predict(): "); // a read that writes too little is refused, as fit and evaluate refuse it
        int[] dims = new int[s.rank() + 1];
        dims[0] = 1;
        for (int i = 0; i < s.rank(); i++) dims[i + 1] = s.dim(i);
        // eval mode on this thread only: the model's own mode stays, for other threads using it (Module.evaluating)
        try (Scope scope = Scope.open(); GradMode.Guard g = GradMode.noGrad(); GradMode.Guard evalMode = Module.evaluating()) {
            Tensor logits = model.forward(be.fromHost(x, Shape.of(dims)));
            return task.classifies() ? Activations.softmax(logits).toFloatArray() : logits.toFloatArray();
        }
    }

    private void requireData(String call, Dataset data) {
        if (data == null) throw new IllegalArgumentException(call + "(): the dataset is null");
        String closedOne = closedParameter(model);
        if (closedOne != null) throw new IllegalStateException(call + "(): " + closedModel(closedOne));
    }

    /** The name of a closed parameter or buffer of model, or null when none is closed. */
    private static String closedParameter(Module model) {
        for (var e : model.stateDict().entrySet()) if (e.getValue().isClosed()) return e.getKey();
        return null;
    }

    private static String closedModel(String tensor) {
        return "the model was closed (Module.close() freed its weights; " + tensor + " is closed), so it can be neither trained nor"
                + " used; close the model after the Learner, e.g. try (var model = ...; var learner = new Learner(model)) { ... },"
                + " or build a new model (Checkpoint.loadInto restores saved weights)";
    }

    /**
     * Frees the optimiser's state (the model stays open: it is the caller's). Idempotent. {@link #fit} is refused
     * afterwards; {@link #evaluate} and {@link #predict}, which use the model alone, still work.
     */
    @Override
    public synchronized void close() {
        closed = true;
        if (optimizer != null) optimizer.close();
    }
}
