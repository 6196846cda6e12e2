package io.dltrain.runtime.train;

import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.data.Batch;
import io.dltrain.runtime.data.DataLoadException;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.data.SampleStream;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.optim.GradClip;
import io.dltrain.runtime.optim.LrSchedule;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.CheckpointException;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.nn.Dropout;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop: epochs of mini-batch steps (forward, loss, backward, optional gradient
 * clipping, optimiser step), then validation, per-epoch metrics and early stopping on validation loss.
 *
 * <p>The path of a batch: the {@link DataLoader}'s workers decode it into a reusable host buffer ahead of time;
 * {@link BatchUploads} copies it into device tensors (on a backend with {@link io.dltrain.runtime.backend.AsyncUpload},
 * CUDA, one batch ahead, so that the copy of batch k+1 overlaps step k); the step runs the model inside a
 * {@link Scope} and closes it, returning every activation and temporary gradient to the backend's allocator, then
 * closes the batch's tensors. Running loss and accuracy are accumulated on
 * the device. The one-element loss is read back once per step, after backward and before the optimiser step, to
 * catch NaN/Inf before it reaches the weights: free on the CPU, but a host synchronisation per step on a GPU. The
 * CUDA backend should replace it with a device-side flag that the fused optimiser kernels honour (as PyTorch's
 * GradScaler does with found_inf), read back only at progress reports.
 *
 * <p>The {@link Task} (classification by default, see {@link #task}) chooses the target each batch is scored
 * against: its labels, for reconstruction the input itself, for regression the dataset's real-valued targets
 * ({@link io.dltrain.runtime.data.Dataset#target}) as an [N, 1] FP32 tensor. Accuracy is counted only for
 * classification; for the other tasks it is NaN in {@link EpochMetrics} and {@link EvalResult}, and the mean loss is
 * the metric.
 */
public final class Trainer {
    static final double REPORT_SECONDS = 0.2;

    private final Backend be;
    private final TrainConfig config;

    public Trainer(Backend backend, TrainConfig config) {
        this.be = backend;
        this.config = config;
    }

    /**
     * What a fit produced. {@code bestEpoch} is the epoch with the lowest validation loss (or the last epoch).
     * {@code seconds} is the fit's wall time, a resumed run's earlier processes included. {@code interrupted} is true
     * when the fit stopped before its last epoch's end on request ({@link #requestStop}, an interrupt of the fitting
     * thread, which stays interrupted, {@link #maxSteps});
     * {@code checkpoint} is then the checkpoint it wrote (null without a policy).
     */
    public record Result(List<EpochMetrics> epochs, boolean stoppedEarly, int bestEpoch, double seconds,
                         boolean interrupted, Path checkpoint) {
        public Result(List<EpochMetrics> epochs, boolean stoppedEarly, int bestEpoch, double seconds) {
            this(epochs, stoppedEarly, bestEpoch, seconds, false, null);
        }
    }

    private CheckpointPolicy policy;
    private TrainingState resume;
    private long maxSteps = Long.MAX_VALUE;
    private volatile boolean stopRequested;
    /** The training and validation loaders of the fit in progress, for {@link #requestStop}; null between fits. */
    private volatile DataLoader[] fitLoaders;
    private final Object fitLoadersLock = new Object();
    private boolean skipNonfinite;
    /** The running fit's start (System.nanoTime) and the seconds its resumed run had spent before: for checkpoints. */
    private long fitStart;
    private double priorSeconds;
    /** Set when early stopping ends the fit (or ended the run it resumes), so that its checkpoint says so. */
    private boolean stoppedEarly;
    /** Steps of the current epoch skipped for a non-finite loss; a field so that a mid-epoch checkpoint records it. */
    private long epochSkipped;
    private Task task = Task.CLASSIFICATION;
    /** Reconstruction: per-channel affine from the model's input back to the target scale (null: the input as it is). */
    private float[] reconMean, reconStd;

    /** The task trained (default {@link Task#CLASSIFICATION}); the caller passes the matching loss to {@link #fit}. */
    public Trainer task(Task t) {
        if (t == null) throw new IllegalArgumentException("task must not be null");
        this.task = t;
        return this;
    }

    public Task task() { return task; }

    /**
     * For {@link Task#RECONSTRUCTION}: the target is the input with the dataset's normalisation undone, target[c] =
     * x[c] * std[c] + mean[c] per channel (one value each for all channels), so that a Sigmoid output in [0, 1] can
     * match pixels scaled to [0, 1] (as PyTorch's ToTensor gives them) and the MSE is in those units. Without this
     * call the target is the input as the model sees it. Applied on the host as the batch is uploaded.
     */
    public Trainer reconstructionScale(float[] mean, float[] std) {
        if (mean == null || std == null || mean.length == 0 || mean.length != std.length)
            throw new IllegalArgumentException("reconstruction scale needs per-channel mean and std of the same length >= 1, got "
                    + (mean == null ? null : mean.length) + " and " + (std == null ? null : std.length));
        this.reconMean = mean.clone();
        this.reconStd = std.clone();
        return this;
    }

    /**
     * The trainer's task and the data must agree: regression needs a dataset with real-valued targets, and a regression
     * dataset's labels are meaningless to a classifier. (Reconstruction uses only the inputs, so any dataset will do.)
     * A dataset with labels must have a class (the loader holds every label to [0, numClasses())) and, for a classifier,
     * one name per class (a prediction's class c is named classNames().get(c), as the README's example does).
     */
    private void checkTask(DataLoader... loaders) {
        for (DataLoader l : loaders)
            if (l != null) checkTask(l.dataset().name(), l.dataset().task(), l.dataset().numClasses(), l.dataset().classNames());
    }

    private void checkTask(String name, Task data, int numClasses, List<String> names) {
        if (data == Task.CLASSIFICATION && numClasses < 1)
            throw new IllegalArgumentException(name + ": numClasses() is " + numClasses + "; a classification dataset needs"
                    + " at least one class (its labels are in [0, numClasses())); return the number of classes, or Task.REGRESSION"
                    + " from task() for real-valued targets");
        if (task == Task.CLASSIFICATION && data == Task.CLASSIFICATION && (names == null || names.size() != numClasses))
            throw new IllegalArgumentException(name + ": numClasses() is " + numClasses + " but classNames() "
                    + (names == null ? "is null" : "has " + names.size() + " names (" + abbreviated(names) + ")")
                    + "; a classification dataset needs one name per class (a prediction's class c is named classNames().get(c))");
        if (task == Task.REGRESSION && data != Task.REGRESSION)
            throw new IllegalArgumentException("the regression task needs real-valued targets, but " + name
                    + " is a " + data.label() + " dataset (Dataset.task()); give it a regression dataset, e.g. csv:target=COLUMN");
        if (task == Task.CLASSIFICATION && data == Task.REGRESSION)
            throw new IllegalArgumentException(name + " is a regression dataset (real-valued targets, no class labels);"
                    + " train it with task(Task.REGRESSION) and the MSE loss");
    }

    /** The first 10 of names, and how many more. */
    private static String abbreviated(List<String> names) {
        return names.size() <= 10 ? names.toString() : "[" + String.join(", ", names.subList(0, 10)) + ", ... " + (names.size() - 10) + " more]";
    }

    /**
     * A classifier's output [N, C] must have a score for each of the dataset's classes, and a regression model one
     * output per sample. Checked on each batch's output before the loss (its shape is on the host: free): otherwise a
     * model with too few outputs failed only when a label fell outside them (on the CPU; the GPU does not read labels),
     * and a regression model of several outputs met a shape error in the loss. More outputs than classes are allowed,
     * as in PyTorch (the extra ones are trained towards never being picked).
     */
    private void checkOutputs(Tensor out, int n, Dataset data) { checkOutputs(out, n, data.name(), data.numClasses()); }

    private void checkOutputs(Tensor out, int n, String dataName, int numClasses) {
        Shape s = out.shape();
        if (s.rank() < 1 || s.dim(0) != n) return; // the loss names a batch mismatch
        int perSample = s.size() / Math.max(1, n);
        if (task == Task.CLASSIFICATION && s.rank() == 2 && s.dim(1) < numClasses)
            throw new IllegalArgumentException("the model gives " + s.dim(1) + " outputs per sample (output " + s + "), but " + dataName
                    + " has " + numClasses + " classes: a classifier needs one output per class; make its last layer give "
                    + numClasses + " (e.g. Linear(..., " + numClasses + "))");
        if (task == Task.REGRESSION && perSample != 1)
            throw new IllegalArgumentException("the model gives " + perSample + " outputs per sample (output " + s + "), but " + dataName
                    + " is a regression dataset with one real-valued target per sample: the model needs one output; make its last"
                    + " layer give 1 (e.g. Linear(..., 1))");
    }

    /**
     * The optimiser must update the model's parameters (all of them, or some: frozen layers are left out): one made from
     * another model's parameters would step those, and the model being trained keep its weights without a word.
     */
    private static void checkOptimizes(Module model, Optimizer optimizer) {
        java.util.Set<Tensor> own = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        own.addAll(model.namedParameters().values());
        for (Map.Entry<String, Tensor> e : optimizer.parameters().entrySet())
            if (!own.contains(e.getValue()))
                throw new IllegalArgumentException("the optimiser updates parameter '" + e.getKey() + "' " + e.getValue().shape()
                        + ", which is not one of the model's parameters, so the model would not train; make the optimiser from"
                        + " this model's namedParameters()");
    }

    /**
     * What to do when a step's loss is NaN or infinite. Off (the default): stop, after saving a checkpoint of the last
     * good state if there is a policy (the optimiser has not stepped on the bad gradients), by throwing
     * {@link TrainingDivergedException} naming the epoch, the step and the first parameter (in module order) whose
     * gradient is not finite. On: skip that step's optimiser update and count it ({@link EpochMetrics#skippedSteps});
     * an epoch in which every step was skipped still stops the run.
     */
    public Trainer skipNonfinite(boolean on) { this.skipNonfinite = on; return this; }

    /**
     * How the advice of a divergence or a non-finite validation sample names the settings to change: in a Trainer's own
     * terms (its TrainConfig, {@link #skipNonfinite}), unless {@link #learnerAdvice} or {@link #commandLineAdvice}.
     */
    private String adviceLr = "a lower learning rate (the TrainConfig's lr)", adviceClip = "clipNorm 1 in the TrainConfig",
            adviceSkip = ", or skipNonfinite(true)", skipName = "skipNonfinite(true)";

    /** Advice in {@link Learner}'s terms (its calls; it has no skipNonfinite). */
    Trainer learnerAdvice() {
        adviceLr = "a lower learning rate (optimizer(name, lr))";
        adviceClip = "clipNorm(1)";
        adviceSkip = "";
        return this;
    }

    /**
     * Advice and notes in the command line's terms (--lr, --clip-norm, --skip-nonfinite) rather than this class's, for a
     * program whose user sets those options (dl-train train).
     */
    public Trainer commandLineAdvice() {
        adviceLr = "a lower --lr";
        adviceClip = "--clip-norm 1";
        adviceSkip = ", or --skip-nonfinite";
        skipName = "--skip-nonfinite";
        return this;
    }

    /** Saves checkpoints during {@link #fit} (null: none). */
    public Trainer checkpoints(CheckpointPolicy p) { this.policy = p; return this; }

    /**
     * Continues the run a checkpoint recorded: the model and optimiser must already hold the checkpoint's tensors
     * ({@link Checkpoint#load}); fit then starts at the saved epoch, skips the batches already done in it (the
     * order depends only on seed and epoch, so the skip is exact), continues the LR schedule from the saved global
     * step and restores the epoch's running sums, the metrics history and the early-stopping state. It applies to the
     * next fit only: a later fit on this Trainer starts a new run from the model's weights as they are then.
     */
    public Trainer resumeFrom(TrainingState state) { this.resume = state; return this; }

    /** Stops (with a checkpoint, if there is a policy) once this many optimiser steps have run in total. For tests and benchmarks. */
    public Trainer maxSteps(long n) {
        if (n < 1) throw new IllegalArgumentException("max steps must be >= 1, got " + n);
        this.maxSteps = n;
        return this;
    }

    /**
     * Asks a running fit to stop at the next step boundary, write a checkpoint (if there is a policy) and return;
     * safe from any thread (a shutdown hook calls it on SIGINT/SIGTERM). A step or validation batch waiting for a read
     * that hangs stops too, with the state before that batch saved. The request stays: a later fit of this Trainer
     * returns at once (a stop that comes just before a fit starts is not lost); train on with a new Trainer. Interrupting
     * the thread that runs the fit (an executor's {@code Future.cancel(true)}) stops that fit the same way (its
     * Result says {@code interrupted}, and the thread's interrupt status is kept); it does not stop later fits.
     */
    public void requestStop() {
        stopRequested = true;
        // a step waiting for its data (a read that hangs) would never reach the boundary: end the wait, so the state
        // before that batch is checkpointed (set before reading fitLoaders: a fit that starts after sees the flag).
        // Under the lock that the fit's end takes: a stop as the fit returns never reaches a pass the caller starts next.
        synchronized (fitLoadersLock) {
            DataLoader[] loaders = fitLoaders;
            if (loaders != null) for (DataLoader l : loaders) if (l != null) l.stopWaiting();
        }
    }

    /**
     * Why a run with this schedule and patience cannot train without validation data (the plateau schedule and early
     * stopping watch the validation loss), or null if it can, in the terms of {@code fit} (its validation loader, the
     * TrainConfig's patience): {@code fit} refuses such a run whose validation loader is null.
     * {@link #withoutValidationOnTheCommandLine} says it in the command's options.
     */
    public static String withoutValidation(LrSchedule schedule, int patience) {
        return withoutValidation(schedule, patience, false);
    }

    /** As {@link #withoutValidation(LrSchedule, int)}, naming --val-fraction, --schedule and --patience: the CLI asks before loading anything when --val-fraction is 0. */
    public static String withoutValidationOnTheCommandLine(LrSchedule schedule, int patience) {
        return withoutValidation(schedule, patience, true);
    }

    private static String withoutValidation(LrSchedule schedule, int patience, boolean commandLine) {
        String giveIt = commandLine ? "give it some (--val-fraction)" : "give fit a validation loader";
        if (schedule.needsValidation())
            return "the learning-rate schedule " + schedule + " reduces the rate when the validation loss stops improving, but"
                    + " this run has no validation data; " + giveIt + " or choose another " + (commandLine ? "--schedule" : "schedule");
        if (patience > 0)
            return "early stopping (" + (commandLine ? "--patience " + patience : "the TrainConfig's patience, " + patience)
                    + ") stops when the validation loss stops improving, but this run has no validation data; " + giveIt
                    + (commandLine ? " or drop --patience" : " or make patience 0");
        return null;
    }

    /**
     * Trains {@code model} for config.epochs() epochs (fewer if early stopping triggers).
     *
     * @param val may be null (no validation; then neither early stopping nor the plateau schedule may be asked for)
     * @param caller may be null (no listener, as {@link TrainListener#NONE})
     * @throws IllegalArgumentException among others, for a model with a layer or trainable tensor kept in a field but not
     *                                  registered ({@link Module#unregistered}), which would not be trained
     */
    public Result fit(Module model, Loss loss, Optimizer optimizer, LrSchedule schedule,
                      DataLoader train, DataLoader val, TrainListener caller) {
        checkTask(train, val);
        checkOptimizes(model, optimizer);
        if (Module.isEvaluating()) // every forward on this thread would be in evaluation mode (the step check would blame eval())
            throw new IllegalStateException("fit: a Module.evaluating() guard is open on this thread, so the model's batch norm and"
                    + " dropout layers would train in evaluation mode; fit outside it (close the guard first: open it with"
                    + " try-with-resources, which closes it even when its block throws)");
        String unregistered = Module.unregistered(model); // as new Learner(model): a layer it would leave untrained
        if (unregistered != null) throw new IllegalArgumentException(unregistered);
        // a listener that throws (a full disk under the CLI's metrics.jsonl, a bug in a caller's progress display) ends
        // the fit, but not before the state it was told about is checkpointed, as for a stop request
        Guarded listener = new Guarded(caller == null ? TrainListener.NONE : caller);
        saving = listener;
        if (train.batchesPerEpoch() == 0) // else every epoch ends with a 0/0 mean loss, reported as divergence
            throw new IllegalArgumentException("the training data " + train.dataset().name() + " gives no batch to train on: "
                    + (train.samples() == 0 ? "it has no samples" : "its " + train.samples() + " samples are fewer than one batch of "
                    + train.batchSize() + " and the incomplete batch is dropped (dropLast); use a smaller batch size"));
        List<EpochMetrics> history = new ArrayList<>();
        long stepsPerEpoch = train.batchesPerEpoch();
        long totalSteps = stepsPerEpoch * config.epochs();
        long globalStep = 0;
        double bestVal = Double.POSITIVE_INFINITY;
        int bestEpoch = 0, sinceBest = 0;
        int firstEpoch = 1;
        long skip = 0, resumedSeen = 0, resumedSkipped = 0;
        double resumedLossSum = 0, resumedCorrect = 0;
        boolean interrupted = false;
        priorSeconds = 0;
        stoppedEarly = false;
        boolean valNonfiniteSaid = false; // with --skip-nonfinite: the validation split's non-finite sample, said once
        TrainingState resume = this.resume;
        this.resume = null; // for this fit only: a second fit resuming the same checkpoint would redo its epochs over trained weights
        if (resume != null) {
            String problem = resumeProblem(resume, train.batchesPerEpoch());
            if (problem != null) throw new IllegalArgumentException(problem);
            Map<String, Object> r = resumeMap(resume);
            firstEpoch = resume.epoch() + 1;
            globalStep = resume.step();
            skip = num(r, "step_in_epoch", 0).longValue();
            resumedLossSum = num(r, "loss_sum", 0).doubleValue();
            resumedCorrect = num(r, "correct", 0).doubleValue();
            resumedSeen = num(r, "seen", 0).longValue();
            resumedSkipped = num(r, "skipped_steps", 0).longValue();
            bestVal = num(r, "best_val", Double.POSITIVE_INFINITY).doubleValue();
            bestEpoch = num(r, "best_epoch", 0).intValue();
            sinceBest = num(r, "since_best", 0).intValue();
            priorSeconds = num(r, "fit_seconds", 0).doubleValue();
            stoppedEarly = Boolean.TRUE.equals(r.get("stopped_early")); // it ended: no more epochs
            history.addAll(history(resume));
            if (r.get("dropout_calls") instanceof Map<?, ?> d) restoreDropout(model, "", d);
        }
        String needsVal = val == null ? withoutValidation(schedule, config.patience()) : null;
        if (needsVal != null) throw new IllegalArgumentException(needsVal);
        if (schedule.minLr() > config.lr()) // a cosine would rise to it, a plateau never reduce (LrSchedule.minLr)
            throw new IllegalArgumentException("the learning-rate schedule " + schedule + " has a minimum learning rate of " + schedule.minLr()
                    + ", above the base learning rate " + config.lr() + "; the schedule lowers the rate from the base towards its minimum,"
                    + " so give a minimum below " + config.lr() + " or a larger learning rate");
        Path written = null;
        fitStart = System.nanoTime();
        Shape sample = train.dataset().sampleShape();
        fitLoaders = new DataLoader[] {train, val};
        try (Tensor lossSum = Scope.outside(() -> be.zeros(Shape.of(1)));
             HitCount correct = new HitCount(be);
             BatchUploads uploads = new BatchUploads(be, sample, task, reconMean, reconStd)) {
            for (int epoch = firstEpoch; !stoppedEarly && epoch <= config.epochs(); epoch++) {
                long epochStart = System.nanoTime();
                model.train(true);
                be.fill(lossSum, (float) resumedLossSum);
                correct.reset(resumedCorrect);
                listener.epochStarted(epoch, config.epochs(), train.batchesPerEpoch());
                double waitBefore = train.stats().waitSeconds();
                long seen = resumedSeen, lastReport = System.nanoTime();
                long seenBefore = seen; // a resumed epoch's throughput counts only the samples trained in this process
                epochSkipped = resumedSkipped;
                resumedSkipped = 0;
                double lr = optimizer.lr();
                // the validation losses of the completed epochs, for schedules that react to them (reduce-on-plateau)
                double[] valLosses = history.stream().mapToDouble(EpochMetrics::valLoss).toArray();
                // a resumed epoch starts after the batches it has trained: they are neither loaded nor uploaded again
                int step = (int) skip;
                Iterator<Batch> it = train.epoch(epoch - 1, step);
                uploads.start(it);
                skip = 0;
                resumedLossSum = resumedCorrect = 0;
                resumedSeen = 0;
                for (; uploads.hasNext(); step++) {
                    if (stopRequested || Thread.currentThread().isInterrupted() || globalStep >= maxSteps || listener.failure != null) {
                        interrupted = true;
                        if (policy != null) written = save(model, optimizer, epoch - 1, globalStep, step, lossSum.item(), correct.total(),
                                seen, bestVal, bestEpoch, sinceBest, history, lr, false);
                        break;
                    }
                    lr = schedule.lr(config.lr(), globalStep, stepsPerEpoch, totalSteps, valLosses);
                    optimizer.setLr(lr);
                    Tensor lossT;
                    // on CUDA, next() has queued the upload of the following batch before this step's work
                    BatchUploads.DeviceBatch next;
                    try {
                        next = uploads.next();
                    } catch (DataLoader.WaitStopped e) {
                        // a stop while this batch was still being read (a read that hangs): nothing of it was trained,
                        // so the state before it is saved, as at a step boundary; a resume reads the batch again
                        listener.info("epoch " + epoch + ": " + e.getMessage() + "; the batch is not trained, and a resume reads it again");
                        interrupted = true;
                        if (policy != null) written = save(model, optimizer, epoch - 1, globalStep, step, lossSum.item(), correct.total(),
                                seen, bestVal, bestEpoch, sinceBest, history, lr, false);
                        break;
                    } catch (DataLoadException e) {
                        // a sample could not be read (a corrupt image...): nothing of this batch was trained, so the state
                        // before it is a good one to resume from once the data is fixed; save it rather than lose the epoch
                        throw checkpointed(e, "the run is checkpointed before that batch", model, optimizer, epoch, globalStep, step,
                                lossSum, correct, seen, bestVal, bestEpoch, sinceBest, history, lr);
                    }
                    try (BatchUploads.DeviceBatch batch = next; Scope s = Scope.open()) {
                        int n = batch.size();
                        Tensor x = batch.x(), y = batch.y();
                        Tensor out;
                        try {
                            out = model.forward(x);
                        } catch (IllegalArgumentException e) {
                            if (n != 1 || train.batchSize() == 1) throw e;
                            throw lastBatchOfOne(e, train);
                        }
                        if (!model.isTraining()) throw leftTrainingMode(epoch, step);
                        checkOutputs(out, n, train.dataset());
                        lossT = loss.compute(out, y);
                        optimizer.zeroGrad();
                        lossT.backward();
                        // one read of the one-element loss per step: free on the CPU; gradients are scanned only when it is bad
                        double lossValue = lossT.item();
                        if (!Double.isFinite(lossValue)) {
                            if (!skipNonfinite) {
                                String layer = firstNonfinite(model, true);
                                // the optimiser has not stepped on these gradients, but an earlier update may already
                                // have overflowed the weights: a checkpoint of those would not be a good state
                                String badWeight = firstNonfinite(model, false);
                                boolean badInput = nonfinite(x); // then no learning rate is to blame
                                if (policy != null && badWeight == null) save(model, optimizer, epoch - 1, globalStep, step, lossSum.item(), correct.total(),
                                        seen, bestVal, bestEpoch, sinceBest, history, lr, false);
                                throw new TrainingDivergedException("training diverged: the loss is " + lossValue + " at epoch " + epoch
                                        + ", step " + (step + 1) + " (global step " + (globalStep + 1) + ", learning rate " + lr + "); "
                                        + (layer == null ? "every gradient is finite" : "the first non-finite gradient is " + layer)
                                        + (badInput ? "; the batch's input itself holds a NaN or infinite value: check the data" : "")
                                        + (badWeight != null ? "; the weights are already non-finite (" + badWeight
                                                + ": the previous update overflowed), so no checkpoint was written"
                                           : policy != null ? "; the last good state is checkpointed in " + policy.dir() : "")
                                        + ". Try " + adviceLr + ", or " + adviceClip + adviceSkip);
                            }
                            optimizer.zeroGrad();
                            epochSkipped++;
                            globalStep++; // the step counts for the schedule and for resuming (batches done), not for the optimiser
                            listener.step(epoch, step + 1, train.batchesPerEpoch(), lossValue, (seen - seenBefore) / ((System.nanoTime() - epochStart) / 1e9));
                            continue;
                        }
                        if (config.clipNorm() > 0) GradClip.clipByGlobalNorm(model.parameters(), config.clipNorm());
                        optimizer.step();
                        be.axpy(n, lossT, lossSum);
                        if (task.classifies()) correct.add(out, y, 1);
                        globalStep++;
                        seen += n;
                        long now = System.nanoTime();
                        boolean report = (now - lastReport) / 1e9 >= REPORT_SECONDS || !uploads.hasNext();
                        double shown = report ? lossValue : Double.NaN;
                        if (report) lastReport = now;
                        listener.step(epoch, step + 1, train.batchesPerEpoch(), shown, (seen - seenBefore) / ((now - epochStart) / 1e9));
                    }
                    if (policy != null && policy.everySteps() > 0 && globalStep % policy.everySteps() == 0 && uploads.hasNext()) {
                        written = save(model, optimizer, epoch - 1, globalStep, step + 1, lossSum.item(), correct.total(),
                                seen, bestVal, bestEpoch, sinceBest, history, lr, false);
                    }
                }
                if (interrupted) break;
                // the listener failed at the epoch's last step and nothing will be saved: validating would only delay the end
                if (listener.failure != null && policy == null) { interrupted = true; break; }
                long skipped = epochSkipped;
                if (skipped > 0) {
                    listener.info("epoch " + epoch + ": skipped " + skipped + " of " + step + " steps with a non-finite loss (" + skipName + ")");
                    if (skipped == step) throw new TrainingDivergedException("training diverged: every step of epoch " + epoch
                            + " (" + skipped + ") had a non-finite loss (learning rate " + lr + "); skipping them cannot recover. "
                            + "Try " + adviceLr + ", or " + adviceClip);
                }
                double trainSeconds = (System.nanoTime() - epochStart) / 1e9;
                double trainLoss = lossSum.item() / seen, trainAcc = task.classifies() ? correct.total() / seen : Double.NaN;
                if (!Double.isFinite(trainLoss)) {
                    throw new TrainingDivergedException("training diverged: the mean training loss of epoch " + epoch + " is " + trainLoss
                            + " (learning rate " + lr + "). Try " + adviceLr + ", or gradient clipping (" + adviceClip + ").");
                }
                EvalResult v;
                try {
                    int ep = epoch;
                    v = val == null ? null : evaluate(model, val, loss, listener, (b, n) -> listener.validationStep(ep, b, n), null);
                } catch (DataLoadException e) {
                    // a validation sample could not be read: the epoch's training is done, so save it (every step of
                    // the epoch done, validation not) rather than lose the epoch; a resume validates and goes on
                    throw checkpointed(e, "epoch " + epoch + "'s training is checkpointed (before its validation)", model, optimizer,
                            epoch, globalStep, step, lossSum, correct, seen, bestVal, bestEpoch, sinceBest, history, lr);
                }
                if (val != null && v == null) {
                    // a stop requested during validation (a signal): a long validation pass would outlast the signal
                    // handler's wait, so it is abandoned and the epoch's training saved before it, as when a validation
                    // sample cannot be read; a resume validates and goes on
                    interrupted = true;
                    if (policy != null) written = save(model, optimizer, epoch - 1, globalStep, step, lossSum.item(), correct.total(),
                            seen, bestVal, bestEpoch, sinceBest, history, lr, false);
                    break;
                }
                // a NaN or infinite feature in the validation split: a NaN validation loss without a word, every epoch, would
                // pick no best epoch and stop nothing early. Named as evaluate names it; the epoch's training is kept, as
                // when a validation sample cannot be read (a resume validates again), unless --skip-nonfinite goes on
                String badVal = v != null && !Double.isFinite(v.loss()) && !valNonfiniteSaid ? firstNonfiniteSample(val) : null;
                if (badVal != null) {
                    String what = "validation of epoch " + epoch + " on " + val.dataset().name() + ": " + badVal
                            + ", which makes the validation loss " + v.loss();
                    if (!skipNonfinite)
                        throw checkpointed(new DataLoadException(what + "; check the data (or go on with " + skipName + ")", null),
                                "epoch " + epoch + "'s training is checkpointed (before its validation)", "once the sample is finite",
                                model, optimizer, epoch, globalStep, step, lossSum, correct, seen, bestVal, bestEpoch, sinceBest, history, lr);
                    listener.info(what + "; going on (" + skipName + "), though a non-finite validation loss picks no best epoch and"
                            + " neither stops the run early nor lowers the learning rate on a plateau");
                    valNonfiniteSaid = true;
                }
                double seconds = (System.nanoTime() - epochStart) / 1e9;
                EpochMetrics m = new EpochMetrics(epoch, trainLoss, trainAcc, v == null ? Double.NaN : v.loss(),
                        v == null ? Double.NaN : v.top1(), lr, seconds, trainSeconds,
                        seen > seenBefore ? (seen - seenBefore) / trainSeconds : Double.NaN, // resumed after its last batch: none trained here
                        train.stats().waitSeconds() - waitBefore, skipped);
                history.add(m);
                listener.epochEnded(m);  // (a failure here: this epoch is checkpointed below, as for a stop)
                boolean improved = false;
                if (v != null) {
                    if (v.loss() < bestVal - config.minDelta()) { bestVal = v.loss(); bestEpoch = epoch; sinceBest = 0; improved = true; }
                    else if (config.patience() > 0 && ++sinceBest >= config.patience()) {
                        listener.info("early stopping: validation loss has not improved by more than " + config.minDelta()
                                + " for " + config.patience() + " epochs (best " + String.format("%.4f", bestVal) + " at epoch " + bestEpoch + ")");
                        stoppedEarly = true;
                    }
                } else bestEpoch = epoch;
                boolean stopNow = stopRequested || Thread.currentThread().isInterrupted() || globalStep >= maxSteps
                        || listener.failure != null; // read once: the checkpoint and the stop agree
                if (policy != null) {
                    boolean due = stoppedEarly || epoch == config.epochs() || stopNow
                            || (policy.everyEpochs() > 0 ? epoch % policy.everyEpochs() == 0 : globalStep % policy.everySteps() == 0);
                    if (due) written = save(model, optimizer, epoch, globalStep, 0, 0, 0, 0, bestVal, bestEpoch, sinceBest, history, lr, false);
                    if (improved) save(model, optimizer, epoch, globalStep, 0, 0, 0, 0, bestVal, bestEpoch, sinceBest, history, lr, true);
                }
                if (stoppedEarly) break;
                if (stopNow && epoch < config.epochs()) { interrupted = true; break; }
            }
            if (listener.failure != null) throw listener.failed(policy == null ? null : written, null);
        } catch (CheckpointException saveFailed) {
            // the checkpoint after a listener failure failed too (a full disk fails both): end with the listener's
            // failure, which came first, rather than hide it behind the save's
            if (listener.failure == null) throw saveFailed;
            throw listener.failed(null, saveFailed);
        } finally {
            saving = null;
            synchronized (fitLoadersLock) {
                fitLoaders = null;
            }
        }
        return new Result(history, stoppedEarly, bestEpoch, fitSeconds(), interrupted, written);
    }

    /**
     * A layer that refused a batch of one sample (BatchNorm in training, as PyTorch's) at the epoch's last batch, which
     * the samples left over hold: the batch size asked for is not 1, so the error says what is, and a batch size near
     * it that leaves at least 2.
     */
    private static IllegalArgumentException lastBatchOfOne(IllegalArgumentException e, DataLoader train) {
        int b = train.batchSize(), n = train.samples(), near = b;
        for (int d = 1; d < b + n && near == b; d++) {
            if (b - d >= 2 && n % (b - d) != 1) near = b - d;
            else if (n % (b + d) != 1) near = b + d;
        }
        if (near == b) return e; // one training sample: no batch size helps
        return new IllegalArgumentException(e.getMessage() + "; this is the epoch's last batch, which holds 1 sample (" + n
                + " training samples at batch size " + b + "): use a batch size that leaves at least 2 in it, such as " + near, e);
    }

    /**
     * The caller's listener, called until one of its methods throws: then the failure is kept (the fit stops at the next
     * step boundary, or at the end of an epoch whose training is done, and checkpoints that state) and no more calls
     * reach the listener.
     */
    private static final class Guarded implements TrainListener {
        private final TrainListener to;
        RuntimeException failure;
        private String where;

        Guarded(TrainListener to) { this.to = to; }

        @Override public void epochStarted(int epoch, int epochs, int steps) {
            if (failure == null) call(() -> to.epochStarted(epoch, epochs, steps), "epochStarted", epoch);
        }

        @Override public void step(int epoch, int step, int steps, double loss, double imagesPerSec) {
            if (failure == null) call(() -> to.step(epoch, step, steps, loss, imagesPerSec), "step " + step + " of", epoch);
        }

        @Override public void validationStep(int epoch, int batch, int batches) {
            if (failure == null) call(() -> to.validationStep(epoch, batch, batches), "validation batch " + batch + " of", epoch);
        }

        @Override public void epochEnded(EpochMetrics m) {
            if (failure == null) call(() -> to.epochEnded(m), "epochEnded", m.epoch());
        }

        @Override public void info(String message) {
            if (failure == null) call(() -> to.info(message), "info", 0);
        }

        private boolean toldWriting; // the listener was told of a write: it is told of its end, even after a failure since

        @Override public void checkpointWriting(Path dir, boolean best) {
            if (failure == null) call(() -> { to.checkpointWriting(dir, best); toldWriting = true; }, "checkpointWriting", 0);
        }

        @Override public void checkpointWritten(Path checkpoint) {
            if (!toldWriting) return;
            toldWriting = false;
            boolean interrupted = Thread.interrupted();
            try { to.checkpointWritten(checkpoint); } catch (RuntimeException e) { if (failure == null) failed(e, "checkpointWritten", 0); }
            finally { if (interrupted) Thread.currentThread().interrupt(); }
        }

        /**
         * Calls the listener with the thread's interrupt status cleared, and sets it again after: a fit stopped by an
         * interrupt goes on to its epoch's end and its checkpoint on that thread, and a listener's NIO write there (a
         * FileChannel: Files.write, a log appender) would otherwise close its channel (ClosedByInterruptException) and
         * end the fit with a ListenerFailedException in place of the interrupted Result. (An interrupt the listener
         * sets itself stays set.)
         */
        private void call(Runnable listenerCall, String method, int epoch) {
            boolean interrupted = Thread.interrupted();
            try {
                listenerCall.run();
            } catch (RuntimeException e) {
                failed(e, method, epoch);
            } finally {
                if (interrupted) Thread.currentThread().interrupt();
            }
        }

        private void failed(RuntimeException e, String method, int epoch) {
            failure = e;
            where = method + (epoch > 0 ? " epoch " + epoch : "");
        }

        /**
         * What ends the fit: where the listener failed, why, and the checkpoint of the state after it (null: none, or
         * {@code saveFailed}, the save of it failed: suppressed into the result).
         */
        ListenerFailedException failed(Path checkpoint, RuntimeException saveFailed) {
            String why = failure.getMessage() == null ? failure.toString() : failure.getMessage();
            ListenerFailedException e = new ListenerFailedException("the training listener failed (" + where + "): " + why
                    + (checkpoint != null ? "; the training so far is checkpointed in " + checkpoint + ": fix the cause and resume"
                       : saveFailed != null ? "; the training so far could not be checkpointed either: " + saveFailed.getMessage()
                       : "; nothing is checkpointed (no checkpoint policy)"), failure, checkpoint);
            if (saveFailed != null) e.addSuppressed(saveFailed);
            return e;
        }
    }

    /**
     * After a sample of epoch {@code epoch} failed to load with {@code step} of its batches trained: saves that state
     * (when there is a checkpoint policy) and returns e with where it is and what to do. A save that fails too is
     * suppressed into e, which is returned as it was.
     */
    private DataLoadException checkpointed(DataLoadException e, String what, Module model, Optimizer optimizer, int epoch,
                                           long globalStep, int step, Tensor lossSum, HitCount correct, long seen, double bestVal,
                                           int bestEpoch, int sinceBest, List<EpochMetrics> history, double lr) {
        return checkpointed(e, what, "once the sample reads", model, optimizer, epoch, globalStep, step, lossSum, correct, seen,
                bestVal, bestEpoch, sinceBest, history, lr);
    }

    /** As above, with {@code once} ("once the sample reads") saying when to resume. */
    private DataLoadException checkpointed(DataLoadException e, String what, String once, Module model, Optimizer optimizer, int epoch,
                                           long globalStep, int step, Tensor lossSum, HitCount correct, long seen, double bestVal,
                                           int bestEpoch, int sinceBest, List<EpochMetrics> history, double lr) {
        if (policy == null) return e;
        Path at;
        try {
            at = save(model, optimizer, epoch - 1, globalStep, step, lossSum.item(), correct.total(), seen, bestVal, bestEpoch,
                    sinceBest, history, lr, false);
        } catch (RuntimeException saveFailed) {
            e.addSuppressed(saveFailed);
            return e;
        }
        // after a dataset's own advice ("re-create or remove the file"): where each leads. Only a re-created file resumes
        return new DataLoadException(e.getMessage() + "; " + what + " in " + at + " (removing the file changes the run's"
                + " train/validation split: a run without it starts anew): " + once + " (mend or re-create its file), resume", e, at);
    }

    /**
     * The name and shape of the first parameter, in module order, whose gradient (or, with {@code grads} false, whose
     * value) has a NaN or infinite element; null if none. Runs only after a bad loss, so its reads cost nothing per step.
     */
    private String firstNonfinite(Module model, boolean grads) {
        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) {
            Tensor g = grads ? e.getValue().grad() : e.getValue();
            if (g != null && nonfinite(g)) return e.getKey() + " " + e.getValue().shape();
        }
        return null;
    }

    /** Whether an FP32 tensor holds a NaN or infinite value (false for other types); read only after a bad loss. */
    private boolean nonfinite(Tensor t) {
        if (t.dtype() != io.dltrain.runtime.tensor.DType.FP32) return false;
        try (Scope s = Scope.open()) {
            Tensor flag = be.zeros(Shape.of(1));
            be.checkFinite(t, flag);
            return flag.item() != 0;
        }
    }

    /** Writes one checkpoint; {@code epoch} is the number of completed epochs, {@code stepInEpoch} the steps done in the next. */
    private Path save(Module model, Optimizer optimizer, int epoch, long globalStep, long stepInEpoch, double lossSum,
                      double correct, long seen, double bestVal, int bestEpoch, int sinceBest, List<EpochMetrics> history,
                      double lr, boolean best) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("step_in_epoch", stepInEpoch);
        r.put("loss_sum", lossSum);
        r.put("correct", correct);
        r.put("seen", seen);
        if (stepInEpoch > 0 && epochSkipped > 0) r.put("skipped_steps", epochSkipped);
        if (Double.isFinite(bestVal)) r.put("best_val", bestVal);
        r.put("best_epoch", bestEpoch);
        r.put("since_best", sinceBest);
        r.put("fit_seconds", fitSeconds());
        if (stoppedEarly && !best) r.put("stopped_early", true);
        List<Object> h = new ArrayList<>();
        for (EpochMetrics m : history) h.add(metricsMap(m));
        r.put("history", h);
        Map<String, Object> drop = new LinkedHashMap<>();
        collectDropout(model, "", drop);
        if (!drop.isEmpty()) r.put("dropout_calls", drop);
        Map<String, Object> cfg = new LinkedHashMap<>(policy.config());
        cfg.put(RESUME_KEY, r);
        Map<String, Double> metrics = new LinkedHashMap<>();
        if (!history.isEmpty()) {
            EpochMetrics last = history.getLast();
            metrics.put("train_loss", last.trainLoss());
            if (Double.isFinite(last.trainAcc())) metrics.put("train_acc", last.trainAcc());
            if (Double.isFinite(last.valLoss())) metrics.put("val_loss", last.valLoss());
            if (Double.isFinite(last.valAcc())) metrics.put("val_acc", last.valAcc());
        }
        TrainingState st = new TrainingState(epoch, globalStep, policy.model(), policy.dataset(),
                Map.of("init", config.seed(), "data", config.seed(), "dropout", config.seed()), cfg, config.optimizer(), lr, metrics);
        Path dir = best ? policy.dir().resolve("best") : policy.dir();
        TrainListener told = saving == null ? TrainListener.NONE : saving;
        told.checkpointWriting(dir, best); // a large model's write takes long: the listener may say so
        // an interrupted thread (the stop a library caller's Future.cancel(true) asks for) cannot write through a
        // FileChannel: it would close it (ClosedByInterruptException) and lose the checkpoint the stop is saving. So the
        // status is cleared for the save, and set again after. Clearing it does not shield the save from the interrupt
        // that caused the stop: Thread.interrupt() sets the status first and only then, under its own lock, closes the
        // channel the target is blocked in, so a caller's thread descheduled between the two (a loaded machine) closes
        // the save's channel, once, after this thread has seen the interrupt, stopped, and cleared it. An interrupt that
        // comes during the save (a second cancel, shutdownNow after a cancel) does the same. Either fails one try, and
        // the save is tried again, a few times
        boolean interrupted = false;
        Path written = null;
        try {
            for (int attempt = 1; ; attempt++) {
                interrupted |= Thread.interrupted();
                try {
                    written = Checkpoint.save(dir, model, optimizer, st, best ? 1 : policy.keep());
                    return written;
                } catch (CheckpointException e) {
                    if (attempt == SAVE_TRIES || !byInterrupt(e)) throw e;
                }
            }
        } finally {
            told.checkpointWritten(written);
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** The running fit's listener, told of each checkpoint write ({@link #save}); null outside a fit. */
    private Guarded saving;

    /** Tries of a checkpoint save that interrupts keep failing ({@link #save}). */
    private static final int SAVE_TRIES = 3;

    /** Whether a save failed because the thread was interrupted while it wrote (its channel was closed). */
    private static boolean byInterrupt(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause())
            if (c instanceof java.nio.channels.ClosedByInterruptException) return true;
        return false;
    }

    /** The fit's wall time so far: this process's, plus what the resumed run had spent before. */
    private double fitSeconds() { return priorSeconds + (System.nanoTime() - fitStart) / 1e9; }

    /** Key of the trainer's own resume bookkeeping inside state.json's "config". */
    public static final String RESUME_KEY = "trainer_resume";

    /**
     * Why {@link #fit} would refuse to resume {@code state} with a training loader of {@code stepsPerEpoch} batches an
     * epoch, or null if it would not: no trainer entry in the state, a value in it that is not a number, a history entry
     * that is not an epoch's metrics, or a global step that does not agree with the epochs and steps done (a state.json
     * that was edited or damaged, or another batch size, validation fraction or data). The message starts with "cannot
     * resume: ". A caller that changes anything for a resume before the fit starts (the CLI rewrites metrics.jsonl from
     * the checkpoint's history) asks first, so that a checkpoint the fit refuses leaves everything as it was.
     */
    public static String resumeProblem(TrainingState state, long stepsPerEpoch) {
        long skip;
        try {
            Map<String, Object> r = resumeMap(state);
            for (String key : List.of("loss_sum", "correct", "seen", "skipped_steps", "best_val", "best_epoch", "since_best", "fit_seconds"))
                num(r, key, 0);
            history(state);
            skip = num(r, "step_in_epoch", 0).longValue();
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        if (state.step() != state.epoch() * stepsPerEpoch + skip)
            return "cannot resume: the checkpoint is at global step " + state.step() + " (epoch " + (state.epoch() + 1) + ", step " + skip
                    + " of it), which does not match " + stepsPerEpoch + " steps per epoch (a state.json that was edited or damaged, or"
                    + " another batch size, validation fraction or data than the original run's)";
        return null;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> resumeMap(TrainingState s) {
        Object r = s.config().get(RESUME_KEY);
        if (!(r instanceof Map<?, ?>))
            throw new IllegalArgumentException("cannot resume: the checkpoint's state.json has no \"" + RESUME_KEY
                    + "\" entry in its config (it was not written by the trainer's checkpoint policy)");
        return (Map<String, Object>) r;
    }

    private static Number num(Map<?, ?> m, String key, double absent) {
        Object v = m.get(key);
        if (v == null) return absent;
        if (!(v instanceof Number n)) throw new IllegalArgumentException("cannot resume: \"" + key + "\" in the checkpoint is not a number: " + v);
        return n;
    }

    private static Map<String, Object> metricsMap(EpochMetrics m) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("epoch", m.epoch());
        o.put("train_loss", fin(m.trainLoss()));
        o.put("train_acc", fin(m.trainAcc()));
        o.put("val_loss", fin(m.valLoss()));
        o.put("val_acc", fin(m.valAcc()));
        o.put("lr", fin(m.lr()));
        o.put("seconds", fin(m.seconds()));
        o.put("train_seconds", fin(m.trainSeconds()));
        o.put("images_per_sec", fin(m.imagesPerSec()));
        o.put("data_wait_seconds", fin(m.dataWaitSeconds()));
        o.put("skipped_steps", m.skippedSteps());
        return o;
    }

    private static Object fin(double v) { return Double.isFinite(v) ? v : null; }

    /** The epochs a checkpoint's run has completed (its saved history, oldest first); empty when it saved none. */
    public static List<EpochMetrics> history(TrainingState s) {
        List<EpochMetrics> h = new ArrayList<>();
        if (s.config().get(RESUME_KEY) instanceof Map<?, ?> r && r.get("history") instanceof List<?> list)
            for (Object o : list) {
                if (!(o instanceof Map<?, ?> m))
                    throw new IllegalArgumentException("cannot resume: \"history\" in the checkpoint holds " + o + " where an epoch's metrics belong");
                h.add(metricsFrom(m));
            }
        return h;
    }

    private static EpochMetrics metricsFrom(Map<?, ?> o) {
        return new EpochMetrics(num(o, "epoch", 0).intValue(), num(o, "train_loss", Double.NaN).doubleValue(),
                num(o, "train_acc", Double.NaN).doubleValue(), num(o, "val_loss", Double.NaN).doubleValue(),
                num(o, "val_acc", Double.NaN).doubleValue(), num(o, "lr", Double.NaN).doubleValue(),
                num(o, "seconds", Double.NaN).doubleValue(), num(o, "train_seconds", Double.NaN).doubleValue(),
                num(o, "images_per_sec", Double.NaN).doubleValue(), num(o, "data_wait_seconds", Double.NaN).doubleValue(),
                num(o, "skipped_steps", 0).longValue());
    }

    /** Dropout layers count their training calls (the mask seed); a resumed run must continue those counts. */
    private static void collectDropout(Module m, String prefix, Map<String, Object> out) {
        if (m instanceof Dropout d) out.put(prefix.isEmpty() ? "." : prefix, d.calls());
        m.children().forEach((k, c) -> collectDropout(c, prefix.isEmpty() ? k : prefix + "." + k, out));
    }

    private static void restoreDropout(Module m, String prefix, Map<?, ?> calls) {
        if (m instanceof Dropout d && calls.get(prefix.isEmpty() ? "." : prefix) instanceof Number n) d.restoreCalls(n.longValue());
        m.children().forEach((k, c) -> restoreDropout(c, prefix.isEmpty() ? k : prefix + "." + k, calls));
    }

    /**
     * Loss, top-1 and top-5 accuracy of {@code model} in evaluation mode over one pass of {@code data}; for a task
     * other than classification, the mean loss against that task's target (accuracies NaN).
     *
     * @throws IllegalArgumentException when {@code data} has no samples
     * @throws DataLoadException         when the loss is not finite because a sample has a NaN or infinite feature (the
     *                                   first one is named)
     */
    public EvalResult evaluate(Module model, DataLoader data, Loss loss) {
        return evaluate(model, data, loss, (BatchProgress) null);
    }

    /** Told after each batch of an evaluation pass: {@code batch} of {@code batches} done. */
    @FunctionalInterface
    public interface BatchProgress {
        void batch(int batch, int batches);
    }

    /** As {@link #evaluate(Module, DataLoader, Loss)}, telling {@code progress} (if not null) after each batch. */
    public EvalResult evaluate(Module model, DataLoader data, Loss loss, BatchProgress progress) {
        return evaluate(model, data, loss, progress, null);
    }

    /**
     * Told of each batch's model outputs [N, outputs] and targets (class indices for classification) during an
     * evaluation pass, while both tensors are open: what else a caller needs of the pass (eval's confusion matrix),
     * without reading the data a second time.
     */
    @FunctionalInterface
    public interface BatchOutputs {
        void batch(Tensor outputs, Tensor targets, int n);
    }

    /** As {@link #evaluate(Module, DataLoader, Loss, BatchProgress)}, telling {@code outputs} (if not null) each batch's outputs. */
    public EvalResult evaluate(Module model, DataLoader data, Loss loss, BatchProgress progress, BatchOutputs outputs) {
        if (data.samples() == 0) // else a result of 0 samples with a 0/0 loss
            throw new IllegalArgumentException("cannot evaluate on " + data.dataset().name() + ": the loader has no samples");
        EvalResult r = evaluate(model, data, loss, null, progress, outputs);
        if (!Double.isFinite(r.loss())) { // as fit, which stops naming the input: a NaN score alone does not say why
            String bad = firstNonfiniteSample(data);
            if (bad != null) throw new DataLoadException("cannot evaluate on " + data.dataset().name() + ": " + bad + ", which makes the loss "
                    + r.loss() + "; check the data (fit stops on such a sample too)", null);
        }
        return r;
    }

    /**
     * As {@link #evaluate(Module, DataLoader, Loss, BatchProgress, BatchOutputs)} over a {@link SampleStream} read a batch
     * of {@code batchSize} at a time on this thread (a file too large to hold), with the same numbers as a DataLoader
     * over the same samples in the same order gives. {@code progress} is told the batches done and, as their total, the
     * number the stream's {@link SampleStream#size()} makes, or -1 where it is not known.
     *
     * @throws IllegalArgumentException when the stream has no samples
     * @throws DataLoadException         when the loss is not finite because a sample has a NaN or infinite feature
     */
    public EvalResult evaluate(Module model, SampleStream data, int batchSize, Loss loss, BatchProgress progress, BatchOutputs outputs) {
        checkTask(data.name(), data.task(), data.numClasses(), data.classNames());
        SampleStream.Batches pass = SampleStream.batches(data, batchSize);
        long size = data.size();
        int batches = size < 0 ? -1 : (int) Math.min(Integer.MAX_VALUE, (size + batchSize - 1) / batchSize);
        if (!pass.hasNext()) throw new IllegalArgumentException("cannot evaluate on " + data.name() + ": it has no samples");
        EvalResult r = evaluate(model, pass, batches, data.name(), data.sampleShape(), data.numClasses(), loss, null, progress, outputs);
        if (!Double.isFinite(r.loss()) && pass.firstNonFinite() != null)
            throw new DataLoadException("cannot evaluate on " + data.name() + ": " + pass.firstNonFinite() + ", which makes the loss "
                    + r.loss() + "; check the data (fit stops on such a sample too)", null);
        return r;
    }

    /**
     * The first sample of data's pass (in its order) with a NaN or infinite feature, said as "sample 40 has a non-finite
     * feature (element 3 of 8 is NaN)"; null if none. Reads the samples again on this thread: only after a bad loss.
     */
    private static String firstNonfiniteSample(DataLoader data) {
        Dataset ds = data.dataset();
        float[] x = new float[ds.sampleShape().size()];
        for (int i : data.sampleOrder(0)) {
            ds.read(i, x, 0);
            for (int k = 0; k < x.length; k++)
                if (!Float.isFinite(x[k]))
                    return DataLoader.described(ds, i) + " has a non-finite feature (element " + k + " of " + x.length + " is " + x[k] + ")";
        }
        return null;
    }

    /**
     * The model was no longer in training mode after a training step's forward: {@code fit} set it at the epoch's start,
     * so {@code eval()} or {@code train(false)} was called on it since, on another thread or by a listener. Its batch
     * norm and dropout layers would train in evaluation mode without a word; the step is not taken.
     */
    private static IllegalStateException leftTrainingMode(int epoch, int step) {
        return new IllegalStateException("fit: the model left training mode during epoch " + epoch + ", at step " + (step + 1)
                + " (model.eval() or train(false) was called while fit was training it, on another thread or by a listener), so"
                + " its batch norm and dropout layers would train in evaluation mode; this step was not taken. Predict or"
                + " evaluate on another thread with Module.evaluating() and GradMode.noGrad(), which change no module's mode,"
                + " and after fit returns: a forward during fit reads weights the optimiser is changing");
    }

    /**
     * As {@link #evaluate(Module, DataLoader, Loss)}; with a {@code stoppable} listener (a fit's validation), null once
     * {@link #requestStop} is called, also while a batch is still being read (the listener is told which samples).
     */
    private EvalResult evaluate(Module model, DataLoader data, Loss loss, TrainListener stoppable, BatchProgress progress,
                                BatchOutputs outputs) {
        checkTask(data);
        return evaluate(model, data.epoch(0), data.batchesPerEpoch(), data.dataset().name(), data.dataset().sampleShape(),
                data.dataset().numClasses(), loss, stoppable, progress, outputs);
    }

    /** One evaluation pass over {@code pass}'s batches ({@code batches} of them; -1: not known) of the data named {@code dataName}. */
    private EvalResult evaluate(Module model, Iterator<Batch> pass, int batches, String dataName, Shape sample, int numClasses, Loss loss,
                                TrainListener stoppable, BatchProgress progress, BatchOutputs outputs) {
        long seen = 0;
        int done = 0;
        boolean top1 = task.classifies(), top5 = top1 && numClasses >= 5;
        // eval mode on this thread only (Module.evaluating): a model.eval() would also reach another thread's pass
        try (GradMode.Guard g = GradMode.noGrad(); GradMode.Guard evalMode = Module.evaluating();
             Tensor lossSum = Scope.outside(() -> be.zeros(Shape.of(1)));
             HitCount c1 = new HitCount(be);
             HitCount c5 = new HitCount(be);
             BatchUploads uploads = new BatchUploads(be, sample, task, reconMean, reconStd)) {
            uploads.start(pass);
            while (uploads.hasNext()) {
                if (stoppable != null && (stopRequested || Thread.currentThread().isInterrupted())) return null;
                BatchUploads.DeviceBatch next;
                try {
                    next = uploads.next();
                } catch (DataLoader.WaitStopped e) {
                    if (stoppable == null) throw e;
                    stoppable.info("validation: " + e.getMessage() + "; the pass is abandoned, and a resume validates again");
                    return null;
                }
                try (BatchUploads.DeviceBatch batch = next; Scope s = Scope.open()) {
                    int n = batch.size();
                    Tensor x = batch.x(), y = batch.y();
                    Tensor out = model.forward(x);
                    checkOutputs(out, n, dataName, numClasses);
                    be.axpy(n, loss.compute(out, y), lossSum);
                    if (top1) c1.add(out, y, 1);
                    if (top5) c5.add(out, y, 5);
                    if (outputs != null) outputs.batch(out, y, n);
                    seen += n;
                }
                if (progress != null) progress.batch(++done, batches);
            }
            return new EvalResult(lossSum.item() / seen, top1 ? c1.total() / seen : Double.NaN, top5 ? c5.total() / seen : Double.NaN, seen);
        }
    }
}
