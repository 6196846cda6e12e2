package io.dltrain.runtime.train;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.BatchNorm1d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.ReLU;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.optim.LrSchedule;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The training loop on a small separable problem: it learns, validation works, early stopping stops, memory is returned. */
class TrainerTest {

    /** Three Gaussian blobs in 8 dimensions, one per class. */
    static Dataset blobs(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[][] centres = new float[3][8];
        for (float[] c : centres) for (int i = 0; i < 8; i++) c[i] = (float) r.nextGaussian() * 2f;
        float[] x = new float[n * 8];
        int[] y = new int[n];
        for (int s = 0; s < n; s++) {
            y[s] = s % 3;
            for (int i = 0; i < 8; i++) x[s * 8 + i] = centres[y[s]][i] + (float) r.nextGaussian() * 0.5f;
        }
        return new Dataset() {
            public String name() { return "blobs"; }
            public int size() { return n; }
            public Shape sampleShape() { return Shape.of(8); }
            public int numClasses() { return 3; }
            public List<String> classNames() { return List.of("a", "b", "c"); }
            public int read(int i, float[] dst, int off) { System.arraycopy(x, i * 8, dst, off, 8); return y[i]; }
        };
    }

    /**
     * A linear classifier of 8 inputs and 3 classes with SGD (momentum 0.9) at {@code lr}, on a 1-thread CPU backend,
     * with ds's training and validation loaders (80/20 split, batch 32, seed 7).
     */
    record LinearRun(CpuBackend be, Module model, Optimizer opt, DataLoader train, DataLoader val) implements AutoCloseable {
        static LinearRun on(Dataset ds, double lr) {
            int[][] split = DataLoader.split(ds.size(), 0.2, 7);
            CpuBackend be = new CpuBackend(1);
            Module model = new Sequential(new Linear(new Context(be, 3), 8, 3));
            return new LinearRun(be, model, Optimizers.create("sgd", model.namedParameters(), lr, 0.9, 0),
                    new DataLoader(ds, split[0], 32, true, false, 7, 1, 4), new DataLoader(ds, split[1], 32, false, false, 7, 1, 4));
        }

        Trainer.Result fit(Trainer t, LrSchedule schedule) {
            return t.fit(model, new CrossEntropyLoss(0f), opt, schedule, train, val, TrainListener.NONE);
        }

        @Override public void close() {
            val.close();
            train.close();
            opt.close();
            model.close();
            be.close();
        }
    }

    static TrainConfig config(int epochs, double lr, int patience) {
        return new TrainConfig(epochs, 32, lr, "sgd", 0.9, 0, "constant", 0f, 0f, 7, 0.2, patience, 0.0, 1);
    }

    @Test
    void learnsAndReportsEveryEpoch() {
        Dataset ds = blobs(600, 1);
        int[][] split = DataLoader.split(ds.size(), 0.2, 7);
        try (CpuBackend be = new CpuBackend(2);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 16), new ReLU(), new Linear(new Context(be, 4), 16, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(ds, split[0], 32, true, false, 7, 1, 4);
             DataLoader val = new DataLoader(ds, split[1], 32, false, false, 7, 1, 4)) {
            long before = be.memoryInUse();
            Trainer t = new Trainer(be, config(5, 0.05, 0));
            Trainer.Result r = t.fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, val, TrainListener.NONE);
            assertEquals(5, r.epochs().size());
            assertFalse(r.stoppedEarly());
            EpochMetrics last = r.epochs().getLast();
            assertTrue(last.trainLoss() < r.epochs().getFirst().trainLoss(), "loss falls");
            assertTrue(last.valAcc() > 0.95, "blobs are separable; validation accuracy " + last.valAcc());
            assertTrue(last.imagesPerSec() > 0 && last.trainSeconds() > 0);
            // every step's activations went back to the pool: only the optimiser state and gradients remain in use
            long grads = 2L * 4 * model.parameterCount(); // .grad + SGD momentum, FP32
            assertEquals(before + grads, be.memoryInUse(), "memory in use after training = before + gradients + momentum");
            EvalResult e = t.evaluate(model, val, new CrossEntropyLoss(0f));
            assertEquals(120, e.samples());
            assertEquals(last.valAcc(), e.top1(), 1e-9);
            // an empty loader is refused rather than scored as a 0/0 loss of 0 samples
            try (DataLoader none = new DataLoader(ds, new int[0], 32, false, false, 7, 1, 4)) {
                IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> t.evaluate(model, none, new CrossEntropyLoss(0f)));
                assertTrue(empty.getMessage().contains("no samples"), empty.getMessage());
            }
        }
    }

    /**
     * The definitions README gives for metrics.jsonl. At lr 0 the model never changes, so train_loss and train_acc, the
     * means over the epoch's samples weighted by batch size (240 samples: 7 batches of 32 and one of 16), are the
     * model's loss and accuracy over the training split; both losses are the loss given to fit, label smoothing
     * included (test_loss is the plain one). lr is the rate of the epoch's last step.
     */
    @Test
    void epochMetricsAreTheDocumentedMeansAndLastStepsRate() {
        Dataset ds = blobs(300, 2);
        CrossEntropyLoss smoothed = new CrossEntropyLoss(0.1f);
        try (LinearRun run = LinearRun.on(ds, 0.0);
             DataLoader inOrder = new DataLoader(ds, DataLoader.split(ds.size(), 0.2, 7)[0], 32, false, false, 7, 1, 4)) {
            Trainer t = new Trainer(run.be(), config(1, 0.0, 0));
            EpochMetrics m = t.fit(run.model(), smoothed, run.opt(), LrSchedules.parse("constant"), run.train(), run.val(),
                    TrainListener.NONE).epochs().getFirst();
            EvalResult train = t.evaluate(run.model(), inOrder, smoothed), val = t.evaluate(run.model(), run.val(), smoothed);
            assertEquals(240, train.samples());
            assertEquals(train.loss(), m.trainLoss(), 1e-6 * train.loss(), "train_loss: the sample-weighted mean (FP32 sums in another order)");
            assertEquals(train.top1(), m.trainAcc(), 1e-12, "train_acc");
            assertEquals(val.loss(), m.valLoss(), 1e-12, "val_loss: with the fit's (smoothed) loss");
            assertEquals(val.top1(), m.valAcc(), 1e-12, "val_acc");
            double plain = t.evaluate(run.model(), run.val(), new CrossEntropyLoss(0f)).loss();
            assertTrue(Math.abs(plain - m.valLoss()) > 1e-3, "the smoothed loss differs from the plain one: " + plain + " vs " + m.valLoss());
        }
        try (LinearRun run = LinearRun.on(ds, 0.1)) {
            LrSchedule cosine = LrSchedules.parse("cosine");
            List<EpochMetrics> h = run.fit(new Trainer(run.be(), config(2, 0.1, 0)), cosine).epochs();
            long steps = run.train().batchesPerEpoch();
            assertEquals(cosine.lr(0.1, steps - 1, steps, 2 * steps), h.get(0).lr(), 0.0, "epoch 1: its last step's rate");
            assertEquals(cosine.lr(0.1, 2 * steps - 1, steps, 2 * steps), h.get(1).lr(), 0.0, "epoch 2: its last step's rate");
            assertTrue(h.get(1).lr() > 0, "not the rate after the last step (0 at the cosine's end)");
        }
    }

    @Test
    void earlyStoppingStopsWhenValidationLossStallsAndScopesAreClean() {
        try (LinearRun run = LinearRun.on(blobs(300, 2), 0.0); Scope outer = Scope.open()) {
            // lr 0: the validation loss never improves after epoch 1, so patience 2 stops after epoch 3 of 10
            Trainer.Result r = run.fit(new Trainer(run.be(), config(10, 0.0, 2)), LrSchedules.parse("constant"));
            assertTrue(r.stoppedEarly());
            assertEquals(3, r.epochs().size());
            assertEquals(1, r.bestEpoch());
            assertEquals(0, outer.tracked(), "the trainer leaves no tensors in the caller's scope");
            // without validation data, patience would watch nothing: refused rather than silently off
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> new Trainer(run.be(), config(2, 0.1, 2))
                    .fit(run.model(), new CrossEntropyLoss(0f), run.opt(), LrSchedules.parse("constant"), run.train(), null, TrainListener.NONE));
            // in fit's terms, not the command's (a Java caller has no --patience or --val-fraction); the CLI's words stay
            assertEquals("early stopping (the TrainConfig's patience, 2) stops when the validation loss stops improving, but this run"
                    + " has no validation data; give fit a validation loader or make patience 0", ex.getMessage());
            assertEquals("early stopping (--patience 2) stops when the validation loss stops improving, but this run has no"
                    + " validation data; give it some (--val-fraction) or drop --patience",
                    Trainer.withoutValidationOnTheCommandLine(LrSchedules.parse("constant"), 2));
        }
    }

    @Test
    void reduceOnPlateauGetsTheValidationHistoryAndIsRefusedWithoutValidation() {
        // labels that do not depend on the inputs: the validation loss cannot keep improving, so the rate must drop
        SplittableRandom rnd = new SplittableRandom(3);
        float[] x = new float[300 * 8];
        int[] y = new int[300];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < y.length; i++) y[i] = rnd.nextInt(3);
        Dataset ds = new Dataset() {
            public String name() { return "noise"; }
            public int size() { return 300; }
            public Shape sampleShape() { return Shape.of(8); }
            public int numClasses() { return 3; }
            public List<String> classNames() { return List.of("a", "b", "c"); }
            public int read(int i, float[] dst, int off) { System.arraycopy(x, i * 8, dst, off, 8); return y[i]; }
        };
        LrSchedule plateau = LrSchedules.parse("plateau:0.5:0");
        try (LinearRun run = LinearRun.on(ds, 0.5)) {
            CpuBackend be = run.be();
            Module model = run.model();
            Optimizer opt = run.opt();
            DataLoader train = run.train();
            Trainer.Result r = run.fit(new Trainer(be, config(6, 0.5, 0)), plateau);
            // each epoch ran at the rate the schedule gives for the validation losses of the epochs before it
            double[] losses = r.epochs().stream().mapToDouble(EpochMetrics::valLoss).toArray();
            for (int e = 0; e < losses.length; e++) {
                double expected = plateau.lr(0.5, 0, 1, 1, java.util.Arrays.copyOf(losses, e));
                assertEquals(expected, r.epochs().get(e).lr(), 1e-12, "epoch " + (e + 1));
            }
            assertTrue(r.epochs().getLast().lr() < 0.5, "random labels: the validation loss stalls, so the rate was reduced: " + java.util.Arrays.toString(losses));
            IllegalArgumentException ex = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> new Trainer(be, config(1, 0.5, 0)).fit(model, new CrossEntropyLoss(0f), opt, plateau, train, null, TrainListener.NONE));
            assertEquals("the learning-rate schedule " + plateau + " reduces the rate when the validation loss stops improving, but this"
                    + " run has no validation data; give fit a validation loader or choose another schedule", ex.getMessage());
            assertEquals("the learning-rate schedule " + plateau + " reduces the rate when the validation loss stops improving, but this"
                    + " run has no validation data; give it some (--val-fraction) or choose another --schedule",
                    Trainer.withoutValidationOnTheCommandLine(plateau, 0));
        }
    }

    /**
     * 129 samples at batch size 32 leave a last batch of 1, which BatchNorm cannot normalise in training (as in PyTorch):
     * the error said "use a batch of at least 2", to a run of batch size 32, after the epoch's other steps. It now says
     * that the epoch's last batch holds the one sample, and which batch size near the run's leaves at least 2.
     */
    @Test
    void aLastBatchOfOneSampleThatBatchNormCannotTakeIsExplained() {
        Dataset ds = blobs(129, 5);
        try (CpuBackend be = new CpuBackend(1);
             Module model = new Sequential(new Linear(new Context(be, 3), 8, 8), new BatchNorm1d(new Context(be, 4), 8), new ReLU(),
                     new Linear(new Context(be, 5), 8, 3));
             Optimizer opt = Optimizers.create("sgd", model.namedParameters(), 0.05, 0.9, 0);
             DataLoader train = new DataLoader(ds, null, 32, true, false, 7, 1, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(be, config(1, 0.05, 0))
                    .fit(model, new CrossEntropyLoss(0f), opt, LrSchedules.parse("constant"), train, null, TrainListener.NONE));
            assertTrue(e.getMessage().startsWith("layer 1 of the Sequential, BatchNorm1d(8, eps=1.0E-5, momentum=0.1), refused its input:"
                    + " batchNorm (training): expected more than 1 value per channel when training, got input [1, 8]"), e.getMessage());
            assertTrue(e.getMessage().endsWith("; this is the epoch's last batch, which holds 1 sample (129 training samples at batch size 32):"
                    + " use a batch size that leaves at least 2 in it, such as 31"), e.getMessage());
            assertEquals(4, opt.stepCount(), "the epoch's other batches trained");
        }
    }

    /**
     * A null listener, as for the validation loader, is no listener: it ended the fit before its first step with
     * "the training listener failed (epochStarted epoch 1): Cannot invoke ... because "this.to" is null".
     */
    @Test
    void aNullListenerIsNoListener() {
        try (LinearRun run = LinearRun.on(blobs(300, 2), 0.1)) {
            Trainer.Result r = new Trainer(run.be(), config(2, 0.1, 0))
                    .fit(run.model(), new CrossEntropyLoss(0f), run.opt(), LrSchedules.parse("constant"), run.train(), run.val(), null);
            assertEquals(2, r.epochs().size());
            assertTrue(run.opt().stepCount() > 0);
        }
    }

    /**
     * An optimiser made from another model's parameters (a model built twice, once for the optimiser) stepped those, while
     * the model being trained kept its weights: epochs of an unchanging loss, without a word.
     */
    @Test
    void anOptimiserOfAnotherModelsParametersIsRefused() {
        try (LinearRun run = LinearRun.on(blobs(300, 2), 0.1);
             Module other = Scope.outside(() -> new Sequential(new Linear(new Context(run.be(), 3), 8, 3)));
             Optimizer otherOpt = Optimizers.create("sgd", other.namedParameters(), 0.1, 0.9, 0)) {
            float[] w = run.model().namedParameters().get("0.weight").toFloatArray();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(run.be(), config(1, 0.1, 0))
                    .fit(run.model(), new CrossEntropyLoss(0f), otherOpt, LrSchedules.parse("constant"), run.train(), run.val(), TrainListener.NONE));
            assertEquals("the optimiser updates parameter '0.weight' [3, 8], which is not one of the model's parameters, so the model"
                    + " would not train; make the optimiser from this model's namedParameters()", e.getMessage());
            assertEquals(0, otherOpt.stepCount());
            org.junit.jupiter.api.Assertions.assertArrayEquals(w, run.model().namedParameters().get("0.weight").toFloatArray());
            // a subset of the model's parameters (frozen layers) is fine
            try (Optimizer some = Optimizers.create("sgd", java.util.Map.of("0.bias", run.model().namedParameters().get("0.bias")), 0.1, 0.9, 0)) {
                Trainer.Result r = new Trainer(run.be(), config(1, 0.1, 0)).fit(run.model(), new CrossEntropyLoss(0f), some,
                        LrSchedules.parse("constant"), run.train(), run.val(), TrainListener.NONE);
                assertEquals(1, r.epochs().size());
                assertTrue(some.stepCount() > 0);
            }
        }
    }
}
