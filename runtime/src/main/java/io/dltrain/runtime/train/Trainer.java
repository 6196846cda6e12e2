package io.dltrain.runtime.train;

import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.data.Batch;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.optim.GradClip;
import io.dltrain.runtime.optim.LrSchedule;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The training loop for classification: epochs of mini-batch steps (forward, loss, backward, optional gradient
 * clipping, optimiser step), then validation, per-epoch metrics and early stopping on validation loss.
 *
 * <p>The path of a batch: the {@link DataLoader}'s workers decode it into a reusable host buffer ahead of time;
 * the step copies it into a device tensor inside a {@link Scope}, runs the model, and closes the scope, returning
 * every activation and temporary gradient to the backend's allocator. Running loss and accuracy are accumulated on
 * the device; the loss is read back only when the progress display asks (at most every {@link #REPORT_SECONDS}),
 * so a GPU step never waits for the host.
 */
public final class Trainer {
    static final double REPORT_SECONDS = 0.2;

    private final Backend be;
    private final TrainConfig config;

    public Trainer(Backend backend, TrainConfig config) {
        this.be = backend;
        this.config = config;
    }

    /** What a fit produced. {@code bestEpoch} is the epoch with the lowest validation loss (or the last epoch). */
    public record Result(List<EpochMetrics> epochs, boolean stoppedEarly, int bestEpoch, double seconds) {}

    /**
     * Trains {@code model} for config.epochs() epochs (fewer if early stopping triggers).
     *
     * @param val may be null (no validation; early stopping then is off)
     */
    public Result fit(Module model, Loss loss, Optimizer optimizer, LrSchedule schedule,
                      DataLoader train, DataLoader val, TrainListener listener) {
        List<EpochMetrics> history = new ArrayList<>();
        long stepsPerEpoch = train.batchesPerEpoch();
        long totalSteps = stepsPerEpoch * config.epochs();
        long globalStep = 0;
        double bestVal = Double.POSITIVE_INFINITY;
        int bestEpoch = 0, sinceBest = 0;
        boolean stopped = false;
        long fitStart = System.nanoTime();
        Shape sample = train.dataset().sampleShape();
        try (Tensor lossSum = Scope.outside(() -> be.zeros(Shape.of(1)));
             Tensor correct = Scope.outside(() -> be.zeros(Shape.of(1)))) {
            for (int epoch = 1; epoch <= config.epochs(); epoch++) {
                long epochStart = System.nanoTime();
                model.train(true);
                be.fill(lossSum, 0f);
                be.fill(correct, 0f);
                listener.epochStarted(epoch, config.epochs(), train.batchesPerEpoch());
                double waitBefore = train.stats().waitSeconds();
                long seen = 0, lastReport = System.nanoTime();
                double lr = optimizer.lr();
                Iterator<Batch> it = train.epoch(epoch - 1);
                for (int step = 0; it.hasNext(); step++) {
                    Batch batch = it.next();
                    int n = batch.size();
                    lr = schedule.lr(config.lr(), globalStep, stepsPerEpoch, totalSteps);
                    optimizer.setLr(lr);
                    Tensor lossT;
                    try (Scope s = Scope.open()) {
                        Tensor[] xy = upload(batch, sample);
                        Tensor x = xy[0], y = xy[1];
                        Tensor out = model.forward(x);
                        lossT = loss.compute(out, y);
                        optimizer.zeroGrad();
                        lossT.backward();
                        if (config.clipNorm() > 0) GradClip.clipByGlobalNorm(model.parameters(), config.clipNorm());
                        optimizer.step();
                        be.axpy(n, lossT, lossSum);
                        be.countTopK(out, y, 1, correct);
                        globalStep++;
                        seen += n;
                        long now = System.nanoTime();
                        boolean report = (now - lastReport) / 1e9 >= REPORT_SECONDS || !it.hasNext();
                        double shown = report ? lossT.item() : Double.NaN;
                        if (report) lastReport = now;
                        listener.step(epoch, step + 1, train.batchesPerEpoch(), shown, seen / ((now - epochStart) / 1e9));
                    }
                }
                double trainSeconds = (System.nanoTime() - epochStart) / 1e9;
                double trainLoss = lossSum.item() / seen, trainAcc = correct.item() / seen;
                if (!Double.isFinite(trainLoss)) {
                    throw new TrainingDivergedException("training diverged: the mean training loss of epoch " + epoch + " is " + trainLoss
                            + " (learning rate " + lr + "). Try a lower --lr, or gradient clipping (--clip-norm 1).");
                }
                EvalResult v = val == null ? null : evaluate(model, val, loss);
                double seconds = (System.nanoTime() - epochStart) / 1e9;
                EpochMetrics m = new EpochMetrics(epoch, trainLoss, trainAcc, v == null ? Double.NaN : v.loss(),
                        v == null ? Double.NaN : v.top1(), lr, seconds, trainSeconds, seen / trainSeconds,
                        train.stats().waitSeconds() - waitBefore);
                history.add(m);
                listener.epochEnded(m);
                if (v != null) {
                    if (v.loss() < bestVal - config.minDelta()) { bestVal = v.loss(); bestEpoch = epoch; sinceBest = 0; }
                    else if (config.patience() > 0 && ++sinceBest >= config.patience()) {
                        listener.info("early stopping: validation loss has not improved by more than " + config.minDelta()
                                + " for " + config.patience() + " epochs (best " + String.format("%.4f", bestVal) + " at epoch " + bestEpoch + ")");
                        stopped = true;
                        break;
                    }
                } else bestEpoch = epoch;
            }
        }
        return new Result(history, stopped, bestEpoch, (System.nanoTime() - fitStart) / 1e9);
    }

    /** Copies a host batch into device tensors {x [n, sample...], labels [n]} and hands the host buffers back. */
    private Tensor[] upload(Batch batch, Shape sample) {
        int n = batch.size();
        int[] dims = new int[sample.rank() + 1];
        dims[0] = n;
        for (int i = 0; i < sample.rank(); i++) dims[i + 1] = sample.dim(i);
        Tensor x = be.empty(Shape.of(dims));
        be.copyFromHost(batch.x, 0, x);
        Tensor y = be.empty(Shape.of(n), DType.INT32);
        be.copyFromHost(batch.y, 0, y);
        batch.release();
        return new Tensor[] {x, y};
    }

    /** Loss, top-1 and top-5 accuracy of {@code model} in evaluation mode over one pass of {@code data}. */
    public EvalResult evaluate(Module model, DataLoader data, Loss loss) {
        boolean wasTraining = model.isTraining();
        model.eval();
        Shape sample = data.dataset().sampleShape();
        long seen = 0;
        boolean top5 = data.dataset().numClasses() >= 5;
        try (GradMode.Guard g = GradMode.noGrad();
             Tensor lossSum = Scope.outside(() -> be.zeros(Shape.of(1)));
             Tensor c1 = Scope.outside(() -> be.zeros(Shape.of(1)));
             Tensor c5 = Scope.outside(() -> be.zeros(Shape.of(1)))) {
            Iterator<Batch> it = data.epoch(0);
            while (it.hasNext()) {
                Batch batch = it.next();
                int n = batch.size();
                try (Scope s = Scope.open()) {
                    Tensor[] xy = upload(batch, sample);
                    Tensor x = xy[0], y = xy[1];
                    Tensor out = model.forward(x);
                    be.axpy(n, loss.compute(out, y), lossSum);
                    be.countTopK(out, y, 1, c1);
                    if (top5) be.countTopK(out, y, 5, c5);
                    seen += n;
                }
            }
            return new EvalResult(lossSum.item() / seen, c1.item() / seen, top5 ? c5.item() / seen : Double.NaN, seen);
        } finally {
            model.train(wasTraining);
        }
    }
}
